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
        .with_target(false)
        .try_init();
}
