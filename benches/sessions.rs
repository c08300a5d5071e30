//! The session table at scale: lookups and idle expiry with 1 thousand, 100 thousand and
//! 1 million live sessions.
//!
//! ```text
//! cargo bench -p mcp-http-proto-benches --bench sessions -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! Sessions are put in with `Server::restore_session` (plain `SessionRecord`s, ids of 32
//! hex digits as the machine mints them), which takes about a second for a million. The
//! clock is virtual: `Instant`s the bench advances; the machine never reads one.
//!
//! - `lookup/check_head/N`: `check_head` of an in-session POST, the cheapest public path
//!   that looks a session up (read-only); it must pass;
//! - `lookup/notification/N`: `handle_request` of an in-session notification to its 202:
//!   the lookup, and the session's idle clock restarted;
//! - `expire_10pct/N`: `handle_timeout` at an instant when a tenth of the sessions are
//!   past their idle deadline, and the drain of their `SessionClosed` events. The sessions
//!   sit in ten cohorts of last activity, a tenth of the timeout apart; each iteration
//!   advances the clock by that tenth, expires the oldest cohort, and (untimed) restores
//!   it as the newest, so that the table stays at N sessions and the clock only advances.
//!
//! Requests cycle over sessions picked across the whole table, so that a lookup at 1M
//! does not hit one hot entry.

// A bench is a driver: it reads the clock the machine never reads.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{Outcome, Server, ServerConfig, ServerEvent, SessionRecord};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto_benches::post;

const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const NOTE: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#;

/// The table sizes.
const SIZES: [(&str, usize); 3] = [("1k", 1_000), ("100k", 100_000), ("1M", 1_000_000)];
/// How many distinct sessions the lookups cycle over.
const PICKS: usize = 4096;
/// The idle timeout; cohorts are a tenth of it apart.
const IDLE: Duration = Duration::from_secs(1000);
const COHORTS: u32 = 10;

/// A 64-bit mix (splitmix64): spreads indices into ids and picks.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Session `i`'s id: 32 hex digits, like a minted one.
fn id_of(i: usize) -> String {
    format!("{:016x}{:016x}", mix(i as u64), mix(!(i as u64)))
}

fn record(i: usize) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(&id_of(i)).expect("hex is visible ASCII"),
        protocol_version: ProtocolVersion::V2025_11_25,
        initialized: true,
        standalone: None,
    }
}

/// A server with `n` live sessions, in `COHORTS` cohorts of last activity from `base`
/// (cohort `c` at `base + c * IDLE / COHORTS`); the records of each cohort, and the
/// instant the last cohort went in.
fn populated(n: usize, base: Instant) -> (Server, Vec<Vec<SessionRecord>>, Instant) {
    let mut s = Server::new(ServerConfig {
        max_sessions: None,
        session_idle_timeout: Some(IDLE),
        ..ServerConfig::default()
    });
    let mut cohorts: Vec<Vec<SessionRecord>> = (0..COHORTS).map(|_| Vec::new()).collect();
    for i in 0..n {
        cohorts[i % COHORTS as usize].push(record(i));
    }
    let mut at = base;
    for (c, records) in cohorts.iter().enumerate() {
        at = base + IDLE / COHORTS * c as u32;
        for r in records {
            s.restore_session(r.clone(), at).expect("restored");
        }
    }
    assert_eq!(s.session_count(), n);
    (s, cohorts, at)
}

fn main() {
    let base = Instant::now();
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("sessions");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);

    for (label, n) in SIZES {
        let setup = Instant::now();
        let (mut s, mut cohorts, mut now) = populated(n, base);
        eprintln!(
            "sessions/{label}: {n} sessions restored in {:.2?}",
            setup.elapsed()
        );
        let picks: Vec<String> = (0..PICKS)
            .map(|k| id_of((mix(k as u64 + 7) % n as u64) as usize))
            .collect();
        // The lookup is real: an unknown id is refused at the same step.
        let (head, _) = post(CALL, Some("no-such-session")).into_parts();
        let refused = s.check_head(&head).expect("an unknown session is refused");
        assert_eq!(refused.response.status().as_u16(), 404);

        let mut k = 0;
        g.bench_function(format!("lookup/check_head/{label}"), |b| {
            b.iter_batched(
                || {
                    k = (k + 1) % PICKS;
                    post(CALL, Some(&picks[k])).into_parts().0
                },
                |head| {
                    assert!(s.check_head(&head).is_none());
                    // Dropped outside the timing.
                    head
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("lookup/notification/{label}"), |b| {
            b.iter_batched(
                || {
                    k = (k + 1) % PICKS;
                    post(NOTE, Some(&picks[k]))
                },
                |req| {
                    let out = s.handle_request(req, now);
                    assert!(matches!(out, Outcome::Accepted(_)), "{out:?}");
                    assert_eq!(out.response().map(|r| r.status().as_u16()), Some(202));
                    out
                },
                BatchSize::SmallInput,
            )
        });
        while s.poll_event().is_some() {}

        // The notifications above restarted some sessions' idle clocks at `now` (in the
        // last cohort's slot): that cohort keeps them, the others lose them to it, so a
        // round expires at most a tenth.
        let mut oldest = 0;
        g.bench_function(format!("expire_10pct/{label}"), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    now += IDLE / COHORTS;
                    let start = Instant::now();
                    s.handle_timeout(now);
                    let mut closed = 0;
                    while let Some(e) = s.poll_event() {
                        if matches!(e, ServerEvent::SessionClosed { .. }) {
                            closed += 1;
                        }
                    }
                    timed += start.elapsed();
                    assert!(closed > 0 && closed <= n / COHORTS as usize + PICKS);
                    // Untimed: the expired cohort comes back as the newest.
                    for r in &cohorts[oldest] {
                        if s.session(&r.id).is_none() {
                            s.restore_session(r.clone(), now).expect("restored");
                        }
                    }
                    oldest = (oldest + 1) % COHORTS as usize;
                }
                timed
            })
        });
        // Sessions the notifications touched may wait for their cohort's next round.
        assert!(s.session_count() + PICKS >= n);
        cohorts.clear();
        drop(s);
    }
    g.finish();
    c.final_summary();
}
