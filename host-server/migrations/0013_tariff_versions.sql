-- Tariffs are versioned (issue 16): an operator changes a price from a business day on, and a payment is
-- priced by the version in force on its business day, the latest `effective_from` on or before it. The
-- tariff's own body is its first version, in force before every row here. Rows are only added: old prices
-- stay readable, and a version cannot start before a payment the version it replaces already priced.
CREATE TABLE tariff_versions (
    tariff_id      TEXT NOT NULL REFERENCES tariffs (id),
    -- YYYY-MM-DD, a business day in the operator's time zone: text order is date order.
    effective_from TEXT NOT NULL,
    body           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tariff_id, effective_from)
);
