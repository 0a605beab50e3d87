-- The audit log (issue 19, "Keys and roles"): every write that moves money or changes a secret, with who made
-- it, when, and the entity before and after, for admins to read (GET /v1/audit). Written in the transaction of
-- the write it records, so a write that rolls back leaves no row and a row that cannot be written fails the
-- write. Payments are not repeated here: the payments table is already an immutable journal of who recorded
-- what, and GET /v1/audit merges it with these rows.
-- `actor_kind` is `api_key` (actor_id: the key's id; its label is read from api_keys), `provider` (a hook's
-- provider) or `system` (the server itself or a command line tool, named by actor_label).
-- `before_json` and `after_json` are JSON of the server's own audit structs, never a secret: provider secrets,
-- API keys, hook paths and OpenPAYGO keys are left out of them.
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    at           TEXT NOT NULL,
    actor_kind   TEXT NOT NULL CHECK (actor_kind IN ('api_key', 'provider', 'system')),
    actor_id     TEXT,
    actor_label  TEXT,
    action       TEXT NOT NULL,
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    before_json  TEXT,
    after_json   TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_entity ON audit_log (entity_kind, entity_id, at);
