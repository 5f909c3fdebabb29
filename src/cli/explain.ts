import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject } from 'mailparser';
import type { Config } from '../config/load.js';
import type { Setup } from '../config/schema.js';
import type { ReadOnlyLedger } from '../ledger/backend.js';
import { continuesConversation } from '../ledger/conversation.js';
import type { RuleVerdict, SuppressionReason } from '../ledger/rules.js';
import type { GroupMember, IntakeMessage, IntakeOutcome, IntakeSuppression } from '../ledger/types.js';
import { checkGroupSize } from '../intake/groups.js';
import { parseEmailBounded } from '../message/parse-within-limits.js';
import { refusal } from '../core/errors.js';
import type { SmsEncoding } from '../message/encoding.js';
import type { RemovedBlock } from '../message/text.js';
import { checkRecipient, checkSender, parseLimitsOf, rulesFor } from '../intake/policy.js';
import { contactFields, decideData, decideReply, mayUseMergeFields, timingOf, type DataEnvelope } from '../intake/decide.js';
import { acceptedReply, refusalLine } from '../smtp/replies.js';
import type { Refusal } from '../core/errors.js';

/*
 * `mail2sms explain`: what the daemon would decide for a mail, without sending
 * anything — the same policy functions, the same text pipeline, and the
 * cooldown read from the ledger when there is one.
 */

/**
 * What explain asks the ledger: the rules' read-only verdict (the one the
 * daemon's intake applies under its lock, without the reservation) and the
 * contacts. On either backend; explain's ledger never writes.
 */
export type ExplainLedger = ReadOnlyLedger;

export interface ExplainOptions {
  from?: string;
  /** The SMTP AUTH user the client would log in as. */
  user?: string;
  to: string[];
  ip: string;
  now: number;
  /** The ledger, when there is one: the organisation's rules (consent, caps, cooldown) and contacts (group members, merge fields). */
  ledger?: ExplainLedger;
}

/** What a recipient reached through a group, or getting a text of its own, adds to its line. */
interface PersonalReport {
  /** The groups that reached the number. */
  groups?: string[];
  /** Its own SMS text (merge fields filled). */
  text?: string;
  segments?: number;
}

export type RecipientReport =
  | ({ address: string; verdict: 'would_send'; number: string } & PersonalReport)
  | ({ address: string; verdict: 'suppressed'; number: string; reason: SuppressionReason | IntakeSuppression; detail: string; rejectedAtRcpt: boolean } & PersonalReport)
  | { address: string; verdict: 'group'; group: string; members: number }
  | { address: string; verdict: 'postmaster' }
  | { address: string; verdict: 'refused'; reply: string };

export interface ExplainReport {
  envelope: { from: string; to: string[]; ip: string };
  setup: { id: string; file: string; matchedBy: string } | null;
  sender: { accepted: true } | { accepted: false; reply: string };
  recipients: RecipientReport[];
  sms:
    | { text: string; encoding: SmsEncoding; segments: number; characters: number; warnings: string[]; senderName: string; removed: RemovedBlock[] }
    | { reply: string }
    | null;
  note?: string;
  /** When it would go: schedule, sending window, expiry. */
  timing?: string[];
  /** The answer the daemon would give at the end of DATA (or at MAIL FROM when the sender is refused). */
  reply?: string;
  /** True when the daemon would refuse the mail (a 4xx/5xx), so `explain` exits non-zero. */
  refused?: boolean;
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

  let setup: Setup | undefined;
  if (from !== '') {
    const sender = checkSender(config, from, options.ip, options.user);
    if (!sender.ok && sender.refusal.code === 'unknown_sender' && to.some((address) => isPostmaster(config, address))) {
      return explainOutsider(config, to, sender.refusal, report);
    }
    if (!sender.ok) {
      const match = config.senders.match(from);
      if (match) report.setup = { id: match.setup.id, file: match.setup.file, matchedBy: `${match.rule} ${match.pattern}` };
      report.sender = { accepted: false, reply: refusalLine(sender.refusal) };
      return { ...report, reply: report.sender.reply, refused: true };
    }
    setup = sender.match.setup;
    report.setup = { id: setup.id, file: setup.file, matchedBy: `${sender.match.rule} ${sender.match.pattern}` };
    const dnsRules = [setup.authorize.spf && 'SPF', setup.authorize.dkim && 'DKIM'].filter(Boolean);
    if (dnsRules.length > 0) report.note = `${dnsRules.join(' and ')} must also pass; explain does not query DNS, the daemon does`;
  }
  const { numbers, postmaster, verdicts, groups } = await explainRecipients(config, setup, to, options, report);
  if (numbers.length === 0 && !postmaster && groups.length === 0) {
    // smtp-server refuses DATA without an accepted recipient; the client saw the RCPT TO refusal.
    const first = report.recipients.find((r) => r.verdict === 'refused');
    return { ...report, reply: first?.verdict === 'refused' ? first.reply : '554 5.5.1 No valid recipients', refused: true };
  }

