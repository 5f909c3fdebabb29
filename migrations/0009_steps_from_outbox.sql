-- The steps of a sent attempt are read from its outbox row, not stored twice
-- (issue 17): "claimed", "sent" and the receipt that settled it were event
-- rows repeating claimed_at/attempts, sent_at/provider_message_id/parts and
-- status/final_at/provider_error. claim_event is where that attempt stands
-- among the row's events (the last event id when it was claimed); NULL when
-- the row has no attempt to show that way (never claimed, or its attempt was
-- written out as events because it ended otherwise: retry, held, failed,
-- unknown, its lease ran out, or a hand retry).
ALTER TABLE outbox ADD COLUMN claimed_at INTEGER;
ALTER TABLE outbox ADD COLUMN claim_event INTEGER;
