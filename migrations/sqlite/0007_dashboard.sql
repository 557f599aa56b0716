-- The operations dashboard: the referral list pages by key, newest first by
-- (received_at, id), filtered by status, by a partner as sender or receiver, or by several
-- (a sector's partners). Each filter walks one index in list order and stops after a page
-- (see src/store/sqlite/dashboard.rs), so a page costs the same on a million referrals as
-- on a hundred. The older indexes ended at received_at; ending them at id too serves the
-- tie-break without a sort. Numbered 0007 to leave 0006 to other work of the same step.
DROP INDEX referrals_by_status;
DROP INDEX referrals_by_received;
DROP INDEX referrals_by_receiver;

CREATE INDEX referrals_by_received ON referrals (received_at, id);
CREATE INDEX referrals_by_status ON referrals (status, received_at, id);
CREATE INDEX referrals_by_sender ON referrals (sender, received_at, id);
CREATE INDEX referrals_by_sender_status ON referrals (sender, status, received_at, id);
CREATE INDEX referrals_by_receiver ON referrals (receiver, received_at, id);
CREATE INDEX referrals_by_receiver_status ON referrals (receiver, status, received_at, id);

-- Deliveries per partner over the overview's period.
CREATE INDEX outbox_delivered ON outbox (delivered_at, recipient) WHERE state = 'delivered';
