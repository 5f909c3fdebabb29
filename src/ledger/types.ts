import type { ReplyThread } from '../message/conversation.js';
import type { ForwardedReply } from './conversation.js';
import type { SmsMeasure } from '../message/encoding.js';
import type { SendingWindow } from '../core/sending-window.js';
import type { ConsentChange, ConsentEvent, ExternalSend, HistoryEntry } from './consent.js';
import type { RecipientRules, RuleVerdict, SuppressionReason } from './rules.js';
import type { ConsentData, ConsoleQuery, ConsoleQueryOf, ConsoleResults } from './console-types.js';

export type { RecipientRules, RuleVerdict, SuppressionReason };

/*
 * The ledger is the hand-off between stages: intake writes decisions and outbox
 * rows, dispatch claims them, receipts finish them. Every method returns a
 * Promise so a PostgreSQL implementation can follow; the SQLite one is
 * synchronous inside.
 */

import type { OutboxStatus } from './status.js';
export type { OutboxStatus };

export interface IntakeMessage {
  setupId: string;
  senderName: string;
  mailFrom: string;
  headerMessageId: string | undefined;
  bodyHash: string;
  clientIp: string | undefined;
  sessionRef: string;
  text: string;
  measure: SmsMeasure;
  /** E.164 numbers, already de-duplicated. */
  recipients: readonly string[];
  /** The organisation's rules for this setup: consent, caps, cooldown. */
  rules: RecipientRules;
  /** True when `text` ends with the STOP clause that was appended to it. */
  stopClauseAppended: boolean;
  /**
   * When the clause need only reach a number once per period: the period, and
   * the text without the clause for numbers that had it within that period.
   */
  stopClauseOnce?: { periodMs: number; text: string };
  subject?: string;
  /** Not sent after this (the setup's max_age): the row ends `expired`. */
  expiresAt?: number;
  /** X-SMS-Send-At: not sent before this. */
  sendAt?: number;
  /** The setup's sending window, checked when a row is about to be sent. */
  sendingWindow?: SendingWindow;
  /** A timed-out call to a provider without idempotency: retry (at-least-once) or fail (at-most-once). Default retry. */
  onUnknown?: 'retry' | 'fail';
  /** Email the sender a report of the outcomes. */
  reportMode?: 'failures' | 'all';
  /**
   * The forwarded SMS reply the mail says it answers (its inbound SMS and token):
   * when the ledger confirms it is that forward, to the number that wrote, from
   * the address and setup it was forwarded to (ledger/conversation.ts), the
   * cooldown does not apply.
   */
  answersThread?: ReplyThread;
  /**
   * Per recipient, in the order of `recipients`, when the mail went to a group
   * or has merge fields; absent for a plain mail (stored exactly as before).
   */
  personal?: readonly PersonalRecipient[];
}

/** Suppressions intake decides before the rules: the recipient cannot get this mail's SMS at all. */
export type IntakeSuppression = 'merge_field_missing' | 'country_not_allowed';

export interface PersonalRecipient {
  /** The groups through which the mail reached this number; empty when addressed directly. */
  groups: readonly string[];
  /** This recipient's own text (merge fields filled), when it differs from the message's. */
  sms?: { text: string; measure: SmsMeasure; stopClauseAppended: boolean; textNoClause?: string };
  /** Recorded as suppressed with this reason, without asking the rules. */
  suppress?: { reason: IntakeSuppression; detail: string };
}

export interface RecipientDecision {
  recipient: string;
  outcome: 'queued' | 'suppressed' | 'duplicate';
  reason?: SuppressionReason | IntakeSuppression;
  /** For people: the rule and its numbers. */
  detail?: string;
  /** For cooldown and caps: when the number may get an SMS again (undefined while another send is still pending). */
  blockedUntil?: number;
}

export interface IntakeOutcome {
  queueId: string;
  /** True when every recipient was already accepted for this same mail: the client retried. */
  duplicate: boolean;
  decisions: RecipientDecision[];
}

