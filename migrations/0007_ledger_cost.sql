-- The cost of one SMS (issue 17): fewer index writes per SMS, the same answers.

-- Reservations by number were in two indexes: the reserved ones (cooldown,
-- "an earlier SMS goes first") and the live ones by time (the per-number daily
-- cap). One index with the state between answers both: `state = 'reserved'`
-- is its prefix, the cap seeks `state IN ('reserved', 'sent')` by time. A
-- reservation now writes one index entry for its number instead of two.
DROP INDEX sends_reserved;
DROP INDEX sends_recipient_reserved;
CREATE INDEX sends_recipient_state ON sends(recipient, state, reserved_at) WHERE state != 'released';

-- The same columns as outbox_recipient: "had this number the STOP clause
-- lately?" reads the number's rows of the period through that one.
DROP INDEX outbox_stop_clause;
