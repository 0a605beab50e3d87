//! The daily installment reminder: an SMS a few days before an installment falls due and one when it is
//! overdue, each at most once per installment (the `installment_reminders` log is the guard, so the job
//! may run any number of times a day). What is owed and when is the core's `plan_summary`.

use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::Row;

use super::templates;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// When reminders go out.
#[derive(Debug, Clone, Copy)]
pub struct ReminderSettings {
    /// Remind when an unpaid installment falls due within this many days (0 disables).
    pub days_before: i64,
    /// Remind when an installment has been overdue for at least this many days.
    pub days_after: i64,
    /// The hour of the day, in the operator's time zone, the job runs.
    pub hour: u32,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        ReminderSettings { days_before: 3, days_after: 1, hour: 7 }
    }
}

impl ReminderSettings {
    /// `MICROPOWER_REMINDER_DAYS_BEFORE` (3), `MICROPOWER_REMINDER_DAYS_AFTER` (1), `MICROPOWER_REMINDER_HOUR`
    /// (7, in the operator's time zone).
    pub fn from_env() -> Result<Self, String> {
        let mut s = ReminderSettings::default();
        let read = |name: &str, default: i64, max: i64| -> Result<i64, String> {
            match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=max).contains(n))
                    .ok_or_else(|| format!("{name}={v:?}: a whole number from 0 to {max}")),
            }
        };
        s.days_before = read("MICROPOWER_REMINDER_DAYS_BEFORE", s.days_before, 60)?;
        s.days_after = read("MICROPOWER_REMINDER_DAYS_AFTER", s.days_after, 365)?;
        s.hour = u32::try_from(read("MICROPOWER_REMINDER_HOUR", i64::from(s.hour), 23)?).unwrap_or(7);
        Ok(s)
    }
}

/// One installment to remind of.
struct Due {
    number: u32,
    due_date: NaiveDate,
    remaining: Decimal,
}

/// Queues the reminders due on `today`; returns how many were queued. Per plan and run, at most the oldest
/// overdue and the next upcoming installment, so a customer behind on many installments gets one message,
/// not a flood.
pub async fn run_once(state: &AppState, today: NaiveDate, settings: ReminderSettings) -> ApiResult<usize> {
    let plans = sqlx::query(
        "SELECT p.id, p.customer_id, p.serial, p.appliance, p.currency, p.body FROM plans p WHERE p.kind = 'installments'",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut queued = 0;
    for row in plans {
        let plan_id: String = row.try_get("id")?;
        let body: String = row.try_get("body")?;
        let plan: micropower_core::api::InstallmentPlan =
            serde_json::from_str(&body).map_err(|e| ApiError::internal(format!("stored plan {plan_id}: {e}")))?;
        let summary = state.core(micropower_core::calls::PlanSummary { plan }).await?;
        let open: Vec<Due> = summary
            .installments
            .iter()
            .filter(|i| i.number >= 1 && i.remaining > Decimal::ZERO)
            .map(|i| Due { number: i.number, due_date: i.due_date, remaining: i.remaining })
            .collect();
        let overdue = open.iter().find(|i| (today - i.due_date).num_days() >= settings.days_after.max(1));
        let upcoming = open.iter().find(|i| {
            let days = (i.due_date - today).num_days();
            settings.days_before > 0 && (0..=settings.days_before).contains(&days)
        });
        for (kind, due) in [("overdue", overdue), ("upcoming", upcoming)] {
            if let Some(due) = due {
                if remind(state, &row, kind, due).await? {
                    queued += 1;
                }
            }
        }
    }
    Ok(queued)
}

/// Logs the reminder and queues its SMS in one transaction; false when it was sent before.
async fn remind(state: &AppState, plan: &sqlx::any::AnyRow, kind: &str, due: &Due) -> ApiResult<bool> {
    let plan_id: String = plan.try_get("id")?;
    let customer_id: String = plan.try_get("customer_id")?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let logged = sqlx::query(
        "INSERT INTO installment_reminders (plan_id, installment, kind, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (plan_id, installment, kind) DO NOTHING",
    )
    .bind(&plan_id)
    .bind(i64::from(due.number))
    .bind(kind)
    .bind(crate::ids::now_rfc3339())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if logged != 1 {
        return Ok(false);
    }
    let Some(customer) = crate::repo::customer(&mut *tx, &customer_id).await? else { return Ok(false) };
    let Some(phone) = customer.phones.first().cloned() else {
        tx.commit().await?;
        return Ok(false);
    };
    let template = if kind == "overdue" { "reminder_overdue" } else { "reminder_upcoming" };
    let text = templates::text(&mut *tx, template).await?;
    let message = templates::render(
        &text,
        &[
            ("name", customer.name.clone()),
            ("surname", customer.surname.clone()),
            ("serial", plan.try_get::<Option<String>, _>("serial")?.unwrap_or_default()),
            ("appliance", plan.try_get::<String, _>("appliance")?),
            ("amount", due.remaining.normalize().to_string()),
            ("currency", plan.try_get::<String, _>("currency")?),
            ("due_date", due.due_date.to_string()),
            ("installment", due.number.to_string()),
        ],
    );
    let id = super::enqueue(&mut tx, "reminder", None, &customer_id, &phone, Some(&message)).await?;
    sqlx::query(
        "UPDATE installment_reminders SET notification_id = $1 WHERE plan_id = $2 AND installment = $3 AND kind = $4",
    )
    .bind(&id)
    .bind(&plan_id)
    .bind(i64::from(due.number))
    .bind(kind)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(plan = %plan_id, installment = due.number, kind, "installment reminder queued");
    Ok(true)
}

/// Runs [`run_once`] every day at `settings.hour` in the operator's time zone, for that day.
pub fn spawn_daily(state: AppState, settings: ReminderSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(until_next(settings.hour, state.timezone)).await;
            let today = state.today();
            match run_once(&state, today, settings).await {
                Ok(n) => tracing::info!(queued = n, %today, "installment reminders"),
                Err(e) => tracing::error!(error = ?e.body, "installment reminders failed"),
            }
        }
    })
}

/// Time until the next `hour`:00 in `zone` (an hour skipped by a clock change counts as the instant after it).
fn until_next(hour: u32, zone: chrono_tz::Tz) -> Duration {
    use chrono::TimeZone;
    let now = crate::ids::now();
    let at = |day: NaiveDate| {
        let local = day.and_hms_opt(hour, 0, 0)?;
        let found = zone.from_local_datetime(&local);
        found.earliest().or_else(|| zone.from_local_datetime(&(local + chrono::Duration::hours(1))).earliest())
    };
    let today = crate::ids::business_day(&now, zone);
    let next = match at(today) {
        Some(t) if t > now => Some(t),
        _ => today.succ_opt().and_then(at),
    };
    next.and_then(|t| (t.with_timezone(&chrono::Utc) - now).to_std().ok()).unwrap_or(Duration::from_secs(3600))
}
