//! `natter-load`: load scenarios against a Natter server on this machine. See
//! docs/BENCHMARKS.md for how each figure there was made.

#![expect(clippy::print_stdout, reason = "the reports are what this tool prints")]

use anyhow::Context;
use clap::{Parser, Subcommand};
use natter_load::chart::{self, Point};
use natter_load::reference;
use natter_load::report::Report;
use natter_load::scenarios::{self, FanOut, Schedule};
use natter_load::target::{Flavor, Target};
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "natter-load",
    about = "Load scenarios against a Natter server on this machine"
)]
struct Cli {
    /// The server: http://HOST:PORT on a loopback address.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Other nodes of the same cluster (Postgres + Redis): sockets are spread over the
    /// target and these, in turn. Repeat for more nodes.
    #[arg(long = "also", global = true)]
    also: Vec<String>,
    /// The server's process id, for its CPU time and memory from /proc.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Loopback source addresses to spread connections over (127.0.0.1 ...).
    #[arg(long, global = true, default_value_t = 4)]
    sources: u8,
    /// Also write the reports as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// S1 burst fan-out: one room, every client sends its messages back to back.
    S1 {
        #[arg(long, default_value_t = 500)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// Run the same burst through the reference server too, and give the ratio.
        #[arg(long)]
        with_reference: bool,
    },
    /// S2 paced latency: one room, a steady total rate.
    S2 {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value_t = 30)]
        seconds: u32,
    },
    /// S2 at several rates, and the chart of latency against load (SVG).
    Sweep {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, value_delimiter = ',', default_value = "50,100,200,400")]
        rates: Vec<u32>,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        #[arg(long, default_value = "docs/latency.svg")]
        svg: PathBuf,
    },
    /// S3 idle connections: how many, and the server's memory per connection.
    S3 {
        #[arg(long, default_value_t = 50_000)]
        connections: usize,
    },
    /// S4 history: the latest 25 of a room with many messages, from many connections.
    S4 {
        #[arg(long, default_value_t = 100_000)]
        seed: usize,
        #[arg(long, default_value_t = 50)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// S5 ingest: senders and no readers; stored messages per second, acked after commit.
    S5 {
        #[arg(long, default_value_t = 100)]
        senders: usize,
        #[arg(long, default_value_t = 200)]
        messages: usize,
    },
    /// S6 many rooms: one socket joins many rooms; the server's memory then and after.
    S6 {
        #[arg(long, default_value_t = 2000)]
        rooms: usize,
    },
    /// S7 room lists: many users with many memberships each read their room list.
    S7 {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 200)]
        memberships: usize,
        /// Messages spread over the rooms, unread for all but their authors.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        #[arg(long, default_value_t = 50)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// S8 search: a million messages of made-up text over a few rooms, stored through the
    /// real write path; then concurrent searches, common words to rare ones.
    S8 {
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 20)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A shell command run once the messages are stored, before the searches.
        #[arg(long)]
        before_search: Option<String>,
        /// Name the senders this and a number (by default, a name for the run).
        #[arg(long)]
        users: Option<String>,
        /// Do not store: an earlier run with the same `--users` stored the messages on this
        /// server's database; log in as its senders and search.
        #[arg(long, requires = "users")]
        reuse: bool,
    },
    /// Run the reference broadcast server.
    Reference {
        #[arg(long, default_value = "127.0.0.1:9090")]
        addr: std::net::SocketAddr,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Scenario::Reference { addr } = cli.scenario {
        let (listener, local) = reference::bind(addr).await?;
        println!("listening on http://{local}");
        reference::serve(listener).await;
        return Ok(());
    }
    let target = Target::new(&cli.target, Flavor::Natter)?.with_nodes(&cli.also)?;
    let pid = cli.server_pid;
    let reports: Vec<Report> = match cli.scenario {
        Scenario::S1 {
            clients,
            messages,
            with_reference,
        } => {
            let cfg = FanOut {
                clients,
                sources: cli.sources,
                schedule: Schedule::Burst {
                    per_client: messages,
                },
                server_pid: pid,
            };
            let natter = scenarios::fan_out(&target, &cfg, "S1 burst").await?;
            let mut reports = vec![natter];
            if with_reference {
                let (mut child, addr) = spawn_reference()?;
                let reference = Target::new(&format!("http://{addr}"), Flavor::Reference)?;
                let cfg = FanOut {
                    server_pid: Some(child.id()),
                    ..cfg
                };
                let result = scenarios::fan_out(&reference, &cfg, "S1 burst").await;
                let _ = child.kill();
                let _ = child.wait();
                let mut reference = result?;
                let ratio =
                    reports[0].deliveries_per_second / reference.deliveries_per_second.max(1.0);
                reference.extra.insert(
                    "natter_to_reference".into(),
                    serde_json::json!((ratio * 100.0).round() / 100.0),
                );
                reports.push(reference);
            }
            reports
        }
        Scenario::S2 {
            clients,
            rate,
            seconds,
        } => {
            let cfg = FanOut {
                clients,
                sources: cli.sources,
                schedule: Schedule::Paced { rate, seconds },
                server_pid: pid,
            };
            vec![scenarios::fan_out(&target, &cfg, "S2 paced").await?]
        }
        Scenario::Sweep {
            clients,
            rates,
            seconds,
            svg,
        } => {
            let mut reports = Vec::new();
            let mut points = Vec::new();
            for rate in rates {
                let cfg = FanOut {
                    clients,
                    sources: cli.sources,
                    schedule: Schedule::Paced { rate, seconds },
                    server_pid: pid,
                };
                let report =
                    scenarios::fan_out(&target, &cfg, &format!("S2 paced at {rate}/s")).await?;
                println!("{}", report.table());
                points.push(Point {
                    rate: f64::from(rate),
                    p50_ms: report.latency.p50_ms,
                    p99_ms: report.latency.p99_ms,
                });
                reports.push(report);
            }
            let title = format!("Latency against load, {clients} clients in one room");
            chart::latency_against_load(&points, &title, &svg)?;
            eprintln!("chart written to {}", svg.display());
            reports
        }
        Scenario::S3 { connections } => {
            vec![scenarios::idle(&target, connections, cli.sources, pid).await?]
        }
        Scenario::S4 {
            seed,
            connections,
            seconds,
        } => {
            vec![scenarios::history(&target, seed, connections, seconds, cli.sources, pid).await?]
        }
        Scenario::S5 { senders, messages } => {
            vec![
                scenarios::ingest(&target, senders, messages, cli.sources, pid)
                    .await?
                    .0,
            ]
        }
        Scenario::S6 { rooms } => vec![scenarios::many_rooms(&target, rooms, pid).await?],
        Scenario::S7 {
            users,
            memberships,
            messages,
            connections,
            seconds,
        } => vec![
            scenarios::memberships(
                &target,
                users,
                memberships,
                messages,
                connections,
                seconds,
                pid,
            )
            .await?,
        ],
        Scenario::S8 {
            messages,
            rooms,
            connections,
            seconds,
            before_search,
            users,
            reuse,
        } => {
            let plan = scenarios::SearchPlan {
                messages,
                rooms,
                connections,
                seconds,
                before_search,
                users,
                reuse,
            };
            scenarios::search(&target, &plan, cli.sources, pid).await?
        }
        Scenario::Reference { .. } => unreachable!("handled above"),
    };
    for report in &reports {
        println!("{}", report.table());
    }
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&reports)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if reports.iter().any(|r| !r.is_clean()) {
        anyhow::bail!("the run lost or duplicated deliveries, or connections failed (see above)");
    }
    Ok(())
}

/// Starts `natter-load reference` as a child process on a free port.
fn spawn_reference() -> anyhow::Result<(std::process::Child, String)> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["reference", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .context("the reference server did not say where it listens")?
        .to_owned();
    Ok((child, addr))
}
