-- Honest claim times: an order that grid staff assigned (指派N 名字) was not claimed in the market
-- group, so it has no time-to-claim and does not count for 接单王 or the claim-time medians.
-- assigned_at: when staff assigned the order to its current taker (equal to taken_at); NULL when
-- the taker claimed it (接N) or nobody has it.  Put back in the market (放弃, 改派) it is NULL again.
--
-- Backfill from the audit log: a taken order whose last take-related event (taken, assigned,
-- released, redispatched) is 'assigned' was assigned.
--
-- The (community, taken_at) index gains the column, so the tally's claim and assignment counts
-- stay range scans of one covering index.

ALTER TABLE orders ADD COLUMN assigned_at REAL;

UPDATE orders SET assigned_at = taken_at
    WHERE taken_at IS NOT NULL
      AND (SELECT e.kind FROM events e
           WHERE e.order_id = orders.id AND e.kind IN ('taken', 'assigned', 'released', 'redispatched')
           ORDER BY e.id DESC LIMIT 1) = 'assigned';

CREATE INDEX orders_taken_how ON orders (community, taken_at, assigned_at);
DROP INDEX orders_taken;
