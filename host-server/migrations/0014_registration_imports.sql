-- Bulk registration (issue 17 §1): what an import registered each serial with, so that uploading the same
-- rows again answers `unchanged` instead of a duplicate, and a row that says something else about a serial
-- already imported is refused instead of overwriting it. `fingerprint` is the SHA-256 of the row's values as
-- read (the OpenPAYGO key among them: a 128-bit secret, which its hash does not give away).
CREATE TABLE registration_imports (
    serial      TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
