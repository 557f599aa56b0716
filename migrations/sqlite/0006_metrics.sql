-- Metrics: /metrics counts referrals by status and routed receiver at every scrape; this
-- index lets SQLite answer from the index alone (one pass, no table reads).
CREATE INDEX referrals_by_status_receiver ON referrals (status, receiver);
