-- A plan's version (issue 14): every write of a plan's body adds one, so the API can show which state of a
-- plan an answer describes, and the order in which payments and edits changed it.
ALTER TABLE plans ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
