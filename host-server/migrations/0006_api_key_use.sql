-- API keys an admin can list and revoke (issue 16): when each was last used, and when it was revoked. A
-- revoked key is kept, not deleted, so the records that name the key that made them keep a label to show.
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
