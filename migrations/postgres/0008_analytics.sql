-- The analytics (migrations/sqlite/0008_analytics.sql; src/store/postgres/analytics.rs):
-- aggregates over the referrals received in a window, fast enough for a dashboard on a store
-- of a million referrals (figures in BENCHMARKS.md).

-- The cohort of a window from the index alone: who sent, who received.
CREATE INDEX referrals_analytics ON referrals (received_at, sender, receiver, id);

-- A referral's resident pseudonym (its intake event) without reading the event row.
CREATE INDEX audit_intake_resident ON audit_events (referral_id, action, resident);

-- Whether and when a referral reached a status (accepted, completed, consent_missing).
CREATE INDEX status_transitions_reached ON status_transitions (referral_id, status, at);

-- Deliveries queued in a window, by recipient and outcome, from the index alone.
CREATE INDEX outbox_analytics ON outbox (created_at, recipient, state, failed_at, last_error);
