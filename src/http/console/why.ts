import type { QueueRow } from '../../ledger/console-types.js';
import type { QueueEntry } from '../../ledger/types.js';
import { waitingState } from '../../ledger/queue-state.js';

/*
 * Why a queued row is still waiting, in the on-call engineer's words. Pure:
 * the row as the ledger holds it and the time, nothing else.
 */

export type WaitCause = 'sending' | 'due' | 'schedule' | 'window' | 'retry' | 'held' | 'waiting';

export interface Wait {
  cause: WaitCause;
  /** One sentence for the queue page. */
  detail: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function whyWaiting(row: QueueRow, now: number): Wait {
  if (row.status === 'sending') return { cause: 'sending', detail: `being sent (attempt ${row.attempts}); lease until ${iso(row.leaseUntil ?? now)}` };
  const at = row.nextAttemptAt ?? now;
  // Due rows wait only for dispatch: a free slot of dispatch.concurrency or the provider rate limit.
  if (at <= now) return { cause: 'due', detail: `due since ${iso(at)}: waiting for dispatch (rate limit or concurrency)` };
  const event = row.lastEvent;
  if (event?.type === 'retry') return { cause: 'retry', detail: `retry backoff after attempt ${row.attempts}: ${event.detail ?? row.reason ?? ''}` };
  if (event?.type === 'deferred') return { cause: 'window', detail: `outside the setup's sending window; next try ${iso(at)}` };
  if (event?.type === 'held') return { cause: 'held', detail: `held at send time: ${event.detail ?? ''}; next try ${iso(at)}` };
  if (row.sendAt !== null && row.sendAt >= at) return { cause: 'schedule', detail: `scheduled by X-SMS-Send-At for ${iso(row.sendAt)}` };
  if (row.attempts > 0) return { cause: 'retry', detail: `retry backoff after attempt ${row.attempts}${row.reason ? `: ${row.reason}` : ''}` };
  return { cause: 'waiting', detail: `next try ${iso(at)}` };
}

/** The state `mail2sms queue` names for the row (src/ledger/queue-state.ts: one rule for both). */
export function queueState(row: QueueRow, now: number): QueueEntry['state'] {
  return waitingState(row, now) as QueueEntry['state'];
}
