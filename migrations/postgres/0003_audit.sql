-- The audit log (migrations/sqlite/0003_audit.sql): append-only and hash-chained (see
-- src/audit.rs for the canonical encoding). One row an event; `seq` counts 1, 2, 3, ...
-- without gaps. `resident` is the keyed pseudonym (HMAC-SHA256 of the BSN, 64 hex digits),
-- never the BSN; `detail` is a JSON object of non-personal facts (codes, ids, operator names),
-- kept as the text the writer made; the hashes are the 32 raw bytes.
CREATE TABLE audit_events (
    seq         bigint      PRIMARY KEY,
    at          timestamptz NOT NULL,
    action      text        NOT NULL,
    partner     text,
    referral_id uuid,
    resident    text,
    detail      text        NOT NULL,
    prev_hash   bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash        bytea       NOT NULL CHECK (length(hash) = 32)
);

-- Everything about one referral, and one resident's events ("who saw what about me").
CREATE INDEX audit_by_referral ON audit_events (referral_id, seq);
CREATE INDEX audit_by_resident ON audit_events (resident, seq);

-- The chain's head: the last event's seq and hash (0 and 32 zero bytes before the first).
-- Several gateway instances write to one database; each write transaction locks this one row
-- (SELECT ... FOR UPDATE) before anything else, appends its events after the head it read,
-- and moves the head before it commits. So appends are serialised and no event is ever
-- chained to a stale head, whichever instance writes it.
CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint  NOT NULL CHECK (seq >= 0),
    hash      bytea   NOT NULL CHECK (length(hash) = 32)
);

INSERT INTO audit_head (seq, hash)
SELECT COALESCE((SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),
                decode(repeat('00', 32), 'hex'));
