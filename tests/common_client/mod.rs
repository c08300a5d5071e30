//! Helpers for client tests that script the server's answers by hand.

#![allow(dead_code)]

use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId, Transmit};
use mcp_http_proto::entropy::SeededEntropy;

pub const ENDPOINT: &str = "http://127.0.0.1:8080/mcp";

#[allow(clippy::disallowed_methods)]
pub fn base_instant() -> Instant {
    Instant::now()
}

pub fn config() -> ClientConfig {
    ClientConfig::new(ENDPOINT.parse().unwrap())
}

pub fn client(config: ClientConfig) -> Client {
    Client::with_entropy(config, Box::new(SeededEntropy::new(11))).expect("valid config")
}

pub fn init_request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
    )
}

pub fn init_result(id: u64, version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}"#
    )
}

pub fn request(id: u64, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#)
}

pub fn result(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
}

pub fn transmits(c: &mut Client) -> Vec<Transmit> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

pub fn events(c: &mut Client) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

pub fn one(c: &mut Client) -> Transmit {
    let mut t = transmits(c);
    assert_eq!(t.len(), 1, "{t:?}");
    t.remove(0)
}

pub fn header<'a>(r: &'a Request<Bytes>, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

pub fn body(r: &Request<Bytes>) -> &str {
    std::str::from_utf8(r.body()).unwrap()
}

pub fn head(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
    let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// A whole response: head, body (if any), end.
pub fn respond(
    c: &mut Client,
    ex: ExchangeId,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
    now: Instant,
) {
    c.handle_response_head(ex, head(status, headers)).unwrap();
    if !body.is_empty() {
        c.handle_response_chunk(ex, Bytes::from(body.to_owned()), now)
            .unwrap();
    }
    c.handle_response_end(ex, now).unwrap();
}

pub const JSON: (&str, &str) = ("content-type", "application/json");
pub const SSE: (&str, &str) = ("content-type", "text/event-stream");

/// An SSE message event with an id.
pub fn sse(id: &str, json: &str) -> String {
    format!("id: {id}\nevent: message\ndata: {json}\n\n")
}

/// Starts `initialize` (request id 1) on `c` and answers its POST with `status`, `headers`
/// and `body`. Returns the exchange of that POST.
pub fn answer_initialize(
    c: &mut Client,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
    now: Instant,
) -> ExchangeId {
    c.initialize(init_request(1)).unwrap();
    let t = one(c);
    respond(c, t.exchange, status, headers, body, now);
    t.exchange
}

/// Initializes `c` against a scripted server that answers with `session` (if any) and
/// `version`, and completes the `notifications/initialized` POST with 202. Returns the
/// events of the initialization.
pub fn initialize(
    c: &mut Client,
    session: Option<&str>,
    version: &str,
    now: Instant,
) -> Vec<ClientEvent> {
    let mut headers = vec![JSON];
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
    }
    answer_initialize(c, 200, &headers, &init_result(1, version), now);
    for t in transmits(c) {
        if body(&t.request).contains("notifications/initialized") {
            respond(c, t.exchange, 202, &[], "", now);
        } else {
            panic!("unexpected request after initialize: {:?}", t.request);
        }
    }
    assert!(c.is_ready());
    events(c)
}
