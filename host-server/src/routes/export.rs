//! `GET /v1/export`: every record as JSON Lines, one [`ExportLine`] per line — the input of the Python
//! package's `load_export`, which reads the same type. The debt reports' inputs are the server's own
//! (`installment`, `access_rate`), so an analyst's reports equal the server's.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use micropower_core::export::{ExportLine, Meta, EXPORT_VERSION};

use crate::error::{ApiError, ApiResult};
use crate::records;
use crate::state::AppState;

/// Appends one line.
fn push(out: &mut Vec<u8>, line: &ExportLine) -> ApiResult<()> {
    serde_json::to_writer(&mut *out, line).map_err(ApiError::internal)?;
    out.push(b'\n');
    Ok(())
}

/// The whole export, in the order of [`ExportLine::TYPES`].
pub async fn export(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let pool = &state.db.pool;
    let mut out = Vec::new();
    let meta = Meta { version: EXPORT_VERSION, exported_at: Some(crate::ids::now_rfc3339()) };
    push(&mut out, &ExportLine::Meta(meta))?;
    for line in records::places(pool).await? {
        push(&mut out, &line)?;
    }
    for customer in records::customers(pool).await? {
        push(&mut out, &ExportLine::Customer(customer))?;
    }
    for tariff in records::tariffs(pool).await? {
        push(&mut out, &ExportLine::Tariff(tariff))?;
    }
    let locations = records::customer_locations(pool).await?;
    for device in records::devices(pool, &locations).await? {
        push(&mut out, &ExportLine::Device(device))?;
    }
    for plan in records::plans(pool).await? {
        push(&mut out, &ExportLine::Plan(plan))?;
    }
    for installment in records::installments(pool, &locations).await? {
        push(&mut out, &ExportLine::Installment(installment))?;
    }
    // Each meter's access-rate account as stored; the reports accrue it up to their own day.
    for account in records::access_rates(pool, &locations).await? {
        push(&mut out, &ExportLine::AccessRate(account))?;
    }
    for payment in records::payments(pool, &locations, state.timezone).await? {
        push(&mut out, &ExportLine::Payment(payment))?;
    }
    for token in records::tokens(pool).await? {
        push(&mut out, &ExportLine::Token(token))?;
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out))
}
