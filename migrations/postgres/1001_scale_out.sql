-- Several gateway instances on one database (PostgreSQL only; numbered 1000 and up so that the
-- versions below keep mirroring migrations/sqlite/).

-- Instance identity and liveness: each instance (named by `[delivery] worker_id`, the name on
-- its leases) registers at start and refreshes `last_seen` with a heartbeat; `/readyz` lists
-- the instances seen recently. Times are the database's clock, so instances' clocks do not
-- need to agree for this.
CREATE TABLE instances (
    id         text        NOT NULL PRIMARY KEY,
    version    text        NOT NULL,
    started_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);

-- Per-partner rate limits shared by every instance: one token bucket a partner and direction
-- (`in:<partner>`: its requests to the gateway; `out:<partner>`: deliveries to it).
-- `tokens` is the level at `refilled_at`; `take_rate_token` refills it for the time since,
-- by the database's clock, under the row's lock, and takes one token if there is one.
-- UNLOGGED: a bucket is not worth a WAL write and an fsync per request. After a crash or a
-- fail-over to a standby the table starts empty, which is every bucket full: at most one
-- extra burst per partner (see ARCHITECTURE.md).
CREATE UNLOGGED TABLE rate_buckets (
    partner     text             NOT NULL PRIMARY KEY,
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL
);

-- Takes one token from the bucket `p_partner` (created full when missing) that refills at
-- `p_rate` tokens a second up to `p_burst`. Answers 0 when a token was taken, otherwise the
-- seconds until one will be there (nothing is taken then).
CREATE FUNCTION take_rate_token(p_partner text, p_rate double precision,
                                p_burst double precision)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    level double precision;
    since timestamptz;
    now_  timestamptz;
BEGIN
    SELECT tokens, refilled_at INTO level, since
    FROM rate_buckets WHERE partner = p_partner FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO rate_buckets (partner, tokens, refilled_at)
        VALUES (p_partner, p_burst, clock_timestamp())
        ON CONFLICT (partner) DO NOTHING;
        SELECT tokens, refilled_at INTO level, since
        FROM rate_buckets WHERE partner = p_partner FOR UPDATE;
    END IF;
    -- Read the clock after the lock: the holder before us has refilled up to its own time.
    now_ := greatest(clock_timestamp(), since);
    level := least(p_burst, level + extract(epoch FROM now_ - since) * p_rate);
    IF level >= 1 THEN
        UPDATE rate_buckets SET tokens = level - 1, refilled_at = now_
        WHERE partner = p_partner;
        RETURN 0;
    END IF;
    UPDATE rate_buckets SET tokens = level, refilled_at = now_ WHERE partner = p_partner;
    RETURN (1 - level) / p_rate;
END;
$$;