export interface ClaimedSms {
  outboxId: number;
  queueId: string;
  recipient: string;
  senderName: string;
  text: string;
  idempotencyKey: string;
  attempt: number;
  setupId: string;
  /** When the row was accepted: retries stop after dispatch.max_retry_age. */
  createdAt: number;
  onUnknown: 'retry' | 'fail';
  /** The confirmation of a STOP: the one SMS an opted-out number still gets (the opt-out gate lets it through). */
  confirmsOptOut?: boolean;
  /** Claimed again because an earlier claim's lease ran out (the process died mid-send?): the earlier call may have sent it. */
  leaseExpired?: boolean;
}

/** An SMS received from a number (a reply or a keyword), classified by the caller. */
export interface InboundRecord {
  providerId: string;
  from: string;
  to: string | undefined;
  text: string;
  receivedAt: number;
  kind: 'opt_out' | 'opt_in' | 'help' | 'none';
  keyword?: string;
  /** The SMS to answer with (opt-in confirmation, help text); it bypasses cooldown and is recorded. */
  reply?: { senderName: string; text: string; measure: SmsMeasure };
}

export interface InboundOutcome {
  duplicate: boolean;
  inboundId: number;
  action: string;
  replyQueueId?: string;
  consentEventId?: number;
}


export type ReceiptStatus = 'delivered' | 'failed' | 'expired' | 'rejected';

/**
 * One delivery receipt as the provider sent it. A concatenated SMS may get one
 * receipt per part (`part` of `parts`, 1-based); combining them is the ledger's job.
 */
export interface Receipt {
  providerMessageId: string;
  status: ReceiptStatus;
  errorCode?: string;
  /** 1-based part this receipt is about, when the provider reports parts separately. */
  part?: number;
  parts?: number;
  /** When the provider says the status happened (epoch ms), if it says. */
  providerTimestamp?: number;
  rawBody: string;
}

/**
 * applied: the row moved on. partial: one part of a concatenated SMS, recorded
 * while others are outstanding. duplicate / stale: nothing changed (never
 * backwards). parked: the id is not known yet (the send's answer may still be
 * on its way); applied when it is. unknown: still unknown after the grace period.
 */
export type ReceiptOutcome = 'applied' | 'partial' | 'duplicate' | 'stale' | 'parked' | 'unknown';

export interface OutboxRow {
  id: number;
  queueId: string;
  recipient: string;
  status: OutboxStatus;
  reason: string | null;
  blockedUntil: number | null;
  attempts: number;
  providerMessageId: string | null;
  createdAt: number;
  sentAt: number | null;
  finalAt: number | null;
}

/** A message whose delivery report is due (notify-sql.ts). */
export interface DueReport {
  queueId: string;
  setupId: string;
  /** The envelope sender; '' never gets a report. */
  mailFrom: string;
  headerMessageId: string | null;
  subject: string | null;
  mode: 'failures' | 'all';
  receivedAt: number;
  /** One per outbox row; `at` is when it became final (or was sent, or last changed). */
  outcomes: { recipient: string; status: OutboxStatus; reason: string | null; at: number; /** Comma-separated groups that reached the number; null when addressed directly. */ groups: string | null }[];
}

/** The newest SMS a number got from an email, and that email (for forwarding a reply). */
export interface LastSms {
  queueId: string;
  sentAt: number;
  setupId: string;
  mailFrom: string;
  headerMessageId: string | null;
  subject: string | null;
  senderName: string;
  /** Set when the SMS came from an automation's run (mailFrom is then ''). */
  automationId: string | null;
}

/*
 * The ledger as narrow stores, one per kind of caller. An implementation
 * (src/ledger/sqlite/, src/ledger/postgres/) provides them all; each stage
 * asks for the store it uses (`Pick<Ledger, …>` or the store type), and the
 * contract suite (test/contract/) holds every implementation to the same
 * behaviour. Times are the caller's: implementations read the injected clock
 * when the call is made.
 */

/** SMTP intake and explain. */
export interface IntakeStore {
  /** Decides per recipient and writes the outbox rows in one transaction; resolves after COMMIT. */
  acceptMessage(message: IntakeMessage): Promise<IntakeOutcome>;
  /** Read-only verdict of the rules (RCPT TO in reject mode, explain). */
  checkRecipient(recipient: string, rules: RecipientRules): Promise<RuleVerdict>;
}

