-- One accepted email: what was received and the SMS text built from it.
CREATE TABLE messages (
  id                TEXT PRIMARY KEY,      -- queue id, given in "250 2.0.0 queued as <id>"
  received_at       INTEGER NOT NULL,      -- epoch ms
  setup_id          TEXT NOT NULL,
  mail_from         TEXT NOT NULL,
  header_message_id TEXT,
  body_hash         TEXT NOT NULL,
  client_ip         TEXT,
  session_ref       TEXT,                  -- SMTP transaction reference, also on every log line
  sender_name       TEXT NOT NULL,
  sms_text          TEXT NOT NULL,
  encoding          TEXT NOT NULL,
  segments          INTEGER NOT NULL,
  characters        INTEGER NOT NULL
) STRICT;

-- One row per recipient of a message: its decision and its dispatch state.
CREATE TABLE outbox (
  id                  INTEGER PRIMARY KEY,
  message_id          TEXT NOT NULL REFERENCES messages(id),
  recipient           TEXT NOT NULL,        -- E.164
  status              TEXT NOT NULL CHECK (status IN
                        ('queued','sending','sent','delivered','failed','expired','rejected','unknown','suppressed')),
  reason              TEXT,                 -- why suppressed / failed
  blocked_until       INTEGER,              -- cooldown suppression: when the number is free again
  dedup_key           TEXT,                 -- sender + Message-ID + body hash + recipient: a retried mail
  idempotency_key     TEXT NOT NULL UNIQUE, -- sent to the provider with every attempt
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  next_attempt_at     INTEGER,
  lease_until         INTEGER,
  attempts            INTEGER NOT NULL DEFAULT 0,
  provider_message_id TEXT UNIQUE,
  sent_at             INTEGER,
  final_at            INTEGER,
  provider_error      TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_leased ON outbox(lease_until) WHERE status = 'sending';
CREATE INDEX outbox_dedup ON outbox(dedup_key, created_at) WHERE dedup_key IS NOT NULL;
CREATE INDEX outbox_message ON outbox(message_id);
CREATE INDEX outbox_recipient ON outbox(recipient, created_at);

-- The send ledger: every SMS the organisation sent, or holds a reservation for,
-- from any channel. The organisation-wide cooldown reads only this table.
CREATE TABLE sends (
  id           INTEGER PRIMARY KEY,
  recipient    TEXT NOT NULL,
  channel      TEXT NOT NULL,               -- email | api | campaign | automation
  outbox_id    INTEGER UNIQUE REFERENCES outbox(id),
  setup_id     TEXT,
  state        TEXT NOT NULL CHECK (state IN ('reserved','sent','released')),
  reserved_at  INTEGER NOT NULL,
  sent_at      INTEGER,
  released_at  INTEGER
) STRICT;
CREATE INDEX sends_reserved ON sends(recipient) WHERE state = 'reserved';
CREATE INDEX sends_sent ON sends(recipient, sent_at) WHERE state = 'sent';

-- Every step of every row, for history and audits.
CREATE TABLE events (
  id         INTEGER PRIMARY KEY,
  at         INTEGER NOT NULL,
  outbox_id  INTEGER REFERENCES outbox(id),
  message_id TEXT,
  type       TEXT NOT NULL,
  detail     TEXT
) STRICT;
CREATE INDEX events_outbox ON events(outbox_id);

-- Every delivery receipt as received, applied or not.
CREATE TABLE receipts (
  id                  INTEGER PRIMARY KEY,
  received_at         INTEGER NOT NULL,
  provider_message_id TEXT NOT NULL,
  status              TEXT NOT NULL,
  error_code          TEXT,
  outcome             TEXT NOT NULL,        -- applied | duplicate | stale | unknown
  body                TEXT NOT NULL
) STRICT;
CREATE INDEX receipts_provider_id ON receipts(provider_message_id);
