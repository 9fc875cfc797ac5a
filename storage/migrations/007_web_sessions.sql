-- Dashboard logins confirmed in WeChat, and dashboard sessions kept by the server.
--
-- web_logins: a login waiting for its code.  The bot sent a one-time code to the person's bound
-- contact id; only its SHA-256 is kept.  The row goes when the code is used, after five wrong
-- tries, or once it has expired.
-- web_sessions: a logged-in dashboard session.  The cookie carries a random id; only its SHA-256
-- is kept here, so a copy of the database opens no session.  A session ends on logout
-- (ended_at), after the idle timeout (seen_at), or when the person's binding changes (contact_id).

CREATE TABLE web_logins (
    id         TEXT PRIMARY KEY,
    person     TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    address    TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    tries      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE web_sessions (
    sid_hash   TEXT PRIMARY KEY,
    person     TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    address    TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen_at    REAL NOT NULL,
    ended_at   REAL
);
CREATE INDEX web_sessions_seen ON web_sessions (seen_at);