/** Dispatch: claims with leases, and what became of each call. */
export interface DispatchQueue {
  /** Leases up to `limit` due rows for sending, applying the claim policy (expiry, window) and the rules again. */
  claimDue(limit: number, leaseMs: number): Promise<ClaimedSms[]>;
  /** When the next queued row becomes due, if any. */
  nextDueAt(): Promise<number | undefined>;
  /** The provider took it; `parts` is its segment count when it says. Applies receipts parked for that id. */
  recordSent(outboxId: number, providerMessageId: string, parts?: number): Promise<void>;
  /** A call that may or may not have sent (timeout, no idempotency), with on_unknown: fail. Final; it counts as sent for cooldown. */
  recordUnknown(outboxId: number, reason: string): Promise<void>;
  recordRetry(outboxId: number, reason: string, nextAttemptAt: number): Promise<void>;
  /** Hands a claimed row back untried (no provider call was made): it keeps its attempt count. */
  releaseClaim(outboxId: number, reason: string, nextAttemptAt: number): Promise<void>;
  recordFailure(outboxId: number, reason: string): Promise<void>;
  /** Rows waiting to be sent and rows being sent (for metrics; reads the partial indexes only). */
  queueDepth(): Promise<{ queued: number; sending: number }>;
}

/** Delivery receipts from the provider. */
export interface ReceiptStore {
  applyReceipt(receipt: Receipt): Promise<ReceiptOutcome>;
}

/** Consent changes, sends reported by other channels, inbound SMS. */
export interface ConsentLedger {
  changeConsent(changes: ConsentChange[]): Promise<ConsentEvent[]>;
  recordExternalSends(sends: ExternalSend[]): Promise<{ recorded: number; duplicates: number }>;
  recordInbound(inbound: InboundRecord): Promise<InboundOutcome>;
  /** A number's consent now, per purpose ('' = the global switch), and every change that led to it, oldest first (consent show). */
  consentOf(recipient: string): Promise<ConsentData>;
  /** One page of the audit trail, oldest first: changes recorded since `since`, after event `afterId` (consent export). */
  consentEvents(page: ConsentEventPage): Promise<ConsentEvent[]>;
}

export interface ConsentEventPage {
  /** Only changes recorded at or after this time. */
  since?: number;
  /** Only events with a larger id: the last id of the page before. */
  afterId?: number;
  limit: number;
}

/** Reports and reply forwarding by email. */
export interface ReportStore {
  /** Reports due now, oldest first; rows in `sent` since `sentBefore` or earlier no longer hold one back. */
  dueReports(limit: number, sentBefore: number): Promise<DueReport[]>;
  /** Marks a report sent or given up on (`note` says which, kept as an event); resolves false if it already was. */
  markReported(queueId: string, note: string): Promise<boolean>;
  /**
   * The newest SMS sent (or delivered) to the number from an email or an
   * automation, for forwarding a reply to whoever is behind it.
   */
  lastSmsTo(recipient: string): Promise<LastSms | undefined>;
  /** Keeps the token, address and setup an inbound SMS was forwarded with, before the forward goes out. */
  noteReplyForward(inboundId: number, forward: ReplyForwardNote): Promise<void>;
  /** An inbound SMS and its forward, for deciding whether a mail continues that conversation (explain). */
  forwardedReply(inboundId: number): Promise<ForwardedReply | undefined>;
}

export interface ReplyForwardNote {
  token: string;
  mailTo: string;
  setupId: string;
}

/** Looking things up. */
export interface HistoryStore {
  outbox(filter?: { queueId?: string; recipient?: string }): Promise<OutboxRow[]>;
  /** Every SMS, suppression, send, consent change and inbound SMS of a number, newest first (mail2sms history). */
  numberHistory(recipient: string, limit: number): Promise<HistoryEntry[]>;
}

/** Why a row that is not sent yet waits. */
export type WaitingKind = 'queued' | 'scheduled' | 'deferred' | 'retrying';

export interface QueueEntry {
  queueId: string;
  outboxId: number;
  recipient: string;
  setupId: string;
  /** failed rows, or why a queued row waits. */
  state: WaitingKind | 'sending' | 'failed';
  reason: string | null;
  attempts: number;
  createdAt: number;
  /** When it is due (queued rows). */
  nextAttemptAt: number | null;
}

export interface QueueFilter {
  setupId?: string;
  state?: 'queued' | 'scheduled' | 'deferred' | 'retrying' | 'failed';
  limit: number;
}

