//! `client_sequence`: an arbitrary sequence of application calls and server behaviour
//! (heads, body pieces, ends, transport errors, time) against one `Client`, checking
//! what it sends and what it reports after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use mcp_http_proto::Client;
use mcp_http_proto::client::{ClientConfig, ClientEvent, ClientMode, ExchangeId};
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::wire::jsonrpc::{MessageKind, Messages, RequestId};

use super::common::trim_ows;

/// What the application sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum Send {
    ToolsList,
    Ping,
    ToolsCall,
    Notification,
    /// A batch of fresh requests and notifications (`true`: a request).
    Batch(Vec<bool>),
    /// The client's answer to a server request it was given.
    AnswerServer(u8),
    /// A request under an id used before.
    ReuseId(u8),
    Initialized,
    Raw(Vec<u8>),
}

/// A response status.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Status {
    Ok,
    Accepted,
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    Conflict,
    ServerError,
    Other(u16),
}

impl Status {
    fn code(self) -> StatusCode {
        let n = match self {
            Self::Ok => 200,
            Self::Accepted => 202,
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::ServerError => 500,
            Self::Other(n) => 100 + n % 900,
        };
        StatusCode::from_u16(n).expect("100..=999")
    }
}

/// A response `Content-Type`.
#[derive(Arbitrary, Debug, Clone)]
pub enum ContentType {
    Json,
    JsonCharset,
    EventStream,
    Html,
    Absent,
    Raw(String),
}

/// The `mcp-session-id` of a response head.
#[derive(Arbitrary, Debug, Clone)]
pub enum SessionHeader {
    Absent,
    /// A new id.
    Fresh,
    /// One offered before.
    Again(u8),
    /// One the client ended.
    Ended(u8),
    Malformed,
    Repeated,
    Raw(String),
}

/// A JSON-RPC payload of a response body.
#[derive(Arbitrary, Debug, Clone)]
pub enum Payload {
    /// What the exchange's request calls for.
    Natural,
    /// An `InitializeResult` for the exchange's first request, naming a version.
    InitializeResult(u8),
    /// A `server/discover` result (`true`: listing 2026-07-28).
    DiscoverResult(bool),
    /// A result for the exchange's first request.
    Result,
    /// A result for any awaited request.
    ResultFor(u8),
    /// An error for the exchange's first request.
    Error(i16),
    /// A -32022 error with `supported` versions.
    VersionError,
    /// An error with a null id.
    NullError,
    Notification,
    /// A server-to-client request.
    ServerRequest,
    /// A legacy `endpoint` event's data.
    Endpoint(u8),
    Raw(Vec<u8>),
}

/// How a payload is framed.
#[derive(Arbitrary, Debug, Clone)]
pub enum Framing {
    Plain,
    Sse {
        id: Option<u16>,
        retry: Option<u16>,
        endpoint_event: bool,
        /// Without the blank line that ends the event.
        unfinished: bool,
    },
    /// A priming event: an id and empty data.
    Priming(u16),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Piece {
    pub payload: Payload,
    pub framing: Framing,
}

/// Which exchange a server input goes to.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Target {
    /// One whose response has not begun (or, failing that, not ended).
    Open(u8),
    /// Any exchange ever handed out, finished ones included.
    Any(u8),
}

/// One step.
#[derive(Arbitrary, Debug, Clone)]
pub enum ClientStep {
    Initialize,
    Send(Send),
    OpenStandalone,
    Head {
        exchange: Target,
        status: Status,
        content_type: ContentType,
        session: SessionHeader,
    },
    Chunk {
        exchange: Target,
        piece: Piece,
    },
    End {
        exchange: Target,
    },
    TransportError {
        exchange: Target,
    },
    /// A whole response in one step: head, pieces, then the end (or a cut).
    Respond {
        exchange: Target,
        status: Status,
        content_type: ContentType,
        session: SessionHeader,
        pieces: Vec<Piece>,
        cut: bool,
    },
    /// The natural answer to the oldest open exchange: an `InitializeResult` (or a
    /// discover result) with the session header, 202 for notifications, a result for
    /// requests; JSON or SSE.
    Answer {
        session: SessionHeader,
        sse: bool,
        modern: bool,
    },
    Timeout(Jump),
    Close,
    Cancel {
        which: u8,
        reason: bool,
    },
}

