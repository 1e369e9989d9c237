//! A small run of the load tool against the real server and the reference server: it must
//! work and lose nothing. Speed is never asserted here; docs/BENCHMARKS.md has the figures.
#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    reason = "in tests, a failed expectation is a failed test; the report is shown on failure"
)]

use natter::config::{DatabaseUrl, RateLimit, Settings};
use natter::startup::Application;
use natter_load::reference;
use natter_load::scenarios::{self, FanOut, Schedule};
use natter_load::target::{Flavor, Target};

async fn natter() -> (Target, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut settings = Settings::with_database(DatabaseUrl::Sqlite(dir.path().join("natter.db")));
    settings.addr = "127.0.0.1:0".parse().expect("an address");
    settings.bcrypt_cost = 4;
    settings.workers = 2;
    settings.rate_limit = RateLimit::OFF;
    // Every load client is 127.0.0.1, as in scripts/bench.
    settings.signup_rate_limit = RateLimit::OFF;
    settings.read_rate_limit = RateLimit::OFF;
    settings.member_rate_limit = RateLimit::OFF;
    settings.max_sockets_per_addr = 0;
    settings.max_sockets_per_user = 0;
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let target =
        Target::new(&format!("http://127.0.0.1:{}", app.port()), Flavor::Natter).expect("a target");
    actix_web::rt::spawn(app.run_until_stopped());
    (target, dir)
}

fn burst(clients: usize, per_client: usize) -> FanOut {
    FanOut {
        clients,
        sources: 2,
        schedule: Schedule::Burst { per_client },
        server_pid: Some(std::process::id()),
    }
}

#[actix_web::test]
async fn a_small_burst_loses_and_duplicates_nothing() {
    let (target, _dir) = natter().await;
    let report = scenarios::fan_out(&target, &burst(20, 5), "smoke S1")
        .await
        .expect("the run completes");
    println!("{}", report.table());
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.deliveries, 20 * 5 * 20);
    assert_eq!(report.acks, 100);
    assert_eq!(report.stored, Some(100));
    assert!(report.server_cpu_seconds.is_some());
}

#[actix_web::test]
async fn paced_sends_and_ingest_are_counted() {
    let (target, _dir) = natter().await;
    let paced = FanOut {
        schedule: Schedule::Paced {
            rate: 200,
            seconds: 1,
        },
        ..burst(10, 0)
    };
    let report = scenarios::fan_out(&target, &paced, "smoke S2")
        .await
        .expect("the run completes");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.deliveries, 200 * 10);
    assert!(report.latency.count == 2000 && report.latency.p50_ms > 0.0);

    let (ingest, _, _) = scenarios::ingest(&target, 10, 20, 2, None)
        .await
        .expect("the run completes");
    assert!(ingest.is_clean(), "{ingest:?}");
    assert_eq!((ingest.acks, ingest.stored), (200, Some(200)));
}

#[actix_web::test]
async fn the_reference_server_runs_the_same_burst() {
    let (listener, addr) = reference::bind("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("it binds");
    actix_web::rt::spawn(reference::serve(listener));
    let target = Target::new(&format!("http://{addr}"), Flavor::Reference).expect("a target");
    let report = scenarios::fan_out(&target, &burst(20, 5), "smoke S1 reference")
        .await
        .expect("the run completes");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.deliveries, 2000);
    assert_eq!(report.stored, None);
}
