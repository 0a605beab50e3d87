//! Identifiers and the server's clock (the core never reads a clock; the server does, here only).

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

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

/// The business day of an instant (domain.md §7b): its date in the operator's time zone, whatever offset
/// it was written with. 21:30 UTC is already the next day in Dar es Salaam.
pub fn business_day<Z: TimeZone>(at: &DateTime<Z>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// An instant on `day` in the operator's time zone, for a record the server dates itself (a back-dated
/// sale's down payment): noon, which exists on every day in every zone.
pub fn instant_on(day: NaiveDate, zone: Tz) -> String {
    let noon = day.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN));
    zone.from_local_datetime(&noon)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| noon.and_utc())
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The first instant of `day` in the operator's time zone, as RFC 3339 UTC with milliseconds (how the
/// server writes `created_at`, so instants compare as text). A day that starts inside a DST gap starts at
/// the gap's end.
pub fn day_start(day: NaiveDate, zone: Tz) -> String {
    let midnight = day.and_time(NaiveTime::MIN);
    let start = (0..=4)
        .find_map(|hour| zone.from_local_datetime(&(midnight + chrono::Duration::hours(hour))).earliest())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc());
    start.to_rfc3339_opts(SecondsFormat::Millis, true)
}
