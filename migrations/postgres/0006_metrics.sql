-- Metrics (migrations/sqlite/0006_metrics.sql): /metrics counts referrals by status and
-- routed receiver at every scrape; this index answers it without reading the table.
CREATE INDEX referrals_by_status_receiver ON referrals (status, receiver);
