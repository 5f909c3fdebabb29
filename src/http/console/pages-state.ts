import { describeNetwork, describeSender, describeWindow } from '../../config/describe.js';
import type { QueueRow } from '../../ledger/console-types.js';
import type { Setup } from '../../config/schema.js';
import { consoleHref, html, type Html } from './html.js';
import { age, iso, mailLink, statusBadge, table } from './layout.js';
import type { View } from './mask.js';
import type { Page, PageContext } from './page-types.js';
import { queueState, whyWaiting } from './why.js';

/* The gateway as a whole: overview, queue, setups. */

const HOUR = 3_600_000;
const QUEUE_PAGE = 50;
const isoOrNull = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export async function overviewPage(ctx: PageContext): Promise<Page> {
  const data = await ctx.ledger.consoleQuery({ kind: 'overview', now: ctx.now, sinceMs: HOUR });
  const configured = ctx.setups().map((s) => s.id);
  const counted = new Map(data.setups.map((s) => [s.setupId, s]));
  const setups = [...new Set([...configured, ...counted.keys()])].map(
    (setupId) => counted.get(setupId) ?? { setupId, queued: 0, scheduled: 0, deferred: 0, retrying: 0, sending: 0, oldestQueuedAt: null },
  );
  const oldest = Math.min(...setups.map((s) => s.oldestQueuedAt ?? Infinity));
  const outcomes = data.outcomes.map((o) => ({ ...o, reason: ctx.view.free(o.reason) }));
  const refusals = Object.entries(ctx.refusals()).sort((a, b) => b[1] - a[1]);
  const status = ctx.status();
  const json = {
    now: new Date(ctx.now).toISOString(),
    setups: setups.map((s) => ({ ...s, oldestQueuedAt: isoOrNull(s.oldestQueuedAt) })),
    oldestQueued: Number.isFinite(oldest) ? { at: new Date(oldest).toISOString(), ageSeconds: Math.round((ctx.now - oldest) / 1000) } : null,
    lastHour: { since: new Date(data.since).toISOString(), outcomes, smtpRefusals: Object.fromEntries(refusals) },
    lastReload: status.lastReload ? { ...status.lastReload, at: new Date(status.lastReload.at).toISOString() } : null,
    ledger: status.ledger,
    daemon: { pid: status.pid, host: status.host, startedAt: new Date(status.startedAt).toISOString(), dispatching: status.dispatching },
  };
  const total = (key: 'queued' | 'scheduled' | 'deferred' | 'retrying' | 'sending') => setups.reduce((n, s) => n + s[key], 0);
  const failures = outcomes.reduce((n, o) => n + o.count, 0) + refusals.reduce((n, [, c]) => n + c, 0);
  const body = html`<div class="cards">
<div class="card"><div class="muted">Queued (due now)</div><div class="big">${total('queued')}</div></div>
<div class="card"><div class="muted">Sending</div><div class="big">${total('sending')}</div></div>
<div class="card"><div class="muted">Scheduled / deferred / retrying</div><div class="big">${total('scheduled')} / ${total('deferred')} / ${total('retrying')}</div></div>
<div class="card"><div class="muted">Oldest row due now</div><div class="big">${Number.isFinite(oldest) ? age(ctx.now - oldest) : '–'}</div></div>
<div class="card"><div class="muted">Not sent, last hour</div><div class="big${failures > 0 ? ' bad' : ''}">${failures}</div></div>
</div>
<h2>Queue by setup</h2>
${table(['Setup', 'Queued', 'Scheduled', 'Deferred', 'Retrying', 'Sending', 'Oldest due'], setups.map((s) => [s.setupId, s.queued, s.scheduled, s.deferred, s.retrying, s.sending, s.oldestQueuedAt === null ? '' : `${iso(s.oldestQueuedAt)} (${age(ctx.now - s.oldestQueuedAt)} ago)`]), 'no setups')}
<h2>Provider errors and suppressions, last hour</h2>
${table(['Status', 'Reason', 'Rows'], outcomes.map((o) => [statusBadge(o.status), o.reason || html`<span class="muted">none given</span>`, o.count]), 'none in the last hour')}
<h2>SMTP refusals, last hour</h2>
${table(['Reason', 'Refusals'], refusals.map(([reason, count]) => [html`<code>${reason}</code>`, count]), 'none in the last hour (since this daemon started, at most)')}
<h2>Daemon</h2>
<dl><dt>Last reload</dt><dd>${status.lastReload ? html`${iso(status.lastReload.at)}: ${status.lastReload.ok ? html`<span class="ok">applied</span>` : html`<span class="bad">refused, the running config stays</span> — ${status.lastReload.error ?? ''}`}` : 'none since start'}</dd>
<dt>Started</dt><dd>${iso(status.startedAt)} (pid ${status.pid} on ${status.host})</dd>
<dt>Ledger</dt><dd>${status.ledger.backend} <code>${status.ledger.path}</code></dd>
<dt>Dispatch</dt><dd>${status.dispatching ? 'this daemon dispatches (the only one on this ledger)' : 'another daemon dispatches'}</dd></dl>`;
  return { title: 'Overview', section: 'overview', body, json };
}

