-- Takes up to `p_want` tokens at once from the bucket `p_partner` (created full when
-- missing), refilled as `take_rate_token` (1001_scale_out.sql) refills it: an instance keeps
-- the lot and hands its tokens out without asking again (src/store/postgres/rate_limit.rs),
-- so a busy partner costs one round trip per lot instead of one per request. Answers how many
-- tokens were taken (at least one when the bucket held one, never more than it held) and,
-- when none was, the seconds until one will be there. `take_rate_token` stays for instances
-- of the previous version during a rolling upgrade (below).
CREATE FUNCTION take_rate_tokens(p_partner text, p_rate double precision,
                                 p_burst double precision, p_want integer,
                                 OUT granted integer, OUT wait double precision)
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
        granted := least(greatest(p_want, 1), floor(level))::integer;
        wait := 0;
    ELSE
        granted := 0;
        wait := (1 - level) / p_rate;
    END IF;
    UPDATE rate_buckets SET tokens = level - granted, refilled_at = now_
    WHERE partner = p_partner;
END;
$$;

-- The one-token function of 1001_scale_out.sql, which instances of the previous version call
-- during a rolling upgrade, now taken through the function above, so the bucket's arithmetic
-- is written once: 0 when a token was taken, otherwise the seconds until one will be there.
CREATE OR REPLACE FUNCTION take_rate_token(p_partner text, p_rate double precision,
                                           p_burst double precision)
RETURNS double precision
LANGUAGE sql AS $$
    SELECT CASE WHEN granted >= 1 THEN 0 ELSE wait END
    FROM take_rate_tokens(p_partner, p_rate, p_burst, 1)
$$;
