//! Logging: one `tracing` subscriber factory that the binary and the tests share.

use tracing_subscriber::EnvFilter;

/// Installs a subscriber that writes to stderr, filtered by `RUST_LOG` (default: `default_filter`).
/// Installing twice is harmless: the second call does nothing (tests call it once per test).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Request spans that carry the method and the path but never the query string: `GET /ws`
/// may carry a token there, and tokens stay out of logs.
pub struct RequestSpans;

impl tracing_actix_web::RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        let _entered = span.enter();
        tracing::debug!(status = status.as_u16(), "request done");
    }
}

/// A failure that can repeat many times a second (every message refused on a full disk, a
/// poll every 250 ms against a database that is down) is logged once, then at most once per
/// period with how many times it happened meanwhile: the worst moment for a flood of logs is
/// when the disk is full or the database is gone.
pub struct Throttled {
    every: std::time::Duration,
    state: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

impl Throttled {
    pub const fn new(every: std::time::Duration) -> Self {
        Self {
            every,
            state: std::sync::Mutex::new(None),
        }
    }

    /// `Some(left_out)` when this occurrence is to be logged, with how many were not logged
    /// since the last line; `None` when it is to be left out.
    pub fn admit(&self) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *state {
            Some((last, left_out)) if now.duration_since(*last) < self.every => {
                *left_out += 1;
                None
            }
            Some((last, left_out)) => {
                let n = *left_out;
                *last = now;
                *left_out = 0;
                Some(n)
            }
            None => {
                *state = Some((now, 0));
                Some(0)
            }
        }
    }

    /// Forgets the last line, so that the next failure after a recovery is logged at once.
    pub fn reset(&self) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::Throttled;
    use std::time::Duration;

    #[test]
    fn a_repeated_failure_is_logged_once_per_period_with_a_count() {
        let t = Throttled::new(Duration::from_secs(3600));
        assert_eq!(t.admit(), Some(0));
        assert_eq!(t.admit(), None);
        assert_eq!(t.admit(), None);
        t.reset();
        assert_eq!(t.admit(), Some(0));
        let t = Throttled::new(Duration::ZERO);
        assert_eq!(t.admit(), Some(0));
        assert_eq!(t.admit(), Some(0));
    }
}
