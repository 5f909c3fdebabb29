import { simpleParser, type AddressObject } from 'mailparser';
import type { Config } from '../config/load.js';
import type { RecipientRules, RuleVerdict, SuppressionReason } from '../ledger/rules.js';
import { parseEmail } from '../message/parse.js';
import { buildSmsText } from '../message/text.js';
import type { SmsEncoding } from '../message/encoding.js';
import type { Refusal } from '../errors.js';
import { checkRecipient, checkSender, rulesFor, textPolicyFor } from '../smtp/policy.js';
import { replyCode } from '../smtp/replies.js';
import { parseSendAt } from '../message/send-at.js';
import { nextOpening } from '../dispatch/window.js';

/*
 * `mail2sms explain`: what the daemon would decide for a mail, without sending
 * anything — the same policy functions, the same text pipeline, and the
 * cooldown read from the ledger when there is one.
 */

export interface ExplainOptions {
  from?: string;
  /** The SMTP AUTH user the client would log in as. */
  user?: string;
  to: string[];
  ip: string;
  now: number;
  /** The organisation's rules read from the ledger (consent, caps, cooldown), when there is one. */
  rules?: (recipient: string, rules: RecipientRules, now: number) => RuleVerdict;
}

export type RecipientReport =
  | { address: string; verdict: 'would_send'; number: string }
  | { address: string; verdict: 'suppressed'; number: string; reason: SuppressionReason; detail: string; rejectedAtRcpt: boolean }
  | { address: string; verdict: 'postmaster' }
  | { address: string; verdict: 'refused'; reply: string };

export interface ExplainReport {
  envelope: { from: string; to: string[]; ip: string };
  setup: { id: string; file: string; matchedBy: string } | null;
  sender: { accepted: true } | { accepted: false; reply: string };
  recipients: RecipientReport[];
  sms:
    | { text: string; encoding: SmsEncoding; segments: number; characters: number; warnings: string[]; senderName: string }
    | { reply: string }
    | null;
  note?: string;
  /** When it would go: schedule, sending window, expiry. */
  timing?: string[];
}

function reply(refusal: Refusal): string {
  const { code, enhanced } = replyCode(refusal.code);
  return `${code} ${enhanced} ${refusal.detail}`;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((object) => object.value.map((entry) => entry.address ?? '')).filter(Boolean);
}

