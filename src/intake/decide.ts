import type { Config } from '../config/load.js';
import type { Setup } from '../config/schema.js';
import { refusal, type Acceptance, type Refusal } from '../core/errors.js';
import type { IntakeMessage, IntakeOutcome, RecipientDecision } from '../ledger/types.js';
import type { ParsedEmail } from '../message/email.js';
import { buildSmsText, extractSmsText, finishSmsText, type RemovedBlock, type TextPolicy, type TextWarning } from '../message/text.js';
import { measureSms } from '../message/encoding.js';
import { parseMerge, type MergeTemplate } from '../message/merge.js';
import { parseSendAt } from '../message/send-at.js';
import { answeredThread, type ReplyThread } from '../message/conversation.js';
import type { GroupMember, PersonalRecipient } from '../ledger/types.js';
import { gatherRecipients, type Addressee, type ResolvedGroup } from './groups.js';
import { personalise } from './personalise.js';
import { nextOpening } from '../core/sending-window.js';
import { rulesFor, textPolicyFor } from './policy.js';

/*
 * The one intake decision: (config, envelope, parsed mail, now) → a refusal, a
 * mail we take and discard, or the message to store. src/smtp/server.ts and
 * `mail2sms explain` both call it, so they cannot disagree. Pure: no sockets,
 * no storage, no clock of its own.
 */

