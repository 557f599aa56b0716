-- Reliable delivery: when a row was delivered or failed for good, and a 'discarded' state for
-- dead letters that operations gave up on. SQLite cannot alter a CHECK constraint, so the
-- outbox is rebuilt with its rows (ids included) and its id sequence kept.
--
-- States: pending (queued; leased while locked_until is in the future), delivered (with
-- delivered_at), dead (a dead letter: failed_at and last_error), cancelled (must not be
-- delivered, e.g. consent revoked), discarded (a dead letter given up on by operations).

CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    referral_id     TEXT    NOT NULL REFERENCES referrals (id),
    recipient       TEXT    NOT NULL,
    -- 'referral' or 'status' (then `transition` is the index in the history)
    kind            TEXT    NOT NULL CHECK (kind IN ('referral', 'status')),
    transition      INTEGER CHECK ((kind = 'status') = (transition IS NOT NULL)),
    created_at      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled',
                                             'discarded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    -- the worker holding the lease, or 'mailbox' for a row offered to a pulling partner
    locked_by       TEXT,
    locked_until    TEXT,
    -- the last failure: a status code and a short reason, never payload
    last_error      TEXT,
    -- when the row became a dead letter (kept when operations retry it, as history)
    failed_at       TEXT,
    delivered_at    TEXT,
    CONSTRAINT outbox_dead_has_failed_at CHECK (state <> 'dead' OR failed_at IS NOT NULL)
);

INSERT INTO outbox_new (id, referral_id, recipient, kind, transition, created_at, state,
                        attempts, next_attempt_at, locked_by, locked_until, last_error,
                        failed_at)
SELECT id, referral_id, recipient, kind, transition, created_at, state, attempts,
       next_attempt_at, locked_by, locked_until, last_error,
       CASE WHEN state = 'dead' THEN COALESCE(locked_until, next_attempt_at) END
FROM outbox;

-- Keep the id sequence: ids are the partners' delivery keys and must never be reused.
DELETE FROM sqlite_sequence WHERE name = 'outbox_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'outbox_new', seq FROM sqlite_sequence WHERE name = 'outbox';

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

-- Push delivery: due pending rows, oldest first.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
-- Per referral (reading a referral's rows; the one-at-a-time order per referral and recipient).
CREATE INDEX outbox_by_referral ON outbox (referral_id, recipient, id);
-- The mailbox: a recipient's pending rows in id order.
CREATE INDEX outbox_by_recipient ON outbox (recipient, state, id);
-- Dead letters, newest first.
CREATE INDEX outbox_dead ON outbox (failed_at, id) WHERE state = 'dead';
