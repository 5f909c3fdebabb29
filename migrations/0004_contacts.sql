-- Contacts, groups and mail merge (issue 12).

-- One contact of one source (a members' CSV, a parents' list). `contact_key`
-- is the file's own id, or the number when it has none; importing a source
-- again updates by key. Contacts never carry consent: that stays in
-- consent_events.
CREATE TABLE contacts (
  id          INTEGER PRIMARY KEY,
  source      TEXT NOT NULL,
  contact_key TEXT NOT NULL,
  number      TEXT NOT NULL,               -- E.164
  fields      TEXT NOT NULL,               -- JSON object: merge field → value (no empty values)
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (source, contact_key)
) STRICT;
CREATE INDEX contacts_number ON contacts(number);

-- Fixed groups (the `groups` column of the import).
CREATE TABLE contact_groups (
  group_name TEXT NOT NULL,
  contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  PRIMARY KEY (group_name, contact_id)
) STRICT;
CREATE INDEX contact_groups_contact ON contact_groups(contact_id);

-- Field values as dynamic groups (`where: {team: U14}`) match them: trimmed
-- and lower-cased, one row per field, so the match is plain indexed SQL.
CREATE TABLE contact_fields (
  contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  value_key  TEXT NOT NULL,
  PRIMARY KEY (contact_id, name)
) STRICT;
CREATE INDEX contact_fields_match ON contact_fields(name, value_key);

-- Per-recipient text of a mail with merge fields; NULL = the message's text
-- (every mail without placeholders, as before).
ALTER TABLE outbox ADD COLUMN sms_text TEXT;
ALTER TABLE outbox ADD COLUMN sms_text_no_clause TEXT;
ALTER TABLE outbox ADD COLUMN encoding TEXT;
ALTER TABLE outbox ADD COLUMN segments INTEGER;
ALTER TABLE outbox ADD COLUMN characters INTEGER;
-- The groups the mail reached this number through (comma-separated); NULL = addressed directly.
ALTER TABLE outbox ADD COLUMN via_groups TEXT;
