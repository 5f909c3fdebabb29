-- SMS automations (SQLite's 0006_automations.sql): one row per scheduled run,
-- keyed (automation_id, scheduled_at); on several daemons the key decides
-- which one runs an occurrence, the other finds the row and sends nothing.
CREATE TABLE automation_runs (
  automation_id TEXT NOT NULL,
  scheduled_at  BIGINT NOT NULL,
  outcome       TEXT NOT NULL CHECK (outcome IN ('ran', 'missed')),
  run_by        TEXT NOT NULL,
  recorded_at   BIGINT NOT NULL,
  message_id    TEXT,
  recipients    INTEGER NOT NULL DEFAULT 0,
  queued        INTEGER NOT NULL DEFAULT 0,
  suppressed    INTEGER NOT NULL DEFAULT 0,
  detail        TEXT,
  PRIMARY KEY (automation_id, scheduled_at)
);
ALTER TABLE messages ADD COLUMN automation_id TEXT;
