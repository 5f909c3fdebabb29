-- The SQLite migration 0007_ledger_cost (issue 17): one index for a number's
-- live reservations (state between number and time) instead of two, and no
-- copy of outbox_recipient for the STOP clause.
DROP INDEX sends_reserved;
DROP INDEX sends_recipient_reserved;
CREATE INDEX sends_recipient_state ON sends(recipient, state, reserved_at) WHERE state != 'released';
DROP INDEX outbox_stop_clause;