/** One mail and everything that happened to each of its SMS (mail2sms status). */
export interface MailStatus {
  queueId: string;
  setupId: string;
  mailFrom: string;
  receivedAt: number;
  subject: string | null;
  text: string;
  sendAt: number | null;
  expiresAt: number | null;
  recipients: {
    outboxId: number;
    recipient: string;
    status: OutboxStatus;
    reason: string | null;
    attempts: number;
    providerMessageId: string | null;
    sentAt: number | null;
    finalAt: number | null;
    receipts: { at: number; status: string; errorCode: string | null; part: number | null; outcome: string }[];
    events: { at: number; type: string; detail: string | null }[];
  }[];
}

/** Who asked for a change from the command line, and why (kept as an event). */
export interface Requester {
  who: string;
  why: string;
}

/** Fixing things by hand: cancel what is not sent yet, retry what failed. */
export interface QueueAdmin {
  mailStatus(queueId: string): Promise<MailStatus | undefined>;
  listQueue(filter: QueueFilter): Promise<QueueEntry[]>;
  /** Ends rows not yet sent (queued, scheduled, deferred) as suppressed `cancelled`, freeing their reservations. */
  cancel(queueId: string, recipient: string | undefined, by: Requester): Promise<{ cancelled: string[]; notCancelled: { recipient: string; status: OutboxStatus }[] }>;
  /** Queues failed rows again at once, under the same idempotency key; they count for the cooldown again. */
  retryFailed(queueId: string, recipient: string | undefined, by: Requester): Promise<{ retried: string[]; notRetried: { recipient: string; status: OutboxStatus }[] }>;
}

/** A contact as imported: `id` is the file's key (or the number), `fields` the merge fields with a value. */
export interface ContactInput {
  id: string;
  /** E.164. */
  number: string;
  /** Fixed groups the contact belongs to (declared in the config). */
  groups: readonly string[];
  fields: Readonly<Record<string, string>>;
}

export interface Contact extends ContactInput {
  source: string;
  createdAt: number;
  updatedAt: number;
}

/** Who a group is: every contact, the contacts listed in a fixed group, or those whose fields match (any of the values, per field). */
export type GroupSelector =
  | { kind: 'all' }
  | { kind: 'fixed'; name: string }
  | { kind: 'where'; where: Readonly<Record<string, readonly string[]>> };

/** A group member as merge needs it. */
export interface GroupMember {
  number: string;
  source: string;
  id: string;
  fields: Readonly<Record<string, string>>;
}

export interface ContactSyncResult {
  added: number;
  updated: number;
  unchanged: number;
  /** Contacts of the source not in the file (replace only). */
  removed: number;
}

/**
 * Contacts to import: a list, or the list as UTF-8 JSON (PUT /contacts: encoded where it was parsed,
 * it crosses threads as one buffer, not 100 000 objects cloned on the SMTP thread).
 */
export type ContactBatch = readonly ContactInput[] | { encoded: Uint8Array };

/** Contacts and groups: imports, lookups, and a group's members when a mail arrives. */
export interface ContactStore {
  /** Adds or updates the source's contacts by id in one transaction; with `replace`, the source's contacts not listed are removed. Never touches consent. */
  importContacts(source: string, contacts: ContactBatch, replace: boolean): Promise<ContactSyncResult>;
  /** Contacts with this number or this id, in any source. */
  findContacts(ref: { number: string } | { id: string }): Promise<Contact[]>;
  /** Every contact, oldest first (export). */
  listContacts(): Promise<Contact[]>;
  /** Removes the contacts with this number or id; resolves how many. */
  deleteContacts(ref: { number: string } | { id: string }): Promise<number>;
  /** The group's members now, in import order; a number may appear once per contact. */
  groupMembers(selector: GroupSelector): Promise<GroupMember[]>;
  /** The contacts of these numbers (the first by import order when a number has several), for merge fields of directly addressed numbers. */
  contactsByNumber(numbers: readonly string[]): Promise<GroupMember[]>;
}

/** How an automation run came about: its schedule, a catch-up after downtime, or `automations run`. */
export type AutomationRunBy = 'schedule' | 'catch-up' | 'manual';

