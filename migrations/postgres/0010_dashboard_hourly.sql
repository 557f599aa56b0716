-- The overview's "since" figures (referrals received, of them now consent_missing, and
-- deliveries per recipient since a time, usually 24 hours ago) read from per-hour counts kept
-- by row triggers, as the counts of 0007_dashboard.sql are (migrations/sqlite/0010 has the
-- same tables): the full hours after `since` are summed from these tables (a few dozen rows),
-- and only the part of an hour at `since` is counted from the rows (an index range of at most
-- an hour; see src/store/postgres/dashboard.rs). An hour is the time truncated to the hour in
-- UTC (`date_trunc('hour', t, 'UTC')`, whatever the session's time zone). Initialised from
-- the rows already there. Hours whose counts fall to zero are removed on delete (retention),
-- so the tables hold about as many hours as the stored rows span.
--
-- Several instances write at once: as for the counts of 0007_dashboard.sql (read its note),
-- the triggers change a count only with `UPDATE ... SET n = n - 1` or `INSERT ... ON
-- CONFLICT DO UPDATE`, in the writer's transaction, and every write transaction that reaches
-- them has first locked the audit chain's head, so they run one at a time: no change is
-- lost, none waits on a count row, no two lock count rows in opposite orders. The delete of
-- an hour at zero runs in the same serialised transactions (and an insert into an hour
-- deleted meanwhile would only make it again).

-- Referrals per hour of received_at, and of them those whose status is now consent_missing.
CREATE TABLE referral_hourly_counts (
    hour            timestamptz NOT NULL PRIMARY KEY,
    received        bigint      NOT NULL,
    consent_missing bigint      NOT NULL
);
INSERT INTO referral_hourly_counts (hour, received, consent_missing)
SELECT date_trunc('hour', received_at, 'UTC'), COUNT(*),
       COUNT(*) FILTER (WHERE status = 'consent_missing')
FROM referrals GROUP BY date_trunc('hour', received_at, 'UTC');

CREATE FUNCTION referral_hourly_counts_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE referral_hourly_counts SET received = received - 1,
            consent_missing = consent_missing - (OLD.status = 'consent_missing')::int
        WHERE hour = date_trunc('hour', OLD.received_at, 'UTC');
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM referral_hourly_counts
        WHERE hour = date_trunc('hour', OLD.received_at, 'UTC') AND received = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO referral_hourly_counts (hour, received, consent_missing)
        VALUES (date_trunc('hour', NEW.received_at, 'UTC'), 1,
                (NEW.status = 'consent_missing')::int)
        ON CONFLICT (hour) DO UPDATE
        SET received = referral_hourly_counts.received + 1,
            consent_missing = referral_hourly_counts.consent_missing
                + EXCLUDED.consent_missing;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER referral_hourly_counts_insert AFTER INSERT ON referrals
FOR EACH ROW EXECUTE FUNCTION referral_hourly_counts_change();

CREATE TRIGGER referral_hourly_counts_update AFTER UPDATE OF status, received_at ON referrals
FOR EACH ROW WHEN (OLD.received_at IS DISTINCT FROM NEW.received_at
    OR (OLD.status = 'consent_missing') IS DISTINCT FROM (NEW.status = 'consent_missing'))
EXECUTE FUNCTION referral_hourly_counts_change();

CREATE TRIGGER referral_hourly_counts_delete AFTER DELETE ON referrals
FOR EACH ROW EXECUTE FUNCTION referral_hourly_counts_change();

-- Delivered outbox rows (state 'delivered' with a delivered_at) per hour of delivered_at and
-- recipient.
CREATE TABLE delivered_hourly_counts (
    hour       timestamptz NOT NULL,
    recipient  text        NOT NULL,
    deliveries bigint      NOT NULL,
    PRIMARY KEY (hour, recipient)
);
INSERT INTO delivered_hourly_counts (hour, recipient, deliveries)
SELECT date_trunc('hour', delivered_at, 'UTC'), recipient, COUNT(*) FROM outbox
WHERE state = 'delivered' AND delivered_at IS NOT NULL
GROUP BY date_trunc('hour', delivered_at, 'UTC'), recipient;

CREATE FUNCTION delivered_hourly_counts_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.state = 'delivered' AND OLD.delivered_at IS NOT NULL THEN
            UPDATE delivered_hourly_counts SET deliveries = deliveries - 1
            WHERE hour = date_trunc('hour', OLD.delivered_at, 'UTC')
                AND recipient = OLD.recipient;
            IF TG_OP = 'DELETE' THEN
                DELETE FROM delivered_hourly_counts
                WHERE hour = date_trunc('hour', OLD.delivered_at, 'UTC')
                    AND recipient = OLD.recipient AND deliveries = 0;
            END IF;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.state = 'delivered' AND NEW.delivered_at IS NOT NULL THEN
            INSERT INTO delivered_hourly_counts (hour, recipient, deliveries)
            VALUES (date_trunc('hour', NEW.delivered_at, 'UTC'), NEW.recipient, 1)
            ON CONFLICT (hour, recipient) DO UPDATE
            SET deliveries = delivered_hourly_counts.deliveries + 1;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER delivered_hourly_counts_insert AFTER INSERT ON outbox
FOR EACH ROW WHEN (NEW.state = 'delivered' AND NEW.delivered_at IS NOT NULL)
EXECUTE FUNCTION delivered_hourly_counts_change();

CREATE TRIGGER delivered_hourly_counts_update AFTER UPDATE OF state, delivered_at, recipient
ON outbox
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
    OR OLD.delivered_at IS DISTINCT FROM NEW.delivered_at
    OR OLD.recipient IS DISTINCT FROM NEW.recipient)
EXECUTE FUNCTION delivered_hourly_counts_change();

CREATE TRIGGER delivered_hourly_counts_delete AFTER DELETE ON outbox
FOR EACH ROW WHEN (OLD.state = 'delivered' AND OLD.delivered_at IS NOT NULL)
EXECUTE FUNCTION delivered_hourly_counts_change();
