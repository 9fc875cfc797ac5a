-- Pruning (bot/prune.py) finds old rows through an index instead of reading whole tables:
-- handled message ids by when they were handled, sent replies by when they went out.
CREATE INDEX processed_at ON processed (at);
CREATE INDEX outbox_sent ON outbox (status, sent_at);
