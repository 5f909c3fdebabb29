import { formatHistoryCursor, readHistoryCursor, type HistoryEntry } from '../../ledger/history.js';
import type { MailStatus } from '../../ledger/types.js';
import { parseRecipientNumber } from '../../numbers/parse.js';
import { consoleHref, html, type Html } from './html.js';
import { iso, mailLink, statusBadge, table } from './layout.js';
import { HIDDEN, type View } from './mask.js';
import type { Page, PageContext, PageOutcome } from './page-types.js';

/* One number, one mail, and the search that leads to them. */

const HISTORY_PAGE = 100;

/** An E.164 number as typed in a URL or the search box (international form only), or undefined. */
export function readE164(text: string): string | undefined {
  const compact = text.trim().replace(/[\s().-]/g, '');
  if (!/^(\+|00)\d{6,16}$/.test(compact)) return undefined;
  const parsed = parseRecipientNumber(compact, 'DK');
  return parsed.ok ? parsed.e164 : undefined;
}

/** History refs that name a mail (queue ids) link to it; the others are shown as they are. */
function refCell(entry: HistoryEntry): Html | string {
  if (!entry.ref) return '';
  if ((entry.kind === 'sms' || entry.kind === 'suppressed' || entry.kind === 'event') && /^[A-Z0-9]+$/.test(entry.ref)) return mailLink(entry.ref);
  return html`<span class="mono">${entry.ref}</span>`;
}

/** A history entry as a reader may see it: texts hidden, numbers masked in the free-text fields. */
function maskEntry(entry: HistoryEntry, view: View): HistoryEntry {
  if (view.pii) return entry;
  const { text, ...rest } = entry;
  return {
    ...rest,
    summary: view.free(entry.summary),
    ...(entry.reason !== undefined ? { reason: view.free(entry.reason) } : {}),
    ...(text !== undefined ? { text: HIDDEN } : {}),
  };
}

/** An old `?page=N` link (offset paging, before keys): how many entries its page starts after. */
function skipOf(query: URLSearchParams): number | undefined {
  const n = Number(query.get('page') ?? '1');
  return Number.isInteger(n) && n > 1 && n <= 10_000 ? (n - 1) * HISTORY_PAGE : undefined;
}

export async function numberPage(ctx: PageContext, e164: string): Promise<Page> {
  // Paged by key (`?before=`, src/ledger/history.ts); an old `?page=N` bookmark still opens its page.
  const before = readHistoryCursor(ctx.query.get('before'));
  const skip = before ? undefined : skipOf(ctx.query);
  const data = await ctx.ledger.consoleQuery({ kind: 'history', recipient: e164, limit: HISTORY_PAGE, now: ctx.now, ...(before ? { before } : {}), ...(skip ? { skip } : {}) });
  const entries = data.entries.map((e) => maskEntry(e, ctx.view));
  // The shape of `mail2sms history --json`: paging travels in the Link header.
  const full = (ms: number) => new Date(ms).toISOString();
  const json = entries.map((e) => ({ ...e, at: full(e.at), ...(e.sentAt !== undefined ? { sentAt: full(e.sentAt) } : {}), ...(e.finalAt !== undefined ? { finalAt: full(e.finalAt) } : {}) }));
  const next = data.next ? consoleHref(['numbers', e164], { before: formatHistoryCursor(data.next) }) : undefined;
  const shown = ctx.view.number(e164);
  const body = html`<p><a href="${consoleHref(['consent', e164])}">Consent of ${shown}</a></p>
${table(['When', 'What', 'Summary', 'Ref'], entries.map((e) => [iso(e.at), e.kind, e.summary, refCell(e)]), before || skip ? `${shown}: nothing older` : `${shown}: nothing recorded`)}
<div class="pager">${before || skip ? html`<a href="${consoleHref(['numbers', e164])}">newest</a>` : ''}${next ? html`<a rel="next" href="${next}">older</a>` : ''}</div>`;
  return { title: `Number ${shown}`, body, json, ...(next ? { next } : {}) };
}

export async function consentPage(ctx: PageContext, e164: string): Promise<Page> {
  const data = await ctx.ledger.consoleQuery({ kind: 'consent', recipient: e164 });
  const number = ctx.view.number(e164);
  // The shape of `mail2sms consent show --json`.
  const events = data.events.map((e) => ({
    id: String(e.id), at: new Date(e.at).toISOString(), recorded_at: new Date(e.recordedAt).toISOString(), number, purpose: e.purpose === '' ? '*' : e.purpose,
    action: e.action, previous: e.previous ?? '', source: e.source, evidence: ctx.view.free(e.evidence ?? ''),
  }));
  const current = data.current.map((c) => ({ ...c, since: new Date(c.since).toISOString() }));
  const globalOut = data.current.find((c) => c.purpose === '' && c.state === 'opt_out');
  const body = html`<p>${globalOut ? html`<strong class="bad">Opted out of all SMS</strong> since ${iso(globalOut.since)} (${globalOut.source})` : html`<span class="ok">May receive alerts</span>`} · <a href="${consoleHref(['numbers', e164])}">history</a></p>
<h2>Current</h2>${table(['Purpose', 'State', 'Since', 'Source'], data.current.map((c) => [c.purpose === '' ? 'all SMS' : c.purpose, c.state, iso(c.since), c.source]), 'no consent recorded')}
<h2>Changes</h2>${table(['Event', 'When', 'Recorded', 'Purpose', 'Action', 'Before', 'Source', 'Evidence'], events.map((e) => [e.id, iso(Date.parse(e.at)), iso(Date.parse(e.recorded_at)), e.purpose, e.action, e.previous || 'none', e.source, e.evidence]), 'no changes')}`;
  return { title: `Consent of ${number}`, body, json: { number, current, events } };
}

