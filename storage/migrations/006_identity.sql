-- Identity (bot/identity.py): people are their WeChat contact ids, never their display names.
--
-- bindings: a configured staff member or admin (scope = the community's name, '' for the bot's
-- admins; name as in config.toml) and the contact id that proved to be them by sending a one-time
-- code (绑定 123456) or that an admin recorded.  Config may also give the id itself.
-- bind_codes: the one-time codes (only their SHA-256 is kept) for a person or a worker.
-- workers.bound_at: when the worker's wechat column became a proven contact id (登记 from that
-- contact, a code, or an id in the roster); NULL: the roster gave a nickname, not yet bound.

CREATE TABLE bindings (
    person     TEXT PRIMARY KEY,  -- scope, a tab, name (one key, so that linggong migrate copies it as it is)
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    bound_at   REAL NOT NULL,
    bound_by   TEXT NOT NULL
);
CREATE INDEX bindings_contact ON bindings (contact_id);

CREATE TABLE bind_codes (
    code_hash  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('person', 'worker')),
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL,
    worker_id  INTEGER,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

ALTER TABLE workers ADD COLUMN bound_at REAL;
-- Existing workers whose wechat column is a WeChat contact id stay bound; nicknames wait for a code.
UPDATE workers SET bound_at = registered_at
    WHERE wechat LIKE 'wxid\_%' ESCAPE '\' OR wechat LIKE '%@openim' OR wechat LIKE '%@im.wechat';
