-- The key that seals secrets at rest (OpenPAYGO keys, provider signing secrets): its id and its key-check
-- value (an HMAC of a fixed label under the key), stored at first start. A server started with another key
-- or without its key file sees the mismatch and refuses to start, instead of sealing new secrets under a
-- new key and failing later on every old one. One row; `rotate-secret-key` replaces it.
CREATE TABLE sealing_key (
    singleton    BIGINT PRIMARY KEY CHECK (singleton = 1),
    key_id       TEXT NOT NULL,
    check_value  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
