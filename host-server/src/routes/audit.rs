//! `GET /v1/audit` (admin): the audit log merged with the payment journal, newest first.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::audit::{self, Action, AuditEntry, AuditFilter};
use crate::storage::page::{Page, PageQuery};

/// Filters of `GET /v1/audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    entity_kind: Option<String>,
    entity_id: Option<String>,
    action: Option<String>,
    /// A business day (YYYY-MM-DD, operator's time zone) or an RFC 3339 instant: entries at or after it.
    from: Option<String>,
    /// A business day (included) or an instant (excluded).
    to: Option<String>,
}

/// Where a `from` or `to` bound lies, as the RFC 3339 UTC text entries are written with. A day as `to`
/// includes that day, as in `GET /v1/payments`.
fn bound(state: &AppState, field: &str, text: &str, end: bool) -> ApiResult<String> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end { day.succ_opt().ok_or_else(|| ApiError::unprocessable(field, "no such day"))? } else { day };
        return Ok(crate::ids::day_start(day, state.timezone));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true))
        .map_err(|_| ApiError::unprocessable(field, "a date YYYY-MM-DD or an RFC 3339 instant is required"))
}

fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `GET /v1/audit?entity_kind=&entity_id=&action=&from=&to=`
pub async fn list(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let page = page.request("audit")?;
    let action = match given(q.action) {
        None => None,
        Some(text) => Some(Action::parse(&text).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            ApiError::unprocessable("action", format!("action is one of {}", names.join(", ")))
        })?),
    };
    let since = given(q.from).map(|t| bound(&state, "from", &t, false)).transpose()?;
    let until = given(q.to).map(|t| bound(&state, "to", &t, true)).transpose()?;
    if let (Some(since), Some(until)) = (&since, &until) {
        if until < since {
            return Err(ApiError::unprocessable("to", "to is before from"));
        }
    }
    let filter = AuditFilter { entity_kind: given(q.entity_kind), entity_id: given(q.entity_id), action, since, until };
    Ok(Json(audit::entries(&state.db.pool, &filter, &page).await?))
}