  const parsed = await parseEmailBounded(raw, parseLimitsOf(config));
  if (!parsed.ok) {
    report.sms = { reply: refusalLine(refusal(parsed.code, `Message refused: ${parsed.reason}`)) };
    return { ...report, reply: report.sms.reply, refused: true };
  }
  const { email } = parsed;
  const contacts = setup && numbers.length > 0 && options.ledger && mayUseMergeFields(email) ? contactFields(await options.ledger.contactsByNumber(numbers)) : undefined;
  const envelope: DataEnvelope = {
    mailFrom: from, setup, numbers, postmaster, clientIp: options.ip, sessionRef: 'explain',
    ...(groups.length > 0 ? { groups } : {}),
    ...(contacts ? { contacts } : {}),
  };
  const { verdict } = decideData(config, envelope, email, createHash('sha256').update(raw).digest('hex'), options.now);
  if (verdict.action === 'refuse') {
    report.sms = { reply: refusalLine(verdict.refusal) };
    return { ...report, reply: report.sms.reply, refused: true };
  }
  if (verdict.action === 'discard') {
    report.note = (report.note ? `${report.note}; ` : '') + `${verdict.why}: accepted, never sent`;
    return { ...report, reply: `250 ${acceptedReply(verdict.acceptance, 'explain')}` };
  }
  const timing = timingLines(verdict.setup, verdict.message, options.now);
  if (timing.length > 0) report.timing = timing;
  report.sms = { ...verdict.message.measure, text: verdict.message.text, warnings: verdict.warnings, senderName: verdict.setup.sender_name, removed: verdict.removed };
  personalReports(verdict.message, report);
  await explainConversation(verdict.message, verdicts, report, options);
  const answer = decideReply(verdict.setup, outcomeFrom(verdicts, verdict.message), timingOf(verdict.setup, verdict.message, options.now), verdict.viaGroups);
  return answer.ok ? { ...report, reply: `250 ${acceptedReply(answer.acceptance, 'explain')}` } : { ...report, reply: refusalLine(answer.refusal), refused: true };
}

function isPostmaster(config: Config, address: string): boolean {
  const verdict = checkRecipient(config, undefined, address);
  return verdict.ok && verdict.kind === 'postmaster';
}

/** As the daemon: postmaster takes mail from a sender no setup claims (forwarded, never an SMS); every other recipient gets the sender's refusal. */
function explainOutsider(config: Config, to: string[], refused: Refusal, report: ExplainReport): ExplainReport {
  report.recipients = to.map((address): RecipientReport => {
    const verdict = checkRecipient(config, undefined, address);
    if (!verdict.ok) return { address, verdict: 'refused', reply: refusalLine(verdict.refusal) };
    return verdict.kind === 'postmaster' ? { address, verdict: 'postmaster' } : { address, verdict: 'refused', reply: refusalLine(refused) };
  });
  report.note = 'no setup claims this sender: only postmaster takes its mail (forwarded, never an SMS)';
  return { ...report, reply: `250 ${acceptedReply({ code: 'postmaster_only' }, 'explain')}` };
}

