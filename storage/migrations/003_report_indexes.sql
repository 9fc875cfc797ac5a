-- Indexes for the reports and the open-order lists, so their cost follows the orders they
-- report on, not the years of orders in the table.
--
-- The daily tally counts the orders whose dispatched/taken/cancelled time falls in a day
-- (created_at and done_at are indexed since 001): each count is one range scan of a
-- (community, time) index.
CREATE INDEX orders_dispatched ON orders (community, dispatched_at);
CREATE INDEX orders_taken ON orders (community, taken_at);
CREATE INDEX orders_cancelled ON orders (community, cancelled_at);

-- Open orders of a community in number order (the tally's unclaimed list, 待接单, the
-- minute-by-minute sweep): without it SQLite walks the whole community through the
-- (community, no) key to avoid a sort.  It covers what orders_status did.
CREATE INDEX orders_open ON orders (community, status, no);
DROP INDEX orders_status;
