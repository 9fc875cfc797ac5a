-- Indexes for the reports: the daily tally counts the orders whose dispatched/taken/cancelled
-- time falls in a day (created_at and done_at are indexed since 001), each count one range
-- scan of a (community, time) index, however many years of orders the table holds.

CREATE INDEX orders_dispatched ON orders (community, dispatched_at);
CREATE INDEX orders_taken ON orders (community, taken_at);
CREATE INDEX orders_cancelled ON orders (community, cancelled_at);
