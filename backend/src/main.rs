//! The `natter` binary: parse the command line, set up logging, run.

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    natter::telemetry::init("info");
    let cli = natter::cli::Cli::parse();
    match natter::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
