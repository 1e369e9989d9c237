//! Token buckets, one per key: messages per user (shared by all of the user's sockets and
//! REST calls), `/sms` per user, failed logins per username, per address and per pair,
//! sign-ups per address, and more (see `AppState`).
//!
//! Memory is bounded whatever the input: keys are small (ids, addresses, names of at most
//! 32 characters), full buckets are forgotten past [`PRUNE_ABOVE`] keys, and past
//! [`MAX_KEYS`] buckets that are all still draining a new key is refused until some fill.

use crate::config::{RateLimit, Settings};
use crate::net::AddrKey;
use natter_shared::UserId;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Past this many keys, full buckets (keys that have not been limited lately) are forgotten,
/// so that many one-off keys (a spray of usernames) cannot grow the map without end.
const PRUNE_ABOVE: usize = 10_000;
/// The most keys a limiter holds: a new key past it is refused (fail closed) with a short wait.
pub const MAX_KEYS: usize = 100_000;

pub struct RateLimiter<K = UserId> {
    limit: RateLimit,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    map: HashMap<K, Bucket>,
    /// Pruning scans every key: at most once a second.
    pruned_at: Instant,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                pruned_at: Instant::now(),
            }),
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

    /// Gives back a token taken by [`RateLimiter::check`]: what was tried before the outcome
    /// was known (a login) succeeded, and should cost nothing.
    pub fn refund(&self, key: &K) {
        if self.limit.is_off() {
            return;
        }
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.map.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(burst);
        }
    }

    /// How many keys are held now.
    pub fn keys(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    fn with_bucket(&self, key: K, take: bool) -> Result<(), Duration> {
        if self.limit.is_off() {
            return Ok(());
        }
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let per_second = self.limit.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let Buckets { map, pruned_at } = &mut *buckets;
        if map.len() > PRUNE_ABOVE && now.duration_since(*pruned_at) >= Duration::from_secs(1) {
            *pruned_at = now;
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            return Err(Duration::from_secs(1));
        }
        let bucket = map.entry(key).or_insert(Bucket {
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

/// Every rate limit and count limit of the server, made from the settings.
pub struct Limits {
    /// Messages, edits and deletions per user, over sockets and REST alike.
    pub messages: RateLimiter,
    /// `/sms` and phone verification codes asked for, per user.
    pub sms: RateLimiter,
    /// Failed logins per (username key, address): the tight limit.
    pub login_pairs: RateLimiter<(String, AddrKey)>,
    /// Failed logins per username key, from anywhere: the loose one.
    pub login_names: RateLimiter<String>,
    /// Failed logins per address.
    pub login_addrs: RateLimiter<AddrKey>,
    /// Wrong current passwords (password change) and phone codes, per user.
    pub password_checks: RateLimiter,
    /// Sign-ups per address.
    pub signups: RateLimiter<AddrKey>,
    /// Rooms and conversations created, per user.
    pub creations: RateLimiter,
    /// Rooms joined and left, members added and removed, per acting user.
    pub memberships: RateLimiter,
    /// History pages and room lists read, per user.
    pub reads: RateLimiter,
    /// Searches, per user.
    pub searches: RateLimiter,
    /// Uploads and avatars, per user.
    pub uploads: RateLimiter,
    /// Open sockets per user and per address.
    pub sockets: Arc<Sockets>,
}

impl Limits {
    pub fn new(s: &Settings) -> Self {
        Self {
            messages: RateLimiter::new(s.rate_limit),
            sms: RateLimiter::new(s.sms_rate_limit),
            login_pairs: RateLimiter::new(s.login_rate_limit),
            login_names: RateLimiter::new(s.login_name_rate_limit),
            login_addrs: RateLimiter::new(s.login_addr_rate_limit),
            password_checks: RateLimiter::new(s.login_rate_limit),
            signups: RateLimiter::new(s.signup_rate_limit),
            creations: RateLimiter::new(s.create_rate_limit),
            reads: RateLimiter::new(s.read_rate_limit),
            searches: RateLimiter::new(s.search_rate_limit),
            uploads: RateLimiter::new(s.upload_rate_limit),
            memberships: RateLimiter::new(s.member_rate_limit),
            sockets: Arc::new(Sockets::new(s.max_sockets_per_user, s.max_sockets_per_addr)),
        }
    }
}

/// Open sockets counted per user and per address; `0` is no limit.
pub struct Sockets {
    max_per_user: u32,
    max_per_addr: u32,
    per_user: Mutex<HashMap<UserId, u32>>,
    per_addr: Mutex<HashMap<AddrKey, u32>>,
}

/// One open socket's place in the counts, given back when it is dropped (the session ends).
pub struct SocketSlot {
    sockets: Arc<Sockets>,
    addr: Option<AddrKey>,
    user: Option<UserId>,
}

fn take<K: Hash + Eq>(map: &Mutex<HashMap<K, u32>>, key: K, max: u32) -> bool {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    let n = map.entry(key).or_insert(0);
    if max != 0 && *n >= max {
        return false;
    }
    *n += 1;
    true
}

fn give_back<K: Hash + Eq>(map: &Mutex<HashMap<K, u32>>, key: &K) {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Sockets {
    pub fn new(max_per_user: u32, max_per_addr: u32) -> Self {
        Self {
            max_per_user,
            max_per_addr,
            per_user: Mutex::default(),
            per_addr: Mutex::default(),
        }
    }

    /// A place for a new socket from `addr`, or `None` when the address has its fill.
    pub fn open(self: &Arc<Self>, addr: Option<AddrKey>) -> Option<SocketSlot> {
        if let Some(addr) = addr
            && !take(&self.per_addr, addr, self.max_per_addr)
        {
            return None;
        }
        Some(SocketSlot {
            sockets: self.clone(),
            addr,
            user: None,
        })
    }

    /// Sockets open now for `user`.
    pub fn of_user(&self, user: UserId) -> u32 {
        self.per_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .copied()
            .unwrap_or(0)
    }

    pub fn max_per_user(&self) -> u32 {
        self.max_per_user
    }
}

impl SocketSlot {
    /// Counts the socket for `user` too; false when the user has their fill.
    pub fn sign_in(&mut self, user: UserId) -> bool {
        if self.user.is_some() {
            return true;
        }
        if !take(&self.sockets.per_user, user, self.sockets.max_per_user) {
            return false;
        }
        self.user = Some(user);
        true
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Some(addr) = &self.addr {
            give_back(&self.sockets.per_addr, addr);
        }
        if let Some(user) = &self.user {
            give_back(&self.sockets.per_user, user);
        }
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
    fn a_refund_gives_the_token_back() {
        let limiter = RateLimiter::<&str>::new(RateLimit {
            per_second: 0.001,
            burst: 1,
        });
        assert!(limiter.check("alice").is_ok());
        assert!(limiter.peek("alice").is_err());
        limiter.refund(&"alice");
        assert!(limiter.check("alice").is_ok());
    }

    #[test]
    fn memory_is_bounded_whatever_the_keys() {
        let limiter = RateLimiter::<u32>::new(RateLimit {
            per_second: 0.001,
            burst: 1,
        });
        // Every key drained: none can be forgotten.
        for k in 0..(MAX_KEYS as u32 + 1000) {
            let _ = limiter.check(k);
        }
        assert_eq!(limiter.keys(), MAX_KEYS);
        assert!(limiter.check(u32::MAX).is_err());
    }

    #[test]
    fn socket_slots_are_counted_and_given_back() {
        let sockets = Arc::new(Sockets::new(2, 3));
        let addr = AddrKey::of("192.0.2.1".parse().unwrap());
        let mut slots: Vec<SocketSlot> = (0..3).filter_map(|_| sockets.open(Some(addr))).collect();
        assert_eq!(slots.len(), 3);
        assert!(
            sockets.open(Some(addr)).is_none(),
            "the address has its fill"
        );
        assert!(slots[0].sign_in(UserId(1)));
        assert!(slots[1].sign_in(UserId(1)));
        assert!(!slots[2].sign_in(UserId(1)), "the user has their fill");
        assert_eq!(sockets.of_user(UserId(1)), 2);
        slots.clear();
        assert_eq!(sockets.of_user(UserId(1)), 0);
        assert!(sockets.open(Some(addr)).is_some());
    }

    #[test]
    fn off_never_limits() {
        let limiter = RateLimiter::<UserId>::new(RateLimit::OFF);
        assert!((0..1000).all(|_| limiter.check(UserId(1)).is_ok()));
    }
}
