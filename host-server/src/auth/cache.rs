//! The API keys recently seen, so a request does not read its key from the database: on SQLite that read
//! was a hop to one of sqlx's worker threads and back on every request, on PostgreSQL a round trip.
//!
//! Only keys that opened the API are kept; an unknown key is read every time. A revocation through this
//! server evicts the key at once. Another server on the same PostgreSQL database cannot tell this one, so
//! there an entry is trusted for [`Freshness::Shared`] only: a key revoked elsewhere stops working here
//! within that time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::Role;

/// The most keys kept; a server with more in use reads the rest from the database.
const CAPACITY: usize = 4096;

/// How long an entry is trusted.
#[derive(Debug, Clone, Copy)]
pub enum Freshness {
    /// One server owns the database (SQLite): every revocation passes through it. The entry is still
    /// re-read now and then, in case the file was changed by hand.
    Owned,
    /// Several servers may share the database (PostgreSQL).
    Shared,
}

impl Freshness {
    fn ttl(self) -> Duration {
        match self {
            Freshness::Owned => Duration::from_secs(60),
            Freshness::Shared => Duration::from_secs(1),
        }
    }
}

/// A key as checked: who it is, what it may do, and when its use was last written down.
#[derive(Debug)]
pub struct KnownKey {
    pub id: String,
    pub role: Role,
    /// The agent of an `agent` key.
    pub agent_id: Option<String>,
    read_at: Instant,
    /// Milliseconds since the Unix epoch of the last use recorded in the database (0: never).
    last_recorded_ms: AtomicI64,
    /// Milliseconds since the Unix epoch from which the key no longer opens the API.
    expires_at_ms: Option<i64>,
}

impl KnownKey {
    pub fn new(id: String, role: Role, last_recorded_ms: i64, expires_at_ms: Option<i64>) -> Self {
        KnownKey {
            id,
            role,
            agent_id: None,
            read_at: Instant::now(),
            last_recorded_ms: AtomicI64::new(last_recorded_ms),
            expires_at_ms,
        }
    }

    /// The key of this agent (an `agent` key).
    pub fn with_agent(mut self, agent_id: Option<String>) -> Self {
        self.agent_id = agent_id;
        self
    }

    fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|at| now_ms >= at)
    }

    /// True for the one caller that should record a use at `now_ms`: none was recorded in the minute
    /// before. Claimed atomically, so concurrent requests with the same key record it once.
    pub fn claim_use_record(&self, now_ms: i64) -> bool {
        let last = self.last_recorded_ms.load(Ordering::Relaxed);
        now_ms - last >= 60_000
            && self.last_recorded_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

/// Keys by the hash of the key.
pub struct KeyCache {
    freshness: Freshness,
    keys: RwLock<HashMap<String, Arc<KnownKey>>>,
}

impl KeyCache {
    pub fn new(freshness: Freshness) -> Self {
        KeyCache { freshness, keys: RwLock::new(HashMap::new()) }
    }

    /// The key with this hash, if it was seen recently enough to be trusted and has not expired by `now_ms`
    /// (an expired key is read again, and refused, from the database).
    pub fn get(&self, hash: &str, now_ms: i64) -> Option<Arc<KnownKey>> {
        let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.get(hash).filter(|k| k.read_at.elapsed() < self.freshness.ttl() && !k.expired(now_ms)).cloned()
    }

    /// Remembers a key just read from the database.
    pub fn insert(&self, hash: String, key: Arc<KnownKey>) {
        let mut keys = self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if keys.len() >= CAPACITY && !keys.contains_key(&hash) {
            // Stale entries first; a cache still full of fresh ones starts over (rare: 4,096 keys in use).
            let ttl = self.freshness.ttl();
            keys.retain(|_, k| k.read_at.elapsed() < ttl);
            if keys.len() >= CAPACITY {
                keys.clear();
            }
        }
        keys.insert(hash, key);
    }

    /// Forgets a key by id (a revocation): its next request reads the database and is refused.
    pub fn evict(&self, id: &str) {
        let mut keys = self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.retain(|_, k| k.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_claimed_once_a_minute() {
        let key = KnownKey::new("k".into(), Role::Viewer, 0, None);
        assert!(key.claim_use_record(100_000));
        assert!(!key.claim_use_record(100_001));
        assert!(!key.claim_use_record(159_999));
        assert!(key.claim_use_record(160_000));
    }

    #[test]
    fn an_evicted_key_is_gone() {
        let cache = KeyCache::new(Freshness::Owned);
        cache.insert("h1".into(), Arc::new(KnownKey::new("a".into(), Role::Admin, 0, None)));
        cache.insert("h2".into(), Arc::new(KnownKey::new("b".into(), Role::Viewer, 0, None)));
        cache.evict("a");
        assert!(cache.get("h1", 0).is_none());
        assert_eq!(cache.get("h2", 0).map(|k| k.id.clone()), Some("b".to_owned()));
    }

    #[test]
    fn an_expired_key_is_not_served() {
        let cache = KeyCache::new(Freshness::Owned);
        cache.insert("h".into(), Arc::new(KnownKey::new("k".into(), Role::Operator, 0, Some(5_000))));
        assert!(cache.get("h", 4_999).is_some());
        assert!(cache.get("h", 5_000).is_none());
    }

    #[test]
    fn a_full_cache_keeps_taking_keys() {
        let cache = KeyCache::new(Freshness::Shared);
        for n in 0..=CAPACITY {
            cache.insert(format!("h{n}"), Arc::new(KnownKey::new(format!("k{n}"), Role::Viewer, 0, None)));
        }
        assert!(cache.get(&format!("h{CAPACITY}"), 0).is_some());
    }
}
