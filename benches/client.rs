//! The client machine in process: a `tools/call` in an established session, as a driver
//! runs it, with no sockets.
//!
//! ```text
//! cargo bench -p mcp-http-proto-benches --bench client -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! Every case starts from a client whose session is established (an `initialize` answered
//! with a session id, `notifications/initialized` answered with 202). Inputs are built
//! before timing (`iter_batched`); each iteration asserts the outcome it expects.
//!
//! - `build_request`: `send` of the `tools/call` and `poll_transmit` of its complete
//!   `http::Request` (session and version headers, `Accept`, `Content-Type`);
//! - `read_response/{json,sse}`: the head, the body and the end of a 200 answer to that
//!   request (`application/json`, or `text/event-stream` with a priming event and the
//!   response event), to the [`ClientEvent::Response`];
//! - `round_trip/{json,sse}`: both, on one long-lived client (the steady state);
//! - `bare_value_parse/json`: `serde_json::from_slice::<Value>` of the response JSON (the
//!   same text the SSE event's data carries): the floor any JSON-RPC client pays to read
//!   it.
//!
//! After the timed runs it prints the heap allocations of one `read_response` and one
//! `build_request` (counted by an instrumented global allocator, no unsafe of ours).

// A bench is a driver: it reads the clock the machine never reads.
#![allow(clippy::disallowed_methods)]

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput};
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}"#;
const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const ANSWER: &str =
    r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hello"}]}}"#;
/// The SSE body a resumable server sends for `ANSWER`: a priming event (an id and empty
/// data), then the response event.
const SSE: &str = "id: 0a1b2c3d-1-0\ndata:\n\nevent: message\nid: 0a1b2c3d-1-1\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}\n\n";

/// A response head of `status` with `content_type` (and a session id when given).
fn head(status: u16, content_type: Option<&str>, session: Option<&str>) -> http::response::Parts {
    let mut b = http::Response::builder().status(status);
    if let Some(t) = content_type {
        b = b.header("content-type", t);
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(()).expect("valid parts").into_parts().0
}

/// The driver's clock, read once: the machine only compares instants it is given.
fn clock() -> Instant {
    static NOW: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *NOW.get_or_init(Instant::now)
}

/// Feeds a complete response to `exchange`.
fn respond(c: &mut Client, exchange: ExchangeId, head: http::response::Parts, body: Bytes) {
    let now = clock();
    c.handle_response_head(exchange, head).unwrap();
    if !body.is_empty() {
        c.handle_response_chunk(exchange, body, now).unwrap();
    }
    c.handle_response_end(exchange, now).unwrap();
}

/// A client with an established session: `initialize` answered (JSON, with a session
/// id), `notifications/initialized` answered with 202, every event drained.
fn established() -> Client {
    let mut c = Client::new(ClientConfig::new(
        "http://127.0.0.1:8080/mcp".parse().unwrap(),
    ))
    .unwrap();
    c.initialize(INIT).unwrap();
    let t = c.poll_transmit().expect("the initialize POST");
    respond(
        &mut c,
        t.exchange,
        head(200, Some("application/json"), Some("abc123")),
        Bytes::from_static(RESULT.as_bytes()),
    );
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Initialized { .. })
    ));
    let t = c.poll_transmit().expect("notifications/initialized");
    respond(&mut c, t.exchange, head(202, None, None), Bytes::new());
    while c.poll_event().is_some() {}
    assert!(c.poll_transmit().is_none());
    assert!(c.is_ready());
    c
}

/// `send` and `poll_transmit` of the call; its exchange.
fn build(c: &mut Client) -> ExchangeId {
    c.send(Bytes::from_static(CALL.as_bytes())).unwrap();
    let t = c.poll_transmit().expect("the tools/call POST");
    assert_eq!(t.request.headers()["mcp-session-id"], "abc123");
    t.exchange
}

/// Reads a 200 answer to the call on `exchange`, to its `Response` event.
fn read(c: &mut Client, exchange: ExchangeId, head: http::response::Parts, body: Bytes) {
    respond(c, exchange, head, body);
    match c.poll_event() {
        Some(ClientEvent::Response { message, .. }) => assert!(message.json().len() > 40),
        other => panic!("{other:?}"),
    }
}

/// The two answer kinds: name, `Content-Type`, body.
const KINDS: [(&str, &str, &str); 2] = [
    ("json", "application/json", ANSWER),
    ("sse", "text/event-stream", SSE),
];

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("client");
    g.throughput(Throughput::Elements(1));

    g.bench_function("bare_value_parse/json", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(ANSWER.as_bytes())).unwrap();
            assert!(v.is_object());
        })
    });
    g.bench_function("build_request", |b| {
        b.iter_batched(
            established,
            |mut c| {
                let e = build(&mut c);
                (c, e)
            },
            BatchSize::SmallInput,
        )
    });
    for (name, content_type, body) in KINDS {
        g.bench_function(format!("read_response/{name}"), |b| {
            b.iter_batched(
                || {
                    let mut c = established();
                    let e = build(&mut c);
                    let h = head(200, Some(content_type), None);
                    (c, e, h, Bytes::from_static(body.as_bytes()))
                },
                |(mut c, e, h, body)| {
                    read(&mut c, e, h, body);
                    c
                },
                BatchSize::SmallInput,
            )
        });
    }
    for (name, content_type, body) in KINDS {
        let mut c = established();
        g.bench_function(format!("round_trip/{name}"), |b| {
            b.iter_batched(
                || {
                    (
                        head(200, Some(content_type), None),
                        Bytes::from_static(body.as_bytes()),
                    )
                },
                |(h, body)| {
                    let e = build(&mut c);
                    read(&mut c, e, h, body);
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    c.final_summary();

    // Allocations of one operation each, on warm clients.
    for (name, content_type, text) in KINDS {
        let body = || Bytes::from_static(text.as_bytes());
        let mut c = established();
        let e = build(&mut c);
        read(&mut c, e, head(200, Some(content_type), None), body());
        let e = build(&mut c);
        let (h, b) = (head(200, Some(content_type), None), body());
        let region = Region::new(GLOBAL);
        read(&mut c, e, h, b);
        let read_allocs = region.change().allocations;
        let region = Region::new(GLOBAL);
        let e = build(&mut c);
        let build_allocs = region.change().allocations;
        let (h, b) = (head(200, Some(content_type), None), body());
        read(&mut c, e, h, b);
        println!(
            "allocations: client/read_response/{name}: {read_allocs}, client/build_request: {build_allocs}"
        );
    }
    let region = Region::new(GLOBAL);
    let v: serde_json::Value = serde_json::from_slice(black_box(ANSWER.as_bytes())).unwrap();
    let bare = region.change().allocations;
    drop(v);
    println!("allocations: client/bare_value_parse/json: {bare}");
}
