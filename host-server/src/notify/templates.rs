//! Customer SMS texts: operator-editable templates with `{placeholder}`s, MPM's texts as the defaults.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{Any, Executor, Row};

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};

/// `(name, default text, placeholders it may use)`.
pub const TEMPLATES: &[(&str, &str, &[&str])] = &[
    (
        "meter_token",
        "Dear {name} {surname}, your transaction is confirmed. Meter Serial: {serial}. Token: {token}, Energy: {kwh} kWh.",
        &["name", "surname", "serial", "token", "kwh", "amount", "currency"],
    ),
    (
        "device_token",
        "Dear {name} {surname}, your transaction is confirmed. Device Serial: {serial}. Token: {token}, Duration: {days} days. Amount: {amount}.",
        &["name", "surname", "serial", "token", "days", "amount", "currency"],
    ),
    (
        "unlock",
        "Dear {name} {surname}, your transaction is confirmed. Device Serial: {serial}. Token: {token}. Your device is paid off and unlocked. Amount: {amount}.",
        &["name", "surname", "serial", "token", "amount", "currency"],
    ),
    (
        "no_token",
        "Dear {name} {surname}, your transaction is confirmed. Serial: {serial}. Amount: {amount}.",
        &["name", "surname", "serial", "amount", "currency"],
    ),
    (
        "reminder_upcoming",
        "Dear {name} {surname}, your installment of {amount} {currency} for {appliance} is due on {due_date}.",
        &["name", "surname", "serial", "appliance", "amount", "currency", "due_date", "installment"],
    ),
    (
        "reminder_overdue",
        "Dear {name} {surname}, your installment of {amount} {currency} for {appliance} was due on {due_date} and is not paid yet.",
        &["name", "surname", "serial", "appliance", "amount", "currency", "due_date", "installment"],
    ),
];

/// The longest template accepted (a few SMS segments).
const MAX_LEN: usize = 480;

fn known(name: &str) -> Option<&'static (&'static str, &'static str, &'static [&'static str])> {
    TEMPLATES.iter().find(|(n, _, _)| *n == name)
}

/// The `{word}` placeholders of a text.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = rest.get(start + 1..).unwrap_or_default();
        match after.find('}') {
            Some(end) => {
                out.push(after.get(..end).unwrap_or_default());
                rest = after.get(end + 1..).unwrap_or_default();
            }
            None => break,
        }
    }
    out
}

/// Fills `{key}` with each value; a placeholder without a value is left as written.
pub fn render(text: &str, vars: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (key, value) in vars {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

/// The text of a template: the operator's, else the default.
pub async fn text<'e, E: Executor<'e, Database = Any>>(exec: E, name: &str) -> ApiResult<String> {
    let row = sqlx::query("SELECT body FROM sms_templates WHERE name = $1").bind(name).fetch_optional(exec).await?;
    match row {
        Some(r) => Ok(r.try_get("body")?),
        None => known(name)
            .map(|(_, default, _)| (*default).to_owned())
            .ok_or_else(|| ApiError::internal(format!("no SMS template {name:?}"))),
    }
}

/// `GET /v1/sms-templates`: every template with its current text, default and placeholders.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    for (name, default, vars) in TEMPLATES {
        let current = text(&state.db.pool, name).await?;
        out.push(json!({"name": name, "text": current, "default": default, "customised": current != *default, "placeholders": vars}));
    }
    Ok(Json(json!({"templates": out})))
}

/// The body of `PUT /v1/sms-templates/{name}`; `null` text restores the default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    text: Option<String>,
}

/// `PUT /v1/sms-templates/{name}`: sets (or, with `"text": null`, resets) a template. Placeholders must be
/// the template's own, so a typo is refused instead of reaching customers as `{nmae}`.
pub async fn put(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<crate::auth::Caller>,
    Path(name): Path<String>,
    Body(body): Body<TemplateIn>,
) -> ApiResult<Json<Value>> {
    let (name, default, vars) = known(&name).ok_or_else(|| ApiError::not_found("SMS template", &name))?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let before = text(&mut *tx, name).await?;
    match &body.text {
        None => {
            sqlx::query("DELETE FROM sms_templates WHERE name = $1").bind(*name).execute(&mut *tx).await?;
        }
        Some(text) => {
            if text.trim().is_empty() || text.chars().count() > MAX_LEN {
                return Err(ApiError::invalid("text", format!("1 to {MAX_LEN} characters are required")));
            }
            if let Some(bad) = placeholders(text).into_iter().find(|p| !vars.contains(p)) {
                return Err(ApiError::invalid(
                    "text",
                    format!("unknown placeholder {{{bad}}}; this template has {vars:?}"),
                ));
            }
            sqlx::query(
                "INSERT INTO sms_templates (name, body, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            )
            .bind(*name)
            .bind(text)
            .bind(crate::ids::now_rfc3339())
            .execute(&mut *tx)
            .await?;
        }
    }
    let current = body.text.unwrap_or_else(|| (*default).to_owned());
    let state_of = |text: &str| TemplateAudit { text: text.to_owned(), customised: text != *default };
    let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::SmsTemplateChanged, "sms_template", *name)
        .before(&state_of(&before))?
        .after(&state_of(&current))?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(json!({"name": name, "text": current, "default": default, "placeholders": vars})))
}

/// A template as the audit log keeps it.
#[derive(serde::Serialize)]
struct TemplateAudit {
    text: String,
    customised: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_only_their_own_placeholders() {
        for (name, text, vars) in TEMPLATES {
            for p in placeholders(text) {
                assert!(vars.contains(&p), "{name}: {{{p}}}");
            }
        }
        let text = render("Dear {name}, {kwh} kWh {nope}", &[("name", "Amina".into()), ("kwh", "1.4".into())]);
        assert_eq!(text, "Dear Amina, 1.4 kWh {nope}");
    }
}
