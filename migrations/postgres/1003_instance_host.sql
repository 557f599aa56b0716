-- The machine an instance runs on, for /readyz and the dashboard's list of instances
-- (PostgreSQL only). Registrations made before it read as an empty host until their next
-- heartbeat.
ALTER TABLE instances ADD COLUMN host text NOT NULL DEFAULT '';
