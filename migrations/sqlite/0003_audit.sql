-- The audit log: append-only and hash-chained (see src/audit.rs for the canonical encoding).
-- One row an event; `seq` counts 1, 2, 3, ... without gaps. `resident` is the keyed pseudonym
-- (HMAC-SHA256 of the BSN, hex), never the BSN; `detail` is a JSON object of non-personal
-- facts (codes, ids, operator names); the hashes are 64 lowercase hex digits. Rows are only
-- ever inserted, by the store's single writer, in the transaction of the change they record.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    partner     TEXT,
    referral_id TEXT,
    resident    TEXT,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);

-- Everything about one referral, and one resident's events ("who saw what about me").
CREATE INDEX audit_by_referral ON audit_events (referral_id, seq);
CREATE INDEX audit_by_resident ON audit_events (resident, seq);
