-- The PostgreSQL ledger: the same tables, columns and meaning as the SQLite
-- migrations 0001-0003 (times are epoch ms in BIGINT), so one set of rules
-- and `migrate --from-sqlite` copy row for row. Numbered separately from the
-- SQLite migrations: each backend has its own history.

CREATE TABLE messages (
  id                 TEXT PRIMARY KEY,
  received_at        BIGINT NOT NULL,
  setup_id           TEXT NOT NULL,
  mail_from          TEXT NOT NULL,
  header_message_id  TEXT,
  body_hash          TEXT NOT NULL,
  client_ip          TEXT,
  session_ref        TEXT,
  sender_name        TEXT NOT NULL,
  sms_text           TEXT NOT NULL,
  encoding           TEXT NOT NULL,
  segments           INTEGER NOT NULL,
  characters         INTEGER NOT NULL,
  cooldown_ms        BIGINT,
  purpose            TEXT,
  sms_text_no_clause TEXT,
  subject            TEXT,
  expires_at         BIGINT,
  send_at            BIGINT,
  sending_window     TEXT,
  on_unknown         TEXT NOT NULL DEFAULT 'retry',
  report_mode        TEXT,
  report_sent_at     BIGINT
);
CREATE INDEX messages_report_pending ON messages(received_at) WHERE report_mode IS NOT NULL AND report_sent_at IS NULL;
CREATE INDEX messages_received ON messages(received_at);

CREATE TABLE outbox (
  id                  BIGSERIAL PRIMARY KEY,
  message_id          TEXT NOT NULL REFERENCES messages(id),
  recipient           TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN
                        ('queued','sending','sent','delivered','failed','expired','rejected','unknown','suppressed')),
  reason              TEXT,
  blocked_until       BIGINT,
  dedup_key           TEXT,
  idempotency_key     TEXT NOT NULL UNIQUE,
  created_at          BIGINT NOT NULL,
  updated_at          BIGINT NOT NULL,
  next_attempt_at     BIGINT,
  lease_until         BIGINT,
  attempts            INTEGER NOT NULL DEFAULT 0,
  provider_message_id TEXT UNIQUE,
  sent_at             BIGINT,
  final_at            BIGINT,
  provider_error      TEXT,
  stop_clause         INTEGER NOT NULL DEFAULT 0,
  setup_id            TEXT,
  parts               INTEGER
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_leased ON outbox(lease_until) WHERE status = 'sending';
CREATE INDEX outbox_dedup ON outbox(dedup_key, created_at) WHERE dedup_key IS NOT NULL;
CREATE INDEX outbox_message ON outbox(message_id);
CREATE INDEX outbox_recipient ON outbox(recipient, created_at);
CREATE INDEX outbox_stop_clause ON outbox(recipient, created_at) WHERE stop_clause = 1;
CREATE INDEX outbox_due_by_setup ON outbox(setup_id, next_attempt_at) WHERE status = 'queued';

-- The send ledger: every SMS the organisation sent or holds a reservation for.
CREATE TABLE sends (
  id           BIGSERIAL PRIMARY KEY,
  recipient    TEXT NOT NULL,
  channel      TEXT NOT NULL,
  outbox_id    BIGINT UNIQUE REFERENCES outbox(id),
  setup_id     TEXT,
  state        TEXT NOT NULL CHECK (state IN ('reserved','sent','released')),
  reserved_at  BIGINT NOT NULL,
  sent_at      BIGINT,
  released_at  BIGINT,
  ref          TEXT,
  purpose      TEXT,
  due_at       BIGINT
);
CREATE INDEX sends_reserved ON sends(recipient) WHERE state = 'reserved';
CREATE INDEX sends_sent ON sends(recipient, sent_at) WHERE state = 'sent';
CREATE UNIQUE INDEX sends_channel_ref ON sends(channel, ref) WHERE ref IS NOT NULL;
CREATE INDEX sends_setup ON sends(setup_id, reserved_at) WHERE state != 'released';
CREATE INDEX sends_recipient_reserved ON sends(recipient, reserved_at) WHERE state != 'released';

CREATE TABLE events (
  id         BIGSERIAL PRIMARY KEY,
  at         BIGINT NOT NULL,
  outbox_id  BIGINT REFERENCES outbox(id),
  message_id TEXT,
  type       TEXT NOT NULL,
  detail     TEXT
);
CREATE INDEX events_outbox ON events(outbox_id);
CREATE INDEX events_message ON events(message_id);

CREATE TABLE receipts (
  id                  BIGSERIAL PRIMARY KEY,
  received_at         BIGINT NOT NULL,
  provider_message_id TEXT NOT NULL,
  status              TEXT NOT NULL,
  error_code          TEXT,
  outcome             TEXT NOT NULL,
  body                TEXT NOT NULL,
  part                INTEGER,
  parts               INTEGER
);
CREATE INDEX receipts_provider_id ON receipts(provider_message_id);
CREATE INDEX receipts_parked ON receipts(provider_message_id, received_at) WHERE outcome = 'parked';

CREATE TABLE receipt_parts (
  outbox_id   BIGINT NOT NULL REFERENCES outbox(id),
  part        INTEGER NOT NULL,
  status      TEXT NOT NULL,
  error_code  TEXT,
  at          BIGINT NOT NULL,
  PRIMARY KEY (outbox_id, part)
);

CREATE TABLE inbound_messages (
  id           BIGSERIAL PRIMARY KEY,
  received_at  BIGINT NOT NULL,
  provider_id  TEXT UNIQUE,
  sender       TEXT NOT NULL,
  recipient    TEXT,
  text         TEXT NOT NULL,
  keyword      TEXT NOT NULL,
  action       TEXT NOT NULL
);
CREATE INDEX inbound_sender ON inbound_messages(sender, received_at);

-- Consent is an append-only log (evidence): purpose '' is the global switch.
CREATE TABLE consent_events (
  id          BIGSERIAL PRIMARY KEY,
  at          BIGINT NOT NULL,
  recorded_at BIGINT NOT NULL,
  recipient   TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('opt_in', 'opt_out')),
  previous    TEXT,
  source      TEXT NOT NULL,
  evidence    TEXT,
  inbound_id  BIGINT REFERENCES inbound_messages(id)
);
CREATE INDEX consent_current ON consent_events(recipient, purpose, id);
CREATE INDEX consent_recorded ON consent_events(recorded_at);

CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'consent events are append-only'; END $$;
CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
  FOR EACH ROW EXECUTE FUNCTION consent_events_append_only();

CREATE VIEW consent_state AS
  SELECT DISTINCT ON (recipient, purpose) recipient, purpose, action AS state, at AS since, source, id AS event_id
    FROM consent_events ORDER BY recipient, purpose, id DESC;
