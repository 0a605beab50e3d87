//! `GET /v1/export`: every record as JSON Lines, one [`ExportLine`] per line — the input of the Python
//! package's `load_export`, which reads the same type. The debt reports' inputs are the server's own
//! (`installment`, `access_rate`), so an analyst's reports equal the server's.
//!
//! The export streams: each table is read in keyset pages of [`records::PAGE_ROWS`] rows (by its key, so a
//! page costs an index range scan however deep into the table it is), each page's lines are written into a
//! chunk, and a chunk waits in a short channel until the client takes it. Memory stays a few pages whatever
//! the database's size, and a slow client slows the reads rather than piling lines up in the server. Once
//! the `200` is sent a failure cannot change the status: the body is cut off instead, which a client sees
//! as an incomplete response, never as a complete export. The lines are byte for byte those of the whole
//! export built in memory before (`tests/responsive.rs` compares). The customers' locations (one small row
//! per customer) are still read whole: every device, installment and payment line names its place.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use micropower_core::export::{ExportLine, Meta, EXPORT_VERSION};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::records;
use crate::state::AppState;

/// Chunks written ahead of the client: enough to keep the socket busy while the next page is read.
const CHUNKS_AHEAD: usize = 4;

/// Where the export's lines go: a buffer sent to the client a page at a time.
struct Sink {
    buffer: Vec<u8>,
    chunks: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

/// The client went away: nothing more to write.
struct Gone;

/// Why the export stopped early.
enum Stop {
    Gone,
    Failed(ApiError),
}

impl From<Gone> for Stop {
    fn from(_: Gone) -> Self {
        Stop::Gone
    }
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Failed(e)
    }
}

impl Sink {
    /// Appends one line.
    fn push(&mut self, line: &ExportLine) -> ApiResult<()> {
        serde_json::to_writer(&mut self.buffer, line).map_err(ApiError::internal)?;
        self.buffer.push(b'\n');
        Ok(())
    }

    /// Sends what was written since the last flush.
    async fn flush(&mut self) -> Result<(), Gone> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        self.chunks.send(Ok(chunk)).await.map_err(|_| Gone)
    }
}

/// The whole export, in the order of [`ExportLine::TYPES`], streamed.
pub async fn export(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    // The first lines (meta, places, tariffs, locations) are read before answering, so a database that
    // cannot be read at all still answers an error status rather than a cut-off body.
    let pool = &state.db.pool;
    let locations = records::customer_locations(pool).await?;
    let (chunks, receiver) = mpsc::channel(CHUNKS_AHEAD);
    let mut sink = Sink { buffer: Vec::new(), chunks };
    let meta = Meta { version: EXPORT_VERSION, exported_at: Some(crate::ids::now_rfc3339()) };
    sink.push(&ExportLine::Meta(meta))?;
    for line in records::places(pool).await? {
        sink.push(&line)?;
    }
    let tariffs = records::tariffs(pool).await?;
    tokio::spawn(async move {
        match write_rest(&state, &mut sink, &locations, tariffs).await {
            Ok(()) | Err(Stop::Gone) => {}
            Err(Stop::Failed(e)) => {
                tracing::error!(code = e.code(), message = e.message(), "export cut off");
                let _ = sink.chunks.send(Err(std::io::Error::other("the export failed; see the server log"))).await;
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}

/// Every line after the places, a page at a time.
async fn write_rest(
    state: &AppState,
    sink: &mut Sink,
    locations: &std::collections::HashMap<String, micropower_core::api::Location>,
    tariffs: Vec<micropower_core::export::NamedTariff>,
) -> Result<(), Stop> {
    let pool = &state.db.pool;
    let mut after = None;
    loop {
        let (page, next) = records::customers_page(pool, after.as_deref()).await?;
        for customer in page {
            sink.push(&ExportLine::Customer(customer))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    for tariff in tariffs {
        sink.push(&ExportLine::Tariff(tariff))?;
    }
    let mut after = None;
    loop {
        let (page, next) = records::devices_page(pool, locations, after.as_deref()).await?;
        for device in page {
            sink.push(&ExportLine::Device(device))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    let mut after = None;
    loop {
        let (page, next) = records::plans_page(pool, after.as_ref()).await?;
        for plan in page {
            sink.push(&ExportLine::Plan(plan))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    let mut after = None;
    loop {
        let (page, next) = records::installments_page(pool, locations, after.as_ref()).await?;
        for installment in page {
            sink.push(&ExportLine::Installment(installment))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    // Each meter's access-rate account as stored; the reports accrue it up to their own day.
    let mut after = None;
    loop {
        let (page, next) = records::access_rates_page(pool, locations, after.as_deref()).await?;
        for account in page {
            sink.push(&ExportLine::AccessRate(account))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    let mut after = None;
    loop {
        let (page, next) = records::payments_page(pool, locations, state.timezone, after.as_ref()).await?;
        for payment in page {
            sink.push(&ExportLine::Payment(payment))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    let mut after = None;
    loop {
        let (page, next) = records::tokens_page(pool, after.as_ref()).await?;
        for token in page {
            sink.push(&ExportLine::Token(token))?;
        }
        sink.flush().await?;
        let Some(key) = next else { break };
        after = Some(key);
    }
    Ok(())
}
