-- Intake review (handlers/review.py): an uncertain need is stored as an order in status
-- 'pending_review' (待确认) until the grid's staff confirm it (-> posted or dispatched) or
-- dismiss it (-> 'dismissed', not a need: never counted as one).  SQLite cannot change a CHECK
-- constraint in place, so its orders table is rebuilt (the runner turns foreign keys off for
-- migrations and checks them before it finishes); PostgreSQL replaces the constraint.
--
-- intake_labels keeps every staff decision on a message as a labelled example (the text with
-- phones and door numbers masked), for `linggong intake export`.

-- dialect: postgresql
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending_review', 'posted', 'dispatched', 'taken', 'done', 'cancelled', 'dismissed'));
-- dialect: sqlite
CREATE TABLE orders_new (
    id              INTEGER PRIMARY KEY,
    community       TEXT    NOT NULL,
    no              INTEGER NOT NULL,
    grid            TEXT    NOT NULL,
    origin_room     TEXT,
    source          TEXT    NOT NULL,
    status          TEXT    NOT NULL
                    CHECK (status IN ('pending_review', 'posted', 'dispatched', 'taken', 'done', 'cancelled',
                                      'dismissed')),
    category        TEXT,
    raw_text        TEXT    NOT NULL,
    need_text       TEXT    NOT NULL,
    phones          TEXT    NOT NULL DEFAULT '[]',
    address         TEXT,
    coarse_address  TEXT,
    time_wish       TEXT,
    budget          TEXT,
    reward          TEXT,
    note            TEXT,
    resident_id     TEXT    NOT NULL,
    resident_name   TEXT    NOT NULL,
    posted_by       TEXT,
    dispatcher      TEXT,
    taker_id        INTEGER REFERENCES workers (id),
    created_at      REAL    NOT NULL,
    dispatched_at   REAL,
    taken_at        REAL,
    done_at         REAL,
    cancelled_at    REAL,
    cancel_reason   TEXT,
    rating          INTEGER,
    rated_at        REAL,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    escalated_at    REAL,
    stale_reminded_at REAL,
    followup_sent_at REAL,
    UNIQUE (community, no)
);
INSERT INTO orders_new (id, community, no, grid, origin_room, source, status, category, raw_text, need_text,
                        phones, address, coarse_address, time_wish, budget, reward, note, resident_id,
                        resident_name, posted_by, dispatcher, taker_id, created_at, dispatched_at, taken_at,
                        done_at, cancelled_at, cancel_reason, rating, rated_at, escalation_level, escalated_at,
                        stale_reminded_at, followup_sent_at)
    SELECT id, community, no, grid, origin_room, source, status, category, raw_text, need_text,
           phones, address, coarse_address, time_wish, budget, reward, note, resident_id,
           resident_name, posted_by, dispatcher, taker_id, created_at, dispatched_at, taken_at,
           done_at, cancelled_at, cancel_reason, rating, rated_at, escalation_level, escalated_at,
           stale_reminded_at, followup_sent_at
    FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_taker ON orders (taker_id, status);
CREATE INDEX orders_created ON orders (community, created_at);
CREATE INDEX orders_done ON orders (community, done_at);
CREATE INDEX orders_dispatched ON orders (community, dispatched_at);
CREATE INDEX orders_taken ON orders (community, taken_at);
CREATE INDEX orders_cancelled ON orders (community, cancelled_at);
CREATE INDEX orders_open ON orders (community, status, no);
-- dialect: all

CREATE TABLE intake_labels (
    id          INTEGER PRIMARY KEY,
    community   TEXT    NOT NULL,
    order_no    INTEGER,
    text        TEXT    NOT NULL,
    need        INTEGER NOT NULL,
    category    TEXT,
    decision    TEXT    NOT NULL,
    labelled_by TEXT    NOT NULL,
    labelled_at REAL    NOT NULL
);
CREATE INDEX intake_labels_at ON intake_labels (community, labelled_at);
