//! Failed authentications per client address: after [`FAILURES`] within [`WINDOW`], every request from that
//! address answers 429 with `Retry-After` until the window ends. An API key cannot be guessed anyway (256
//! bits); the limit keeps a scanner from using the server as an oracle at full speed and from filling
//! its logs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FAILURES: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it, windows that ended are forgotten first, then all.
const CAPACITY: usize = 16_384;

/// Failures per address in the current window.
#[derive(Default)]
pub struct FailedAuth {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailedAuth {
    /// How long `address` must wait, if it is refused now.
    pub fn blocked(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (started, failures) = windows.get(&address)?;
        let ends = *started + WINDOW;
        (*failures >= FAILURES && ends > now).then(|| ends - now)
    }

    /// Counts a failed authentication from `address`.
    pub fn fail(&self, address: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= CAPACITY && !windows.contains_key(&address) {
            windows.retain(|_, (started, _)| *started + WINDOW > now);
            if windows.len() >= CAPACITY {
                windows.clear();
            }
        }
        let entry = windows.entry(address).or_insert((now, 0));
        if entry.0 + WINDOW <= now {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_ends() {
        let limit = FailedAuth::default();
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..FAILURES {
            assert_eq!(limit.blocked(a, t0), None);
            limit.fail(a, t0);
        }
        assert_eq!(limit.blocked(a, t0 + Duration::from_secs(10)), Some(WINDOW - Duration::from_secs(10)));
        assert_eq!(limit.blocked(b, t0), None, "per address");
        assert_eq!(limit.blocked(a, t0 + WINDOW), None, "a new window");
        limit.fail(a, t0 + WINDOW);
        assert_eq!(limit.blocked(a, t0 + WINDOW), None, "counting starts over");
    }
}
