-- Field agents (issue 18, domain.md §7b): an agent sells for cash, holds that cash until it hands it over to
-- the office, and earns a commission on each sale. `balance` (cash held: the sum of the sale and handover
-- lines) and `commission_earned` (the sum of the commission lines) are kept on the agent's row, written in the
-- transaction that writes the lines, so a sale reads the balance it checks against the risk ceiling under the
-- agent's row lock (PostgreSQL) or the single writer (SQLite) without summing the ledger.
-- Money is TEXT (exact decimal strings), as everywhere.
CREATE TABLE agents (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    phone              TEXT NOT NULL,
    area_id            TEXT NOT NULL REFERENCES areas (id),
    currency           TEXT NOT NULL,
    energy_rate        TEXT NOT NULL,
    appliance_rate     TEXT NOT NULL,
    risk_ceiling       TEXT NOT NULL,
    balance            TEXT NOT NULL,
    commission_earned  TEXT NOT NULL,
    -- The last time the agent's phone synced (issue 18's sync, not served yet): null until then.
    last_sync_at       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX agents_by_name ON agents (name, id);

-- Every line of every agent's ledger, never changed or deleted. A sale writes a `sale` and a `commission`
-- line with its payment's id; a handover one `handover` line of minus the amount, with who received it.
-- `line_no` orders the lines one write made (sale before commission).
CREATE TABLE agent_ledger (
    id               TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL REFERENCES agents (id),
    line_no          INTEGER NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('sale', 'commission', 'handover')),
    amount           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    payment_id       TEXT REFERENCES payments (id),
    received_by      TEXT,
    recorded_by_key  TEXT,
    created_at       TEXT NOT NULL,
    CHECK ((kind = 'handover') = (payment_id IS NULL))
);
CREATE INDEX agent_ledger_by_agent ON agent_ledger (agent_id, created_at, id);
CREATE INDEX agent_ledger_by_payment ON agent_ledger (payment_id);

-- An agent's API key carries its agent: role `agent` (which 0001 did not allow) with `agent_id`, and only
-- then. SQLite cannot change a CHECK constraint in place, so the table is rebuilt the same way on both
-- databases (nothing references api_keys).
CREATE TABLE api_keys_0016 (
    id            TEXT PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'agent')),
    label         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT,
    expires_at    TEXT,
    agent_id      TEXT REFERENCES agents (id),
    CHECK ((role = 'agent') = (agent_id IS NOT NULL))
);
INSERT INTO api_keys_0016 (id, key_hash, role, label, created_at, last_used_at, revoked_at, expires_at)
    SELECT id, key_hash, role, label, created_at, last_used_at, revoked_at, expires_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_0016 RENAME TO api_keys;
