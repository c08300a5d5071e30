//! Shared helpers for the behaviour tests: requests with the right default headers, JSON-RPC
//! bodies, a session opener, and drains for the machine's outputs and events.
//!
//! Every test drives the server with a virtual clock: one base `Instant` from
//! [`base_instant`], plus `Duration` offsets.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use mcp_http_proto::Server;
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::server::{
    Outcome, Output, Refusal, Reject, ServerConfig, ServerEvent, StreamEvent, StreamId,
};
use mcp_http_proto::wire::SessionId;

pub const HOST: &str = "127.0.0.1:8080";
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";
pub const EVENT_STREAM: &str = "text/event-stream";
pub const JSON: &str = "application/json";
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The base of the virtual clock. The library never reads a clock; tests read one once.
#[allow(clippy::disallowed_methods)]
pub fn base_instant() -> Instant {
    Instant::now()
}

/// A server with deterministic session ids.
pub fn server(config: ServerConfig) -> Server {
    server_seeded(config, 7)
}

pub fn server_seeded(config: ServerConfig, seed: u64) -> Server {
    Server::with_entropy(config, Box::new(SeededEntropy::new(seed)))
}

// ----- bodies -----

pub fn initialize_body(id: u64, version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"test-client","version":"1"}}}}}}"#
    )
}

pub fn initialize_result(id: u64, version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"test-server","version":"1"}}}}}}"#
    )
}

pub fn error_answer(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"no"}}}}"#)
}

pub fn result_answer(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[]}}}}"#)
}

pub fn tools_list(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#)
}

pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
pub const PROGRESS: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#;
pub const LOG: &str =
    r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
/// A client's answer to a server-initiated request.
pub const CLIENT_RESPONSE: &str = r#"{"jsonrpc":"2.0","id":"srv-1","result":{}}"#;
pub const CLIENT_ERROR_RESPONSE: &str =
    r#"{"jsonrpc":"2.0","id":"srv-2","error":{"code":-1,"message":"refused"}}"#;
pub const SAMPLING_REQUEST: &str =
    r#"{"jsonrpc":"2.0","id":"srv-9","method":"sampling/createMessage","params":{}}"#;
pub const PING_REQUEST: &str = r#"{"jsonrpc":"2.0","id":"srv-ping","method":"ping"}"#;

// ----- requests -----

/// A POST with Host, both Accept types and `Content-Type: application/json`.
pub fn post(body: impl Into<String>) -> Request<Bytes> {
    Request::post("/mcp")
        .header("host", HOST)
        .header("accept", ACCEPT_BOTH)
        .header("content-type", JSON)
        .body(Bytes::from(body.into()))
        .unwrap()
}

/// A copy of `r` (an `http::Request` is not `Clone`).
pub fn clone_request(r: &http::Request<Bytes>) -> http::Request<Bytes> {
    let mut c = http::Request::new(r.body().clone());
    *c.method_mut() = r.method().clone();
    *c.uri_mut() = r.uri().clone();
    *c.headers_mut() = r.headers().clone();
    c
}

/// Handles a request that must be dispatched; its reply stream.
pub fn dispatch(s: &mut Server, req: Request<Bytes>, now: Instant) -> StreamId {
    match s.handle_request(req, now) {
        Outcome::Dispatch(d) => d.stream,
        other => panic!("expected a dispatch, got {other:?}"),
    }
}

/// A POST carrying a session id.
pub fn post_in(session: &str, body: impl Into<String>) -> Request<Bytes> {
    post(body).set(SESSION_HEADER, session)
}

/// A GET with Host and `Accept: text/event-stream`, and the session header if given.
pub fn get(session: Option<&str>) -> Request<Bytes> {
    let r = Request::get("/mcp")
        .header("host", HOST)
        .header("accept", EVENT_STREAM)
        .body(Bytes::new())
        .unwrap();
    match session {
        Some(s) => r.set(SESSION_HEADER, s),
        None => r,
    }
}

/// A DELETE with Host, and the session header if given.
pub fn delete(session: Option<&str>) -> Request<Bytes> {
    let r = Request::delete("/mcp")
        .header("host", HOST)
        .body(Bytes::new())
        .unwrap();
    match session {
        Some(s) => r.set(SESSION_HEADER, s),
        None => r,
    }
}

