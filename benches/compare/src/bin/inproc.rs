//! The same `tools/call echo` request, in process, through our machine and through rmcp
//! 3.11.0's `StreamableHttpService` (called as a tower `Service`), in three modes.
//!
//! ```text
//! inproc check                         # one call per side and mode, answers checked
//! inproc bench [--batch N] [--runs R]  # time and heap allocations per request
//! inproc iterate SIDE MODE N           # N calls of one case, for callgrind
//! ```
//!
//! - SIDE: `ours`, `rmcp`, `machine` (ours with the answer built once, outside the loop:
//!   the machine's own work, no application), `build` (only builds the requests the other two get, so that
//!   their cost can be subtracted), or `parse` (a bare `serde_json::Value` parse of the
//!   call's body: the floor any JSON-RPC server pays); MODE: `stateful-sse`, `stateless-sse`, `stateless-json`.
//! - `bench` prints one line per side and mode: the median over R runs (default 7) of the
//!   time per request of a run of N requests (default 20,000), and the heap allocations and
//!   bytes per request (counted by an instrumented global allocator over one more run).
//!   The requests of a run are built before its timing starts.
//! - `iterate` sets the case up (a session in the stateful mode), then makes N calls, each
//!   building its request first. `run.sh` runs it under `valgrind --tool=callgrind` for N
//!   and for 0, and for `build`, and divides: instructions per request, setup and request
//!   building left out.
//!
//! Every answer's status and media type are checked, and in `check`, at the end of each
//! `bench` run and after `iterate`, the echoed text inside the JSON-RPC result.
//!
//! rmcp runs on a current-thread tokio runtime (the cheapest for one request at a time);
//! our machine needs none.

// A bench is a driver: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::alloc::System;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use mcp_http_proto_compare::ours::Ours;
use mcp_http_proto_compare::theirs::{self, Theirs};
use mcp_http_proto_compare::{Answered, CALL, Mode, call_request};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokio::runtime::Runtime;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const USAGE: &str =
    "usage: inproc check | bench [--batch N] [--runs R] | iterate ours|rmcp|machine|build|parse MODE N";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Checks the status and the media type of every answer; cheap enough for every call.
fn quick(a: &Answered, mode: Mode) {
    assert_eq!(a.status, 200, "{}", mode.name());
    assert!(a.bytes > 0, "{}", mode.name());
}

/// One side set up for one mode.
enum Side {
    Ours(Box<Ours>),
    Rmcp(Theirs),
}

impl Side {
    fn new(name: &str, mode: Mode, rt: &Runtime, now: Instant) -> Side {
        match name {
            "ours" => Side::Ours(Box::new(Ours::new(mode, now))),
            "machine" => Side::Ours(Box::new(Ours::machine_only(mode, now))),
            "rmcp" => Side::Rmcp(rt.block_on(Theirs::new(mode))),
            other => panic!("unknown side {other:?}"),
        }
    }

    fn session(&self) -> Option<String> {
        match self {
            Side::Ours(o) => o.session().map(str::to_owned),
            Side::Rmcp(t) => t.session().map(str::to_owned),
        }
    }

    /// Runs every request of `batch`; the last answer.
    fn run(&mut self, rt: &Runtime, mode: Mode, batch: Vec<Request<Bytes>>) -> Answered {
        let mut last = Answered::default();
        match self {
            Side::Ours(o) => {
                for req in batch {
                    last = o.call(req);
                    quick(&last, mode);
                }
            }
            Side::Rmcp(t) => {
                let batch: Vec<_> = batch.into_iter().map(theirs::to_rmcp).collect();
                rt.block_on(async {
                    for req in batch {
                        last = t.call(req).await;
                        quick(&last, mode);
                    }
                });
            }
        }
        last
    }
}

