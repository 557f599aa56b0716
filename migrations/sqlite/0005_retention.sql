-- Retention: payloads of referrals that are done (completed, cancelled, declined,
-- undeliverable, consent_missing) are erased after a configured period. An erased referral
-- keeps its row (id, partners, status, times), its history (without reason texts), its outbox
-- rows and its audit events; `request` becomes '' (the column is NOT NULL and SQLite cannot
-- relax that without rebuilding a table other tables refer to), `shared` becomes '' when there
-- was a copy, and `erased_at` says when. Numbered 0005 to leave 0004 to the processing log.
ALTER TABLE referrals ADD COLUMN erased_at TEXT;

-- The retention job: done referrals not yet erased, oldest change first.
CREATE INDEX referrals_retention ON referrals (status, updated_at) WHERE erased_at IS NULL;