/// A request with another method and the POST defaults.
pub fn request_with_method(method: &str) -> Request<Bytes> {
    let mut r = post(tools_list(1));
    *r.method_mut() = http::Method::from_bytes(method.as_bytes()).unwrap();
    r
}

/// Fluent header edits on a built request.
pub trait RequestExt: Sized {
    /// Replaces every value of `name` with `value`.
    fn set(self, name: &str, value: &str) -> Self;
    /// Replaces every value of `name` with raw bytes (for non-visible-ASCII values).
    fn set_bytes(self, name: &str, value: &[u8]) -> Self;
    /// Adds one more value of `name`.
    fn add(self, name: &str, value: &str) -> Self;
    /// Removes `name`.
    fn unset(self, name: &str) -> Self;
}

impl RequestExt for Request<Bytes> {
    fn set(mut self, name: &str, value: &str) -> Self {
        self.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    fn set_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
        self
    }

    fn add(mut self, name: &str, value: &str) -> Self {
        self.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    fn unset(mut self, name: &str) -> Self {
        self.headers_mut().remove(name);
        self
    }
}

// ----- outputs -----

/// Every queued stream output, in order.
/// The client of `stream`'s current connection went away (nothing happens when the
/// stream has none).
pub fn disconnect(
    server: &mut Server,
    stream: StreamId,
    now: Instant,
) -> Result<(), mcp_http_proto::server::UsageError> {
    match server.connection(stream) {
        Some(c) => server.handle_disconnect(c, now),
        None => Ok(()),
    }
}

pub fn drain(server: &mut Server) -> Vec<Output> {
    std::iter::from_fn(|| server.poll_output()).collect()
}

/// Every queued session event, in order.
pub fn drain_events(server: &mut Server) -> Vec<ServerEvent> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

/// A header of a response head as text.
pub fn header<'a, B>(response: &'a Response<B>, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("visible ASCII header"))
}

/// The heads among `outputs`.
pub fn heads(outputs: &[Output]) -> Vec<(StreamId, &Response<()>)> {
    outputs
        .iter()
        .filter_map(|o| match &o.event {
            StreamEvent::Head(h) => Some((o.stream, h)),
            _ => None,
        })
        .collect()
}

/// The single head among `outputs`.
pub fn only_head(outputs: &[Output]) -> &Response<()> {
    let hs = heads(outputs);
    assert_eq!(hs.len(), 1, "expected exactly one head in {outputs:?}");
    hs[0].1
}

/// The data chunks of `stream`, concatenated.
pub fn data_of(outputs: &[Output], stream: StreamId) -> Vec<u8> {
    outputs
        .iter()
        .filter(|o| o.stream == stream)
        .filter_map(|o| match &o.event {
            StreamEvent::Data(b) => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Whether `outputs` end `stream`.
pub fn ends(outputs: &[Output], stream: StreamId) -> bool {
    outputs
        .iter()
        .any(|o| o.stream == stream && matches!(o.event, StreamEvent::End))
}

/// A compact trace of `outputs`: `H`, `D` and `E` per stream event, in order.
pub fn shape(outputs: &[Output]) -> Vec<(StreamId, char)> {
    outputs
        .iter()
        .map(|o| {
            let c = match o.event {
                StreamEvent::Head(_) => 'H',
                StreamEvent::Data(_) => 'D',
                StreamEvent::End => 'E',
            };
            (o.stream, c)
        })
        .collect()
}

/// The JSON-RPC messages in SSE bytes, checking the frame layout the server writes: each
/// frame is `event: message`, optional `id:`/`retry:` fields, and one `data:` line of JSON,
/// then a blank line. Events with empty data (priming events) carry no message and are
/// skipped.
pub fn sse_messages(bytes: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(bytes).expect("SSE is UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "frames end with a blank line: {text:?}"
    );
    let mut out = Vec::new();
    for frame in text.split_terminator("\n\n") {
        let mut event = None;
        let mut data = Vec::new();
        for line in frame.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value),
                "data" => data.push(value),
                "id" | "retry" => {}
                other => panic!("unexpected SSE field {other:?} in {frame:?}"),
            }
        }
        if data.iter().all(|d| d.is_empty()) {
            continue; // a priming event
        }
        assert_eq!(event, Some("message"), "frame {frame:?}");
        assert_eq!(data.len(), 1, "one data line per message: {frame:?}");
        out.push(serde_json::from_str(data[0]).expect("data is JSON"));
    }
    out
}

