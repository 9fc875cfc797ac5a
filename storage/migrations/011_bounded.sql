-- Bounded work (issue 15).
-- The daily follow-up list finds unanswered follow-ups by when they were sent, not by walking
-- every completed order of the community.
CREATE INDEX orders_followup ON orders (community, followup_sent_at);

-- The every-minute sweep's stale check: the taken orders not yet reminded, by when they were
-- taken (a partial index: only those rows, however many orders were ever taken).
CREATE INDEX orders_unreminded ON orders (community, taken_at) WHERE status = 'taken' AND stale_reminded_at IS NULL;

-- A reply's in-doubt marker is its claim: the claim that takes a message to send it sets
-- sending_since (when the send began); mark_sent, or settling the doubt, clears it.  So a
-- delivered reply costs two transactions (claim, mark sent), not three.
ALTER TABLE outbox ADD COLUMN sending_since REAL;

-- Reports (the 20:00 tally, rankings, follow-up lists, reminders) are bulk: the sender takes
-- the replies to people's messages first, so a resident's acknowledgement never waits behind
-- a job's burst of messages.
ALTER TABLE outbox ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;

-- "Already taken" notices (claim_late).  Each late claimer's transaction only inserts its own row
-- (no row lock for hundreds of claimers to queue on); the claim that takes the oldest row of a
-- coalesce key to send it merges the other pending rows of the key into it (merged_into: the
-- message they go out with; they are marked sent with it).  notice_group is the coalesce key,
-- kept after the key is closed for sending, so the notices per order can be counted;
-- mention_cap is how many @-mentions one notice carries, more_text the line that counts the rest
-- ("{n}": how many), max_notices how many notices of the group may go out (checked when one is
-- claimed, under a lock on the group, so two senders never both send one too many).
ALTER TABLE outbox ADD COLUMN merged_into INTEGER;
ALTER TABLE outbox ADD COLUMN notice_group TEXT;
ALTER TABLE outbox ADD COLUMN mention_cap INTEGER;
ALTER TABLE outbox ADD COLUMN more_text TEXT;
ALTER TABLE outbox ADD COLUMN max_notices INTEGER;  -- at most this many notices of the group go out
CREATE INDEX outbox_notice_group ON outbox (notice_group);
CREATE INDEX outbox_merged ON outbox (merged_into);
