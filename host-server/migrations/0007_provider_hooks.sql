-- Hooks and providers (issue 19): Daraja's require-validation switch, a source-address allowlist, removal,
-- and hook paths that can be rotated with a grace period. Same conventions as 0001: TEXT instants; a flag is
-- a BIGINT 0 or 1 (the one integer type both databases read back the same way through sqlx's Any driver).

-- A Daraja confirmation with no accepted validation before it is a conflict, not a credit (0: off).
ALTER TABLE providers ADD COLUMN require_validation BIGINT NOT NULL DEFAULT 0 CHECK (require_validation IN (0, 1));
-- The networks a provider's deliveries may come from, a JSON array of CIDR blocks; NULL: from anywhere.
ALTER TABLE providers ADD COLUMN allowed_sources TEXT;
-- A removed provider's hooks answer 404; it stays listed (and its name taken) so that its history, which
-- names it, keeps a meaning.
ALTER TABLE providers ADD COLUMN removed_at TEXT;

-- Every hook path a provider has had, by the SHA-256 of its secret segment. The current one has no expiry;
-- a rotation gives the previous ones an expiry (the grace period) after which they answer 404.
-- `providers.path_hash` keeps the current one, as before.
CREATE TABLE provider_hook_paths (
    path_hash    TEXT PRIMARY KEY,
    provider_id  TEXT NOT NULL REFERENCES providers (id),
    expires_at   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX provider_hook_paths_by_provider ON provider_hook_paths (provider_id);
INSERT INTO provider_hook_paths (path_hash, provider_id, expires_at, created_at)
    SELECT path_hash, id, NULL, created_at FROM providers;
