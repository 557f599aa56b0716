-- The operations dashboard (migrations/sqlite/0007_dashboard.sql): the referral list pages by
-- key, newest first by (received_at, id), filtered by status, by a partner as sender or
-- receiver, or by several (a sector's partners). Each filter walks one index in list order
-- and stops after a page (see src/store/sqlite/dashboard.rs, whose statements both stores
-- run), so a page costs the same on a million referrals as on a hundred.
DROP INDEX referrals_by_status;
DROP INDEX referrals_by_received;
DROP INDEX referrals_by_receiver;

CREATE INDEX referrals_by_received ON referrals (received_at, id);
CREATE INDEX referrals_by_status ON referrals (status, received_at, id);
CREATE INDEX referrals_by_sender ON referrals (sender, received_at, id);
CREATE INDEX referrals_by_sender_status ON referrals (sender, status, received_at, id);
CREATE INDEX referrals_by_receiver ON referrals (receiver, received_at, id);
CREATE INDEX referrals_by_receiver_status ON referrals (receiver, status, received_at, id);

-- Deliveries per partner over the overview's period.
CREATE INDEX outbox_delivered ON outbox (delivered_at, recipient) WHERE state = 'delivered';

-- The overview's counts, kept by row triggers in the transaction of each change, so reading
-- them costs the same on a million referrals as on ten. Initialised from the rows already
-- there.
--
-- Several instances write at once. Correctness: the triggers change a count only with
-- `UPDATE ... SET n = n + 1` or `INSERT ... ON CONFLICT DO UPDATE`, in the writer's READ
-- COMMITTED transactions: a second writer of the same row waits for the first to end and then
-- adds to the committed value, so no change is lost, and a count changes exactly when the row
-- it counts does (same transaction: a rollback undoes both). Contention: these rows are hot
-- (every intake touches the row of its status), but every write transaction of every
-- instance first locks the audit chain's head (migrations/postgres/0003_audit.sql), so the
-- writes that reach these triggers already run one at a time: a count row never makes a
-- writer wait, and two transactions can never lock two count rows in opposite orders
-- (deadlock). Claims and mailbox offers run outside that order, but they change only lease
-- columns, which fire no trigger here. Should writes ever run in parallel, the counts stay
-- correct and only wait for one another; spreading each count over several slot rows would
-- then remove the wait.

-- Referrals per current status.
CREATE TABLE referral_status_counts (
    status    text   NOT NULL PRIMARY KEY,
    referrals bigint NOT NULL
);
INSERT INTO referral_status_counts (status, referrals)
SELECT status, COUNT(*) FROM referrals GROUP BY status;

CREATE FUNCTION referral_status_counts_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE referral_status_counts SET referrals = referrals - 1 WHERE status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO referral_status_counts (status, referrals) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET referrals = referral_status_counts.referrals + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER referral_status_counts_insert AFTER INSERT ON referrals
FOR EACH ROW EXECUTE FUNCTION referral_status_counts_change();

CREATE TRIGGER referral_status_counts_update AFTER UPDATE OF status ON referrals
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION referral_status_counts_change();

CREATE TRIGGER referral_status_counts_delete AFTER DELETE ON referrals
FOR EACH ROW EXECUTE FUNCTION referral_status_counts_change();

-- Outbox rows per recipient, state, and whether the last attempt failed (`failing` when
-- last_error is set).
CREATE TABLE outbox_counts (
    recipient text    NOT NULL,
    state     text    NOT NULL,
    failing   boolean NOT NULL,
    rows      bigint  NOT NULL,
    PRIMARY KEY (recipient, state, failing)
);
INSERT INTO outbox_counts (recipient, state, failing, rows)
SELECT recipient, state, last_error IS NOT NULL, COUNT(*) FROM outbox
GROUP BY recipient, state, last_error IS NOT NULL;

CREATE FUNCTION outbox_counts_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE outbox_counts SET rows = rows - 1
        WHERE recipient = OLD.recipient AND state = OLD.state
            AND failing = (OLD.last_error IS NOT NULL);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO outbox_counts (recipient, state, failing, rows)
        VALUES (NEW.recipient, NEW.state, NEW.last_error IS NOT NULL, 1)
        ON CONFLICT (recipient, state, failing) DO UPDATE SET rows = outbox_counts.rows + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox
FOR EACH ROW EXECUTE FUNCTION outbox_counts_change();

CREATE TRIGGER outbox_counts_update AFTER UPDATE OF recipient, state, last_error ON outbox
FOR EACH ROW WHEN (OLD.recipient IS DISTINCT FROM NEW.recipient
    OR OLD.state IS DISTINCT FROM NEW.state
    OR (OLD.last_error IS NULL) <> (NEW.last_error IS NULL))
EXECUTE FUNCTION outbox_counts_change();

CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox
FOR EACH ROW EXECUTE FUNCTION outbox_counts_change();
