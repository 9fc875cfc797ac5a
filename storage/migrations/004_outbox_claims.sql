-- Outbox claims, for several bot instances (one per WeChat account) sharing one database.
-- An instance claims a pending message before sending it: claimed_by names the instance
-- (process), claimed_until is the end of its lease.  Another instance may take the message
-- only after the lease has run out, so a dead instance's messages are sent by a survivor.
-- After the send, claimed_by stays as the record of who sent it.

ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until REAL;
