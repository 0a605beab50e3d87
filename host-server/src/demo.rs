//! `--demo`: a small realistic dataset so a new user sees data at once. Filled in below.

use crate::error::ApiResult;
use crate::state::AppState;

/// Seeds an empty database; returns false when it already has customers.
pub async fn seed(_state: &AppState) -> ApiResult<bool> {
    Ok(false)
}
