//! The server machine in process: one request through `handle_request`, the application's
//! answer through `send`, and every output drained, as a driver would. No sockets.
//!
//! ```text
//! cargo bench -p mcp-http-proto-benches --bench server -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Inputs are built before timing (`iter_batched`); each iteration asserts the outcome it
//! expects. Beside the requests, the same run times a bare `serde_json::from_slice` of the
//! `tools/call` body into a `Value`: the floor any JSON-RPC server pays.
//!
//! - `tools_call/{sse,sse_no_replay,json}`: an in-session `tools/call` to its complete
//!   response (SSE with replay on, SSE without, JSON);
//! - `initialize`: a new session's `initialize`, its answer, and the session's end
//!   (`terminate_session`, so that the run does not pile up sessions);
//! - `notification`: a 202;
//! - `refused/{403,406,404}`: a foreign `Origin`, a bad `Accept`, an unknown session;
//! - `modern/tools_call`: a 2026-07-28 `tools/call` (no session; `MCP-Protocol-Version`,
//!   `Mcp-Method` and `Mcp-Name` checked against the body and its `_meta`) to its
//!   complete response;
//! - `modern/refused_400`: the same request with an `Mcp-Name` that does not match
//!   `params.name` (`N26-6`), refused from the header validation.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput};
use http::Request;
use mcp_http_proto::server::{Outcome, ReplyMode, Server, ServerConfig, StreamEvent};
use mcp_http_proto_benches::post;

const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const ANSWER: &str =
    r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hello"}]}}"#;
const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}"#;
const NOTE: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#;
/// A 2026-07-28 `tools/call`: its `_meta` names the version and the client's capabilities.
const MODERN_CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

/// The 2026-07-28 POST of [`MODERN_CALL`], its `Mcp-Name` header `name`.
fn modern_post(name: &str) -> Request<Bytes> {
    let mut r = post(MODERN_CALL, None);
    let h = r.headers_mut();
    h.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    h.insert("mcp-method", "tools/call".parse().unwrap());
    h.insert("mcp-name", name.parse().unwrap());
    r
}

/// Builds a request for a session id.
type MakeRequest = fn(&str) -> Request<Bytes>;

/// Drains every output; the number of bytes of data written.
fn drain(s: &mut Server) -> usize {
    let mut n = 0;
    while let Some(o) = s.poll_output() {
        if let StreamEvent::Data(d) = &o.event {
            n += d.len();
        }
    }
    while s.poll_event().is_some() {}
    n
}

/// A server of `config` with one initialized session; the session id.
fn with_session(config: ServerConfig, now: Instant) -> (Server, String) {
    let mut s = Server::new(config);
    let Outcome::Dispatch(d) = s.handle_request(post(INIT, None), now) else {
        panic!("initialize dispatched")
    };
    s.send(d.stream, RESULT, now).unwrap();
    let mut id = None;
    while let Some(o) = s.poll_output() {
        if let StreamEvent::Head(h) = &o.event {
            id = h
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
        }
    }
    let id = id.expect("a session id");
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let _ = s.handle_request(post(note, Some(&id)), now);
    drain(&mut s);
    (s, id)
}

/// One `tools/call` through the machine to its complete response.
fn call(s: &mut Server, req: Request<Bytes>, now: Instant) -> usize {
    let Outcome::Dispatch(d) = s.handle_request(req, now) else {
        panic!("dispatched")
    };
    s.send(d.stream, ANSWER, now).unwrap();
    let n = drain(s);
    assert!(n > 0);
    n
}

fn main() {
    #[expect(
        clippy::disallowed_methods,
        reason = "a bench is a driver: it gives the machine its clock"
    )]
    let now = Instant::now();
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("server");
    g.throughput(Throughput::Elements(1));

    g.bench_function("bare_value_parse_of_the_call", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(CALL.as_bytes())).unwrap();
            assert!(v.is_object());
        })
    });
    let configs = [
        ("sse", ServerConfig::default()),
        (
            "sse_no_replay",
            ServerConfig {
                replay: None,
                ..ServerConfig::default()
            },
        ),
        (
            "json",
            ServerConfig {
                reply_mode: ReplyMode::Json,
                ..ServerConfig::default()
            },
        ),
    ];
    for (name, config) in configs {
        let (mut s, id) = with_session(
            ServerConfig {
                session_idle_timeout: None,
                ..config
            },
            now,
        );
        g.bench_function(format!("tools_call/{name}"), |b| {
            b.iter_batched(
                || post(CALL, Some(&id)),
                |req| call(&mut s, req, now),
                BatchSize::SmallInput,
            )
        });
    }
    {
        let mut s = Server::new(ServerConfig {
            max_sessions: None,
            ..ServerConfig::default()
        });
        g.bench_function("initialize", |b| {
            b.iter_batched(
                || post(INIT, None),
                |req| {
                    let Outcome::Dispatch(d) = s.handle_request(req, now) else {
                        panic!("dispatched")
                    };
                    s.send(d.stream, RESULT, now).unwrap();
                    let mut session = None;
                    while let Some(o) = s.poll_output() {
                        if let StreamEvent::Head(h) = &o.event {
                            session = h.headers().get("mcp-session-id").cloned();
                        }
                    }
                    // The session ends again, so that memory stays flat over the run.
                    let id = session.expect("a session id");
                    let id = mcp_http_proto::SessionId::new(id.to_str().unwrap()).unwrap();
                    assert!(s.terminate_session(&id));
                    drain(&mut s)
                },
                BatchSize::SmallInput,
            )
        });
    }
    let (mut s, id) = with_session(ServerConfig::default(), now);
    g.bench_function("notification", |b| {
        b.iter_batched(
            || post(NOTE, Some(&id)),
            |req| {
                let out = s.handle_request(req, now);
                assert_eq!(out.response().map(|r| r.status().as_u16()), Some(202));
            },
            BatchSize::SmallInput,
        )
    });
    let refusals: [(&str, MakeRequest, u16); 3] = [
        (
            "refused/403",
            |id| {
                let mut r = post(CALL, Some(id));
                r.headers_mut()
                    .insert("origin", "http://evil.example".parse().unwrap());
                r
            },
            403,
        ),
        (
            "refused/406",
            |id| {
                let mut r = post(CALL, Some(id));
                r.headers_mut()
                    .insert("accept", "text/html".parse().unwrap());
                r
            },
            406,
        ),
        ("refused/404", |_| post(CALL, Some("no-such-session")), 404),
    ];
    for (name, make, status) in refusals {
        g.bench_function(name, |b| {
            b.iter_batched(
                || make(&id),
                |req| match s.handle_request(req, now) {
                    Outcome::Reject(r) => assert_eq!(r.response.status().as_u16(), status),
                    other => panic!("{other:?}"),
                },
                BatchSize::SmallInput,
            )
        });
    }
    // The 2026-07-28 path: no session, the metadata headers checked against the body.
    let mut modern = Server::new(ServerConfig::default());
    g.bench_function("modern/tools_call", |b| {
        b.iter_batched(
            || modern_post("echo"),
            |req| call(&mut modern, req, now),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("modern/refused_400", |b| {
        b.iter_batched(
            || modern_post("not-echo"),
            |req| match modern.handle_request(req, now) {
                Outcome::Reject(r) => assert_eq!(r.response.status().as_u16(), 400),
                other => panic!("{other:?}"),
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    c.final_summary();
}
