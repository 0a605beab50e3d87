-- Payment providers (issue #5): provider configurations and their hooks, every delivery kept raw, Daraja
-- validations linked to confirmations, conflicts for operators, the customer SMS outbox, operator-editable
-- templates and the once-per-installment reminder log. Same conventions as 0001: TEXT money, TEXT instants.

-- One configured provider. The hook path's secret segment is stored hashed (like API keys: it is shown once);
-- a signing secret is sealed with the server's key (like OpenPAYGO keys) and never returned.
CREATE TABLE providers (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('daraja_c2b', 'wave', 'generic_hmac')),
    name            TEXT NOT NULL UNIQUE,
    currency        TEXT NOT NULL,
    shortcode       TEXT,
    secret_sealed   TEXT,
    path_hash       TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL
);

-- Every delivery that reached a provider's hook, exactly as it arrived, written before the answer.
-- `body` is the UTF-8 text when the bytes are UTF-8 without NUL, otherwise base64 (`body_encoding`).
CREATE TABLE hook_events (
    id              TEXT PRIMARY KEY,
    provider_id     TEXT NOT NULL REFERENCES providers (id),
    hook            TEXT NOT NULL,
    event_key       TEXT,
    body            TEXT NOT NULL,
    body_encoding   TEXT NOT NULL CHECK (body_encoding IN ('utf8', 'base64')),
    body_sha256     TEXT NOT NULL,
    signature       TEXT,
    outcome         TEXT NOT NULL,
    detail          TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX hook_events_by_key ON hook_events (provider_id, event_key);

-- What a provider announced before the money moved (Daraja validation, generic validate): the confirmation
-- is checked against it. `id` is the ThirdPartyTransID we answer.
CREATE TABLE provider_validations (
    id              TEXT PRIMARY KEY,
    provider_id     TEXT NOT NULL REFERENCES providers (id),
    provider_tx_id  TEXT NOT NULL,
    serial_raw      TEXT NOT NULL,
    amount          TEXT,
    currency        TEXT NOT NULL,
    result_code     TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX provider_validations_by_tx ON provider_validations (provider_id, provider_tx_id);

-- A delivery whose money does not agree with what was announced (or with the provider's configuration):
-- nothing is credited; an operator decides.
CREATE TABLE payment_conflicts (
    id              TEXT PRIMARY KEY,
    provider_id     TEXT NOT NULL REFERENCES providers (id),
    provider_tx_id  TEXT NOT NULL,
    hook_event_id   TEXT NOT NULL,
    reason          TEXT NOT NULL,
    announced       TEXT,
    received        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    resolution      TEXT CHECK (resolution IN ('credited', 'dismissed')),
    payment_id      TEXT,
    resolved_at     TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (provider_id, provider_tx_id)
);

-- The customer SMS outbox, written in the payment's transaction (or the reminder's). `message` is null for
-- a payment confirmation: it is rendered from the payment at delivery, when its token is known.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('payment', 'reminder')),
    payment_id      TEXT,
    customer_id     TEXT,
    phone           TEXT NOT NULL,
    message         TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt    TEXT NOT NULL,
    last_error      TEXT,
    sent_at         TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_attempt);

-- Operator-edited SMS texts; a template without a row uses the built-in default (MPM's texts).
CREATE TABLE sms_templates (
    name            TEXT PRIMARY KEY,
    body            TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- One reminder per installment and kind (before due, overdue), whatever how often the job runs.
CREATE TABLE installment_reminders (
    plan_id          TEXT NOT NULL REFERENCES plans (id),
    installment      BIGINT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('upcoming', 'overdue')),
    notification_id  TEXT,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (plan_id, installment, kind)
);
