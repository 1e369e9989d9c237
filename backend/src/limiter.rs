//! Token buckets, one per key: messages per user (shared by all of the user's sockets and
//! REST calls), `/sms` per user, failed logins per username and per address.

use crate::config::RateLimit;
use natter_shared::UserId;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Past this many keys, full buckets (keys that have not been limited lately) are forgotten,
/// so that many one-off keys (a spray of usernames) cannot grow the map without end.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimiter<K = UserId> {
    limit: RateLimit,
    buckets: Mutex<HashMap<K, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long to wait for one.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        self.with_bucket(key, true)
    }

    /// Whether `key` has a token now, without taking it.
    pub fn peek(&self, key: K) -> Result<(), Duration> {
        self.with_bucket(key, false)
    }

    fn with_bucket(&self, key: K, take: bool) -> Result<(), Duration> {
        if self.limit.is_off() {
            return Ok(());
        }
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let per_second = self.limit.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / per_second;
        Err(Duration::from_secs_f64(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 3,
        });
        let u = UserId(1);
        for _ in 0..3 {
            assert!(limiter.check(u).is_ok());
        }
        let wait = limiter.check(u).err();
        assert!(wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_secs(1)));
        // Another user has a bucket of their own.
        assert!(limiter.check(UserId(2)).is_ok());
    }

    #[test]
    fn peeking_takes_nothing() {
        let limiter = RateLimiter::<&str>::new(RateLimit {
            per_second: 1.0,
            burst: 1,
        });
        assert!(limiter.peek("alice").is_ok());
        assert!(limiter.peek("alice").is_ok());
        assert!(limiter.check("alice").is_ok());
        assert!(limiter.peek("alice").is_err());
    }

    #[test]
    fn off_never_limits() {
        let limiter = RateLimiter::<UserId>::new(RateLimit::OFF);
        assert!((0..1000).all(|_| limiter.check(UserId(1)).is_ok()));
    }
}
