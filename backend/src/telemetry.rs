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