/** What the envelope established by the end of RCPT TO. */
export interface DataEnvelope {
  /** '' for the null sender <>. */
  mailFrom: string;
  /** The setup that owns the sender; undefined for the null sender. */
  setup: Setup | undefined;
  /** E.164 numbers, de-duplicated, in the order given. */
  numbers: readonly string[];
  /** postmaster@<sms domain> (or bare postmaster) is among the recipients. */
  postmaster: boolean;
  clientIp: string;
  /** The transaction reference (session.N) that stands on every log line. */
  sessionRef: string;
  /** Group addresses accepted at RCPT TO, with their members as resolved then. */
  groups?: readonly ResolvedGroup[];
  /** Contacts of the directly addressed numbers, looked up when the mail may use merge fields (mayUseMergeFields). */
  contacts?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/**
 * Whether the mail may carry merge fields, checked on the raw parts before any
 * text rule: only then are the contacts of directly addressed numbers looked
 * up, so a plain mail costs nothing more than it did.
 */
export function mayUseMergeFields(email: ParsedEmail): boolean {
  return [email.subject, email.text, email.html].some((part) => part !== undefined && part.includes('{{'));
}

/** The contacts of direct numbers as the envelope carries them. */
export function contactFields(members: readonly GroupMember[]): Map<string, Readonly<Record<string, string>>> {
  return new Map(members.map((m) => [m.number, m.fields]));
}

export type DataVerdict =
  | { action: 'refuse'; refusal: Refusal }
  | { action: 'discard'; acceptance: Acceptance; why: string }
  | { action: 'store'; setup: Setup; message: IntakeMessage; warnings: string[]; /** What stripping took out of the body, and why (explain --why). */ removed: RemovedBlock[]; viaGroups: boolean };

export interface DataDecision {
  /** Mail for postmaster goes to the admin before the answer (there is no queue for it). */
  forwardToPostmaster: boolean;
  verdict: DataVerdict;
}

const REASON_TEXT: Record<string, string> = {
  opted_out: 'the number opted out of SMS',
  merge_field_missing: 'a merge field has no value for this recipient',
  country_not_allowed: "the number is outside this sender's countries",
  no_consent: 'the number has not opted in to this kind of SMS',
  stale_consent: "the number's opt-in has lapsed",
  daily_limit: 'this sender reached its daily SMS limit',
  number_daily_limit: 'the number reached the daily SMS limit',
  cooldown: 'the number got an SMS recently',
};

/** A suppression in the words of an SMTP reply (ASCII only). */
export function suppressionText(reason: string | undefined, detail: string | undefined): string {
  return `${REASON_TEXT[reason ?? ''] ?? 'suppressed'}${detail ? `; ${detail}` : ''}`;
}

export function notificationLoop(email: ParsedEmail): Refusal | undefined {
  if (email.notification === undefined) return undefined;
  // One of our own reports or forwards came back: sending it as SMS or forwarding it again would start a loop.
  const kind = email.notification.replace(/[^\x21-\x7e]/g, '').slice(0, 20);
  return refusal('notification_loop', `This mail is a mail2sms notification (X-Mail2sms-Notification: ${kind}); it is never sent as SMS or forwarded`);
}

export function decideData(config: Config, envelope: DataEnvelope, email: ParsedEmail, bodyHash: string, now: number): DataDecision {
  const { setup } = envelope;
  if (!setup && !envelope.postmaster) {
    return { forwardToPostmaster: false, verdict: { action: 'discard', acceptance: { code: 'bounce_discarded' }, why: 'null sender (bounce) accepted and dropped' } };
  }
  const loop = notificationLoop(email);
  if (loop) return { forwardToPostmaster: false, verdict: { action: 'refuse', refusal: loop } };
  return { forwardToPostmaster: envelope.postmaster, verdict: decideSms(config, envelope, email, bodyHash, now) };
}

function decideSms(config: Config, envelope: DataEnvelope, email: ParsedEmail, bodyHash: string, now: number): DataVerdict {
  const { setup } = envelope;
  if (!setup && envelope.mailFrom !== '') {
    // A sender no setup claims reached postmaster (RFC 5321): forwarded, never an SMS.
    return { action: 'discard', acceptance: { code: 'postmaster_only' }, why: 'mail for postmaster from a sender no setup claims' };
  }
  if (!setup) {
    return { action: 'discard', acceptance: { code: 'bounce_for_postmaster' }, why: 'null sender (bounce) for postmaster handled; nothing else is done with it' };
  }
  if (email.autoReply) {
    return { action: 'discard', acceptance: { code: 'auto_reply_discarded' }, why: 'auto-reply dropped: vacation and out-of-office replies are never sent as SMS' };
  }
  const groups = envelope.groups ?? [];
  if (envelope.numbers.length === 0 && groups.length === 0) return { action: 'discard', acceptance: { code: 'postmaster_only' }, why: 'mail for postmaster only' };
  const policy = textPolicyFor(setup, config.main.consent.stop_clause);
  const extracted = extractSmsText(email, policy);
  if (!extracted.ok) return { action: 'refuse', refusal: textRefusal(extracted, setup, email) };
  const merge = parseMerge(extracted.text);
  if (!merge.ok) return { action: 'refuse', refusal: refusal('merge_failed', `Merge fields: ${merge.problem}`) };
  const addressees = gatherRecipients(setup, envelope.numbers, groups, envelope.contacts);
  const text = smsBodyOf(config, email, setup, policy, extracted, merge.template, addressees, groups.length > 0);
  if ('refusal' in text) return { action: 'refuse', refusal: text.refusal };
  let sendAt: number | undefined;
  if (email.sendAt !== undefined) {
    const asked = parseSendAt(email.sendAt, now, config.main.dispatch.max_schedule_ahead);
    if (!asked.ok) return { action: 'refuse', refusal: refusal('bad_send_at', asked.message) };
    sendAt = asked.at;
  }
  const message: IntakeMessage = {
    setupId: setup.id,
    senderName: setup.sender_name,
    mailFrom: envelope.mailFrom,
    headerMessageId: email.messageId,
    bodyHash,
    clientIp: envelope.clientIp,
    sessionRef: envelope.sessionRef,
    text: text.text,
    measure: text.measure,
    recipients: addressees.map((a) => a.number),
    rules: rulesFor(config, setup),
    stopClauseAppended: text.stopClauseAppended,
    ...(text.stopClauseOnce ? { stopClauseOnce: text.stopClauseOnce } : {}),
    ...(text.personal ? { personal: text.personal } : {}),
    ...(email.subject ? { subject: email.subject } : {}),
    ...(sendAt !== undefined ? { sendAt } : {}),
    // max_age counts from the mail's arrival, or from the time it asked to be sent.
    ...(setup.max_age !== null ? { expiresAt: (sendAt ?? now) + setup.max_age } : {}),
    ...(setup.sending_window ? { sendingWindow: setup.sending_window } : {}),
    onUnknown: setup.on_unknown ?? (setup.category === 'marketing' ? 'fail' : 'retry'),
    ...(setup.report !== 'none' ? { reportMode: setup.report } : {}),
    ...conversation(email, config.main.smtp.hostname),
  };
  return { action: 'store', setup, message, warnings: text.warnings, removed: extracted.removed, viaGroups: groups.length > 0 };
}

/**
 * The SMS text of a mail: one for all (as always without merge fields), plus,
 * when the mail went to a group or has merge fields, what each recipient gets.
 */
function smsBodyOf(
  config: Config,
  email: ParsedEmail,
  setup: Setup,
  policy: TextPolicy,
  extracted: Extract<ReturnType<typeof extractSmsText>, { ok: true }>,
  template: MergeTemplate | undefined,
  addressees: readonly Addressee[],
  viaGroups: boolean,
): SmsBody | { refusal: Refusal } {
  const oncePer = config.main.consent.stop_clause.once_per;
  if (template) {
    const personal = personalise(template, addressees, setup, policy, oncePer !== null);
    if (!personal.ok) return { refusal: personal.refusal };
    const anyClause = personal.personal.some((p) => p.sms?.stopClauseAppended);
    // The message keeps the template; every row that is sent has its own text.
    return {
      text: extracted.text, measure: measureSms(extracted.text), stopClauseAppended: false, warnings: [...extracted.warnings, ...personal.warnings], personal: personal.personal,
      ...(anyClause && oncePer !== null ? { stopClauseOnce: { periodMs: oncePer, text: extracted.text } } : {}),
    };
  }
  const sms = finishSmsText(extracted.text, policy, extracted.warnings, extracted.removed);
  if (!sms.ok) return { refusal: textRefusal(sms, setup, email) };
  return {
    ...sms, ...stopClauseOnce(config, email, policy, sms.stopClauseAppended),
    ...(viaGroups ? { personal: addressees.map((a): PersonalRecipient => ({ groups: a.groups, ...(a.suppress ? { suppress: a.suppress } : {}) })) } : {}),
  };
}

/** The SMS text of a mail: one for all, or (merge fields, groups) one per recipient besides. */
interface SmsBody {
  text: string;
  measure: IntakeMessage['measure'];
  stopClauseAppended: boolean;
  warnings: TextWarning[];
  stopClauseOnce?: { periodMs: number; text: string };
  personal?: PersonalRecipient[];
}

type FailedText = { ok: false; reason: 'no_text' } | { ok: false; reason: 'too_long'; segments: number; maxSegments: number };

function textRefusal(sms: FailedText, setup: Setup, email: ParsedEmail): Refusal {
  if (sms.reason === 'no_text') {
    // Alarm panels often send everything in the subject: say how to use it.
    const hint = setup.text === 'body' && email.subject?.trim() ? `; the mail has only a subject: set "text: subject+body" in setup ${setup.id} to send it` : '';
    return refusal('no_text', `The message has no text to send as SMS (attachments are not sent)${hint}`);
  }
  return refusal('too_long', `The SMS would be ${sms.segments} segments; this sender's limit is ${sms.maxSegments} (shorten the message)`);
}

/**
 * With consent.stop_clause.once_per, a number that had the clause recently
 * gets the text without it (and so perhaps less truncated).
 */
function stopClauseOnce(config: Config, email: ParsedEmail, policy: TextPolicy, appended: boolean): { stopClauseOnce?: { periodMs: number; text: string } } {
  const periodMs = config.main.consent.stop_clause.once_per;
  if (!appended || periodMs === null) return {};
  const { stopClause: _clause, ...withoutClause } = policy;
  const plain = buildSmsText(email, withoutClause);
  return plain.ok ? { stopClauseOnce: { periodMs, text: plain.text } } : {};
}

/** When a stored message would go: its schedule, the sending window, and an expiry that comes first. */
export interface Timing {
  /** X-SMS-Send-At. */
  scheduledFor?: number;
  /** Outside the sending window: when it opens (after the schedule, if any). */
  windowOpensAt?: number;
  /** max_age runs out before the window opens: the SMS will expire unsent at this time. */
  expiresBeforeOpening?: number;
  expiresAt?: number;
}

export function timingOf(setup: Setup, message: Pick<IntakeMessage, 'sendAt' | 'expiresAt'>, now: number): Timing {
  const goesAt = message.sendAt ?? now;
  const opening = setup.sending_window ? nextOpening(setup.sending_window, goesAt) : goesAt;
  const timing: Timing = {};
  if (message.sendAt !== undefined) timing.scheduledFor = message.sendAt;
  if (opening > goesAt) timing.windowOpensAt = opening;
  if (message.expiresAt !== undefined) {
    timing.expiresAt = message.expiresAt;
    if (message.expiresAt <= opening && opening > goesAt) timing.expiresBeforeOpening = message.expiresAt;
  }
  return timing;
}

/** The 250's words on timing (ASCII; ISO times without milliseconds). */
function timingNote(timing: Timing): string {
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const parts: string[] = [];
  if (timing.scheduledFor !== undefined) parts.push(`scheduled for ${iso(timing.scheduledFor)}`);
  if (timing.expiresBeforeOpening !== undefined) {
    parts.push(`WARNING: outside the sending window, which opens ${iso(timing.windowOpensAt as number)}; max_age expires it at ${iso(timing.expiresBeforeOpening)}, so it will not be sent`);
  } else if (timing.windowOpensAt !== undefined) parts.push(`deferred to ${iso(timing.windowOpensAt)} (sending window)`);
  return parts.map((part) => `; ${part}`).join('');
}

/** The forward the mail says it answers; whether it really is one, the ledger decides (ledger/conversation.ts). */
function conversation(email: ParsedEmail, host: string): { answersThread?: ReplyThread } {
  const thread = answeredThread(email.threadIds, host);
  return thread === undefined ? {} : { answersThread: thread };
}

/**
 * The answer once the ledger has decided each recipient (and committed). A mail
 * to a group says how many of its recipients get the SMS, suppressed or not.
 */
export function decideReply(setup: Setup, outcome: IntakeOutcome, timing: Timing = {}, viaGroups = false): { ok: true; acceptance: Acceptance } | { ok: false; refusal: Refusal } {
  if (outcome.duplicate) return { ok: true, acceptance: { code: 'already_queued', queueId: outcome.queueId } };
  const suppressed = outcome.decisions.filter((d): d is RecipientDecision & { outcome: 'suppressed' } => d.outcome === 'suppressed');
  if (setup.on_suppressed === 'reject' && suppressed.length === outcome.decisions.length) {
    // RCPT TO checked each recipient, but the rules may have changed before the
    // atomic decision at DATA; every recipient is suppressed, so nothing was queued.
    const first = outcome.decisions[0];
    return { ok: false, refusal: refusal('recipient_suppressed', `Not sent: ${suppressionText(first?.reason, first?.detail)} (recorded as ${outcome.queueId})`) };
  }
  const reasons = [...new Set(suppressed.map((d) => d.reason ?? 'other'))];
  const queued = outcome.decisions.some((d) => d.outcome === 'queued');
  const total = outcome.decisions.length;
  const why = suppressed.length > 0 ? ` (${reasons.join(', ')})` : '';
  const note = viaGroups
    ? `; ${total - suppressed.length} of ${total} recipients${suppressed.length > 0 ? `, ${suppressed.length} suppressed${why}` : ''}`
    : suppressed.length > 0
      ? `; ${suppressed.length} of ${total} recipient(s) suppressed${why}`
      : '';
  const when = queued ? timingNote(timing) : '';
  return { ok: true, acceptance: { code: 'queued', queueId: outcome.queueId, note: note + when } };
}