/// One SSE frame as the server writes it: the fields it uses, each at most once (but
/// `data`), in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    /// The `event` field (the server writes `message` on message events).
    pub event: Option<String>,
    /// The `id` field: the resumption cursor.
    pub id: Option<String>,
    /// The `retry` field, in milliseconds.
    pub retry: Option<u64>,
    /// The `data` lines joined with LF; empty for priming events and bare `retry` frames.
    pub data: String,
    /// Whether the frame had a `data` field at all.
    pub has_data: bool,
}

impl SseFrame {
    /// A priming event (`SRV-PSSE-9`): an id, empty data, no event type.
    pub fn is_priming(&self) -> bool {
        self.id.is_some() && self.has_data && self.data.is_empty() && self.event.is_none()
    }

    /// The JSON-RPC message a message event carries.
    pub fn message(&self) -> Option<serde_json::Value> {
        (self.event.as_deref() == Some("message") && !self.data.is_empty())
            .then(|| serde_json::from_str(&self.data).expect("message data is JSON"))
    }
}

/// Parses SSE bytes as the server writes them into frames: `(id, retry, data)` and the
/// event type. Strict: LF line ends, every frame ends with a blank line, only the fields
/// `event`, `id`, `retry` and `data`, `retry` all digits, no field but `data` repeated.
pub fn sse_frames(bytes: &[u8]) -> Vec<SseFrame> {
    let text = std::str::from_utf8(bytes).expect("SSE is UTF-8");
    assert!(
        !text.contains('\r'),
        "the server writes LF line ends: {text:?}"
    );
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "frames end with a blank line: {text:?}"
    );
    let mut out = Vec::new();
    for frame in text.split_terminator("\n\n") {
        assert!(!frame.is_empty(), "no empty frame in {text:?}");
        let mut f = SseFrame {
            event: None,
            id: None,
            retry: None,
            data: String::new(),
            has_data: false,
        };
        let mut data: Vec<&str> = Vec::new();
        for line in frame.split('\n') {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => {
                    assert!(f.event.replace(value.to_owned()).is_none(), "{frame:?}");
                }
                "id" => {
                    assert!(f.id.replace(value.to_owned()).is_none(), "{frame:?}");
                }
                "retry" => {
                    assert!(
                        !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
                        "retry is all digits: {frame:?}"
                    );
                    assert!(
                        f.retry.replace(value.parse().unwrap()).is_none(),
                        "{frame:?}"
                    );
                }
                "data" => data.push(value),
                other => panic!("unexpected SSE field {other:?} in {frame:?}"),
            }
        }
        f.has_data = !data.is_empty();
        f.data = data.join("\n");
        out.push(f);
    }
    out
}

/// The SSE frames `outputs` carry for `stream`.
pub fn frames_of(outputs: &[Output], stream: StreamId) -> Vec<SseFrame> {
    sse_frames(&data_of(outputs, stream))
}

