-- The operations console (issue 15): its pages read through indexes only, so
-- they stay fast on a ledger of 10^7 rows.

-- Search by the `ref` an SMTP reply quoted (session.N, also on every log line).
CREATE INDEX messages_session_ref ON messages(session_ref);

-- Outcomes of the last hour (failed, refused by a rule, expired, unknown) by
-- reason. Partial: rows that end delivered or sent never enter it. The
-- expression is the moment the row ended (suppressed at intake have no final_at).
CREATE INDEX outbox_outcome_at ON outbox(coalesce(final_at, created_at))
  WHERE status IN ('failed', 'rejected', 'expired', 'unknown', 'suppressed');

-- Events about a whole mail rather than one row (its report): few, so partial.
CREATE INDEX events_message ON events(message_id) WHERE outbox_id IS NULL;

-- The overview counts the queue per setup (due, scheduled, retrying, oldest)
-- from this index alone: widened by the columns it reads (status too: SQLite
-- counts an index as covering only if it holds every column the query names),
-- with the name and prefix dispatch's turn-taking already walks, so no index
-- is added. 40 000 queued rows: ~20 ms instead of ~500 ms of row lookups.
DROP INDEX outbox_due_by_setup;
CREATE INDEX outbox_due_by_setup ON outbox(setup_id, next_attempt_at, attempts, created_at, status) WHERE status = 'queued';
