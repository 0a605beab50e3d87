-- Migrated plans and balances (issue 17 §1): what a customer had already paid on a plan (`plan_paid`), or
-- held as credit (`credit`), before the operator moved to micropower. A bulk import applies it to the plan's
-- schedule or to the credit balance and keeps it here, not as a payment: it is money of days before
-- micropower, so no revenue report counts it on the day of the import.
CREATE TABLE opening_balances (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    plan_id      TEXT REFERENCES plans (id),
    kind         TEXT NOT NULL CHECK (kind IN ('plan_paid', 'credit')),
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    -- The business day the balance stood at: the registration's `registered_on`.
    recorded_on  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX opening_balances_by_customer ON opening_balances (customer_id);
