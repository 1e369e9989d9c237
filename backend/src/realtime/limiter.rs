//! Per-user rate limiting: a token bucket per user, shared by all of the user's sockets and
//! REST calls.

use crate::config::RateLimit;
use natter_shared::UserId;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<UserId, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `user`, or says how long to wait for one.
    pub fn check(&self, user: UserId) -> Result<(), Duration> {
        if self.limit.is_off() {
            return Ok(());
        }
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(user).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / self.limit.per_second;
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
    fn off_never_limits() {
        let limiter = RateLimiter::new(RateLimit::OFF);
        assert!((0..1000).all(|_| limiter.check(UserId(1)).is_ok()));
    }
}