fn check() {
    let rt = runtime();
    let now = Instant::now();
    for mode in Mode::ALL {
        for name in ["ours", "rmcp", "machine"] {
            let mut side = Side::new(name, mode, &rt, now);
            let session = side.session();
            for _ in 0..3 {
                let a = side.run(&rt, mode, vec![call_request(session.as_deref())]);
                a.check(mode, name);
            }
            println!(
                "check {name} {}: ok ({} body bytes: {:?})",
                mode.name(),
                side.run(&rt, mode, vec![call_request(session.as_deref())])
                    .bytes,
                String::from_utf8_lossy(
                    &side
                        .run(&rt, mode, vec![call_request(session.as_deref())])
                        .last
                )
            );
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(batch: usize, runs: usize) {
    let rt = runtime();
    let now = Instant::now();
    for mode in Mode::ALL {
        for name in ["ours", "rmcp", "machine"] {
            let mut side = Side::new(name, mode, &rt, now);
            let session = side.session();
            let build = || -> Vec<Request<Bytes>> {
                (0..batch)
                    .map(|_| call_request(session.as_deref()))
                    .collect()
            };
            // Warm-up run.
            side.run(&rt, mode, build()).check(mode, name);
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let reqs = build();
                let start = Instant::now();
                let last = side.run(&rt, mode, reqs);
                let took: Duration = start.elapsed();
                last.check(mode, name);
                times.push(took.as_nanos() as f64 / batch as f64);
            }
            // One more run for the heap, the request batch built before the count.
            let reqs = build();
            let region = Region::new(GLOBAL);
            let last = side.run(&rt, mode, reqs);
            let stats = region.change();
            last.check(mode, name);
            // `run` itself allocates nothing per request for ours; rmcp's run maps the
            // batch into its body type (one Vec for the whole run): negligible per request.
            println!(
                "inproc {} {name}: median_ns={:.0} min_ns={:.0} allocs={:.2} alloc_bytes={:.0} runs={runs} batch={batch}",
                mode.name(),
                median(times.clone()),
                times.iter().copied().fold(f64::INFINITY, f64::min),
                stats.allocations as f64 / batch as f64,
                stats.bytes_allocated as f64 / batch as f64,
            );
        }
    }
}

fn iterate(name: &str, mode: Mode, n: u64) {
    let rt = runtime();
    let now = Instant::now();
    if name == "parse" {
        // The floor: a bare `serde_json::Value` parse of the call's body.
        for _ in 0..n {
            let v: serde_json::Value =
                serde_json::from_slice(std::hint::black_box(CALL.as_bytes())).expect("JSON");
            std::hint::black_box(v);
        }
        return;
    }
    if name == "build" {
        // The cost of building what `ours` and `rmcp` get; a fixed session id.
        let session = mode
            .stateful()
            .then_some("0123456789abcdef0123456789abcdef");
        for _ in 0..n {
            let req = theirs::to_rmcp(call_request(session));
            std::hint::black_box(req);
        }
        return;
    }
    let mut side = Side::new(name, mode, &rt, now);
    let session = side.session();
    let session = session.as_deref();
    let mut last = Answered::default();
    match &mut side {
        Side::Ours(o) => {
            for _ in 0..n {
                last = o.call(call_request(session));
                quick(&last, mode);
            }
        }
        Side::Rmcp(t) => rt.block_on(async {
            for _ in 0..n {
                last = t.call(theirs::to_rmcp(call_request(session))).await;
                quick(&last, mode);
            }
        }),
    }
    if n > 0 {
        last.check(mode, name);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["check"] => check(),
        ["bench", rest @ ..] => {
            let mut batch = 20_000;
            let mut runs = 7;
            let mut it = rest.iter();
            while let Some(flag) = it.next() {
                let value = it.next().and_then(|v| v.parse().ok());
                match (*flag, value) {
                    ("--batch", Some(v)) => batch = v,
                    ("--runs", Some(v)) => runs = v,
                    _ => {
                        eprintln!("{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            bench(batch, runs.max(1));
        }
        ["iterate", side, mode, n] => {
            let (Some(mode), Ok(n)) = (Mode::parse(mode), n.parse()) else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            iterate(side, mode, n);
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
