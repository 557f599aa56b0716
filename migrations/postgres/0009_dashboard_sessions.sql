-- The dashboard's sign-in sessions (migrations/sqlite/0009_dashboard_sessions.sql): in the
-- store so that a session made through one instance is known to every instance behind the
-- load balancer. Keyed by the SHA-256 of the session id, never the id; `csrf` is the
-- session's form token; a session ends at `expires_at` or at sign-out.
CREATE TABLE dashboard_sessions (
    id_hash    bytea       NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
    staff      text        NOT NULL,
    role       text        NOT NULL,
    csrf       text        NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
