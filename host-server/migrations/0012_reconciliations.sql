-- Statement reconciliation (issue 17 §2): a provider's statement set against the payments the server recorded
-- under that provider, and what applying its missing lines did. Same conventions as 0001: TEXT money and
-- instants, BIGINT integers (the one integer type both databases read back alike through sqlx's Any driver).

-- One uploaded statement. The file itself is not kept, its SHA-256 is: the operator keeps the file, and the
-- hash proves which file a reconciliation was made from. `not_on_statement` is the JSON list of the server's
-- payments of that provider and period that the statement does not show (as found at upload).
CREATE TABLE reconciliations (
    id                TEXT PRIMARY KEY,
    provider_id       TEXT NOT NULL REFERENCES providers (id),
    provider          TEXT NOT NULL,
    format            TEXT NOT NULL CHECK (format IN ('mpesa_portal', 'generic')),
    file_sha256       TEXT NOT NULL,
    file_name         TEXT,
    period_from       TEXT,
    period_to         TEXT,
    line_count        BIGINT NOT NULL,
    recorded_count    BIGINT NOT NULL,
    missing_count     BIGINT NOT NULL,
    mismatch_count    BIGINT NOT NULL,
    not_on_statement  TEXT NOT NULL,
    created_by_key    TEXT,
    created_at        TEXT NOT NULL,
    -- The first apply; every later one is in the audit log.
    applied_at        TEXT,
    applied_by_key    TEXT
);
CREATE INDEX reconciliations_by_time ON reconciliations (created_at, id);

-- One transaction line of a statement as classified at upload (`status`), and what an apply did with it
-- (`outcome`, set once: the first apply that credited it wins over a concurrent one that found it credited).
CREATE TABLE reconciliation_lines (
    reconciliation_id  TEXT NOT NULL REFERENCES reconciliations (id),
    line               BIGINT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('recorded', 'missing', 'mismatch', 'unmatched', 'not_completed', 'not_paid_in')),
    provider_tx_id     TEXT NOT NULL,
    amount             TEXT,
    currency           TEXT,
    account            TEXT,
    occurred_at        TEXT,
    payer              TEXT,
    phone              TEXT,
    detail             TEXT,
    payment_id         TEXT,
    server_amount      TEXT,
    server_account     TEXT,
    outcome            TEXT CHECK (outcome IN ('credited', 'duplicate', 'unmatched', 'conflict')),
    outcome_payment_id TEXT,
    unmatched_id       TEXT,
    outcome_detail     TEXT,
    applied_at         TEXT,
    PRIMARY KEY (reconciliation_id, line)
);
