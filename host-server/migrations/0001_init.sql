-- The first schema. It runs unchanged on SQLite and PostgreSQL: money and energy are TEXT holding canonical
-- decimal strings (exact, never REAL), dates are TEXT (YYYY-MM-DD), instants TEXT (RFC 3339), ids TEXT.
-- Structured values the core owns (tariffs, plans, OpenPAYGO settings) are stored as the core's JSON.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE clusters (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE areas (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    cluster_id  TEXT NOT NULL REFERENCES clusters (id),
    created_at  TEXT NOT NULL
);

CREATE TABLE villages (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    area_id     TEXT NOT NULL REFERENCES areas (id),
    created_at  TEXT NOT NULL
);

CREATE TABLE manufacturers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    device_kinds  TEXT NOT NULL,
    token_scheme  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE tariffs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    surname      TEXT NOT NULL,
    village_id   TEXT NOT NULL REFERENCES villages (id),
    body         TEXT NOT NULL,
    search       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- One row per phone number: the exact-match lookup that finds an existing customer at registration.
CREATE TABLE customer_phones (
    phone        TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id)
);

CREATE TABLE plans (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    serial       TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('installments', 'eaas')),
    appliance    TEXT NOT NULL,
    currency     TEXT NOT NULL,
    body         TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX plans_by_customer ON plans (customer_id, seq);

CREATE TABLE devices (
    serial                  TEXT PRIMARY KEY,
    serial_raw              TEXT NOT NULL,
    kind                    TEXT NOT NULL,
    manufacturer_id         TEXT NOT NULL REFERENCES manufacturers (id),
    token_scheme            TEXT NOT NULL,
    tariff_id               TEXT REFERENCES tariffs (id),
    plan_id                 TEXT REFERENCES plans (id),
    owner_id                TEXT REFERENCES customers (id),
    registered_on           TEXT NOT NULL,
    access_accrued_periods  BIGINT NOT NULL DEFAULT 0,
    access_debt             TEXT NOT NULL DEFAULT '0',
    -- OpenPAYGO settings without the key, and the key sealed with AES-GCM (never returned by the API).
    openpaygo               TEXT,
    openpaygo_key_sealed    TEXT,
    token_count             BIGINT,
    created_at              TEXT NOT NULL
);
CREATE INDEX devices_by_owner ON devices (owner_id);

CREATE TABLE credit_balances (
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    currency     TEXT NOT NULL,
    balance      TEXT NOT NULL,
    PRIMARY KEY (customer_id, currency)
);

-- Every payment that was applied. The unique key makes a provider's retry a read of the stored answer.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    provider_tx_id  TEXT NOT NULL,
    serial          TEXT NOT NULL,
    customer_id     TEXT,
    amount          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    payer_phone     TEXT,
    status          TEXT NOT NULL,
    response        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (provider, provider_tx_id)
);
CREATE INDEX payments_by_serial ON payments (serial, created_at);

-- The journal: where each payment's money went. Credit movements are lines too (kind credit / credit_used).
CREATE TABLE allocations (
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    line_no      BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    amount       TEXT NOT NULL,
    plan_id      TEXT,
    installment  BIGINT,
    quantity     TEXT,
    PRIMARY KEY (payment_id, line_no)
);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    serial        TEXT NOT NULL REFERENCES devices (serial),
    payment_id    TEXT REFERENCES payments (id),
    operator_key  TEXT,
    kind          TEXT NOT NULL,
    unit          TEXT,
    quantity      TEXT,
    code          TEXT,
    count         BIGINT,
    status        TEXT NOT NULL CHECK (status IN ('issued', 'pending', 'failed')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_attempt  TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX tokens_by_serial ON tokens (serial, created_at);
CREATE INDEX tokens_pending ON tokens (status, next_attempt);

-- Payments refused before money moved (unknown serial, currency mismatch, …): kept for operators.
CREATE TABLE refused_payments (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    provider_tx_id  TEXT NOT NULL,
    serial          TEXT NOT NULL,
    amount          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    code            TEXT NOT NULL,
    message         TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- Money that arrived after the fact for a serial no device carries: never dropped.
CREATE TABLE unmatched_payments (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    provider_tx_id  TEXT NOT NULL,
    serial          TEXT NOT NULL,
    amount          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    payer_phone     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('open', 'assigned')),
    payment_id      TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (provider, provider_tx_id)
);
