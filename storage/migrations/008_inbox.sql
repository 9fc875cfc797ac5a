-- The intake journal: the id of every message event, written as soon as it arrives (before its
-- payload is fetched), and removed once the message was handled or found not to be for the app.
-- A row left after a crash is a message the bot received but had not committed: at the next login
-- it is fetched from the gateway again and handled, in WeChat-time order.  Real gateways never
-- re-deliver, so without this a kill -9 loses whatever was in flight.
-- instance: which bot process received it (only its own gateway can load the payload).

CREATE TABLE inbox (
    message_id  TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX inbox_instance ON inbox (instance, received_at);
