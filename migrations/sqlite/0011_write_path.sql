-- Fewer index entries written per change on the hot path (intake, delivery, status update),
-- without giving up a query that needed them (BENCHMARKS.md: the single writer spends most of
-- its time in index and trigger writes).
--
-- Partial indexes hold only the rows their queries look for, so a row that is not (or no
-- longer) among them costs nothing when it changes. Each query below names the partial
-- index's condition literally, which is what SQLite needs to use it; the plans are tested
-- (src/store/sqlite/write_path_plans.rs).

-- /metrics read referrals by status and receiver from `referrals_by_status_receiver`, an
-- index that every intake and every status change wrote to (and that a scrape read whole).
-- The counts the dashboard keeps per status are now kept per status and receiver ('' for a
-- referral that has none), and /metrics reads that table.
DROP INDEX referrals_by_status_receiver;
DROP TRIGGER referral_status_counts_insert;
DROP TRIGGER referral_status_counts_update;
DROP TRIGGER referral_status_counts_delete;
DROP TABLE referral_status_counts;

CREATE TABLE referral_status_counts (
    status    TEXT    NOT NULL,
    receiver  TEXT    NOT NULL,
    referrals INTEGER NOT NULL,
    PRIMARY KEY (status, receiver)
);
INSERT INTO referral_status_counts (status, receiver, referrals)
SELECT status, COALESCE(receiver, ''), COUNT(*) FROM referrals
GROUP BY status, COALESCE(receiver, '');

CREATE TRIGGER referral_status_counts_insert AFTER INSERT ON referrals
BEGIN
    INSERT INTO referral_status_counts (status, receiver, referrals)
    VALUES (NEW.status, COALESCE(NEW.receiver, ''), 1)
    ON CONFLICT (status, receiver) DO UPDATE SET referrals = referrals + 1;
END;

CREATE TRIGGER referral_status_counts_update AFTER UPDATE OF status, receiver ON referrals
WHEN OLD.status IS NOT NEW.status OR OLD.receiver IS NOT NEW.receiver
BEGIN
    UPDATE referral_status_counts SET referrals = referrals - 1
    WHERE status = OLD.status AND receiver = COALESCE(OLD.receiver, '');
    INSERT INTO referral_status_counts (status, receiver, referrals)
    VALUES (NEW.status, COALESCE(NEW.receiver, ''), 1)
    ON CONFLICT (status, receiver) DO UPDATE SET referrals = referrals + 1;
END;

CREATE TRIGGER referral_status_counts_delete AFTER DELETE ON referrals
BEGIN
    UPDATE referral_status_counts SET referrals = referrals - 1
    WHERE status = OLD.status AND receiver = COALESCE(OLD.receiver, '');
END;

-- Retention looks only for referrals that are done and not yet erased; every other status
-- change (each one moves updated_at) used to rewrite this index's entry too. The list is
-- RETAINED_STATUSES (src/store/mod.rs) in its order, as src/store/sqlite/retention.rs
-- writes it into its query.
DROP INDEX referrals_retention;
CREATE INDEX referrals_retention ON referrals (status, updated_at)
WHERE erased_at IS NULL
    AND status IN ('completed', 'cancelled', 'declined', 'undeliverable', 'consent_missing');

-- A referral's resident pseudonym is read from its intake event only (analytics, the
-- processing log); the other events of its life need no entry here.
DROP INDEX audit_intake_resident;
CREATE INDEX audit_intake_resident ON audit_events (referral_id, action, resident)
WHERE action = 'message_received';

-- Events about a resident are looked up by pseudonym; events without one (deliveries, status
-- changes, operators' work) need no entry.
DROP INDEX audit_by_resident;
CREATE INDEX audit_by_resident ON audit_events (resident, seq) WHERE resident IS NOT NULL;

-- The delivery queue's indexes hold the pending rows only: the claim, the mailbox, the next
-- due time and the backlog all ask for `state = 'pending'`. A delivered row leaves them once
-- and is never written to them again, and they stay as small as the queue, not the history.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
DROP INDEX outbox_by_recipient;
CREATE INDEX outbox_by_recipient ON outbox (recipient, id) WHERE state = 'pending';
