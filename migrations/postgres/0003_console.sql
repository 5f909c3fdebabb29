-- The operations console's indexes (SQLite's 0005_console.sql): find by SMTP ref, recent outcomes, mail-level events.
CREATE INDEX messages_session_ref ON messages(session_ref);
CREATE INDEX outbox_outcome_at ON outbox((coalesce(final_at, created_at)))
  WHERE status IN ('failed', 'rejected', 'expired', 'unknown', 'suppressed');
CREATE INDEX events_message_only ON events(message_id) WHERE outbox_id IS NULL;