/** RCPT TO for each address, and the rules' read-only verdict for each number (group members included). */
async function explainRecipients(config: Config, setup: Setup | undefined, to: string[], options: ExplainOptions, report: ExplainReport) {
  const numbers: string[] = [];
  const verdicts = new Map<string, RuleVerdict>();
  const groups: { name: string; members: GroupMember[] }[] = [];
  let postmaster = false;
  const ruleFor = async (number: string, active: Setup): Promise<RuleVerdict> => (await options.ledger?.checkRecipient(number, rulesFor(config, active))) ?? { allowed: true };
  for (const address of to) {
    const verdict = checkRecipient(config, setup, address);
    if (!verdict.ok) report.recipients.push({ address, verdict: 'refused', reply: refusalLine(verdict.refusal) });
    else if (verdict.kind === 'postmaster') {
      postmaster = true;
      report.recipients.push({ address, verdict: 'postmaster' });
    } else if (verdict.kind === 'group') {
      if (!setup || groups.some((g) => g.name === verdict.name)) continue;
      const members = (await options.ledger?.groupMembers(verdict.selector)) ?? [];
      const tooLarge = checkGroupSize(setup, verdict.name, members);
      if (tooLarge) report.recipients.push({ address, verdict: 'refused', reply: refusalLine(tooLarge) });
      else {
        groups.push({ name: verdict.name, members });
        report.recipients.push({ address, verdict: 'group', group: verdict.name, members: new Set(members.map((m) => m.number)).size });
      }
    } else if (verdicts.has(verdict.e164) || numbers.includes(verdict.e164)) continue;
    else if (!setup) numbers.push(verdict.e164); // the null sender: accepted at RCPT TO, dropped at DATA
    else {
      const rule = await ruleFor(verdict.e164, setup);
      verdicts.set(verdict.e164, rule);
      const rejectedAtRcpt = setup.on_suppressed === 'reject';
      if (rule.allowed || !rejectedAtRcpt) numbers.push(verdict.e164);
      report.recipients.push(
        rule.allowed
          ? { address, verdict: 'would_send', number: verdict.e164 }
          : { address, verdict: 'suppressed', number: verdict.e164, reason: rule.reason, detail: rule.detail, rejectedAtRcpt },
      );
    }
  }
  if (setup) await explainMembers(config, groups, verdicts, report, (number) => ruleFor(number, setup));
  return { numbers, postmaster, verdicts, groups };
}

/** Each group member not addressed otherwise, with the rules' verdict: members are decided at DATA, never refused at RCPT TO. */
async function explainMembers(
  config: Config,
  groups: readonly { name: string; members: readonly GroupMember[] }[],
  verdicts: Map<string, RuleVerdict>,
  report: ExplainReport,
  ruleFor: (number: string) => Promise<RuleVerdict>,
): Promise<void> {
  const domain = config.main.sms_domains[0] ?? '';
  for (const group of groups) {
    const address = `${group.name}@${domain}`;
    for (const member of group.members) {
      if (verdicts.has(member.number)) continue;
      const rule = await ruleFor(member.number);
      verdicts.set(member.number, rule);
      report.recipients.push(
        rule.allowed
          ? { address, verdict: 'would_send', number: member.number }
          : { address, verdict: 'suppressed', number: member.number, reason: rule.reason, detail: rule.detail, rejectedAtRcpt: false },
      );
    }
  }
}

/** Each recipient's groups, own text, and what intake itself suppressed (merge fields, countries). */
function personalReports(message: IntakeMessage, report: ExplainReport): void {
  if (!message.personal) return;
  const byNumber = new Map(message.recipients.map((number, i) => [number, message.personal?.[i]]));
  for (const entry of report.recipients) {
    if (entry.verdict !== 'would_send' && entry.verdict !== 'suppressed') continue;
    const own = byNumber.get(entry.number);
    if (!own) continue;
    if (own.groups.length > 0) entry.groups = [...own.groups];
    if (own.sms) Object.assign(entry, { text: own.sms.text, segments: own.sms.measure.segments });
    if (own.suppress) Object.assign(entry, { verdict: 'suppressed', reason: own.suppress.reason, detail: own.suppress.detail, rejectedAtRcpt: false });
  }
}

/**
 * As the ledger decides at DATA: a mail that truly answers the forward of an
 * SMS reply is not held back by the cooldown (ledger/conversation.ts, the same
 * check for both), so its number's verdict is the rules' without the cooldown.
 */
async function explainConversation(message: IntakeMessage, verdicts: Map<string, RuleVerdict>, report: ExplainReport, options: ExplainOptions): Promise<void> {
  const thread = message.answersThread;
  const number = message.recipients[0];
  if (!thread || !options.ledger || number === undefined) return;
  const forward = await options.ledger.forwardedReply(thread.inboundId);
  if (!continuesConversation(forward, { thread, ...message }, options.now)) return;
  const rule = await options.ledger.checkRecipient(number, { ...message.rules, cooldownMs: null });
  verdicts.set(number, rule);
  const index = report.recipients.findIndex((entry) => 'number' in entry && entry.number === number);
  const entry = report.recipients[index];
  if (!entry || entry.verdict === 'group' || entry.verdict === 'postmaster' || entry.verdict === 'refused') return;
  const { address } = entry;
  report.recipients[index] = rule.allowed
    ? { address, verdict: 'would_send', number }
    : { address, verdict: 'suppressed', number, reason: rule.reason, detail: rule.detail, rejectedAtRcpt: false };
  const note = `answers the forward of inbound SMS #${thread.inboundId}: the cooldown does not apply`;
  report.note = report.note ? `${report.note}; ${note}` : note;
}

