-- SQLite's 0013 for PostgreSQL. The per-resident audit index holds only the events a
-- processing log finds by the pseudonym itself: those about no referral (consents recorded
-- and revoked, processing logs read), and each referral's intake (`message_received`). Every
-- other event about a referral carries the resident of that referral's intake (or none), and
-- the processing log finds it through the referral (`audit_by_referral`); indexing it by
-- resident as well made each commit write one leaf page of this index per such event.
DROP INDEX audit_by_resident;
CREATE INDEX audit_by_resident ON audit_events (resident, seq)
WHERE resident IS NOT NULL AND (referral_id IS NULL OR action = 'message_received');
