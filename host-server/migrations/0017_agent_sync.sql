-- Issue 18's sync (domain.md §7b): what an agent's phone downloads and what it uploads.
--
-- The customer an agent registered stays the agent's whatever its village: `registered_by_agent` names the
-- agent whose key registered it (null for every other registration).
ALTER TABLE customers ADD COLUMN registered_by_agent TEXT REFERENCES agents (id);
CREATE INDEX customers_by_agent ON customers (registered_by_agent);

-- Incremental sync sends the rows changed since the phone's cursor. `updated_at` is the last write of a row
-- outside the payment path (an edit, an owner or tariff change), set by every such UPDATE; a row never
-- updated keeps its `created_at` here (new rows leave it null: read as COALESCE(updated_at, created_at)).
-- What a payment changes (a plan's body, a meter's access account, a credit balance) is found by the
-- payment's own `created_at` instead, so the payment path writes nothing more.
ALTER TABLE customers ADD COLUMN updated_at TEXT;
UPDATE customers SET updated_at = created_at;
ALTER TABLE devices ADD COLUMN updated_at TEXT;
UPDATE devices SET updated_at = created_at;
ALTER TABLE plans ADD COLUMN updated_at TEXT;
UPDATE plans SET updated_at = created_at;
CREATE INDEX payments_by_customer ON payments (customer_id, created_at);

-- Every item a phone uploaded (`POST /v1/agents/{id}/sync`) with the answer it got, written in the item's
-- own transaction: a re-sent item answers this stored answer and writes nothing. The primary key decides
-- between two concurrent copies of one item. `body` is the answer (applied) or the error body (refused), as
-- JSON text.
CREATE TABLE agent_sync_items (
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    client_tx_id  TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('sale', 'registration')),
    status        TEXT NOT NULL CHECK (status IN ('applied', 'refused')),
    http_status   INTEGER NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (agent_id, client_tx_id)
);
