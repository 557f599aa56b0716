-- The dashboard's sign-in sessions (src/dashboard/session.rs), in the store so that every
-- gateway instance on it knows every session. Keyed by the SHA-256 of the session id: the id
-- itself (the cookie's value) is never stored, so a copy of the database signs no one in.
-- `csrf` is the session's form token. A session ends at `expires_at` (the earlier of its idle
-- and its absolute limit, moved on as it is used), or when its staff member signs out.
CREATE TABLE dashboard_sessions (
    id_hash    BLOB NOT NULL PRIMARY KEY,
    staff      TEXT NOT NULL,
    role       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

-- Ended sessions are removed by expiry.
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