/** What the ledger would decide, from the rules' read-only verdicts and intake's own suppressions (explain never writes). */
function outcomeFrom(verdicts: Map<string, RuleVerdict>, message: IntakeMessage): IntakeOutcome {
  const decisions = message.recipients.map((recipient, i) => {
    const own = message.personal?.[i]?.suppress;
    if (own) return { recipient, outcome: 'suppressed' as const, reason: own.reason, detail: own.detail };
    const rule = verdicts.get(recipient) ?? { allowed: true as const };
    return rule.allowed ? { recipient, outcome: 'queued' as const } : { recipient, outcome: 'suppressed' as const, reason: rule.reason, detail: rule.detail };
  });
  return { queueId: '<queue-id>', duplicate: false, decisions };
}

/** When it would go, in explain's words. */
function timingLines(setup: Setup, message: IntakeMessage, now: number): string[] {
  const timing = timingOf(setup, message, now);
  const lines: string[] = [];
  if (timing.scheduledFor !== undefined) lines.push(`scheduled for ${new Date(timing.scheduledFor).toISOString()} (X-SMS-Send-At)`);
  if (setup.sending_window) {
    lines.push(timing.windowOpensAt === undefined ? 'inside the sending window' : `outside the sending window; would wait until ${new Date(timing.windowOpensAt).toISOString()}`);
  }
  if (timing.expiresAt !== undefined && setup.max_age !== null) {
    lines.push(
      timing.expiresBeforeOpening !== undefined
        ? `would EXPIRE at ${new Date(timing.expiresAt).toISOString()} before the window opens (max_age ${Math.round(setup.max_age / 60_000)} min)`
        : `expires if not sent by ${new Date(timing.expiresAt).toISOString()} (max_age)`,
    );
  }
  return lines;
}

export function formatExplain(report: ExplainReport, options: { why?: boolean } = {}): string {
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
            : r.verdict === 'group'
              ? `group ${r.group}: ${r.members} member(s)`
              : `refused: ${r.reply}`;
    lines.push(`RCPT TO:    <${r.address}> ${what}${personalLine(r)}`);
  }
  if (report.note) lines.push(`Note:       ${report.note}`);
  for (const line of report.timing ?? []) lines.push(`When:       ${line}`);
  if (report.reply) lines.push(`Reply:      ${report.reply}`);
  if (report.sms && 'text' in report.sms) {
    if (report.recipients.some((r) => 'text' in r && r.text !== undefined)) lines.push(`SMS:        from ${report.sms.senderName}; the merge template below, each recipient's own text above`);
    else lines.push(`SMS:        from ${report.sms.senderName}, ${report.sms.encoding}, ${report.sms.characters} characters, ${report.sms.segments} segment(s)${report.sms.warnings.length ? `; warnings: ${report.sms.warnings.join(', ')}` : ''}`);
    lines.push('', ...report.sms.text.split('\n').map((line) => `  | ${line}`));
    if (options.why) lines.push(...formatRemoved(report.sms.removed));
  } else if (report.sms) {
    lines.push(`DATA:       refused: ${report.sms.reply}`);
  }
  return lines.join('\n') + '\n';
}

const CLASS_NAMES: Record<RemovedBlock['class'], string> = {
  quote_header: 'quote header',
  quoted: 'quoted text',
  signature: 'signature',
  footer: 'footer',
  disclaimer: 'disclaimer or cut marker',
};

/** explain --why: each block stripping took out of the body, with its lines and class. */
function formatRemoved(removed: readonly RemovedBlock[]): string[] {
  if (removed.length === 0) return ['', 'Removed:    nothing (the whole body is the person\'s text)'];
  const lines = ['', `Removed:    ${removed.length} block(s) of the body`];
  for (const block of removed) {
    const [from, to] = block.lines;
    lines.push(`  lines ${from}${to !== from ? `-${to}` : ''}: ${CLASS_NAMES[block.class]}`);
    lines.push(...block.text.split('\n').map((line) => `    - ${line}`));
  }
  return lines;
}

/** " [via board] — 1 segment(s): "Hi Anna, …"" for a recipient with groups or its own text. */
function personalLine(r: RecipientReport): string {
  if (r.verdict !== 'would_send' && r.verdict !== 'suppressed') return '';
  const via = r.groups ? ` [via ${r.groups.join(', ')}]` : '';
  const text = r.text !== undefined ? ` — ${r.segments} segment(s): "${r.text.replace(/\n/g, ' / ')}"` : '';
  return via + text;
}
