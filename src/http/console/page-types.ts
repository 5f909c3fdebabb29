import type { Ledger } from '../../ledger/types.js';
import type { Setup } from '../../config/schema.js';
import type { Html } from './html.js';
import type { Section } from './layout.js';
import type { View } from './mask.js';

/** What the daemon tells the console about itself (overview). */
export interface DaemonStatus {
  startedAt: number;
  pid: number;
  host: string;
  ledger: { backend: string; path: string };
  /** Whether this process runs the dispatcher (with several daemons, the one that does). */
  dispatching: boolean;
  lastReload?: { at: number; ok: boolean; error?: string };
}

export interface PageContext {
  ledger: Pick<Ledger, 'consoleQuery' | 'mailStatus'>;
  view: View;
  now: number;
  query: URLSearchParams;
  setups(): readonly Setup[];
  status(): DaemonStatus;
  /** SMTP refusals of the last hour by reason (they never reach the ledger). */
  refusals(): Record<string, number>;
}

/** A rendered page: its HTML and, for ?format=json, the same data as JSON. */
export interface Page {
  status?: number;
  title: string;
  section?: Section;
  body: Html;
  json: unknown;
  /** The next page of a paged list (also sent as a Link header). */
  next?: string;
}

export type PageOutcome = Page | { redirect: string };
