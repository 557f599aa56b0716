-- The gateway's store, SQLite form. Written to translate line by line to PostgreSQL:
-- TEXT ids, timestamps as fixed-width UTC text ('YYYY-MM-DDTHH:MM:SS.ffffffZ', sortable;
-- timestamptz there), JSON documents as TEXT (jsonb there), category lists as
-- comma-separated codes, and INTEGER PRIMARY KEY AUTOINCREMENT (an identity column there).

-- One row a referral. `request` is case_json::encode_request of the full request as
-- received; the `shared_*` columns hold the minimised copy for the receiver, when there is one.
CREATE TABLE referrals (
    id                TEXT    NOT NULL PRIMARY KEY,
    sender            TEXT    NOT NULL,
    source_ref        TEXT    NOT NULL,
    receiver          TEXT,
    status            TEXT    NOT NULL,
    request           TEXT    NOT NULL,
    shared            TEXT,
    shared_categories TEXT,
    shared_removed    TEXT,
    consent_id        TEXT,
    received_at       TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    CONSTRAINT referrals_source_unique UNIQUE (sender, source_ref),
    CONSTRAINT referrals_shared_complete CHECK (
        (receiver IS NULL AND shared IS NULL AND shared_categories IS NULL
            AND shared_removed IS NULL AND consent_id IS NULL)
        OR (receiver IS NOT NULL AND shared IS NOT NULL AND shared_categories IS NOT NULL
            AND shared_removed IS NOT NULL)
    )
);

-- The dashboard lists referrals by status, newest first, and by time.
CREATE INDEX referrals_by_status ON referrals (status, received_at);
CREATE INDEX referrals_by_received ON referrals (received_at);
CREATE INDEX referrals_by_receiver ON referrals (receiver, received_at);

-- The status history: one row a transition, seq 0 is `received`.
CREATE TABLE status_transitions (
    referral_id TEXT    NOT NULL REFERENCES referrals (id),
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    status      TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    -- 'gateway', 'partner:<id>' or 'operator:<name>'
    actor       TEXT    NOT NULL,
    reason      TEXT,
    reason_code TEXT,
    PRIMARY KEY (referral_id, seq)
);

-- Deliveries to make. The lease columns are the delivery worker's: a worker claims due
-- pending rows by setting locked_by/locked_until, and acknowledges only while it holds them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    referral_id     TEXT    NOT NULL REFERENCES referrals (id),
    recipient       TEXT    NOT NULL,
    -- 'referral' or 'status' (then `transition` is the index in the history)
    kind            TEXT    NOT NULL CHECK (kind IN ('referral', 'status')),
    transition      INTEGER CHECK ((kind = 'status') = (transition IS NOT NULL)),
    created_at      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_referral ON outbox (referral_id, id);

-- Consents. `categories` is a comma-separated list of data category codes.
CREATE TABLE consents (
    id            TEXT NOT NULL PRIMARY KEY,
    resident      TEXT NOT NULL,
    grantee_kind  TEXT NOT NULL CHECK (grantee_kind IN ('partner', 'sector')),
    grantee       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    effect        TEXT NOT NULL CHECK (effect IN ('permit', 'deny')),
    categories    TEXT NOT NULL,
    valid_from    TEXT NOT NULL,
    valid_until   TEXT,
    recorded_by   TEXT NOT NULL,
    evidence      TEXT,
    revoked_at    TEXT,
    recorded_at   TEXT NOT NULL
);

CREATE INDEX consents_by_resident ON consents (resident);

-- Idempotency-Key headers: a repeat answers the first request's referral ids.
CREATE TABLE idempotency_keys (
    sender       TEXT NOT NULL,
    key          TEXT NOT NULL,
    -- JSON array of referral ids, in the order of the first request
    referral_ids TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (sender, key)
);
