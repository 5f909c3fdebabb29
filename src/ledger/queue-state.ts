/*
 * Why a row that is not sent yet waits: one definition for `mail2sms queue`,
 * the console's queue page and its overview counts, on both backends (issue
 * 29: the overview called a row held by its sending window "scheduled" where
 * the queue page and the CLI said "deferred").
 *
 *   queued     due now, waiting for a dispatch slot
 *   scheduled  not due before its X-SMS-Send-At, never tried
 *   retrying   backing off after a failed attempt
 *   deferred   held for another reason: the sending window, the opt-out gate
 *
 * `now` is the SQL placeholder of the current time (@now, $1). The message's
 * send_at is read only for rows that are not due (a correlated lookup by
 * primary key), so counting the queue stays on the outbox's indexes.
 */
export function waitingStateSql(now: string): string {
  return `CASE
    WHEN o.status = 'sending' THEN 'sending'
    WHEN o.status = 'failed' THEN 'failed'
    WHEN o.next_attempt_at <= ${now} THEN 'queued'
    WHEN o.attempts = 0 AND o.next_attempt_at = (SELECT send_at FROM messages WHERE id = o.message_id) THEN 'scheduled'
    WHEN o.attempts > 0 AND o.reason IS NOT NULL THEN 'retrying'
    ELSE 'deferred' END`;
}

/** The same rule over a row already read (the console's queue page). */
export function waitingState(
  row: { status: string; nextAttemptAt: number | null; sendAt: number | null; attempts: number; reason: string | null },
  now: number,
): 'sending' | 'failed' | 'queued' | 'scheduled' | 'retrying' | 'deferred' {
  if (row.status === 'sending') return 'sending';
  if (row.status === 'failed') return 'failed';
  if ((row.nextAttemptAt ?? now) <= now) return 'queued';
  if (row.attempts === 0 && row.sendAt !== null && row.nextAttemptAt === row.sendAt) return 'scheduled';
  if (row.attempts > 0 && row.reason !== null) return 'retrying';
  return 'deferred';
}