/// The ids of the frames `outputs` carry for `stream`, in order (frames without one
/// skipped).
pub fn ids_of(outputs: &[Output], stream: StreamId) -> Vec<String> {
    frames_of(outputs, stream)
        .into_iter()
        .filter_map(|f| f.id)
        .collect()
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

// ----- outcomes -----

/// The rejection, or a panic naming what came instead.
pub fn rejected(outcome: Outcome) -> Reject {
    match outcome {
        Outcome::Reject(r) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Asserts that `outcome` is a refusal by `refusal` with `status` and JSON-RPC `code`, and
/// that the response is a complete JSON-RPC error (`INV-S17`): `Content-Type:
/// application/json`, a correct `Content-Length`, `{"jsonrpc":"2.0","id":null,"error":
/// {"code":..,"message":..}}`. Returns the reject and the parsed body.
pub fn assert_refused(
    outcome: Outcome,
    refusal: Refusal,
    status: u16,
    code: i64,
) -> (Reject, serde_json::Value) {
    assert_refused_to(outcome, refusal, status, code, &serde_json::Value::Null)
}

/// [`assert_refused`] for an error that answers request `id` (a 2026-07-28 request whose
/// body was read).
pub fn assert_refused_to(
    outcome: Outcome,
    refusal: Refusal,
    status: u16,
    code: i64,
    id: &serde_json::Value,
) -> (Reject, serde_json::Value) {
    let r = rejected(outcome);
    assert_eq!(r.refusal, refusal, "refusal; response {:?}", r.response);
    assert_eq!(
        r.response.status().as_u16(),
        status,
        "status of {refusal:?}"
    );
    let body = error_body_to(&r.response, id);
    assert_eq!(body["error"]["code"], code, "code of {refusal:?}: {body}");
    (r, body)
}

/// Checks an error response's envelope (`INV-S17`) and returns its parsed body.
pub fn error_body(response: &Response<Bytes>) -> serde_json::Value {
    error_body_to(response, &serde_json::Value::Null)
}

/// [`error_body`] for an error whose `id` is `id`.
pub fn error_body_to(response: &Response<Bytes>, id: &serde_json::Value) -> serde_json::Value {
    assert_eq!(header(response, "content-type"), Some(JSON));
    assert_eq!(
        header(response, "content-length"),
        Some(response.body().len().to_string().as_str())
    );
    assert!(
        response.headers().get(SESSION_HEADER).is_none(),
        "an error never carries a session id"
    );
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).expect("the error body is JSON");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(&body["id"], id, "the id: {body}");
    assert!(body.get("id").is_some(), "the id is present: {body}");
    assert!(body["error"]["code"].is_i64(), "integer code: {body}");
    assert!(
        body["error"]["message"].is_string(),
        "string message: {body}"
    );
    body
}

// ----- sessions -----

/// Runs `initialize` (version 2025-06-18), answers it with a successful InitializeResult,
/// drains outputs and events, and returns the session id from the response head.
pub fn open_session(server: &mut Server, now: Instant) -> String {
    open_session_with(server, "2025-06-18", now)
}

/// [`open_session`] with the given negotiated version.
pub fn open_session_with(server: &mut Server, version: &str, now: Instant) -> String {
    let stream = match server.handle_request(post(initialize_body(1, version)), now) {
        Outcome::Dispatch(d) => d.stream,
        other => panic!("initialize was not dispatched: {other:?}"),
    };
    server
        .send(stream, initialize_result(1, version), now)
        .expect("answering initialize");
    let outputs = drain(server);
    drain_events(server);
    let head = only_head(&outputs);
    header(head, SESSION_HEADER)
        .expect("the InitializeResult response carries the session id")
        .to_owned()
}

/// A session negotiated at 2025-11-25 (priming events, early connection close), with
/// `notifications/initialized` sent (202).
pub fn open_session_2025_11_25(server: &mut Server, now: Instant) -> String {
    let id = open_session_with(server, "2025-11-25", now);
    let out = server.handle_request(post_in(&id, INITIALIZED), now);
    assert_eq!(out.response().expect("202").status(), 202);
    expect_initialized_event(server, &id);
    id
}

/// `notifications/initialized` was just accepted for `id`: the record change is the one
/// queued event.
pub fn expect_initialized_event(server: &mut Server, id: &str) {
    match drain_events(server).as_slice() {
        [ServerEvent::SessionUpdated { record }] => {
            assert_eq!(record.id.as_str(), id);
            assert!(record.initialized);
        }
        other => panic!("expected one SessionUpdated event, got {other:?}"),
    }
}

/// A GET resuming a stream: the session header and `Last-Event-ID`.
pub fn resume_get(session: &str, last_event_id: &str) -> Request<Bytes> {
    get(Some(session)).set("last-event-id", last_event_id)
}

/// [`open_session`], then `notifications/initialized` (202).
pub fn open_initialized_session(server: &mut Server, now: Instant) -> String {
    let id = open_session(server, now);
    let out = server.handle_request(post_in(&id, INITIALIZED), now);
    assert_eq!(out.response().expect("202").status(), 202);
    expect_initialized_event(server, &id);
    id
}

pub fn sid(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

/// The live session ids, sorted.
pub fn live_ids(server: &Server) -> Vec<String> {
    let mut ids: Vec<String> = server.sessions().map(|r| r.id.to_string()).collect();
    ids.sort();
    ids
}
