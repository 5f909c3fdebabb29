-- Contacts, groups and mail merge (issue 12): SQLite's 0004_contacts.sql.

CREATE TABLE contacts (
  id          BIGSERIAL PRIMARY KEY,
  source      TEXT NOT NULL,
  contact_key TEXT NOT NULL,
  number      TEXT NOT NULL,
  fields      TEXT NOT NULL,               -- JSON object: merge field → value
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  UNIQUE (source, contact_key)
);
CREATE INDEX contacts_number ON contacts(number);

CREATE TABLE contact_groups (
  group_name TEXT NOT NULL,
  contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  PRIMARY KEY (group_name, contact_id)
);
CREATE INDEX contact_groups_contact ON contact_groups(contact_id);

CREATE TABLE contact_fields (
  contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  value_key  TEXT NOT NULL,
  PRIMARY KEY (contact_id, name)
);
CREATE INDEX contact_fields_match ON contact_fields(name, value_key);

ALTER TABLE outbox ADD COLUMN sms_text TEXT;
ALTER TABLE outbox ADD COLUMN sms_text_no_clause TEXT;
ALTER TABLE outbox ADD COLUMN encoding TEXT;
ALTER TABLE outbox ADD COLUMN segments INTEGER;
ALTER TABLE outbox ADD COLUMN characters INTEGER;
ALTER TABLE outbox ADD COLUMN via_groups TEXT;