/// How far the clock moves.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Jump {
    Millis(u16),
    Seconds(u8),
    ToTimer,
}

/// The `client_sequence` case.
#[derive(Arbitrary, Debug, Clone)]
pub struct ClientCase {
    /// `ClientMode::Auto` instead of `SessionEra`.
    pub auto: bool,
    pub auto_reinitialize: bool,
    pub legacy_fallback: bool,
    pub steps: Vec<ClientStep>,
}

struct Exchange {
    id: ExchangeId,
    request: Request<Bytes>,
    /// The request ids its body holds.
    ids: Vec<RequestId>,
    initialize: bool,
    /// The session id it carried.
    carried: Option<String>,
    headed: bool,
    finished: bool,
    /// The request's method (the first message's).
    method: String,
    /// The session id a 2xx head offered on the answer to `initialize`.
    offer: Option<String>,
    body: Vec<u8>,
}

struct Harness {
    client: Client,
    now: Instant,
    exchanges: Vec<Exchange>,
    /// Session ids offered on the head of a 2xx answer to `initialize` whose body then
    /// carried a result.
    offered: BTreeSet<String>,
    offered_list: Vec<String>,
    /// Session ids ended: DELETE sent, or 404 to a request that carried them.
    ended: BTreeSet<String>,
    ended_list: Vec<String>,
    /// How many times each request id is awaited (sent and not resolved).
    awaited: BTreeMap<RequestId, u32>,
    used_ids: Vec<RequestId>,
    server_requests: Vec<RequestId>,
    next: u64,
}

