//! Registry rows read once per transaction of many registrations: a bulk import of 10,000 rows in 100
//! villages would otherwise read the same village and the same maker 10,000 times, one round trip each.
//!
//! A row of an import runs in a savepoint. What the row read is kept for the next rows only when its
//! savepoint is released ([`Lookups::keep_row`]): a village the row created and then rolled back must not be
//! found by the rows after it.

use std::collections::HashMap;

use micropower_core::api::{Location, Manufacturer};
use sqlx::{Any, Transaction};

use crate::error::ApiResult;
use crate::repo;

#[derive(Default)]
pub struct Lookups {
    locations: HashMap<String, Location>,
    manufacturers: HashMap<String, Manufacturer>,
    /// Read by the current row, kept by [`Lookups::keep_row`].
    row_locations: HashMap<String, Location>,
    row_manufacturers: HashMap<String, Manufacturer>,
}

impl Lookups {
    /// The village `village_id` with its area and cluster, read from `tx` the first time.
    pub async fn location(&mut self, tx: &mut Transaction<'_, Any>, village_id: &str) -> ApiResult<Option<Location>> {
        if let Some(found) = self.locations.get(village_id).or_else(|| self.row_locations.get(village_id)) {
            return Ok(Some(found.clone()));
        }
        let found = repo::location(&mut **tx, village_id).await?;
        if let Some(location) = &found {
            self.row_locations.insert(village_id.to_owned(), location.clone());
        }
        Ok(found)
    }

    /// The manufacturer `id`, read from `tx` the first time.
    pub async fn manufacturer(&mut self, tx: &mut Transaction<'_, Any>, id: &str) -> ApiResult<Option<Manufacturer>> {
        if let Some(found) = self.manufacturers.get(id).or_else(|| self.row_manufacturers.get(id)) {
            return Ok(Some(found.clone()));
        }
        let found = repo::manufacturer(&mut **tx, id).await?;
        if let Some(manufacturer) = &found {
            self.row_manufacturers.insert(id.to_owned(), manufacturer.clone());
        }
        Ok(found)
    }

    /// The current row's savepoint was released: what it read stays true for the rest of the transaction.
    pub fn keep_row(&mut self) {
        self.locations.extend(self.row_locations.drain());
        self.manufacturers.extend(self.row_manufacturers.drain());
    }

    /// The current row's savepoint was rolled back: what it read may be gone with it.
    pub fn drop_row(&mut self) {
        self.row_locations.clear();
        self.row_manufacturers.clear();
    }
}