export async function explainMail(config: Config, raw: Buffer, options: ExplainOptions): Promise<ExplainReport> {
  const headers = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const from = (options.from ?? addresses(headers.from)[0] ?? '').toLowerCase();
  const to = options.to.length > 0 ? options.to : [...addresses(headers.to), ...addresses(headers.cc)];
  const report: ExplainReport = { envelope: { from, to, ip: options.ip }, setup: null, sender: { accepted: true }, recipients: [], sms: null };

  const sender = checkSender(config, from, options.ip, options.user);
  if (!sender.ok) {
    const match = config.senders.match(from);
    if (match) report.setup = { id: match.setup.id, file: match.setup.file, matchedBy: `${match.rule} ${match.pattern}` };
    report.sender = { accepted: false, reply: reply(sender.refusal) };
    return report;
  }
  const setup = sender.match.setup;
  report.setup = { id: setup.id, file: setup.file, matchedBy: `${sender.match.rule} ${sender.match.pattern}` };
  const dnsRules = [setup.authorize.spf && 'SPF', setup.authorize.dkim && 'DKIM'].filter(Boolean);
  if (dnsRules.length > 0) report.note = `${dnsRules.join(' and ')} must also pass; explain does not query DNS, the daemon does`;

  const numbers = new Set<string>();
  for (const address of to) {
    const verdict = checkRecipient(config, setup, address);
    if (!verdict.ok) report.recipients.push({ address, verdict: 'refused', reply: reply(verdict.refusal) });
    else if (verdict.kind === 'postmaster') report.recipients.push({ address, verdict: 'postmaster' });
    else if (numbers.has(verdict.e164)) continue;
    else {
      numbers.add(verdict.e164);
      const rule = options.rules?.(verdict.e164, rulesFor(config, setup), options.now) ?? { allowed: true };
      report.recipients.push(
        rule.allowed
          ? { address, verdict: 'would_send', number: verdict.e164 }
          : { address, verdict: 'suppressed', number: verdict.e164, reason: rule.reason, detail: rule.detail, rejectedAtRcpt: setup.on_suppressed === 'reject' },
      );
    }
  }

  const email = await parseEmail(raw);
  if (email.autoReply) {
    report.note = (report.note ? `${report.note}; ` : '') + 'an auto-reply (Auto-Submitted: auto-replied / X-Autoreply): accepted and dropped, never sent';
    return report;
  }
  const timing: string[] = [];
  let goesAt = options.now;
  if (email.sendAt !== undefined) {
    const asked = parseSendAt(email.sendAt, options.now, config.main.dispatch.max_schedule_ahead);
    if (!asked.ok) {
      report.sms = { reply: reply({ code: 'bad_send_at', detail: asked.message }) };
      return report;
    }
    goesAt = asked.at;
    timing.push(`scheduled for ${new Date(asked.at).toISOString()} (X-SMS-Send-At)`);
  }
  const opening = setup.sending_window ? nextOpening(setup.sending_window, goesAt) : goesAt;
  if (setup.sending_window) {
    timing.push(opening === goesAt ? 'inside the sending window' : `outside the sending window; would wait until ${new Date(opening).toISOString()}`);
  }
  if (setup.max_age !== null) {
    const expiresAt = goesAt + setup.max_age;
    timing.push(
      expiresAt <= opening
        ? `would EXPIRE at ${new Date(expiresAt).toISOString()} before the window opens (max_age ${Math.round(setup.max_age / 60_000)} min)`
        : `expires if not sent by ${new Date(expiresAt).toISOString()} (max_age)`,
    );
  }
  if (timing.length > 0) report.timing = timing;
  const sms = buildSmsText(email, textPolicyFor(setup, config.main.consent.stop_clause));
  if (sms.ok) {
    report.sms = { ...sms.measure, text: sms.text, warnings: sms.warnings, senderName: setup.sender_name };
  } else if (sms.reason === 'no_text') {
    report.sms = { reply: reply({ code: 'no_text', detail: 'The message has no text to send as SMS (attachments are not sent)' }) };
  } else {
    report.sms = { reply: reply({ code: 'too_long', detail: `The SMS would be ${sms.segments} segments; this sender's limit is ${sms.maxSegments} (shorten the message)` }) };
  }
  return report;
}

export function formatExplain(report: ExplainReport): string {
  const lines: string[] = [];
  lines.push(`Envelope:   from <${report.envelope.from}> to ${report.envelope.to.map((a) => `<${a}>`).join(', ') || '(none)'} from ${report.envelope.ip}`);
  lines.push(report.setup ? `Setup:      ${report.setup.id} (${report.setup.file}), matched by ${report.setup.matchedBy}` : 'Setup:      none matches this sender');
  lines.push(report.sender.accepted ? 'MAIL FROM:  accepted (authorised)' : `MAIL FROM:  refused: ${report.sender.reply}`);
  for (const r of report.recipients) {
    const what =
      r.verdict === 'would_send'
        ? `${r.number}: would send`
        : r.verdict === 'suppressed'
          ? `${r.number}: ${r.rejectedAtRcpt ? 'refused (550 5.7.1)' : 'suppressed'}: ${r.reason} — ${r.detail}`
          : r.verdict === 'postmaster'
            ? 'postmaster: accepted and logged'
            : `refused: ${r.reply}`;
    lines.push(`RCPT TO:    <${r.address}> ${what}`);
  }
  if (report.note) lines.push(`Note:       ${report.note}`);
  for (const line of report.timing ?? []) lines.push(`When:       ${line}`);
  if (report.sms && 'text' in report.sms) {
    lines.push(`SMS:        from ${report.sms.senderName}, ${report.sms.encoding}, ${report.sms.characters} characters, ${report.sms.segments} segment(s)${report.sms.warnings.length ? `; warnings: ${report.sms.warnings.join(', ')}` : ''}`);
    lines.push('', ...report.sms.text.split('\n').map((line) => `  | ${line}`));
  } else if (report.sms) {
    lines.push(`DATA:       refused: ${report.sms.reply}`);
  }
  return lines.join('\n') + '\n';
}
