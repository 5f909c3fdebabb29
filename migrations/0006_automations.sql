-- SMS automations (issue 13): one row per scheduled run, keyed by the
-- automation's id and the occurrence it is for. The key is what makes a run
-- happen once: the row and the run's outbox rows are written in one
-- transaction, so a restart, a manual re-run or a second daemon finds the row
-- and sends nothing. A run that did not go (older than catch_up, or superseded
-- by a later one after downtime) is kept as `missed`.
CREATE TABLE automation_runs (
  automation_id TEXT NOT NULL,
  scheduled_at  INTEGER NOT NULL,           -- the occurrence (epoch ms)
  outcome       TEXT NOT NULL CHECK (outcome IN ('ran', 'missed')),
  run_by        TEXT NOT NULL,              -- schedule | catch-up | manual
  recorded_at   INTEGER NOT NULL,
  message_id    TEXT,                       -- the run's message (queue id); no foreign key: purge may remove it, the run stays
  recipients    INTEGER NOT NULL DEFAULT 0,
  queued        INTEGER NOT NULL DEFAULT 0,
  suppressed    INTEGER NOT NULL DEFAULT 0,
  detail        TEXT,
  PRIMARY KEY (automation_id, scheduled_at)
) STRICT;

-- A run's message names its automation: history shows the automation's title
-- (kept in subject) instead of an email sender.
ALTER TABLE messages ADD COLUMN automation_id TEXT;
