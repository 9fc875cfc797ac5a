-- Orders, workers, the audit log, per-community order numbers, processed message ids and
-- the outbox.  Times are seconds since the epoch (UTC) as REAL.

CREATE TABLE workers (
    id            INTEGER PRIMARY KEY,
    community     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    wechat        TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    skills        TEXT    NOT NULL DEFAULT '[]',
    team          TEXT,
    pledge_date   TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'suspended')),
    registered_at REAL    NOT NULL,
    UNIQUE (community, name)
);
CREATE INDEX workers_wechat ON workers (community, wechat);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    community       TEXT    NOT NULL,
    no              INTEGER NOT NULL,
    grid            TEXT    NOT NULL,
    origin_room     TEXT,
    source          TEXT    NOT NULL,
    status          TEXT    NOT NULL
                    CHECK (status IN ('posted', 'dispatched', 'taken', 'done', 'cancelled')),
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
    UNIQUE (community, no)
);
CREATE INDEX orders_status ON orders (community, status);
CREATE INDEX orders_taker ON orders (taker_id, status);
CREATE INDEX orders_created ON orders (community, created_at);
CREATE INDEX orders_done ON orders (community, done_at);

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    order_id  INTEGER REFERENCES orders (id),
    community TEXT    NOT NULL,
    at        REAL    NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_order ON events (order_id, id);

CREATE TABLE counters (
    community TEXT    PRIMARY KEY,
    last_no   INTEGER NOT NULL
);

CREATE TABLE processed (
    message_id TEXT PRIMARY KEY,
    at         REAL NOT NULL
);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    created_at   REAL    NOT NULL,
    room         TEXT,
    contact      TEXT,
    text         TEXT    NOT NULL,
    mentions     TEXT    NOT NULL DEFAULT '[]',
    coalesce_key TEXT,
    fallback     TEXT,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL    NOT NULL,
    sent_at      REAL,
    last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox (status, next_at);
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status);
