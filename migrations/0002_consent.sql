-- Organisation-wide consent, flood caps and sends from other channels (issue 5).

-- Sends reported by other channels carry their reference, so reporting the same
-- send twice counts once; marketing sends carry their purpose, which keeps an
-- opt-in fresh (stale consent).
ALTER TABLE sends ADD COLUMN ref TEXT;
ALTER TABLE sends ADD COLUMN purpose TEXT;
CREATE UNIQUE INDEX sends_channel_ref ON sends(channel, ref) WHERE ref IS NOT NULL;
CREATE INDEX sends_setup ON sends(setup_id, reserved_at) WHERE state != 'released';
CREATE INDEX sends_recipient_reserved ON sends(recipient, reserved_at) WHERE state != 'released';

-- What the rules need again when a row is about to be sent.
ALTER TABLE messages ADD COLUMN cooldown_ms INTEGER;
ALTER TABLE messages ADD COLUMN purpose TEXT;
-- The text without the STOP clause, for recipients who got the clause recently.
ALTER TABLE messages ADD COLUMN sms_text_no_clause TEXT;
ALTER TABLE outbox ADD COLUMN stop_clause INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_stop_clause ON outbox(recipient, created_at) WHERE stop_clause = 1;

-- Every inbound SMS as received: the evidence behind keyword consent changes.
CREATE TABLE inbound_messages (
  id           INTEGER PRIMARY KEY,
  received_at  INTEGER NOT NULL,
  provider_id  TEXT UNIQUE,                 -- a webhook delivered twice is stored once
  sender       TEXT NOT NULL,               -- E.164
  recipient    TEXT,                        -- our number it was sent to
  text         TEXT NOT NULL,
  keyword      TEXT NOT NULL,               -- opt_out | opt_in | help | none
  action       TEXT NOT NULL                -- what mail2sms did about it
) STRICT;
CREATE INDEX inbound_sender ON inbound_messages(sender, received_at);

-- Consent is an append-only log of changes. purpose '' is the global switch
-- (STOP / START); any other purpose is a marketing opt-in. The current state
-- is the latest event per (recipient, purpose): the view below.
CREATE TABLE consent_events (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,             -- when the consent was given or withdrawn
  recorded_at INTEGER NOT NULL,             -- when mail2sms learnt of it
  recipient   TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('opt_in', 'opt_out')),
  previous    TEXT,                         -- the state before: opt_in | opt_out | NULL (none)
  source      TEXT NOT NULL,                -- sms | cli | import | api | …
  evidence    TEXT,
  inbound_id  INTEGER REFERENCES inbound_messages(id)
) STRICT;
CREATE INDEX consent_current ON consent_events(recipient, purpose, id);
CREATE INDEX consent_recorded ON consent_events(recorded_at);

CREATE TRIGGER consent_events_append_only_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
CREATE TRIGGER consent_events_append_only_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;

CREATE VIEW consent_state AS
  SELECT e.recipient, e.purpose, e.action AS state, e.at AS since, e.source, e.id AS event_id
    FROM consent_events e
   WHERE e.id = (SELECT max(id) FROM consent_events l WHERE l.recipient = e.recipient AND l.purpose = e.purpose);
