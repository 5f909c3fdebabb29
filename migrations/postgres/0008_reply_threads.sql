-- An SMS reply forwarded by email carries a Message-ID naming the inbound SMS
-- and a random token (issue 25, item 3). A mail that answers the forward skips
-- the setup's cooldown only when it names this exact forward: the token (checked
-- in constant time), from the address it was forwarded to, for the setup behind
-- it. Before this, the id alone was read, so any sender could forge a thread.
ALTER TABLE inbound_messages ADD COLUMN forward_token TEXT;
ALTER TABLE inbound_messages ADD COLUMN forward_mail_to TEXT;
ALTER TABLE inbound_messages ADD COLUMN forward_setup TEXT;