fn request_ids(body: &Bytes) -> Vec<RequestId> {
    match Messages::parse(body.clone()) {
        Ok(m) => m
            .as_slice()
            .iter()
            .filter(|m| m.kind() == MessageKind::Request)
            .filter_map(|m| m.id().cloned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn is_initialize(body: &Bytes) -> bool {
    match Messages::parse(body.clone()) {
        Ok(m) => m.as_slice().iter().any(|m| m.is_initialize()),
        Err(_) => false,
    }
}

fn first_method(body: &Bytes) -> String {
    match Messages::parse(body.clone()) {
        Ok(m) => m
            .as_slice()
            .first()
            .and_then(|m| m.method())
            .unwrap_or_default()
            .to_owned(),
        Err(_) => String::new(),
    }
}

fn id_json(id: &RequestId) -> String {
    serde_json::to_string(id).expect("an id serialises")
}

fn pick<T: Clone>(list: &[T], i: u8) -> Option<T> {
    (!list.is_empty()).then(|| list[usize::from(i) % list.len()].clone())
}

impl Harness {
    fn new(case: &ClientCase, now: Instant) -> Self {
        let mut config = ClientConfig::new("http://127.0.0.1:9/mcp".parse().expect("a URI"));
        config.mode = if case.auto {
            ClientMode::Auto
        } else {
            ClientMode::SessionEra
        };
        config.auto_reinitialize = case.auto_reinitialize;
        config.legacy_fallback = case.legacy_fallback;
        config.reconnect.max_attempts = 3;
        let client = Client::with_entropy(config, Box::new(SeededEntropy::new(4)))
            .expect("a valid configuration");
        Self {
            client,
            now,
            exchanges: Vec::new(),
            offered: BTreeSet::new(),
            offered_list: Vec::new(),
            ended: BTreeSet::new(),
            ended_list: Vec::new(),
            awaited: BTreeMap::new(),
            used_ids: Vec::new(),
            server_requests: Vec::new(),
            next: 0,
        }
    }

    fn fresh(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn end_session(&mut self, s: &str) {
        if self.ended.insert(s.to_owned()) {
            self.ended_list.push(s.to_owned());
        }
    }

    fn offer(&mut self, s: &str) {
        if self.offered.insert(s.to_owned()) {
            self.offered_list.push(s.to_owned());
        }
    }

    fn message(&mut self, send: &Send) -> Vec<u8> {
        let text = match send {
            Send::ToolsList => format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/list"}}"#, self.fresh()),
            Send::Ping => format!(r#"{{"jsonrpc":"2.0","id":{},"method":"ping"}}"#, self.fresh()),
            Send::ToolsCall => format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hi"}}}}}}"#,
                self.fresh()
            ),
            Send::Notification => r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#.into(),
            Send::Batch(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|&request| {
                        if request {
                            format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/list"}}"#, self.fresh())
                        } else {
                            r#"{"jsonrpc":"2.0","method":"notifications/x"}"#.into()
                        }
                    })
                    .collect();
                format!("[{}]", parts.join(","))
            }
            Send::AnswerServer(i) => {
                let id = pick(&self.server_requests, *i).unwrap_or(RequestId::from("none"));
                format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id_json(&id))
            }
            Send::ReuseId(i) => {
                let id = pick(&self.used_ids, *i).unwrap_or(RequestId::Number(1));
                format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/list"}}"#, id_json(&id))
            }
            Send::Initialized => r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
            Send::Raw(b) => return b.clone(),
        };
        text.into_bytes()
    }

    fn head(
        &mut self,
        index: usize,
        status: Status,
        content_type: &ContentType,
        session: &SessionHeader,
    ) {
        let status = status.code();
        let mut response = Response::new(());
        *response.status_mut() = status;
        let h = response.headers_mut();
        let ct = match content_type {
            ContentType::Json => Some("application/json".to_owned()),
            ContentType::JsonCharset => Some("application/json; charset=utf-8".to_owned()),
            ContentType::EventStream => Some("text/event-stream".to_owned()),
            ContentType::Html => Some("text/html".to_owned()),
            ContentType::Absent => None,
            ContentType::Raw(s) => Some(s.clone()),
        };
        if let Some(v) = ct.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert("content-type", v);
        }
        let mut values: Vec<String> = Vec::new();
        match session {
            SessionHeader::Absent => {}
            SessionHeader::Fresh => {
                let n = self.fresh();
                values.push(format!("s-{n}"));
            }
            SessionHeader::Again(i) => values.extend(pick(&self.offered_list, *i)),
            SessionHeader::Ended(i) => values.extend(pick(&self.ended_list, *i)),
            SessionHeader::Malformed => values.push("a,b".into()),
            SessionHeader::Repeated => {
                let n = self.fresh();
                values.push(format!("s-{n}"));
                values.push(format!("s-{n}"));
            }
            SessionHeader::Raw(s) => values.push(s.clone()),
        }
        let values: Vec<HeaderValue> = values
            .iter()
            .filter_map(|v| HeaderValue::from_str(v).ok())
            .collect();
        for v in &values {
            h.append("mcp-session-id", v.clone());
        }
        let ex = &mut self.exchanges[index];
        // Only the first head of an exchange whose connection is still up is a response:
        // after a transport error or an end the machine ignores it.
        let first_head = !ex.headed && !ex.finished;
        if ex.initialize
            && status.is_success()
            && first_head
            && let [one] = values.as_slice()
        {
            let trimmed = trim_ows(one.as_bytes());
            ex.offer = Some(String::from_utf8_lossy(trimmed).into_owned());
        }
        let carried = ex.carried.clone();
        let id = ex.id;
        let (parts, ()) = response.into_parts();
        let result = self.client.handle_response_head(id, parts);
        if first_head && result.is_ok() {
            self.exchanges[index].headed = true;
            if status == StatusCode::NOT_FOUND {
                // The server says the session is gone: the client never sends it again.
                if let Some(s) = carried {
                    self.end_session(&s);
                }
            }
        }
    }

    fn payload(&self, index: usize, payload: &Payload) -> Vec<u8> {
        let ex = &self.exchanges[index];
        let first = ex.ids.first().cloned().unwrap_or(RequestId::Number(0));
        let id = id_json(&first);
        let text = match payload {
            Payload::Natural => return self.natural(index, false),
            Payload::InitializeResult(v) => {
                let versions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", "1999-01-01"];
                let v = versions[usize::from(*v) % versions.len()];
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{v}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}"#
                )
            }
            Payload::DiscoverResult(modern) => {
                let versions = if *modern { r#"["2026-07-28"]"# } else { r#"["2025-11-25"]"# };
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"supportedVersions":{versions},"capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}"#
                )
            }
            Payload::Result => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
            Payload::ResultFor(i) => {
                let awaited: Vec<RequestId> = self.awaited.keys().cloned().collect();
                let id = pick(&awaited, *i).unwrap_or(first);
                format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{"tools":[]}}}}"#, id_json(&id))
            }
            Payload::Error(code) => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"no"}}}}"#
            ),
            Payload::VersionError => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32022,"message":"v","data":{{"supported":["2025-06-18","2026-07-28"],"requested":"2025-11-25"}}}}}}"#
            ),
            Payload::NullError => {
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}"#.into()
            }
            Payload::Notification => {
                r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#.into()
            }
            Payload::ServerRequest => {
                r#"{"jsonrpc":"2.0","id":"srv-1","method":"roots/list"}"#.into()
            }
            Payload::Endpoint(n) => {
                let uris = [
                    "/messages?sessionId=abc",
                    "http://127.0.0.1:9/messages?sessionId=x",
                    "http://evil.example/messages",
                    "not a uri",
                ];
                uris[usize::from(*n) % uris.len()].into()
            }
            Payload::Raw(b) => return b.clone(),
        };
        text.into_bytes()
    }

    fn piece(&self, index: usize, piece: &Piece) -> Vec<u8> {
        let data = self.payload(index, &piece.payload);
        match &piece.framing {
            Framing::Plain => data,
            Framing::Priming(n) => format!("id: p{n}\ndata:\n\n").into_bytes(),
            Framing::Sse {
                id,
                retry,
                endpoint_event,
                unfinished,
            } => {
                let mut out = Vec::new();
                out.extend_from_slice(if *endpoint_event {
                    b"event: endpoint\n"
                } else {
                    b"event: message\n"
                });
                if let Some(id) = id {
                    out.extend_from_slice(format!("id: e{id}\n").as_bytes());
                }
                if let Some(r) = retry {
                    out.extend_from_slice(format!("retry: {r}\n").as_bytes());
                }
                for line in data.split(|&b| b == b'\n') {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
                if !unfinished {
                    out.push(b'\n');
                }
                out
            }
        }
    }

    /// Body bytes are about to reach the exchange: an offer on the head of an answer to
    /// `initialize` counts once the body holds a result (or an escape that might spell
    /// one).
    fn note_body(&mut self, index: usize, bytes: &[u8]) {
        let ex = &mut self.exchanges[index];
        ex.body.extend_from_slice(bytes);
        let result =
            ex.body.windows(6).any(|w| w == b"result") || ex.body.windows(2).any(|w| w == b"\\u");
        if let (Some(s), true) = (ex.offer.clone(), result) {
            self.offer(&s);
        }
    }

    fn chunk(&mut self, index: usize, piece: &Piece) {
        let bytes = self.piece(index, piece);
        self.note_body(index, &bytes);
        let id = self.exchanges[index].id;
        let _ = self
            .client
            .handle_response_chunk(id, Bytes::from(bytes), self.now);
    }

    fn end(&mut self, index: usize) {
        self.note_body(index, b"");
        let id = self.exchanges[index].id;
        // An end the machine refused (out of order) leaves the exchange open.
        if self.client.handle_response_end(id, self.now).is_ok() {
            self.exchanges[index].finished = true;
        }
    }

    fn transport_error(&mut self, index: usize) {
        let id = self.exchanges[index].id;
        if self.client.handle_transport_error(id, self.now).is_ok() {
            self.exchanges[index].finished = true;
        }
    }

    fn step(&mut self, step: &ClientStep) {
        let mut cancelled = None;
        let mut closed = false;
        match step {
            ClientStep::Initialize => {
                let n = self.fresh();
                let msg = format!(
                    r#"{{"jsonrpc":"2.0","id":"init-{n}","method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"fuzz","version":"1"}}}}}}"#
                );
                let _ = self.client.initialize(msg);
            }
            ClientStep::Send(send) => {
                let msg = Bytes::from(self.message(send));
                if self.client.send(msg.clone()).is_ok() {
                    for id in request_ids(&msg) {
                        let n = self.awaited.entry(id.clone()).or_default();
                        *n += 1;
                        assert_eq!(*n, 1, "INV-C11: {id:?} awaited twice at once");
                        if self.used_ids.len() < 64 {
                            self.used_ids.push(id);
                        }
                    }
                }
            }
            ClientStep::OpenStandalone => {
                let _ = self.client.open_standalone_stream();
            }
            ClientStep::Head {
                exchange,
                status,
                content_type,
                session,
            } => {
                if let Some(i) = self.pick_exchange(*exchange) {
                    self.head(i, *status, content_type, session);
                }
            }
            ClientStep::Chunk { exchange, piece } => {
                if let Some(i) = self.pick_exchange(*exchange) {
                    self.chunk(i, piece);
                }
            }
            ClientStep::End { exchange } => {
                if let Some(i) = self.pick_exchange(*exchange) {
                    self.end(i);
                }
            }
            ClientStep::TransportError { exchange } => {
                if let Some(i) = self.pick_exchange(*exchange) {
                    self.transport_error(i);
                }
            }
            ClientStep::Respond {
                exchange,
                status,
                content_type,
                session,
                pieces,
                cut,
            } => {
                if let Some(i) = self.pick_exchange(*exchange) {
                    self.head(i, *status, content_type, session);
                    for p in pieces.iter().take(8) {
                        self.chunk(i, p);
                    }
                    if *cut {
                        self.transport_error(i);
                    } else {
                        self.end(i);
                    }
                }
            }
            ClientStep::Answer {
                session,
                sse,
                modern,
            } => self.answer(session, *sse, *modern),
            ClientStep::Timeout(jump) => {
                let d = match jump {
                    Jump::Millis(n) => Duration::from_millis(u64::from(*n)),
                    Jump::Seconds(n) => Duration::from_secs(u64::from(*n)),
                    Jump::ToTimer => match self.client.poll_timeout() {
                        Some(t) if t.at > self.now => t.at - self.now,
                        _ => Duration::ZERO,
                    },
                };
                self.now += d;
                self.client.handle_timeout(self.now);
            }
            ClientStep::Close => {
                self.client.close().expect("close never fails");
                closed = true;
            }
            ClientStep::Cancel { which, reason } => {
                let awaited: Vec<RequestId> = self.awaited.keys().cloned().collect();
                if let Some(id) = pick(&awaited, *which) {
                    let reason = reason.then_some("fuzz");
                    if self.client.cancel(&id, reason).is_ok() {
                        cancelled = Some(id);
                    }
                }
            }
        }
        self.after_step(cancelled, closed);
    }

    fn pick_exchange(&self, target: Target) -> Option<usize> {
        let (i, list): (u8, Vec<usize>) = match target {
            Target::Any(i) => (i, (0..self.exchanges.len()).collect()),
            Target::Open(i) => {
                let fresh: Vec<usize> = (0..self.exchanges.len())
                    .filter(|&k| !self.exchanges[k].headed && !self.exchanges[k].finished)
                    .collect();
                let open = if fresh.is_empty() {
                    (0..self.exchanges.len())
                        .filter(|&k| !self.exchanges[k].finished)
                        .collect()
                } else {
                    fresh
                };
                (i, open)
            }
        };
        pick(&list, i)
    }

    /// The body that answers exchange `index` as its request calls for.
    fn natural(&self, index: usize, modern: bool) -> Vec<u8> {
        let ex = &self.exchanges[index];
        let payload = match ex.method.as_str() {
            "initialize" => Payload::InitializeResult(0),
            "server/discover" => Payload::DiscoverResult(modern),
            _ => Payload::Result,
        };
        self.payload(index, &payload)
    }

    fn answer(&mut self, session: &SessionHeader, sse: bool, modern: bool) {
        let Some(index) = self.pick_exchange(Target::Open(0)) else {
            return;
        };
        let ex = &self.exchanges[index];
        let wants_body = !ex.ids.is_empty() || ex.request.method() == Method::GET;
        if ex.request.method() == Method::GET || ex.request.method() == Method::DELETE {
            // A GET stream with nothing on it, or a DELETE: a bare 200.
            let ct = if ex.request.method() == Method::GET {
                ContentType::EventStream
            } else {
                ContentType::Absent
            };
            self.head(index, Status::Ok, &ct, &SessionHeader::Absent);
            self.end(index);
            return;
        }
        if !wants_body {
            self.head(
                index,
                Status::Accepted,
                &ContentType::Absent,
                &SessionHeader::Absent,
            );
            self.end(index);
            return;
        }
        let ct = if sse {
            ContentType::EventStream
        } else {
            ContentType::Json
        };
        self.head(index, Status::Ok, &ct, session);
        let mut body = self.natural(index, modern);
        if sse {
            let mut framed = b"id: a1\ndata: ".to_vec();
            framed.extend_from_slice(&body);
            framed.extend_from_slice(b"\n\n");
            body = framed;
        }
        self.note_body(index, &body);
        let id = self.exchanges[index].id;
        let _ = self
            .client
            .handle_response_chunk(id, Bytes::from(body), self.now);
        self.end(index);
    }

    fn after_step(&mut self, cancelled: Option<RequestId>, closed: bool) {
        while let Some(t) = self.client.poll_transmit() {
            let r = &t.request;
            let values: Vec<&HeaderValue> = r.headers().get_all("mcp-session-id").iter().collect();
            assert!(values.len() <= 1, "one session header at most: {r:?}");
            let carried = values.first().map(|v| {
                v.to_str()
                    .expect("a session id is visible ASCII")
                    .to_owned()
            });
            let initialize = r.method() == Method::POST && is_initialize(r.body());
            if let Some(s) = &carried {
                assert!(!initialize, "INV-C2: initialize carries no session id");
                assert!(
                    self.offered.contains(s),
                    "INV-C1: sent session id {s:?}, never offered with an InitializeResult"
                );
                assert!(
                    !self.ended.contains(s),
                    "INV-C5: sent session id {s:?} after it ended"
                );
                if r.method() == Method::DELETE {
                    self.end_session(s);
                }
            }
            if self.exchanges.len() < 256 {
                let ids = request_ids(r.body());
                self.exchanges.push(Exchange {
                    id: t.exchange,
                    ids,
                    initialize,
                    carried,
                    headed: false,
                    finished: false,
                    method: first_method(r.body()),
                    offer: None,
                    body: Vec::new(),
                    request: t.request,
                });
            }
        }
        while let Some(e) = self.client.poll_event() {
            match e {
                ClientEvent::Response { id, .. } | ClientEvent::RequestFailed { id, .. } => {
                    let n = self.awaited.get_mut(&id);
                    match n {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            if *n == 0 {
                                self.awaited.remove(&id);
                            }
                        }
                        _ => panic!("INV-C11: {id:?} resolved but not awaited (twice?)"),
                    }
                }
                ClientEvent::Initialized {
                    session: Some(s), ..
                } => {
                    assert!(
                        self.offered.contains(s.as_str()),
                        "INV-C1: initialized with {s:?}"
                    );
                    assert!(
                        !self.ended.contains(s.as_str()),
                        "INV-C5: initialized with ended {s:?}"
                    );
                }
                ClientEvent::Message(m) => {
                    if m.kind() == MessageKind::Request
                        && let Some(id) = m.id()
                        && self.server_requests.len() < 16
                    {
                        self.server_requests.push(id.clone());
                    }
                }
                _ => {}
            }
        }
        if let Some(s) = self.client.session() {
            assert!(
                self.offered.contains(s.as_str()),
                "INV-C1: client holds {s:?}"
            );
            assert!(
                !self.ended.contains(s.as_str()),
                "INV-C5: client holds ended {s:?}"
            );
        }
        if let Some(c) = cancelled {
            assert!(
                !self.awaited.contains_key(&c),
                "cancel() resolves {c:?} at once"
            );
        }
        if closed {
            assert!(
                self.awaited.is_empty(),
                "close() fails every awaited request: {:?} left",
                self.awaited.keys().collect::<Vec<_>>()
            );
            assert!(
                self.client.session().is_none(),
                "close() forgets the session"
            );
        }
    }
}

/// The `client_sequence` checks.
pub fn check_client(case: &ClientCase) {
    let mut h = Harness::new(case, super::base_instant());
    for step in case.steps.iter().take(64) {
        h.step(step);
    }
}
