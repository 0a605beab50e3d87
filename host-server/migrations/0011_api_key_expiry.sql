-- API keys may expire (issue 19): a key for a contractor or a one-off import stops working by itself.
-- RFC 3339 UTC with milliseconds, like every stored instant, so text order is time order. NULL: never.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
