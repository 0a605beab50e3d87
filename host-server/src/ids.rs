//! Identifiers and the server's clock (the core never reads a clock; the server does, here only).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// A new time-ordered unique id (UUID v7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, in UTC.
pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

/// Now as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Today's date in UTC: the business day of a payment received now.
pub fn today() -> NaiveDate {
    now().date_naive()
}
