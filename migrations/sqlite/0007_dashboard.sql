-- The operations dashboard: the referral list pages by key, newest first by
-- (received_at, id), filtered by status, by a partner as sender or receiver, or by several
-- (a sector's partners). Each filter walks one index in list order and stops after a page
-- (see src/store/sqlite/dashboard.rs), so a page costs the same on a million referrals as
-- on a hundred. The older indexes ended at received_at; ending them at id too serves the
-- tie-break without a sort. Numbered 0007 to leave 0006 to other work of the same step.
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

-- The overview's counts, kept by triggers in the transaction of each change, so reading them
-- costs the same on a million referrals as on ten (counting an index of a million entries
-- takes a quarter of a second). Initialised from the rows already there.

-- Referrals per current status.
CREATE TABLE referral_status_counts (
    status    TEXT    NOT NULL PRIMARY KEY,
    referrals INTEGER NOT NULL
);
INSERT INTO referral_status_counts (status, referrals)
SELECT status, COUNT(*) FROM referrals GROUP BY status;

CREATE TRIGGER referral_status_counts_insert AFTER INSERT ON referrals
BEGIN
    INSERT INTO referral_status_counts (status, referrals) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET referrals = referrals + 1;
END;

CREATE TRIGGER referral_status_counts_update AFTER UPDATE OF status ON referrals
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE referral_status_counts SET referrals = referrals - 1 WHERE status = OLD.status;
    INSERT INTO referral_status_counts (status, referrals) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET referrals = referrals + 1;
END;

CREATE TRIGGER referral_status_counts_delete AFTER DELETE ON referrals
BEGIN
    UPDATE referral_status_counts SET referrals = referrals - 1 WHERE status = OLD.status;
END;

-- Outbox rows per recipient, state, and whether the last attempt failed (`failing` 1 when
-- last_error is set).
CREATE TABLE outbox_counts (
    recipient TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    failing   INTEGER NOT NULL,
    rows      INTEGER NOT NULL,
    PRIMARY KEY (recipient, state, failing)
);
INSERT INTO outbox_counts (recipient, state, failing, rows)
SELECT recipient, state, last_error IS NOT NULL, COUNT(*) FROM outbox
GROUP BY recipient, state, last_error IS NOT NULL;

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
