//! Memory bounds of the server machine, counted by an instrumented global allocator.
//!
//! ```text
//! cargo bench -p mcp-http-proto-benches --bench memory            # 100,000 sessions
//! MEMORY_SESSIONS=1000000 cargo bench -p mcp-http-proto-benches --bench memory
//! ```
//!
//! It prints, one line each:
//! - the heap held per idle session (after `initialize`, its answer and
//!   `notifications/initialized`), with SSE and with JSON replies, over `MEMORY_SESSIONS`
//!   sessions (the session cap lifted for it);
//! - the peak heap under `MEMORY_SESSIONS` `initialize` attempts against the default cap
//!   (10,000 sessions): bounded by the cap, whatever the number of attempts;
//! - the replay bytes and heap held when 256 sessions each leave 64 finished streams of
//!   64 KiB for replay (a terabyte-scale demand at the default limits per stream), under
//!   the default server-wide budget of 256 MiB;
//! - the transient heap of refusing floods: a 1 MiB header, 4 MiB bodies (deep JSON,
//!   a session-less batch).
//!
//! "Heap held" is bytes allocated minus bytes freed between two points; the peak is
//! sampled after every request.

// A bench is a driver: it reads the clock the machine never reads.
#![allow(clippy::disallowed_methods)]

use std::alloc::System;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use mcp_http_proto::server::{Outcome, ReplyMode, Server, ServerConfig};
use mcp_http_proto_benches::post;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes held now by what `region` saw: allocated minus freed. stats_alloc already
/// counts a reallocation's growth in `bytes_allocated` (and its shrinking in
/// `bytes_deallocated`); `bytes_reallocated` is the same change again, not to be added.
fn held(region: &Region<'_, System>) -> isize {
    let s = region.change();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// Opens one session on `s`: initialize, its answer, notifications/initialized. Its id.
fn open(s: &mut Server, now: Instant) -> Option<String> {
    let d = match s.handle_request(post(INIT, None), now) {
        Outcome::Dispatch(d) => d,
        _ => return None,
    };
    s.send(d.stream, RESULT, now).ok()?;
    let mut id = None;
    while let Some(out) = s.poll_output() {
        if let mcp_http_proto::server::StreamEvent::Head(h) = &out.event {
            id = h
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
    }
    let id = id?;
    let _ = s.handle_request(post(INITIALIZED, Some(&id)), now);
    while s.poll_output().is_some() {}
    while s.poll_event().is_some() {}
    Some(id)
}

fn per_idle_session(n: usize, reply: ReplyMode) {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig {
        reply_mode: reply,
        max_sessions: None,
        ..ServerConfig::default()
    });
    // Warm the machine's own tables before counting.
    open(&mut s, now);
    let region = Region::new(GLOBAL);
    for _ in 0..n {
        open(&mut s, now).expect("a session");
    }
    let bytes = held(&region);
    println!(
        "idle sessions, {reply:?} replies: {n} sessions hold {bytes} bytes, {:.0} bytes per session",
        bytes as f64 / n as f64
    );
}

fn initialize_flood(n: usize) {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig::default());
    let region = Region::new(GLOBAL);
    let mut peak = 0;
    let mut refused = 0;
    for i in 0..n {
        // Each attempt is answered, as a live application would.
        if open(&mut s, now).is_none() {
            refused += 1;
        }
        if i % 64 == 0 {
            peak = peak.max(held(&region));
        }
    }
    peak = peak.max(held(&region));
    println!(
        "initialize flood: {n} attempts, {} sessions, {refused} refused, peak heap {peak} bytes ({:.1} MiB)",
        s.session_count(),
        peak as f64 / (1 << 20) as f64
    );
}

fn replay_pressure(sessions: usize) {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig {
        session_idle_timeout: None,
        ..ServerConfig::default()
    });
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":7,"result":{{"text":"{}"}}}}"#,
        "x".repeat(64 * 1024)
    );
    let list = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    let region = Region::new(GLOBAL);
    let mut peak = 0;
    for _ in 0..sessions {
        let id = open(&mut s, now).expect("a session");
        for _ in 0..64 {
            let Outcome::Dispatch(d) = s.handle_request(post(list, Some(&id)), now) else {
                panic!("dispatched")
            };
            s.send(d.stream, big.clone(), now).unwrap();
            while s.poll_output().is_some() {}
            peak = peak.max(held(&region));
        }
    }
    println!(
        "replay pressure: {sessions} sessions x 64 finished streams x 64 KiB answers ({} MiB asked): replay holds {} bytes ({:.1} MiB, budget 256 MiB), peak heap {:.1} MiB",
        sessions * 4,
        s.replay_bytes(),
        s.replay_bytes() as f64 / (1 << 20) as f64,
        peak as f64 / (1 << 20) as f64
    );
}

fn floods() {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig::default());
    let id = open(&mut s, now).expect("a session");
    let huge_header = "9".repeat(1 << 20);
    let deep = format!(
        "{}{}",
        "[".repeat((2 << 20) - 64),
        "]".repeat((2 << 20) - 64)
    );
    let one = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#;
    let mut batch = String::from("[");
    while batch.len() < (4 << 20) - 256 {
        batch.push_str(one);
        batch.push(',');
    }
    batch.push_str(one);
    batch.push(']');
    let cases: Vec<(&str, Request<Bytes>)> = vec![
        ("1 MiB MCP-Protocol-Version", {
            let mut r = post(
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
                Some(&id),
            );
            r.headers_mut()
                .insert("mcp-protocol-version", huge_header.parse().unwrap());
            r
        }),
        ("4 MiB of nested arrays", post(deep.clone(), Some(&id))),
        ("4 MiB session-less batch", post(batch.clone(), None)),
        ("4 MiB batch in a session", post(batch.clone(), Some(&id))),
    ];
    for (what, req) in cases {
        let region = Region::new(GLOBAL);
        let out = s.handle_request(req, now);
        let stats = region.change();
        let status = match &out {
            Outcome::Reject(r) => r.response.status().as_u16(),
            _ => 0,
        };
        drop(out);
        while s.poll_output().is_some() {}
        println!(
            "flood, {what}: status {status}, {} bytes allocated while refusing",
            stats.bytes_allocated
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    // `cargo test --all-targets` runs benches once without `--bench`: a small smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("MEMORY_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 100_000 } else { 1_000 });
    let t0 = Instant::now();
    per_idle_session(n, ReplyMode::Sse);
    per_idle_session(n, ReplyMode::Json);
    initialize_flood(n);
    replay_pressure(if bench { 256 } else { 4 });
    floods();
    eprintln!(
        "memory bench: {:?}",
        Duration::from_secs(t0.elapsed().as_secs())
    );
}
