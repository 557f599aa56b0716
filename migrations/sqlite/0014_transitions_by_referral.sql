-- A referral's status changes kept in the order of their key, (referral, step), without a
-- rowid. The table had a rowid, so it was three b-trees: the rows by rowid, the primary key
-- (referral_id, seq) and `status_transitions_reached` (referral_id, status, at, for the
-- analytics). Every status change wrote a leaf page of each at its commit, about a tenth of
-- the pages a commit wrote at 1,000 referrals a second (scripts/bench/wal_pages.py,
-- BENCHMARKS.md). Keyed by its primary key, the table is one b-tree whose rows are what
-- the index held and more, and every query finds a referral's changes by that key: the
-- history in order, whether it reached a status, when.
CREATE TABLE status_transitions_by_referral (
    referral_id TEXT    NOT NULL REFERENCES referrals (id),
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    status      TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    -- 'gateway', 'partner:<id>' or 'operator:<name>'
    actor       TEXT    NOT NULL,
    reason      TEXT,
    reason_code TEXT,
    PRIMARY KEY (referral_id, seq)
) WITHOUT ROWID;

INSERT INTO status_transitions_by_referral
    (referral_id, seq, status, at, actor, reason, reason_code)
SELECT referral_id, seq, status, at, actor, reason, reason_code
FROM status_transitions ORDER BY referral_id, seq;

-- Its indexes go with it; no trigger or view names it.
DROP TABLE status_transitions;
ALTER TABLE status_transitions_by_referral RENAME TO status_transitions;
