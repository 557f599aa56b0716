-- The overview's "since" figures (referrals received, of them now consent_missing, and
-- deliveries per recipient since a time, usually 24 hours ago) read from per-hour counts
-- kept by triggers, as the counts of 0007_dashboard.sql are: the full hours after `since`
-- are summed from these tables (a few dozen rows), and only the part of an hour at `since`
-- is counted from the rows (an index range of at most an hour). Counting the whole period
-- instead cost a range of the last day's rows, too slow once a day brings tens of thousands
-- (see src/store/sqlite/dashboard.rs). An hour is the first 13 characters of the stored
-- time ('2026-11-22T17'), which sort as the times do. Initialised from the rows already
-- there. Hours whose counts fall to zero are removed on delete (retention), so the tables
-- hold about as many hours as the stored rows span.

-- Referrals per hour of received_at, and of them those whose status is now consent_missing.
CREATE TABLE referral_hourly_counts (
    hour            TEXT    NOT NULL PRIMARY KEY,
    received        INTEGER NOT NULL,
    consent_missing INTEGER NOT NULL
);
INSERT INTO referral_hourly_counts (hour, received, consent_missing)
SELECT substr(received_at, 1, 13), COUNT(*),
       SUM(CASE WHEN status = 'consent_missing' THEN 1 ELSE 0 END)
FROM referrals GROUP BY substr(received_at, 1, 13);

CREATE TRIGGER referral_hourly_counts_insert AFTER INSERT ON referrals
BEGIN
    INSERT INTO referral_hourly_counts (hour, received, consent_missing)
    VALUES (substr(NEW.received_at, 1, 13), 1, NEW.status = 'consent_missing')
    ON CONFLICT (hour) DO UPDATE SET received = received + 1,
        consent_missing = consent_missing + (NEW.status = 'consent_missing');
END;

CREATE TRIGGER referral_hourly_counts_update AFTER UPDATE OF status, received_at ON referrals
WHEN substr(OLD.received_at, 1, 13) IS NOT substr(NEW.received_at, 1, 13)
    OR (OLD.status = 'consent_missing') <> (NEW.status = 'consent_missing')
BEGIN
    UPDATE referral_hourly_counts SET received = received - 1,
        consent_missing = consent_missing - (OLD.status = 'consent_missing')
    WHERE hour = substr(OLD.received_at, 1, 13);
    INSERT INTO referral_hourly_counts (hour, received, consent_missing)
    VALUES (substr(NEW.received_at, 1, 13), 1, NEW.status = 'consent_missing')
    ON CONFLICT (hour) DO UPDATE SET received = received + 1,
        consent_missing = consent_missing + (NEW.status = 'consent_missing');
END;

CREATE TRIGGER referral_hourly_counts_delete AFTER DELETE ON referrals
BEGIN
    UPDATE referral_hourly_counts SET received = received - 1,
        consent_missing = consent_missing - (OLD.status = 'consent_missing')
    WHERE hour = substr(OLD.received_at, 1, 13);
    DELETE FROM referral_hourly_counts
    WHERE hour = substr(OLD.received_at, 1, 13) AND received = 0;
END;

-- Delivered outbox rows (state 'delivered' with a delivered_at) per hour of delivered_at and
-- recipient.
CREATE TABLE delivered_hourly_counts (
    hour       TEXT    NOT NULL,
    recipient  TEXT    NOT NULL,
    deliveries INTEGER NOT NULL,
    PRIMARY KEY (hour, recipient)
);
INSERT INTO delivered_hourly_counts (hour, recipient, deliveries)
SELECT substr(delivered_at, 1, 13), recipient, COUNT(*) FROM outbox
WHERE state = 'delivered' AND delivered_at IS NOT NULL
GROUP BY substr(delivered_at, 1, 13), recipient;

CREATE TRIGGER delivered_hourly_counts_insert AFTER INSERT ON outbox
WHEN NEW.state = 'delivered' AND NEW.delivered_at IS NOT NULL
BEGIN
    INSERT INTO delivered_hourly_counts (hour, recipient, deliveries)
    VALUES (substr(NEW.delivered_at, 1, 13), NEW.recipient, 1)
    ON CONFLICT (hour, recipient) DO UPDATE SET deliveries = deliveries + 1;
END;

-- A row stops counting in its old hour, then counts in its new one, when either changed.
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
