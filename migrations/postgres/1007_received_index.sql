-- SQLite's 0015 for PostgreSQL. One index for the newest referrals and for the analytics'
-- windows: `referrals_by_received` (received_at, id) ordered the dashboard's list and counted
-- a time window; `referrals_analytics` (received_at, sender, receiver, id) gave the
-- analytics' cohorts their referrals from the index alone. The first with the sender and
-- receiver carried along serves both, and each intake writes one index entry fewer.
DROP INDEX referrals_analytics;
DROP INDEX referrals_by_received;
CREATE INDEX referrals_by_received ON referrals (received_at, id) INCLUDE (sender, receiver);
