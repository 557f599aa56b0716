-- Reliable delivery (migrations/sqlite/0002_delivery.sql): when a row was delivered or failed
-- for good, and a 'discarded' state for dead letters that operations gave up on. PostgreSQL
-- alters the table in place (SQLite had to rebuild it); ids and their sequence are untouched.
--
-- States: pending (queued; leased while locked_until is in the future), delivered (with
-- delivered_at), dead (a dead letter: failed_at and last_error), cancelled (must not be
-- delivered, e.g. consent revoked), discarded (a dead letter given up on by operations).

ALTER TABLE outbox DROP CONSTRAINT outbox_state;
ALTER TABLE outbox ADD CONSTRAINT outbox_state
    CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled', 'discarded'));

-- `locked_by` is the worker holding the lease, or 'mailbox' for a row offered to a pulling
-- partner.

-- when the row became a dead letter (kept when operations retry it, as history)
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
ALTER TABLE outbox ADD COLUMN delivered_at timestamptz;

UPDATE outbox SET failed_at = COALESCE(locked_until, next_attempt_at) WHERE state = 'dead';

ALTER TABLE outbox ADD CONSTRAINT outbox_dead_has_failed_at
    CHECK (state <> 'dead' OR failed_at IS NOT NULL);

-- Push delivery: due pending rows, oldest first (outbox_due, unchanged).
DROP INDEX outbox_by_referral;
-- Per referral (reading a referral's rows; the one-at-a-time order per referral and recipient).
CREATE INDEX outbox_by_referral ON outbox (referral_id, recipient, id);
-- The mailbox: a recipient's pending rows in id order.
CREATE INDEX outbox_by_recipient ON outbox (recipient, state, id);
-- Dead letters, newest first.
CREATE INDEX outbox_dead ON outbox (failed_at, id) WHERE state = 'dead';
