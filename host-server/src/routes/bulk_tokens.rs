//! `POST /v1/tokens/bulk` (admin): one operator token for many devices at once — e.g. seven free days for every
//! customer of a mini-grid after an outage (MPM issue #1456). All or nothing: one device that cannot take the
//! token and none gets one. Each token is made and recorded exactly as a single operator token, and the
//! batch's reason is kept in every token's audit entry.
//!
//! The serials come as JSON (`{"serials": [...], "kind", "days"?, "reason"}`) or as a spreadsheet column
//! (`Content-Type: text/csv` or the multipart form field `file`, a `serial` column; `?kind=&days=&reason=`). The answer is a CSV of `serial,
//! code, count`, in the order given, to hand to the field team.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::operator_tokens::{self, Batch, OperatorToken, TokenOrder};
use crate::repo;
use crate::state::AppState;
use crate::upload::Upload;

/// The most devices one request may name: a batch runs in one transaction that holds the write lock.
const MOST_SERIALS: usize = 10_000;
/// The longest reason kept.
const LONGEST_REASON: usize = 500;
/// The most problems an answer lists; the message says how many there were.
const MOST_PROBLEMS: usize = 50;

/// The JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkIn {
    serials: Vec<String>,
    kind: String,
    #[serde(default)]
    days: Option<String>,
    reason: String,
}

/// The query of a CSV upload.
#[derive(Deserialize)]
pub struct BulkQuery {
    kind: Option<String>,
    days: Option<String>,
    reason: Option<String>,
}

/// One serial as given: where it was (the spreadsheet's row, header = 1; or the list's position from 1).
struct Listed {
    row: usize,
    serial: String,
}

/// Why one listed serial cannot take the token.
#[derive(Debug, Serialize)]
struct Problem {
    row: usize,
    serial: String,
    code: &'static str,
    message: String,
}

/// `POST /v1/tokens/bulk`
pub async fn bulk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<BulkQuery>,
    upload: Upload,
) -> ApiResult<Response> {
    let (listed, kind, days, reason) = if upload.is_csv() {
        let kind = query.kind.ok_or_else(|| ApiError::invalid("kind", "?kind= is required with a CSV body"))?;
        let reason = query.reason.ok_or_else(|| ApiError::invalid("reason", "?reason= is required"))?;
        (serials_of_csv(&upload.bytes)?, kind, query.days, reason)
    } else {
        let body: BulkIn = crate::extract::parse(&upload.bytes)?;
        let listed = body.serials.into_iter().enumerate().map(|(i, serial)| Listed { row: i + 1, serial }).collect();
        (listed, body.kind, body.days, body.reason)
    };
    let order = TokenOrder::parse(&kind, days.as_deref(), caller.role)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > LONGEST_REASON {
        return Err(ApiError::invalid(
            "reason",
            format!("why these tokens are made, 1 to {LONGEST_REASON} characters"),
        ));
    }
    if listed.is_empty() || listed.len() > MOST_SERIALS {
        return Err(ApiError::invalid("serials", format!("1 to {MOST_SERIALS} serials")));
    }
    let (canonical, mut problems) = canonical_serials(&state, listed).await;

    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let mut devices = Vec::with_capacity(canonical.len());
    for item in canonical {
        match repo::device(&mut *tx, &item.serial, state.db.for_update()).await? {
            None => problems.push(problem(&item, "unknown_serial", "no device has this serial")),
            Some(device) if device.openpaygo.is_none() => {
                problems.push(problem(&item, "not_openpaygo", "operator tokens are made for OpenPAYGO devices only"))
            }
            Some(device) => devices.push(device),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.row);
        return Err(refusal(problems));
    }
    let batch_id = crate::ids::new_id();
    let batch = Batch { id: &batch_id, reason };
    let mut made = Vec::with_capacity(devices.len());
    for device in &devices {
        made.push(operator_tokens::issue(&state, &mut tx, device, &order, &caller.key_id, Some(batch)).await?);
    }
    tx.commit().await?;
    tracing::info!(batch = %batch_id, tokens = made.len(), kind = ?order.kind(), "bulk operator tokens made");
    csv_answer(&batch_id, &made)
}

/// The `serial` column of a spreadsheet export: the header matched whatever its case and spaces, a UTF-8 BOM
/// and `;` as the separator (Excel in much of the world) accepted, blank rows skipped.
fn serials_of_csv(body: &[u8]) -> ApiResult<Vec<Listed>> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid("body", "the CSV must be UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text.lines().next().unwrap_or("");
    let separator = if header_line.contains(';') && !header_line.contains(',') { b';' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(separator).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| ApiError::invalid("body", format!("not a CSV file: {e}")))?;
    let column = headers
        .iter()
        .position(|h| h.split_whitespace().collect::<String>().eq_ignore_ascii_case("serial"))
        .ok_or_else(|| ApiError::invalid("body", "the CSV needs a `serial` column"))?;
    let mut listed = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ApiError::invalid("body", format!("not a CSV file: {e}")))?;
        let row = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        let serial = record.get(column).unwrap_or("").to_owned();
        if record.iter().all(str::is_empty) {
            continue;
        }
        listed.push(Listed { row, serial });
    }
    Ok(listed)
}

/// Each serial in its canonical form (the core's), and the problems of those that have none or repeat one
/// listed before.
async fn canonical_serials(state: &AppState, listed: Vec<Listed>) -> (Vec<Listed>, Vec<Problem>) {
    let mut seen = std::collections::HashMap::new();
    let mut canonical = Vec::with_capacity(listed.len());
    let mut problems = Vec::new();
    for item in listed {
        match state.normalize_serial(&item.serial).await {
            Err(e) => problems.push(problem(&item, "invalid_serial", e.message().to_owned())),
            Ok(serial) => match seen.get(&serial) {
                Some(first) => {
                    problems.push(problem(&item, "listed_twice", format!("the same device as row {first}")));
                }
                None => {
                    seen.insert(serial.clone(), item.row);
                    canonical.push(Listed { row: item.row, serial });
                }
            },
        }
    }
    (canonical, problems)
}

fn problem(item: &Listed, code: &'static str, message: impl Into<String>) -> Problem {
    Problem { row: item.row, serial: item.serial.clone(), code, message: message.into() }
}

/// 422 naming every serial that cannot take the token (the first [`MOST_PROBLEMS`]); nothing was made.
fn refusal(mut problems: Vec<Problem>) -> ApiError {
    let total = problems.len();
    problems.truncate(MOST_PROBLEMS);
    let message = format!("{total} listed device(s) cannot take the token; no token was made");
    let listed = serde_json::to_value(&problems).unwrap_or_default();
    ApiError::unprocessable("serials", message).with("problems", listed)
}

/// The tokens as `serial,code,count`, a download named after the batch.
fn csv_answer(batch_id: &str, made: &[OperatorToken]) -> ApiResult<Response> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["serial", "code", "count"]).map_err(ApiError::internal)?;
    for token in made {
        writer
            .write_record([token.serial.as_str(), &token.code, &token.count.to_string()])
            .map_err(ApiError::internal)?;
    }
    let bytes = writer.into_inner().map_err(ApiError::internal)?;
    let disposition = format!("attachment; filename=\"tokens-{batch_id}.csv\"");
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}
