-- One index for the newest referrals and for the analytics' windows. `referrals_by_received`
-- (received_at, id) ordered the dashboard's list and counted a time window; `referrals_analytics`
-- (received_at, sender, receiver, id) gave the analytics' cohorts their referrals from the index
-- alone. The columns of the second after the order of the first serve both: the same order, a
-- window's rows with their sender and receiver. Each intake wrote both, and SQLite writes an
-- index of ascending keys as a run of packed pages, balancing the last three again every few
-- inserts: about three pages a commit for each such index (BENCHMARKS.md).
DROP INDEX referrals_analytics;
DROP INDEX referrals_by_received;
CREATE INDEX referrals_by_received ON referrals (received_at, id, sender, receiver);
