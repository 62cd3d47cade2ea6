//! What stands between the network and a session: the connection limit and
//! the slowdown of repeated failed logins.
//!
//! `max_connections` counts every connection past its startup message, as
//! PostgreSQL counts backends; one more is refused with 53300. Failed
//! password attempts are counted per source address over a sliding window;
//! past a few, each further attempt from that address waits before it is
//! answered, doubling up to a ceiling, so guessing passwords from one
//! address drops from hundreds of tries a second to a handful a minute,
//! while a user who mistypes once is not slowed at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures within this window count towards the slowdown.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failures from one address answered without delay.
const FREE_FAILURES: u32 = 3;
/// The first delay after the free failures; it doubles per failure.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest delay before an answer.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Addresses remembered at most (each entry is a few bytes; stale ones go first).
const MAX_SOURCES: usize = 10_000;

/// One connection's place under `max_connections`; freed when dropped
/// (it lives in the connection's session extensions).
#[derive(Debug)]
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Connection count and failed-login history, shared by all connections.
#[derive(Debug)]
pub struct LoginGuard {
    max_connections: usize,
    open: Arc<AtomicUsize>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginGuard {
    pub fn new(max_connections: usize) -> Self {
        LoginGuard {
            max_connections,
            open: Arc::default(),
            failures: Mutex::default(),
        }
    }

    /// A slot for a new connection, or `None` when `max_connections` are open.
    pub fn take_slot(&self) -> Option<ConnectionSlot> {
        let taken = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_connections).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| ConnectionSlot(self.open.clone()))
    }

    /// How long an answer to `source` waits, given its recent failures.
    pub fn delay_for(&self, source: IpAddr) -> Duration {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&source) {
            Some(f) if f.last.elapsed() < FAILURE_WINDOW => delay_after(f.count),
            _ => Duration::ZERO,
        }
    }

    /// Records a failed password from `source`.
    pub fn failed(&self, source: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_SOURCES {
            failures.retain(|_, f| f.last.elapsed() < FAILURE_WINDOW);
        }
        if failures.len() >= MAX_SOURCES {
            return; // a flood from many addresses: each is still slowed by its own entry
        }
        let entry = failures.entry(source).or_insert(Failures {
            count: 0,
            last: now,
        });
        if entry.last.elapsed() >= FAILURE_WINDOW {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// A successful login forgets the address's failures.
    pub fn succeeded(&self, source: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&source);
    }
}

/// The wait after `count` recent failures.
fn delay_after(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (count - FREE_FAILURES).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_limit_and_come_back_when_dropped() {
        let guard = LoginGuard::new(2);
        let a = guard.take_slot().expect("first");
        let _b = guard.take_slot().expect("second");
        assert!(guard.take_slot().is_none());
        drop(a);
        assert!(guard.take_slot().is_some());
    }

    #[test]
    fn repeated_failures_from_one_address_slow_only_that_address() {
        let guard = LoginGuard::new(10);
        let bad: IpAddr = [127, 0, 0, 2].into();
        let good: IpAddr = [127, 0, 0, 3].into();
        for _ in 0..FREE_FAILURES {
            assert_eq!(guard.delay_for(bad), Duration::ZERO);
            guard.failed(bad);
        }
        assert_eq!(guard.delay_for(bad), FIRST_DELAY);
        for _ in 0..20 {
            guard.failed(bad);
        }
        assert_eq!(guard.delay_for(bad), MAX_DELAY);
        assert_eq!(guard.delay_for(good), Duration::ZERO);
        guard.succeeded(bad);
        assert_eq!(guard.delay_for(bad), Duration::ZERO);
    }
}
