import type { HistoryEntry } from './history.js';

export type { HistoryEntry };

/*
 * Consent changes, sends reported by other channels, and the audit views over
 * them. Plain synchronous functions over one connection: the ledger thread
 * runs them inside its group commit, the CLI runs them on its own connection
 * (SQLite serialises the two writers; busy_timeout covers the wait).
 */

export type ConsentAction = 'opt_in' | 'opt_out';

export interface ConsentChange {
  recipient: string;
  /** A marketing purpose, or undefined/'' for the global switch (STOP / START). */
  purpose?: string;
  action: ConsentAction;
  /** When consent was given or withdrawn (defaults to now). */
  at?: number;
  source: string;
  evidence?: string;
  inboundId?: number;
}

export interface ConsentEvent {
  id: number;
  at: number;
  recordedAt: number;
  recipient: string;
  /** '' = the global switch. */
  purpose: string;
  action: ConsentAction;
  previous: ConsentAction | null;
  source: string;
  evidence: string | null;
  inboundId: number | null;
}

export type Channel = 'email' | 'api' | 'campaign' | 'automation' | 'keyword';
/** The setup id of answers to keywords (confirmation, help): no setup file sends them. */
export const KEYWORD_SETUP = '(keywords)';
export const REPORTED_CHANNELS = ['api', 'campaign', 'automation'] as const;
export type ReportedChannel = (typeof REPORTED_CHANNELS)[number];

export interface ExternalSend {
  recipient: string;
  at: number;
  channel: ReportedChannel;
  /** The other system's id for the send; a send reported twice with the same ref counts once. */
  ref?: string;
  purpose?: string;
}


export interface ConsentStore {
  /** Appends the changes in one transaction (all or nothing); returns the events written. */
  change(changes: readonly ConsentChange[], now: number): ConsentEvent[];
  current(recipient: string): { purpose: string; state: ConsentAction; since: number; source: string }[];
  /** Oldest first; `afterId` and `limit` page through a long trail. */
  events(filter: { recipient?: string; since?: number; afterId?: number; limit?: number }): IterableIterator<ConsentEvent>;
  /** Inserts sends from other channels in one transaction; repeats (same channel and ref) are skipped. */
  recordSends(sends: readonly ExternalSend[]): { recorded: number; duplicates: number };
  /** `now` tells rows waiting for later (scheduled, deferred) from rows due. */
  history(recipient: string, limit?: number, now?: number): HistoryEntry[];
}