/** One occurrence of an automation, as the ledger keeps it: (automationId, scheduledAt) is its key. */
export interface AutomationRun {
  automationId: string;
  /** The occurrence (epoch ms). */
  scheduledAt: number;
  outcome: 'ran' | 'missed';
  runBy: AutomationRunBy;
  recordedAt: number;
  /** The run's message (queue id); null for a missed run. */
  queueId: string | null;
  recipients: number;
  queued: number;
  suppressed: number;
  detail: string | null;
}

export type StartRunOutcome =
  | { outcome: 'ran'; run: AutomationRun; decisions: RecipientDecision[] }
  /** The occurrence already has a row (ran, or recorded missed): nothing was written, nothing will be sent. */
  | { outcome: 'already-ran'; run: AutomationRun };

/** Scheduled automations: each run written once, with its outbox rows, under its key. */
export interface AutomationStore {
  /**
   * Writes the run and its message (decided per recipient exactly as acceptMessage
   * decides a group mail) in one transaction; `already-ran` when the key exists.
   */
  startRun(run: { automationId: string; scheduledAt: number; runBy: AutomationRunBy }, message: IntakeMessage): Promise<StartRunOutcome>;
  /** Records occurrences that will not run; resolves those newly recorded (another daemon may have recorded or run some). */
  recordMissed(automationId: string, scheduledAts: readonly number[], detail: string): Promise<number[]>;
  /** An automation's runs, newest occurrence first. */
  runHistory(automationId: string, limit: number): Promise<AutomationRun[]>;
  /** The newest run (by occurrence, ran or missed) of every automation that has one. */
  lastRuns(): Promise<AutomationRun[]>;
}

/** The operations console (src/http/console/): read-only, indexed and paged; one method with a query per page. */
export interface ConsoleStore {
  consoleQuery<K extends ConsoleQuery['kind']>(query: ConsoleQueryOf<K>): Promise<ConsoleResults[K]>;
}

export interface Ledger extends IntakeStore, DispatchQueue, ReceiptStore, ConsentLedger, ReportStore, HistoryStore, QueueAdmin, ContactStore, ConsoleStore, AutomationStore {
  /**
   * Called after each commit that queued rows, so dispatch wakes without
   * polling, with the earliest time one of them is due (0: now; a scheduled
   * mail's rows are due later, and nothing need look for them before then).
   */
  onQueued(listener: (dueAt: number) => void): void;
  close(): Promise<void>;
}

/** The methods a ledger answers over a thread or a network: one list drives both sides of the proxy. */
export type LedgerMethod = Exclude<keyof Ledger, 'onQueued' | 'close'>;

export const LEDGER_METHODS = [
  'acceptMessage',
  'checkRecipient',
  'claimDue',
  'nextDueAt',
  'recordSent',
  'recordUnknown',
  'recordRetry',
  'releaseClaim',
  'recordFailure',
  'queueDepth',
  'applyReceipt',
  'changeConsent',
  'recordExternalSends',
  'recordInbound',
  'consentOf',
  'consentEvents',
  'dueReports',
  'markReported',
  'lastSmsTo',
  'noteReplyForward',
  'forwardedReply',
  'outbox',
  'numberHistory',
  'mailStatus',
  'listQueue',
  'cancel',
  'retryFailed',
  'importContacts',
  'findContacts',
  'listContacts',
  'deleteContacts',
  'groupMembers',
  'contactsByNumber',
  'consoleQuery',
  'startRun',
  'recordMissed',
  'runHistory',
  'lastRuns',
] as const satisfies readonly LedgerMethod[];

// Compile-time check that the list is complete: a method added to a store but not listed fails here.
type Unlisted = Exclude<LedgerMethod, (typeof LEDGER_METHODS)[number]>;
export const everyMethodListed: [Unlisted] extends [never] ? true : Unlisted = true;

/**
 * What dispatch decides about a row it is about to claim, before the rules
 * are checked again: send it, expire it, or put it back until later. The
 * functions are dispatch's (src/dispatch/claim-policy.ts); the ledger applies
 * them inside the claim's transaction.
 */
export type ClaimDecision = { action: 'send' } | { action: 'expire'; reason: string } | { action: 'defer'; until: number; reason: string };

export interface ClaimCandidate {
  expiresAt: number | null;
  /** The setup's sending window as stored with the message (JSON), if any. */
  sendingWindow: string | null;
}

export type ClaimPolicy = (candidate: ClaimCandidate, now: number) => ClaimDecision;
