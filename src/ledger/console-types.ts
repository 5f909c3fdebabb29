import type { ConsentAction, ConsentEvent } from './consent.js';
import type { HistoryCursor, HistoryPage } from './history.js';
import type { OutboxStatus } from './status.js';

/*
 * The questions the operations console asks the ledger and the answers it
 * gets (sqlite/console-queries.ts and postgres/console.ts answer them). One discriminated union,
 * so the ledger interface grows by one method, not by one per page.
 */

/** Outcomes counted on the overview: every final status that is not a success. */
export const OUTCOME_STATUSES = ['failed', 'rejected', 'expired', 'unknown', 'suppressed'] as const;

export type ConsoleQuery =
  | { kind: 'overview'; now: number; sinceMs: number }
  | { kind: 'queue'; now: number; limit: number; after?: { at: number; id: number } }
  | { kind: 'mail'; queueId: string; eventLimit: number }
  /** A page of a number's history: the newest, the one `before` a key, or (an old `?page=N` link) the one after `skip` entries. */
  | { kind: 'history'; recipient: string; limit: number; now: number; before?: HistoryCursor; skip?: number }
  | { kind: 'consent'; recipient: string }
  | { kind: 'find'; text: string };

export interface SetupQueue {
  setupId: string;
  /** Due now, waiting for a dispatch slot. */
  queued: number;
  /** Not due before its X-SMS-Send-At, never tried (queue-state.ts has the one definition of each state). */
  scheduled: number;
  /** Held for another reason: the sending window, the opt-out gate. */
  deferred: number;
  /** Backing off after a failed attempt. */
  retrying: number;
  sending: number;
  /** The oldest row due now (null when none is due). */
  oldestQueuedAt: number | null;
}

export interface OverviewData {
  setups: SetupQueue[];
  /** Final outcomes other than sent/delivered since `since`, by status and reason. */
  outcomes: { status: OutboxStatus; reason: string; count: number }[];
  since: number;
}

export interface QueueRow {
  outboxId: number;
  queueId: string;
  setupId: string;
  recipient: string;
  status: 'queued' | 'sending';
  attempts: number;
  createdAt: number;
  nextAttemptAt: number | null;
  leaseUntil: number | null;
  reason: string | null;
  sendAt: number | null;
  expiresAt: number | null;
  /** The row's newest event, which says why a row that was tried or deferred waits. */
  lastEvent: { at: number; type: string; detail: string | null } | null;
}

export interface QueueData {
  sending: QueueRow[];
  waiting: QueueRow[];
  /** The cursor of the next page, when there is one. */
  next?: { at: number; id: number };
}

export interface MailMessage {
  queueId: string;
  receivedAt: number;
  setupId: string;
  mailFrom: string;
  headerMessageId: string | null;
  subject: string | null;
  senderName: string;
  text: string;
  encoding: string;
  segments: number;
  characters: number;
  sessionRef: string | null;
  sendAt: number | null;
  expiresAt: number | null;
  reportMode: string | null;
  reportSentAt: number | null;
  /** The automation whose run made this message (its mail_from is empty, as a keyword answer's is). */
  automationId: string | null;
}

export interface MailRow {
  id: number;
  recipient: string;
  status: OutboxStatus;
  reason: string | null;
  blockedUntil: number | null;
  attempts: number;
  providerMessageId: string | null;
  parts: number | null;
  providerError: string | null;
  createdAt: number;
  nextAttemptAt: number | null;
  sentAt: number | null;
  finalAt: number | null;
}

export interface MailData {
  message: MailMessage | undefined;
  rows: MailRow[];
  receipts: { id: number; receivedAt: number; providerMessageId: string; status: string; errorCode: string | null; outcome: string; part: number | null; parts: number | null }[];
  /** id null: a step read from the outbox row (claimed, sent, settled by its receipt), not an event row of its own. */
  events: { id: number | null; at: number; outboxId: number | null; type: string; detail: string | null }[];
}

export interface ConsentData {
  current: { purpose: string; state: ConsentAction; since: number; source: string }[];
  events: ConsentEvent[];
}

/** What a search text names in the ledger: a mail by queue id, or the mails of an SMTP transaction ref. */
export interface FindData {
  queueIds: string[];
  by: 'queue id' | 'ref' | 'nothing';
}

export interface ConsoleResults {
  overview: OverviewData;
  queue: QueueData;
  mail: MailData;
  history: HistoryPage;
  consent: ConsentData;
  find: FindData;
}

export type ConsoleResult = ConsoleResults[keyof ConsoleResults];
export type ConsoleQueryOf<K extends ConsoleQuery['kind']> = Extract<ConsoleQuery, { kind: K }>;

export interface ConsoleQueries {
  run<K extends ConsoleQuery['kind']>(query: ConsoleQueryOf<K>): ConsoleResults[K];
}

