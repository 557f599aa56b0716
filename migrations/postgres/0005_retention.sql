-- Retention (migrations/sqlite/0005_retention.sql): payloads of referrals that are done
-- (completed, cancelled, declined, undeliverable, consent_missing) are erased after a
-- configured period. An erased referral keeps its row (id, partners, status, times), its
-- history (without reason texts), its outbox rows and its audit events; `request` becomes ''
-- and `shared` becomes '' when there was a copy (as in SQLite, so both stores read alike),
-- and `erased_at` says when.
ALTER TABLE referrals ADD COLUMN erased_at timestamptz;

-- The retention job: done referrals not yet erased, oldest change first.
CREATE INDEX referrals_retention ON referrals (status, updated_at) WHERE erased_at IS NULL;
