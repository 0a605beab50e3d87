-- Payments by plan id (issue 14: a plan sold without a device is paid directly, domain.md §5). A payment
-- keeps the plan it named; `serial` stays NOT NULL and holds '' for a payment to a device-less plan, since
-- SQLite cannot drop a NOT NULL without rebuilding the table (and its referencing tables) in this migration,
-- which must run unchanged on both databases.
ALTER TABLE payments ADD COLUMN plan_id TEXT;
ALTER TABLE refused_payments ADD COLUMN plan_id TEXT;
CREATE INDEX payments_by_plan ON payments (plan_id);
