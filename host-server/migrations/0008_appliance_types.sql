-- The appliance catalog (issue 16, MPM's "Appliance" menu): what an operator sells, at what price, on which
-- default terms. A sale that names a type starts from these terms; the plan keeps the type it was sold from,
-- but copies the terms, so editing a type never changes a plan already sold.
-- `default_terms` is JSON: `{down_payment, installments, period}` or `{eaas: {price_per_day, minimum_payable}}`,
-- money as decimal strings like every other money column.
CREATE TABLE appliance_types (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('solar_home_system', 'e_bike', 'other')),
    price          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    default_terms  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

-- The type a plan was sold from; null for a plan sold with its terms typed in.
ALTER TABLE plans ADD COLUMN appliance_type_id TEXT REFERENCES appliance_types (id);

-- Also issue 16 ("every money-moving write records the API key that made it"), in this migration because it
-- is the branch's one migration number: the key that recorded a payment (POST /v1/payments, a sale's down
-- payment, an unmatched payment's assignment, a conflict credited by an operator). Null for a provider's hook
-- delivery (the payment's provider names it) and for payments recorded before this column.
ALTER TABLE payments ADD COLUMN recorded_by_key TEXT;