/** A row as `mail2sms queue --json` gives it, plus why it waits in words. */
function queueJson(row: QueueRow, view: View, now: number) {
  return {
    queueId: row.queueId, outboxId: row.outboxId, recipient: view.number(row.recipient), setupId: row.setupId, state: queueState(row, now),
    reason: view.free(row.reason), attempts: row.attempts, createdAt: row.createdAt, nextAttemptAt: row.status === 'queued' ? row.nextAttemptAt : null,
    why: view.free(whyWaiting(row, now).detail),
  };
}

function readCursor(value: string | null): { at: number; id: number } | undefined {
  const match = /^(\d+)\.(\d+)$/.exec(value ?? '');
  return match ? { at: Number(match[1]), id: Number(match[2]) } : undefined;
}

export async function queuePage(ctx: PageContext): Promise<Page> {
  const after = readCursor(ctx.query.get('after'));
  const data = await ctx.ledger.consoleQuery({ kind: 'queue', now: ctx.now, limit: QUEUE_PAGE, ...(after ? { after } : {}) });
  const sending = data.sending.map((r) => queueJson(r, ctx.view, ctx.now));
  const waiting = data.waiting.map((r) => queueJson(r, ctx.view, ctx.now));
  const next = data.next ? consoleHref(['queue'], { after: `${data.next.at}.${data.next.id}` }) : undefined;
  const rows = (list: ReturnType<typeof queueJson>[]) =>
    list.map((r) => [mailLink(r.queueId), r.setupId, ctx.view.pii ? html`<a class="mono" href="${consoleHref(['numbers', r.recipient])}">${r.recipient}</a>` : html`<span class="mono">${r.recipient}</span>`, r.attempts, iso(r.createdAt), html`<strong>${r.state}</strong> — ${r.why}`]);
  const head = ['Queue id', 'Setup', 'Number', 'Tries', 'Accepted', 'Why it waits'];
  const body = html`<h2>Being sent</h2>${table(head, rows(sending), 'nothing is being sent right now')}
<h2>Waiting${after ? ' (continued)' : ''}, due first</h2>${table(head, rows(waiting), 'the queue is empty')}
<div class="pager">${after ? html`<a href="/console/queue">first page</a>` : ''}${next ? html`<a rel="next" href="${next}">next ${QUEUE_PAGE}</a>` : ''}</div>`;
  // The shape of `mail2sms queue --json` (rows being sent first, then due order); the next page is in the Link header.
  return { title: 'Queue', section: 'queue', body, json: [...sending, ...waiting], ...(next ? { next } : {}) };
}

/** A setup as the console shows it: its rules, never its password hashes. */
function setupJson(setup: Setup) {
  const { file: _file, $schema: _schema, authorize, ...rest } = setup;
  return { ...rest, authorize: { ...authorize, ...(authorize.smtp_auth ? { smtp_auth: authorize.smtp_auth.map((u) => ({ user: u.user })) } : {}) } };
}

function setupSection(setup: ReturnType<typeof setupJson>): Html {
  const auth = setup.authorize;
  const rules = [
    auth.ip ? `client IP in ${auth.ip.map(describeNetwork).join(', ')}` : '',
    auth.smtp_auth ? `SMTP AUTH as ${auth.smtp_auth.map((u) => u.user).join(', ')}` : '',
    auth.spf ? 'SPF pass' : '',
    auth.dkim ? 'DKIM pass' : '',
    setup.allow_unauthenticated ? 'anyone (allow_unauthenticated)' : '',
  ].filter(Boolean);
  return html`<h2 id="${`setup-${setup.id}`}">${setup.id}</h2>${setup.description ? html`<p>${setup.description}</p>` : ''}
<dl><dt>Senders</dt><dd>${setup.senders.map(describeSender).join('; ')}</dd>
<dt>Authorised by</dt><dd>${rules.join('; ')}</dd>
<dt>SMS sender</dt><dd>${setup.sender_name} (${setup.category}${setup.purpose ? `, purpose ${setup.purpose}` : ''})</dd>
<dt>May address</dt><dd>${setup.allowed_countries ? `numbers in ${setup.allowed_countries.join(', ')}` : 'any number'}; up to ${setup.max_recipients ?? 'smtp.max_recipients'} per mail; default country ${setup.default_country}</dd>
<dt>Cooldown</dt><dd>${setup.cooldown === null ? 'off' : age(setup.cooldown)}${setup.daily_limit ? `; at most ${setup.daily_limit} SMS a day` : ''}</dd>
<dt>Sending window</dt><dd>${setup.sending_window ? describeWindow(setup.sending_window) : 'always'}</dd>
<dt>Max age</dt><dd>${setup.max_age === null ? 'off' : age(setup.max_age)}</dd>
<dt>Suppressed recipients</dt><dd>${setup.on_suppressed}</dd>
<dt>Groups</dt><dd>${setup.groups.length > 0 ? setup.groups.join(', ') : 'none'}</dd>
<dt>Report to sender</dt><dd>${setup.report}${setup.forward_replies ? '; replies forwarded' : ''}</dd></dl>`;
}

export function setupsPage(ctx: PageContext): Page {
  const setups = ctx.setups().map(setupJson);
  const body = setups.length === 0 ? html`<p class="muted">no setups</p>` : html`${setups.map(setupSection)}`;
  return { title: 'Setups', section: 'setups', body, json: { setups } };
}
