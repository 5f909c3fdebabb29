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
