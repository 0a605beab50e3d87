//! How far a long request has come, for a page that waits on it: the client names the work with an id of
//! its own choosing (`?progress=<id>` on the request), and reads `{rows_total, rows_done, finished}` under
//! that id while the request runs (issue 17: a 10,000-row import shows its progress in the dashboard).
//!
//! Kept in this process's memory: a poll that reaches another server behind the same balancer finds
//! nothing (404), and the page then shows no progress, which is all that is lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How long a finished entry stays readable: a page polling every few hundred milliseconds reads it long
/// before, and one that never comes back does not keep it forever.
const KEPT_AFTER_FINISH: Duration = Duration::from_secs(600);
/// At most this many entries at once; the oldest finished ones go first, then a new one is refused.
const MOST_ENTRIES: usize = 1_000;

/// The progress of every named piece of work in this process.
#[derive(Default)]
pub struct ProgressBoard(Mutex<HashMap<String, Arc<Entry>>>);

struct Entry {
    total: usize,
    done: AtomicUsize,
    finished: Mutex<Option<Instant>>,
}

/// What a poll answers.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ProgressView {
    pub rows_total: usize,
    pub rows_done: usize,
    pub finished: bool,
}

/// The handle of the work in progress; dropping it marks the work finished, whether it ended well or not.
pub struct Tracker(Option<Arc<Entry>>);

impl Tracker {
    /// One more row done.
    pub fn step(&self) {
        if let Some(entry) = &self.0 {
            entry.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(entry) = &self.0 {
            *entry.finished.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }
}

/// Whether `id` may name a piece of work: 8 to 64 letters, digits, `-` or `_` (a UUID, a random token).
pub fn valid_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ProgressBoard {
    /// Starts tracking `total` rows under `id` (none when no id is given). An id already in use starts over:
    /// ids are the client's, and a client reusing one means the same page.
    pub fn start(&self, id: Option<&str>, total: usize) -> Tracker {
        let Some(id) = id else { return Tracker(None) };
        let entry = Arc::new(Entry { total, done: AtomicUsize::new(0), finished: Mutex::new(None) });
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| e.finished_since().is_none_or(|since| since < KEPT_AFTER_FINISH));
        if entries.len() >= MOST_ENTRIES && !entries.contains_key(id) {
            return Tracker(None);
        }
        entries.insert(id.to_owned(), entry.clone());
        Tracker(Some(entry))
    }

    /// The progress under `id`, if any.
    pub fn get(&self, id: &str) -> Option<ProgressView> {
        let entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(id)?;
        let finished = entry.finished_since();
        if finished.is_some_and(|since| since >= KEPT_AFTER_FINISH) {
            return None;
        }
        Some(ProgressView {
            rows_total: entry.total,
            rows_done: entry.done.load(Ordering::Relaxed).min(entry.total),
            finished: finished.is_some(),
        })
    }
}

impl Entry {
    fn finished_since(&self) -> Option<Duration> {
        self.finished.lock().unwrap_or_else(PoisonError::into_inner).map(|at| at.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rows_and_finishes_when_dropped() {
        let board = ProgressBoard::default();
        let tracker = board.start(Some("import-1"), 3);
        tracker.step();
        assert_eq!(board.get("import-1"), Some(ProgressView { rows_total: 3, rows_done: 1, finished: false }));
        tracker.step();
        tracker.step();
        tracker.step();
        drop(tracker);
        assert_eq!(board.get("import-1"), Some(ProgressView { rows_total: 3, rows_done: 3, finished: true }));
        assert_eq!(board.get("import-2"), None);
        board.start(None, 5).step();
        assert_eq!(board.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn ids() {
        assert!(valid_id("0b6f1c2e-9a4d-4c1e-8f5a-2d3c4b5a6978"));
        assert!(!valid_id("short"));
        assert!(!valid_id("has space in it"));
        assert!(!valid_id(&"x".repeat(65)));
    }
}
