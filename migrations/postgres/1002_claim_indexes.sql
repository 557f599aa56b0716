-- Claims and mailbox offers look at pending rows only (PostgreSQL only; the outbox keeps its
-- delivered rows, so it grows without bound while its pending part stays small).
--
-- The candidates, oldest first: the pending part of the outbox in id order, so a claim stops
-- after the rows it takes instead of reading (or sorting) every row it passes.
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';

-- "No older pending row for the same referral and recipient", asked once per candidate: one
-- probe into this index. (Without it, and before statistics exist, the planner may answer it
-- from outbox_by_recipient, reading every pending row of the recipient for each candidate.)
CREATE INDEX outbox_pending_by_referral ON outbox (referral_id, recipient, id)
    WHERE state = 'pending';
