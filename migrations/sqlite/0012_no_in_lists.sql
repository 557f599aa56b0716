-- SQLite evaluates `x IN (a, b, c, ...)` with more than two constants by building a temporary
-- b-tree of the constants, every time the statement runs. In a partial index's condition or
-- a CHECK constraint that happens for every row an INSERT or UPDATE writes (for an UPDATE,
-- once for the old row and once for the new): on the single writer this was about 5% of its
-- time (BENCHMARKS.md). The same conditions written as comparisons joined by OR are checked
-- with a few jumps. src/store/sqlite/write_path_plans.rs tests that no statement of the
-- write path builds such a b-tree.

-- Retention's index. The list is RETAINED_STATUSES (src/store/mod.rs) in its order, as
-- src/store/sqlite/retention.rs writes it into its query: SQLite uses a partial index only
-- for a query that names its condition.
DROP INDEX referrals_retention;
CREATE INDEX referrals_retention ON referrals (status, updated_at)
WHERE erased_at IS NULL
    AND (status = 'completed' OR status = 'cancelled' OR status = 'declined'
         OR status = 'undeliverable' OR status = 'consent_missing');

-- The outbox's state CHECK. SQLite cannot alter a CHECK constraint, so the outbox is rebuilt
-- as in 0002_delivery.sql: its rows with their ids, its id sequence, and then its indexes and
-- the dashboard's count triggers (0007, 0010) as they were. Dropping the old table fires no
-- trigger, so the counts stay as they are, and they hold for the same rows.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    referral_id     TEXT    NOT NULL REFERENCES referrals (id),
    recipient       TEXT    NOT NULL,
    -- 'referral' or 'status' (then `transition` is the index in the history)
    kind            TEXT    NOT NULL CHECK (kind IN ('referral', 'status')),
    transition      INTEGER CHECK ((kind = 'status') = (transition IS NOT NULL)),
    created_at      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state = 'pending' OR state = 'delivered' OR state = 'dead'
                                   OR state = 'cancelled' OR state = 'discarded'),
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
                        failed_at, delivered_at)
SELECT id, referral_id, recipient, kind, transition, created_at, state, attempts,
       next_attempt_at, locked_by, locked_until, last_error, failed_at, delivered_at
FROM outbox;

-- Keep the id sequence: ids are the partners' delivery keys and must never be reused.
DELETE FROM sqlite_sequence WHERE name = 'outbox_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'outbox_new', seq FROM sqlite_sequence WHERE name = 'outbox';

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

-- Per referral (reading a referral's rows; the one-at-a-time order per referral and recipient).
CREATE INDEX outbox_by_referral ON outbox (referral_id, recipient, id);
-- Dead letters, newest first.
CREATE INDEX outbox_dead ON outbox (failed_at, id) WHERE state = 'dead';
-- The dashboard's deliveries per time (0007).
CREATE INDEX outbox_delivered ON outbox (delivered_at, recipient) WHERE state = 'delivered';
-- Analytics (0008).
CREATE INDEX outbox_analytics ON outbox (created_at, recipient, state, failed_at, last_error);
-- The delivery queue, pending rows only (0011).
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_by_recipient ON outbox (recipient, id) WHERE state = 'pending';

-- The dashboard's counts (0007): rows per recipient, state and whether they are failing.
CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox
BEGIN
    INSERT INTO outbox_counts (recipient, state, failing, rows)
    VALUES (NEW.recipient, NEW.state, NEW.last_error IS NOT NULL, 1)
    ON CONFLICT (recipient, state, failing) DO UPDATE SET rows = rows + 1;
END;

CREATE TRIGGER outbox_counts_update AFTER UPDATE OF recipient, state, last_error ON outbox
WHEN OLD.recipient IS NOT NEW.recipient OR OLD.state IS NOT NEW.state
    OR (OLD.last_error IS NULL) <> (NEW.last_error IS NULL)
BEGIN
    UPDATE outbox_counts SET rows = rows - 1
    WHERE recipient = OLD.recipient AND state = OLD.state
        AND failing = (OLD.last_error IS NOT NULL);
    INSERT INTO outbox_counts (recipient, state, failing, rows)
    VALUES (NEW.recipient, NEW.state, NEW.last_error IS NOT NULL, 1)
    ON CONFLICT (recipient, state, failing) DO UPDATE SET rows = rows + 1;
END;

CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox
BEGIN
    UPDATE outbox_counts SET rows = rows - 1
    WHERE recipient = OLD.recipient AND state = OLD.state
        AND failing = (OLD.last_error IS NOT NULL);
END;

-- Deliveries per hour and recipient (0010).
CREATE TRIGGER delivered_hourly_counts_insert AFTER INSERT ON outbox
WHEN NEW.state = 'delivered' AND NEW.delivered_at IS NOT NULL
BEGIN
    INSERT INTO delivered_hourly_counts (hour, recipient, deliveries)
    VALUES (substr(NEW.delivered_at, 1, 13), NEW.recipient, 1)
    ON CONFLICT (hour, recipient) DO UPDATE SET deliveries = deliveries + 1;
END;

CREATE TRIGGER delivered_hourly_counts_update_old
AFTER UPDATE OF state, delivered_at, recipient ON outbox
WHEN OLD.state = 'delivered' AND OLD.delivered_at IS NOT NULL
    AND (NEW.state IS NOT 'delivered' OR NEW.delivered_at IS NOT OLD.delivered_at
        OR NEW.recipient IS NOT OLD.recipient)
BEGIN
    UPDATE delivered_hourly_counts SET deliveries = deliveries - 1
    WHERE hour = substr(OLD.delivered_at, 1, 13) AND recipient = OLD.recipient;
END;

CREATE TRIGGER delivered_hourly_counts_update_new
AFTER UPDATE OF state, delivered_at, recipient ON outbox
WHEN NEW.state = 'delivered' AND NEW.delivered_at IS NOT NULL
    AND (OLD.state IS NOT 'delivered' OR OLD.delivered_at IS NOT NEW.delivered_at
        OR OLD.recipient IS NOT NEW.recipient)
BEGIN
    INSERT INTO delivered_hourly_counts (hour, recipient, deliveries)
    VALUES (substr(NEW.delivered_at, 1, 13), NEW.recipient, 1)
    ON CONFLICT (hour, recipient) DO UPDATE SET deliveries = deliveries + 1;
END;

CREATE TRIGGER delivered_hourly_counts_delete AFTER DELETE ON outbox
WHEN OLD.state = 'delivered' AND OLD.delivered_at IS NOT NULL
BEGIN
    UPDATE delivered_hourly_counts SET deliveries = deliveries - 1
    WHERE hour = substr(OLD.delivered_at, 1, 13) AND recipient = OLD.recipient;
    DELETE FROM delivered_hourly_counts
    WHERE hour = substr(OLD.delivered_at, 1, 13) AND recipient = OLD.recipient
        AND deliveries = 0;
END;
