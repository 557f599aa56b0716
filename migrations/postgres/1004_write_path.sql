-- Fewer index entries and trigger statements per change on the write path, as SQLite's
-- migration 0011_write_path.sql did for its store (BENCHMARKS.md: PostgreSQL's server spends
-- its time per referral in index inserts and count triggers). A status change or an outbox
-- acknowledgement is never a HOT update (both change an indexed column), so every index of the
-- table gets a new entry: each index dropped or made partial here is one b-tree insert less
-- for each such change. Each query that needs one of these partial indexes names its
-- condition, so the planner can prove it (tests/store_postgres.rs checks the plans).

-- /metrics counted referrals by status and receiver over the whole table at every scrape
-- (`referrals_by_status_receiver`, an index every intake and status change wrote to). The
-- counts the overview keeps per status are now kept per status and receiver ('' for a
-- referral that has none), and /metrics reads them: a scrape costs the same at a million
-- referrals as at ten. Correctness under several instances: as in 0007_dashboard.sql.
DROP INDEX referrals_by_status_receiver;
DROP TRIGGER referral_status_counts_insert ON referrals;
DROP TRIGGER referral_status_counts_update ON referrals;
DROP TRIGGER referral_status_counts_delete ON referrals;
DROP FUNCTION referral_status_counts_change();
DROP TABLE referral_status_counts;

CREATE TABLE referral_status_counts (
    status    text   NOT NULL,
    receiver  text   NOT NULL,
    referrals bigint NOT NULL,
    PRIMARY KEY (status, receiver)
);
INSERT INTO referral_status_counts (status, receiver, referrals)
SELECT status, COALESCE(receiver, ''), COUNT(*) FROM referrals
GROUP BY status, COALESCE(receiver, '');

CREATE FUNCTION referral_status_counts_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE referral_status_counts SET referrals = referrals - 1
        WHERE status = OLD.status AND receiver = COALESCE(OLD.receiver, '');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO referral_status_counts (status, receiver, referrals)
        VALUES (NEW.status, COALESCE(NEW.receiver, ''), 1)
        ON CONFLICT (status, receiver)
        DO UPDATE SET referrals = referral_status_counts.referrals + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER referral_status_counts_insert AFTER INSERT ON referrals
FOR EACH ROW EXECUTE FUNCTION referral_status_counts_change();

CREATE TRIGGER referral_status_counts_update AFTER UPDATE OF status, receiver ON referrals
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
    OR OLD.receiver IS DISTINCT FROM NEW.receiver)
EXECUTE FUNCTION referral_status_counts_change();

CREATE TRIGGER referral_status_counts_delete AFTER DELETE ON referrals
FOR EACH ROW EXECUTE FUNCTION referral_status_counts_change();

-- Retention looks only for referrals that are done and not yet erased; every other status
-- change (each one moves updated_at) wrote an entry here too. The list is RETAINED_STATUSES
-- (src/store/mod.rs), which src/store/postgres/retention.rs writes into its query.
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

-- The delivery queue's indexes hold the pending rows only: the next due time and the backlog
-- ask for `state = 'pending'` (claims and the mailbox use 1002's outbox_pending and
-- outbox_pending_by_referral). A delivered row leaves them once and is never written to them
-- again, and they stay as small as the queue, not the history.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
DROP INDEX outbox_by_recipient;
CREATE INDEX outbox_by_recipient ON outbox (recipient, id) WHERE state = 'pending';
