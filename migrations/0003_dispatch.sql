-- Dispatch you can trust (issue 6): freshness, sending windows, scheduling,
-- fairness between setups, multipart receipts, parked receipts, reports.

ALTER TABLE messages ADD COLUMN subject TEXT;
-- Not sent after this (setup max_age): the row ends `expired`.
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
-- X-SMS-Send-At: not sent before this.
ALTER TABLE messages ADD COLUMN send_at INTEGER;
-- The setup's sending window (JSON), evaluated when a row is about to be sent.
ALTER TABLE messages ADD COLUMN sending_window TEXT;
-- What a timed-out call to a provider without idempotency becomes: retry | fail.
ALTER TABLE messages ADD COLUMN on_unknown TEXT NOT NULL DEFAULT 'retry';
-- Report to the envelope sender: failures | all; NULL = none.
ALTER TABLE messages ADD COLUMN report_mode TEXT;
ALTER TABLE messages ADD COLUMN report_sent_at INTEGER;
CREATE INDEX messages_report_pending ON messages(received_at) WHERE report_mode IS NOT NULL AND report_sent_at IS NULL;

-- When a reserved send is expected to go out: later for a scheduled or
-- window-deferred row, NULL = now. A reservation blocks the cooldown only once
-- it is due, so a newsletter waiting for Monday does not hold back Saturday's alert.
ALTER TABLE sends ADD COLUMN due_at INTEGER;

-- The setup on the outbox row itself, so dispatch can take turns between setups.
ALTER TABLE outbox ADD COLUMN setup_id TEXT;
UPDATE outbox SET setup_id = (SELECT setup_id FROM messages WHERE messages.id = outbox.message_id);
CREATE INDEX outbox_due_by_setup ON outbox(setup_id, next_attempt_at) WHERE status = 'queued';
-- Segments the provider says it sent (one receipt may come per part).
ALTER TABLE outbox ADD COLUMN parts INTEGER;

-- The latest status of each part of a concatenated SMS.
CREATE TABLE receipt_parts (
  outbox_id   INTEGER NOT NULL REFERENCES outbox(id),
  part        INTEGER NOT NULL,
  status      TEXT NOT NULL,
  error_code  TEXT,
  at          INTEGER NOT NULL,
  PRIMARY KEY (outbox_id, part)
) STRICT, WITHOUT ROWID;

-- Which part of a concatenated SMS a receipt is about.
ALTER TABLE receipts ADD COLUMN part INTEGER;
ALTER TABLE receipts ADD COLUMN parts INTEGER;
-- Receipts that arrived before the send's own answer named the provider id.
CREATE INDEX receipts_parked ON receipts(provider_message_id, received_at) WHERE outcome = 'parked';