function numberCell(view: View, e164: string): Html {
  return view.pii ? html`<a class="mono" href="${consoleHref(['numbers', e164])}">${e164}</a>` : html`<span class="mono">${view.number(e164)}</span>`;
}

/** `mail2sms status --json`, masked for a reader without console:pii. */
function statusJson(status: MailStatus, view: View): MailStatus {
  return {
    ...status,
    text: view.text(status.text) ?? HIDDEN,
    subject: status.subject === null ? null : (view.text(status.subject) ?? HIDDEN),
    recipients: status.recipients.map((r) => ({
      ...r, recipient: view.number(r.recipient), reason: view.free(r.reason), events: r.events.map((e) => ({ ...e, detail: view.free(e.detail) })),
    })),
  };
}

/** Who sent the mail: its envelope sender, else what made it without one (an automation run, a keyword answer). */
function fromOf(m: { mailFrom: string; automationId: string | null }): Html | string {
  if (m.mailFrom) return m.mailFrom;
  return m.automationId === null ? html`<span class="muted">(keyword answer)</span>` : html`<span class="muted">automation</span> <code>${m.automationId}</code>`;
}

export async function mailPage(ctx: PageContext, queueId: string): Promise<Page> {
  const [data, status] = await Promise.all([ctx.ledger.consoleQuery({ kind: 'mail', queueId, eventLimit: 500 }), ctx.ledger.mailStatus(queueId)]);
  const m = data.message;
  if (!m || !status) return { status: 404, title: `No mail ${queueId}`, body: html`<p>No mail has queue id <code>${queueId}</code>.</p>`, json: { error: 'no such mail' } };
  const text = ctx.view.text(m.text);
  const subject = m.subject === null ? '' : (ctx.view.text(m.subject) ?? HIDDEN);
  const body = html`<dl><dt>Setup</dt><dd>${m.setupId}</dd><dt>From</dt><dd>${fromOf(m)}</dd>
<dt>Subject</dt><dd>${subject}</dd><dt>Received</dt><dd>${iso(m.receivedAt)}</dd>
<dt>SMTP ref</dt><dd class="mono">${m.sessionRef ?? ''}</dd><dt>Message-ID</dt><dd class="mono">${m.headerMessageId ?? ''}</dd>
<dt>SMS sender</dt><dd>${m.senderName}</dd><dt>Size</dt><dd>${m.characters} characters, ${m.segments} segment(s), ${m.encoding}</dd>
${m.sendAt ? html`<dt>Send at</dt><dd>${iso(m.sendAt)}</dd>` : ''}${m.expiresAt ? html`<dt>Expires</dt><dd>${iso(m.expiresAt)}</dd>` : ''}
${m.reportMode ? html`<dt>Report</dt><dd>${m.reportMode}; ${m.reportSentAt ? `sent ${iso(m.reportSentAt)}` : 'not sent yet'}</dd>` : ''}</dl>
<h2>SMS text</h2>${text === undefined ? html`<p class="muted">${HIDDEN}</p>` : html`<pre class="sms">${text}</pre>`}
<h2>Recipients</h2>${table(['Row', 'Number', 'Status', 'Reason', 'Tries', 'Provider id', 'Sent', 'Final'], data.rows.map((r) => [r.id, numberCell(ctx.view, r.recipient), statusBadge(r.status), ctx.view.free(r.reason) ?? '', r.attempts, html`<span class="mono">${r.providerMessageId ?? ''}</span>`, iso(r.sentAt), iso(r.finalAt)]))}
<h2>Receipts</h2>${table(['When', 'Provider id', 'Status', 'Error', 'Part', 'Outcome'], data.receipts.map((r) => [iso(r.receivedAt), html`<span class="mono">${r.providerMessageId}</span>`, r.status, r.errorCode ?? '', r.part ? `${r.part}/${r.parts ?? '?'}` : '', r.outcome]), 'no receipts')}
<h2>Events</h2>${table(['When', 'Row', 'Event', 'Detail'], data.events.map((e) => [iso(e.at), e.outboxId ?? 'mail', e.type, ctx.view.free(e.detail) ?? '']), 'no events')}`;
  // The shape of `mail2sms status --json`.
  return { title: `Mail ${queueId}`, body, json: statusJson(status, ctx.view) };
}

export async function searchPage(ctx: PageContext): Promise<PageOutcome> {
  const q = (ctx.query.get('q') ?? '').trim().slice(0, 200);
  const number = readE164(q);
  if (number) return { redirect: consoleHref(['numbers', number]) };
  const found = q ? await ctx.ledger.consoleQuery({ kind: 'find', text: q }) : { queueIds: [], by: 'nothing' as const };
  if (found.queueIds.length === 1 && found.queueIds[0]) return { redirect: consoleHref(['mails', found.queueIds[0]]) };
  const body = found.queueIds.length > 0
    ? html`<p>Mails of SMTP transaction <code>${q}</code>:</p><ul>${found.queueIds.map((id) => html`<li>${mailLink(id)}</li>`)}</ul>`
    : q
      ? html`<p>Nothing in the ledger matches <code>${q}</code>. A number must be international (+45…); a queue id is what "250 … Queued as" named.
A <code>ref</code> from a refusal (4xx/5xx) names a mail that was never stored: find it in the log with <code>grep '${q}'</code>.</p>`
      : html`<p>Search by number (+4520…), queue id, or the <code>ref</code> an SMTP reply quoted.</p>`;
  return { status: q && found.queueIds.length === 0 ? 404 : 200, title: 'Search', section: 'search', body, json: { q, ...found } };
}
