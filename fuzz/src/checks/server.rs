//! `server_sequence`: an arbitrary sequence of requests, answers, disconnects and time
//! jumps against one `Server`, with the machine's invariants checked after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use mcp_http_proto::Server;
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::server::{
    ConnectionId, Outcome, Refusal, ReplyMode, ServerConfig, ServerEvent, StreamEvent, StreamId,
};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{Message, MessageKind, RequestId};
use mcp_http_proto::wire::sse::Decoder;

use super::common::{HOST, check_reject, header, initialize_body, initialize_result, trim_ows};

/// A protocol version, as a body field or a header value.
#[derive(Arbitrary, Debug, Clone)]
pub enum Version {
    V20241105,
    V20250326,
    V20250618,
    V20251125,
    V20260728,
    Other(String),
}

impl Version {
    fn text(&self) -> &str {
        match self {
            Self::V20241105 => "2024-11-05",
            Self::V20250326 => "2025-03-26",
            Self::V20250618 => "2025-06-18",
            Self::V20251125 => "2025-11-25",
            Self::V20260728 => "2026-07-28",
            Self::Other(s) => s,
        }
    }

    /// A session-era version the default configuration supports.
    fn session_era(&self) -> bool {
        matches!(
            self,
            Self::V20241105 | Self::V20250326 | Self::V20250618 | Self::V20251125
        )
    }
}

/// Which session id a request carries.
#[derive(Arbitrary, Debug, Clone)]
pub enum SessionRef {
    Absent,
    /// One of the live sessions.
    Live(u8),
    /// One that was deleted, expired, terminated or got 404.
    Dead(u8),
    /// Anything.
    Garbage(String),
    /// A live id in two headers.
    Twice(u8),
    /// A live id comma-joined with itself.
    Joined(u8),
    /// A live id in a look-alike header (`x-session-id`) instead.
    LookAlike(u8),
}

/// One message of a batch.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum BatchItem {
    Request,
    Notification,
    Response,
    Initialize,
}

/// A POST body.
#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    ToolsList,
    Ping,
    Initialized,
    Notification,
    /// The client's answer to one of the server's requests.
    Answer(u8),
    /// An answer to a request the server never sent.
    UnknownAnswer,
    Batch(Vec<BatchItem>),
    Initialize(Version),
    /// A 2026-07-28 request with its metadata headers (with or without capabilities).
    Modern(bool),
    Raw(Vec<u8>),
}

/// A change to a request's head.
#[derive(Arbitrary, Debug, Clone)]
pub enum Mutation {
    NoAccept,
    AcceptJsonOnly,
    AcceptAnything,
    TextPlain,
    NoContentType,
    EvilHost,
    NoHost,
    EvilOrigin,
    LoopbackOrigin,
    /// Another method (PUT, PATCH, OPTIONS, HEAD).
    Method(u8),
    VersionHeader(Version),
    BadContentLength,
    HugeContentLength,
    WrongContentLength,
    /// An absolute-form target; `true`: a foreign authority.
    AbsoluteTarget(bool),
}

/// How the application answers on a stream.
#[derive(Arbitrary, Debug, Clone)]
pub enum Answer {
    Result,
    Error,
    InitializeResult,
    /// An `InitializeResult` naming another version than the negotiated one.
    InitializeResultOther(Version),
    Notification,
    /// A server-to-client `ping` with a machine-minted id.
    Request,
    Garbage(Vec<u8>),
    /// `finish_request` for the first unanswered request.
    Finish,
}

/// How far the clock moves.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Jump {
    Millis(u16),
    Seconds(u16),
    Minutes(u16),
    /// To the machine's next timer.
    ToTimer,
}

/// A `Last-Event-ID`.
#[derive(Arbitrary, Debug, Clone)]
pub enum Resume {
    /// One the server wrote.
    Known(u8),
    Garbage(String),
}

/// One step.
#[derive(Arbitrary, Debug, Clone)]
pub enum Step {
    Initialize {
        version: Version,
        mutations: Vec<Mutation>,
    },
    Post {
        session: SessionRef,
        body: Body,
        mutations: Vec<Mutation>,
    },
    Get {
        session: SessionRef,
        resume: Option<Resume>,
        mutations: Vec<Mutation>,
    },
    Delete {
        session: SessionRef,
        mutations: Vec<Mutation>,
    },
    Answer {
        stream: u8,
        /// Pick among the streams with requests still unanswered, when there are some.
        pending_only: bool,
        answer: Answer,
    },
    Disconnect {
        connection: u8,
    },
    CloseConnection {
        stream: u8,
    },
    KeepAlive {
        connection: u8,
    },
    Timeout(Jump),
    Terminate {
        session: u8,
    },
    Shutdown,
}

/// The `server_sequence` case.
#[derive(Arbitrary, Debug, Clone)]
pub struct ServerCase {
    /// `ServerConfig::stateless()` instead of the default.
    pub stateless: bool,
    /// JSON replies instead of SSE.
    pub json: bool,
    /// Small caps (2 sessions, 2 streams per session, 60 s idle timeout), to reach them.
    pub tight: bool,
    pub steps: Vec<Step>,
}

struct StreamInfo {
    initialize: bool,
    negotiated: Option<String>,
    /// Requests of the POST not answered yet.
    pending: Vec<RequestId>,
}

#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum ConnState {
    Fresh,
    Open,
    Ended,
}

struct ConnInfo {
    stream: StreamId,
    state: ConnState,
    disconnected: bool,
    sse: Option<Decoder>,
}

/// What the model knows a request must or may lead to.
#[derive(Default, Debug)]
struct Model {
    /// The earliest step that certainly refuses it, with that refusal.
    certain: Option<(u8, Refusal)>,
    /// Every refusal the request may get.
    possible: BTreeSet<Refusal>,
    /// The well-formed session id the request carries.
    session: Option<String>,
}

impl Model {
    fn certainly(&mut self, step: u8, refusal: Refusal) {
        self.possible.insert(refusal);
        if self.certain.is_none_or(|(s, _)| step < s) {
            self.certain = Some((step, refusal));
        }
    }

    fn may(&mut self, refusals: &[Refusal]) {
        self.possible.extend(refusals.iter().copied());
    }
}

/// What a step did that the checks after it need to know.
#[derive(Default)]
struct StepFacts {
    /// A successful `InitializeResult` went out on this initialize stream, which had a
    /// connection: exactly one session must be minted.
    must_mint: Option<StreamId>,
    /// Some `InitializeResult` went out: at most one session may be minted.
    may_mint: bool,
    /// The step was a request the machine refused.
    rejected: bool,
    /// The last request of a POST was answered while this connection was attached: the
    /// reply must end on it (`SRV-PSSE-5`).
    must_end: Option<ConnectionId>,
}

struct Harness {
    server: Server,
    now: Instant,
    stateful: bool,
    streams: BTreeMap<StreamId, StreamInfo>,
    stream_list: Vec<StreamId>,
    conns: BTreeMap<ConnectionId, ConnInfo>,
    conn_list: Vec<ConnectionId>,
    dead: BTreeSet<String>,
    dead_list: Vec<String>,
    /// Every session id the machine ever minted.
    minted: BTreeSet<String>,
    event_ids: Vec<String>,
    server_requests: Vec<RequestId>,
    next_id: i64,
}

fn live_ids(server: &Server) -> BTreeSet<String> {
    server.sessions().map(|r| r.id.to_string()).collect()
}

fn pick<T: Clone>(list: &[T], i: u8) -> Option<T> {
    (!list.is_empty()).then(|| list[usize::from(i) % list.len()].clone())
}

fn id_json(id: &RequestId) -> String {
    serde_json::to_string(id).expect("an id serialises")
}

/// How the server reads a session header: absent, one well-formed id, or malformed.
fn session_form(req: &Request<Bytes>) -> Option<Result<String, ()>> {
    let values: Vec<&HeaderValue> = req.headers().get_all("mcp-session-id").iter().collect();
    match values.as_slice() {
        [] => None,
        [one] => {
            let t = trim_ows(one.as_bytes());
            let ok = !t.is_empty()
                && t.len() <= SessionId::MAX_LEN
                && t.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b',');
            Some(if ok {
                Ok(String::from_utf8(t.to_vec()).expect("visible ASCII"))
            } else {
                Err(())
            })
        }
        _ => Some(Err(())),
    }
}

const ERA_REFUSALS: &[Refusal] = &[
    Refusal::UnsupportedVersion,
    Refusal::ModernNotServed,
    Refusal::HeaderMismatch,
    Refusal::RemovedMethod,
    Refusal::MissingMeta,
    Refusal::MethodNotAllowed,
    Refusal::BatchNotAllowed,
    Refusal::InvalidMessage,
    Refusal::ParseError,
];

const BODY_REFUSALS: &[Refusal] = &[
    Refusal::ParseError,
    Refusal::InvalidMessage,
    Refusal::BatchNotAllowed,
    Refusal::InitializeInBatch,
    Refusal::MissingSessionId,
    Refusal::Reinitialize,
    Refusal::UnknownSession,
];

impl Harness {
    fn new(case: &ServerCase, now: Instant) -> Self {
        let mut config = if case.stateless {
            ServerConfig::stateless()
        } else {
            ServerConfig::default()
        };
        if case.json {
            config.reply_mode = ReplyMode::Json;
        }
        if case.tight {
            config.max_sessions = Some(2);
            config.max_streams_per_session = Some(2);
            config.session_idle_timeout = Some(Duration::from_secs(60));
        }
        let stateful = config.is_stateful();
        Self {
            server: Server::with_entropy(config, Box::new(SeededEntropy::new(9))),
            now,
            stateful,
            streams: BTreeMap::new(),
            stream_list: Vec::new(),
            conns: BTreeMap::new(),
            conn_list: Vec::new(),
            dead: BTreeSet::new(),
            dead_list: Vec::new(),
            minted: BTreeSet::new(),
            event_ids: Vec::new(),
            server_requests: Vec::new(),
            next_id: 1,
        }
    }

    fn fresh_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn kill(&mut self, id: &str) {
        if self.dead.insert(id.to_owned()) {
            self.dead_list.push(id.to_owned());
        }
    }

    fn sorted_live(&self) -> Vec<String> {
        live_ids(&self.server).into_iter().collect()
    }

    /// The body text for a POST, whether it holds a request, and whether it is of the
    /// 2026-07-28 revision (whose headers are set too).
    fn body(&mut self, body: &Body, req_headers: &mut http::HeaderMap) -> (Vec<u8>, bool) {
        let text = match body {
            Body::ToolsList => format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/list"}}"#,
                self.fresh_id()
            ),
            Body::Ping => format!(r#"{{"jsonrpc":"2.0","id":{},"method":"ping"}}"#, self.fresh_id()),
            Body::Initialized => r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
            Body::Notification => {
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#.into()
            }
            Body::Answer(i) => {
                let id = pick(&self.server_requests, *i).unwrap_or(RequestId::from("none"));
                format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id_json(&id))
            }
            Body::UnknownAnswer => r#"{"jsonrpc":"2.0","id":"nobody","result":{}}"#.into(),
            Body::Batch(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        BatchItem::Request => format!(
                            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/list"}}"#,
                            self.fresh_id()
                        ),
                        BatchItem::Notification => {
                            r#"{"jsonrpc":"2.0","method":"notifications/x"}"#.into()
                        }
                        BatchItem::Response => r#"{"jsonrpc":"2.0","id":"r","result":{}}"#.into(),
                        BatchItem::Initialize => {
                            initialize_body(&self.fresh_id().to_string(), "2025-03-26")
                        }
                    })
                    .collect();
                format!("[{}]", parts.join(","))
            }
            Body::Initialize(v) => initialize_body(&self.fresh_id().to_string(), v.text()),
            Body::Modern(capabilities) => {
                req_headers.insert("mcp-method", HeaderValue::from_static("tools/list"));
                req_headers.insert(
                    "mcp-protocol-version",
                    HeaderValue::from_static("2026-07-28"),
                );
                let caps = if *capabilities {
                    r#","io.modelcontextprotocol/clientCapabilities":{}"#
                } else {
                    ""
                };
                return (
                    format!(
                        r#"{{"jsonrpc":"2.0","id":{},"method":"tools/list","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28"{caps}}}}}}}"#,
                        self.fresh_id()
                    )
                    .into_bytes(),
                    true,
                );
            }
            Body::Raw(b) => return (b.clone(), true),
        };
        (text.into_bytes(), false)
    }

    /// Builds a request and the model of what it must lead to.
    fn request(
        &mut self,
        method: Method,
        session: &SessionRef,
        body: Option<&Body>,
        resume: Option<&Resume>,
        mutations: &[Mutation],
    ) -> (Request<Bytes>, Model) {
        let mut model = Model::default();
        model.may(&[
            Refusal::SessionCap,
            Refusal::TooManyStreams,
            Refusal::StreamConflict,
            Refusal::UnknownEventId,
        ]);
        let mut headers = http::HeaderMap::new();
        headers.insert("host", HeaderValue::from_static(HOST));
        let mut era_unsure = false;
        let mut initialize = false;
        let mut body_bytes = Vec::new();
        match method {
            Method::POST => {
                headers.insert(
                    "accept",
                    HeaderValue::from_static("application/json, text/event-stream"),
                );
                headers.insert("content-type", HeaderValue::from_static("application/json"));
                let body = body.expect("a POST has a body");
                initialize = matches!(body, Body::Initialize(_));
                match body {
                    Body::Batch(_) | Body::Raw(_) => model.may(BODY_REFUSALS),
                    _ => {}
                }
                let (b, unsure) = self.body(body, &mut headers);
                era_unsure |= unsure;
                body_bytes = b;
            }
            Method::GET => {
                headers.insert("accept", HeaderValue::from_static("text/event-stream"));
                match resume {
                    Some(Resume::Known(i)) => {
                        if let Some(id) = pick(&self.event_ids, *i)
                            && let Ok(v) = HeaderValue::from_str(&id)
                        {
                            headers.insert("last-event-id", v);
                        }
                    }
                    Some(Resume::Garbage(s)) => {
                        if let Ok(v) = HeaderValue::from_str(s) {
                            headers.insert("last-event-id", v);
                        }
                    }
                    None => {}
                }
            }
            _ => {}
        }
        let live = self.sorted_live();
        let some_live = |i: u8| pick(&live, i).unwrap_or_else(|| "no-such-session".to_owned());
        let set = |headers: &mut http::HeaderMap, name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(name, v);
            }
        };
        match session {
            SessionRef::Absent => {}
            SessionRef::Live(i) => {
                if let Some(id) = pick(&live, *i) {
                    set(&mut headers, "mcp-session-id", &id);
                }
            }
            SessionRef::Dead(i) => {
                if let Some(id) = pick(&self.dead_list, *i) {
                    set(&mut headers, "mcp-session-id", &id);
                }
            }
            SessionRef::Garbage(s) => set(&mut headers, "mcp-session-id", s),
            SessionRef::Twice(i) => {
                let id = some_live(*i);
                set(&mut headers, "mcp-session-id", &id);
                set(&mut headers, "mcp-session-id", &id);
            }
            SessionRef::Joined(i) => {
                let id = some_live(*i);
                set(&mut headers, "mcp-session-id", &format!("{id}, {id}"));
            }
            SessionRef::LookAlike(i) => set(&mut headers, "x-session-id", &some_live(*i)),
        }

        let mut method = method;
        let mut uri = "/mcp".to_owned();
        for m in mutations {
            match m {
                Mutation::NoAccept => {
                    headers.remove("accept");
                }
                Mutation::AcceptJsonOnly => {
                    headers.insert("accept", HeaderValue::from_static("application/json"));
                }
                Mutation::AcceptAnything => {
                    headers.insert("accept", HeaderValue::from_static("*/*"));
                }
                Mutation::TextPlain => {
                    headers.insert("content-type", HeaderValue::from_static("text/plain"));
                }
                Mutation::NoContentType => {
                    headers.remove("content-type");
                }
                Mutation::EvilHost => {
                    headers.insert("host", HeaderValue::from_static("evil.example"));
                }
                Mutation::NoHost => {
                    headers.remove("host");
                }
                Mutation::EvilOrigin => {
                    headers.insert("origin", HeaderValue::from_static("http://evil.example"));
                }
                Mutation::LoopbackOrigin => {
                    headers.insert("origin", HeaderValue::from_static("http://localhost:5173"));
                }
                Mutation::Method(n) => {
                    method = [Method::PUT, Method::PATCH, Method::OPTIONS, Method::HEAD]
                        [usize::from(*n) % 4]
                        .clone();
                }
                Mutation::VersionHeader(v) => {
                    headers.remove("mcp-protocol-version");
                    set(&mut headers, "mcp-protocol-version", v.text());
                    era_unsure |= !v.session_era();
                }
                Mutation::BadContentLength => {
                    headers.insert("content-length", HeaderValue::from_static("12x"));
                }
                Mutation::HugeContentLength => {
                    headers.insert("content-length", HeaderValue::from_static("99999999999"));
                }
                Mutation::WrongContentLength => {
                    headers.insert("content-length", HeaderValue::from(body_bytes.len() + 1));
                }
                Mutation::AbsoluteTarget(evil) => {
                    uri = if *evil {
                        "http://evil.example/mcp".to_owned()
                    } else {
                        "http://localhost:8080/mcp".to_owned()
                    };
                }
            }
        }
        let mut req = Request::new(Bytes::from(body_bytes));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri.parse().expect("a valid target");
        *req.headers_mut() = headers;

        // What the head certainly breaks, in table order.
        let headers = req.headers();
        let served = match method {
            Method::POST => true,
            Method::GET | Method::DELETE => self.stateful,
            _ => false,
        };
        if !served {
            model.certainly(1, Refusal::MethodNotAllowed);
        }
        // An absolute-form target's authority wins over Host.
        let evil_host = if uri.starts_with("http") {
            uri.contains("evil")
        } else {
            headers.get("host").map(|h| h.as_bytes()) == Some(b"evil.example")
        };
        if evil_host {
            model.certainly(2, Refusal::ForbiddenHost);
        }
        if headers
            .get("origin")
            .is_some_and(|o| o.as_bytes() == b"http://evil.example")
            && !crate::checks::tolerate("origin")
        {
            model.certainly(2, Refusal::ForbiddenOrigin);
        }
        if let Some(cl) = headers.get("content-length") {
            let refusal = if cl.as_bytes() == b"99999999999" {
                Refusal::BodyTooLarge
            } else {
                Refusal::BadContentLength
            };
            model.certainly(3, refusal);
        }
        let accept = headers.get("accept").map(|a| a.as_bytes());
        let needs_accept = matches!(method, Method::POST | Method::GET);
        let accept_ok = match accept {
            Some(b"*/*") => true,
            Some(b"application/json") => false,
            Some(_) => true,
            None => false,
        };
        if needs_accept && !accept_ok {
            model.certainly(4, Refusal::NotAcceptable);
        }
        if method == Method::POST
            && headers.get("content-type").map(|c| c.as_bytes()) != Some(b"application/json")
        {
            model.certainly(5, Refusal::UnsupportedMediaType);
        }
        if era_unsure {
            model.may(ERA_REFUSALS);
        }
        let form = session_form(&req);
        if let Some(Ok(id)) = &form {
            model.session = Some(id.clone());
        }
        if !era_unsure {
            match &form {
                Some(Err(())) => model.certainly(7, Refusal::MalformedSessionId),
                Some(Ok(id)) if self.stateful => {
                    // An id that is not (or no longer) live gets 404, whatever the body
                    // (INV-S3); a live one may have passed its idle deadline.
                    if self.dead.contains(id) || !self.minted.contains(id) {
                        model.certainly(8, Refusal::UnknownSession);
                    } else {
                        model.may(&[Refusal::UnknownSession]);
                    }
                    if initialize {
                        model.certainly(10, Refusal::Reinitialize);
                    }
                }
                None if self.stateful && !initialize => {
                    let raw = matches!(body, Some(Body::Raw(_)));
                    if !raw {
                        model.certainly(8, Refusal::MissingSessionId);
                    }
                }
                _ => {}
            }
        } else {
            model.may(&[Refusal::MalformedSessionId]);
        }
        if era_unsure && self.stateful {
            model.may(&[
                Refusal::UnknownSession,
                Refusal::MissingSessionId,
                Refusal::Reinitialize,
            ]);
        }
        if matches!(body, Some(Body::Batch(_))) && form.is_none() && self.stateful {
            model.may(&[Refusal::MissingSessionId]);
        }
        (req, model)
    }

    fn new_stream(&mut self, stream: StreamId, info: StreamInfo) {
        assert!(
            !self.streams.contains_key(&stream),
            "{stream:?} handed out twice"
        );
        self.streams.insert(stream, info);
        self.stream_list.push(stream);
    }

    fn new_conn(&mut self, connection: ConnectionId, stream: StreamId) {
        assert!(
            !self.conns.contains_key(&connection),
            "{connection:?} handed out twice"
        );
        self.conns.insert(
            connection,
            ConnInfo {
                stream,
                state: ConnState::Fresh,
                disconnected: false,
                sse: None,
            },
        );
        self.conn_list.push(connection);
    }

    /// Checks that an accepted outcome names a session it may name.
    fn check_session_named(
        &self,
        named: Option<&SessionId>,
        model: &Model,
        before: &BTreeSet<String>,
    ) {
        let Some(s) = named else { return };
        let s = s.as_str();
        assert!(self.stateful, "a stateless server named session {s}");
        assert!(
            before.contains(s),
            "an outcome named {s}, which was not live"
        );
        assert!(
            !self.dead.contains(s),
            "INV-S3: an outcome named ended session {s}"
        );
        assert_eq!(
            model.session.as_deref(),
            Some(s),
            "the outcome's session is the request's"
        );
    }

    fn handle(
        &mut self,
        req: Request<Bytes>,
        model: Model,
        before: &BTreeSet<String>,
        facts: &mut StepFacts,
    ) {
        let counts = (self.server.session_count(), self.server.stream_count());
        let what = format!("{} {:?}", req.method(), req.headers());
        let outcome = self.server.handle_request(req, self.now);
        if let Outcome::Reject(r) = &outcome {
            facts.rejected = true;
            check_reject(r);
            if let Some((step, certain)) = model.certain {
                assert!(
                    r.refusal.step() <= step,
                    "{:?} (step {}) but step {step} certainly refuses ({certain:?}): {what}",
                    r.refusal,
                    r.refusal.step()
                );
            }
            assert!(
                model.possible.contains(&r.refusal),
                "{:?} ({}) is not a refusal this request can get ({:?}): {what}",
                r.refusal,
                r.reason,
                model.possible
            );
            assert_eq!(
                (self.server.session_count(), self.server.stream_count()),
                counts,
                "a refusal changes no count"
            );
            assert_eq!(
                &live_ids(&self.server),
                before,
                "a refusal changes no session"
            );
            if r.refusal == Refusal::UnknownSession
                && let Some(id) = &model.session
                && self.minted.contains(id)
            {
                self.kill(id);
            }
            return;
        }
        if let Some((step, certain)) = model.certain {
            panic!(
                "step {step} certainly refuses this request ({certain:?}), but it got {outcome:?}: {what}"
            );
        }
        match outcome {
            Outcome::Reject(_) => unreachable!(),
            Outcome::Accepted(a) => {
                assert_eq!(a.response.status(), 202, "Accepted is a 202");
                assert!(a.response.body().is_empty(), "a 202 has no body");
                self.check_session_named(a.session.as_ref(), &model, before);
                for answered in &a.answers {
                    if let Some(p) = &answered.request {
                        assert_eq!(Some(&p.id), answered.message.id(), "paired by id");
                        let still = self
                            .server
                            .pending_requests(a.session.as_ref())
                            .any(|q| q.id == p.id);
                        assert!(!still, "an answered request is no longer outstanding");
                    }
                }
            }
            Outcome::Dispatch(d) => {
                self.check_session_named(d.session.as_ref(), &model, before);
                let initialize = d.messages.iter().any(|m| m.is_initialize());
                if initialize {
                    assert_eq!(d.session, None, "initialize has no session yet");
                    assert!(d.negotiated.is_some(), "initialize negotiates");
                }
                let pending: Vec<RequestId> = d
                    .messages
                    .iter()
                    .filter(|m| m.kind() == MessageKind::Request)
                    .filter_map(|m| m.id().cloned())
                    .collect();
                assert!(!pending.is_empty(), "a Dispatch holds requests");
                self.new_stream(
                    d.stream,
                    StreamInfo {
                        initialize,
                        negotiated: d.negotiated.map(|v| v.as_str().to_owned()),
                        pending,
                    },
                );
                self.new_conn(d.connection, d.stream);
            }
            Outcome::StreamOpened(s) => {
                self.check_session_named(Some(&s.session), &model, before);
                self.new_stream(
                    s.stream,
                    StreamInfo {
                        initialize: false,
                        negotiated: None,
                        pending: Vec::new(),
                    },
                );
                self.new_conn(s.connection, s.stream);
            }
            Outcome::StreamResumed(s) => {
                self.check_session_named(Some(&s.session), &model, before);
                assert!(
                    self.streams.contains_key(&s.stream),
                    "resumed {:?}, which was never opened",
                    s.stream
                );
                self.new_conn(s.connection, s.stream);
            }
            Outcome::SessionDeleted(d) => {
                self.check_session_named(Some(&d.session), &model, before);
                assert_eq!(d.response.status(), 200, "DELETE answers 200");
                self.kill(d.session.as_str());
            }
            Outcome::FetchSession(f) => {
                panic!("a server without a store parked a request: {f:?}")
            }
            Outcome::FetchStream(f) => {
                panic!("a server without a store parked a resumption: {f:?}")
            }
        }
    }

    fn answer(&mut self, stream: StreamId, answer: &Answer, facts: &mut StepFacts) {
        let now = self.now;
        let connection = self.server.connection(stream);
        let attached = connection.is_some();
        let info = self.streams.get(&stream).expect("a known stream");
        let first = info.pending.first().cloned();
        let initialize = info.initialize;
        let negotiated = info
            .negotiated
            .clone()
            .unwrap_or_else(|| "2025-06-18".into());
        let target = first.clone().unwrap_or(RequestId::Number(0));
        let id = id_json(&target);
        let answered = match answer {
            Answer::Result => {
                let msg = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
                self.server.send(stream, msg, now).is_ok()
            }
            Answer::Error => {
                let msg = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"no"}}}}"#
                );
                self.server.send(stream, msg, now).is_ok()
            }
            Answer::InitializeResult => {
                let ok = self
                    .server
                    .send(stream, initialize_result(&id, &negotiated), now)
                    .is_ok();
                if ok && initialize && first.is_some() {
                    facts.may_mint = true;
                    if attached && self.stateful {
                        facts.must_mint = Some(stream);
                    }
                }
                ok
            }
            Answer::InitializeResultOther(v) => {
                let ok = self
                    .server
                    .send(stream, initialize_result(&id, v.text()), now)
                    .is_ok();
                facts.may_mint |= ok && initialize;
                ok
            }
            Answer::Notification => {
                let msg = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
                let _ = self.server.send(stream, msg, now);
                false
            }
            Answer::Request => {
                if let Ok(id) = self.server.request(stream, "ping", None, now)
                    && self.server_requests.len() < 64
                {
                    self.server_requests.push(id);
                }
                false
            }
            Answer::Garbage(bytes) => {
                let ok = self.server.send(stream, bytes.clone(), now).is_ok();
                facts.may_mint |= ok && initialize;
                // Bytes that parse might answer anything; forget what is pending.
                if ok && let Some(info) = self.streams.get_mut(&stream) {
                    info.pending.clear();
                }
                false
            }
            Answer::Finish => match &first {
                Some(id) => self.server.finish_request(stream, id, now) == Ok(true),
                None => false,
            },
        };
        if answered
            && first.is_some()
            && self.streams[&stream].pending.len() == 1
            && let Some(c) = connection
        {
            facts.must_end = Some(c);
        }
        if answered
            && let Some(info) = self.streams.get_mut(&stream)
            && !info.pending.is_empty()
            && first.is_some()
        {
            info.pending.remove(0);
        }
    }

    /// Drains every output and checks it; returns the session ids the heads carried.
    fn drain_outputs(&mut self) -> Vec<(StreamId, String)> {
        let mut carried = Vec::new();
        while let Some(out) = self.server.poll_output() {
            let conn = self
                .conns
                .get_mut(&out.connection)
                .unwrap_or_else(|| panic!("output on {:?}, never handed out", out.connection));
            assert_eq!(
                conn.stream, out.stream,
                "{:?} belongs to another stream",
                out.connection
            );
            assert!(
                !conn.disconnected,
                "output on {:?} after its disconnect: {:?}",
                out.connection, out.event
            );
            match out.event {
                StreamEvent::Head(head) => {
                    assert_eq!(
                        conn.state,
                        ConnState::Fresh,
                        "a second head on {:?}",
                        out.connection
                    );
                    conn.state = ConnState::Open;
                    let sse = header(&head, "content-type")
                        .is_some_and(|c| c.starts_with("text/event-stream"));
                    if sse {
                        conn.sse = Some(Decoder::new());
                    }
                    if let Some(sid) = header(&head, "mcp-session-id") {
                        assert!(self.stateful, "a stateless server sent session id {sid}");
                        let info = &self.streams[&out.stream];
                        assert!(
                            info.initialize,
                            "INV-S1: session id {sid} on a reply that is not initialize's"
                        );
                        carried.push((out.stream, sid));
                    }
                }
                StreamEvent::Data(bytes) => {
                    assert_eq!(
                        conn.state,
                        ConnState::Open,
                        "data before the head, or after the end"
                    );
                    if conn.sse.is_none() {
                        assert!(
                            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                            "a JSON reply body that is not JSON: {:?}",
                            String::from_utf8_lossy(&bytes)
                        );
                    }
                    if let Some(decoder) = &mut conn.sse {
                        decoder.feed(&bytes);
                        loop {
                            match decoder.next_event() {
                                Ok(Some(e)) => {
                                    if !e.data_bytes().is_empty() {
                                        assert!(
                                            Message::parse(e.data_bytes().clone()).is_ok(),
                                            "an SSE event that is not one JSON-RPC message: {:?}",
                                            e.data()
                                        );
                                    }
                                    if let Some(id) = e.last_event_id()
                                        && self.event_ids.len() < 256
                                    {
                                        self.event_ids.push(id.into_owned());
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => panic!("the server wrote SSE its decoder refuses: {e}"),
                            }
                        }
                    }
                }
                StreamEvent::End => {
                    assert_eq!(
                        conn.state,
                        ConnState::Open,
                        "an end without a head, or twice"
                    );
                    conn.state = ConnState::Ended;
                }
            }
        }
        carried
    }

    fn step(&mut self, step: &Step) {
        let before = live_ids(&self.server);
        let mut facts = StepFacts::default();
        let mut terminated = None;
        match step {
            Step::Initialize { version, mutations } => {
                let body = Body::Initialize(version.clone());
                let (req, model) = self.request(
                    Method::POST,
                    &SessionRef::Absent,
                    Some(&body),
                    None,
                    mutations,
                );
                self.handle(req, model, &before, &mut facts);
            }
            Step::Post {
                session,
                body,
                mutations,
            } => {
                let (req, model) = self.request(Method::POST, session, Some(body), None, mutations);
                self.handle(req, model, &before, &mut facts);
            }
            Step::Get {
                session,
                resume,
                mutations,
            } => {
                let (req, model) =
                    self.request(Method::GET, session, None, resume.as_ref(), mutations);
                self.handle(req, model, &before, &mut facts);
            }
            Step::Delete { session, mutations } => {
                let (req, model) = self.request(Method::DELETE, session, None, None, mutations);
                self.handle(req, model, &before, &mut facts);
            }
            Step::Answer {
                stream,
                pending_only,
                answer,
            } => {
                let waiting: Vec<StreamId> = self
                    .stream_list
                    .iter()
                    .filter(|s| !self.streams[s].pending.is_empty())
                    .copied()
                    .collect();
                let list = if *pending_only && !waiting.is_empty() {
                    &waiting
                } else {
                    &self.stream_list
                };
                if let Some(s) = pick(list, *stream) {
                    self.answer(s, answer, &mut facts);
                }
            }
            Step::Disconnect { connection } => {
                if let Some(c) = pick(&self.conn_list, *connection)
                    && self.server.handle_disconnect(c, self.now).is_ok()
                {
                    self.conns.get_mut(&c).expect("known").disconnected = true;
                }
            }
            Step::CloseConnection { stream } => {
                if let Some(s) = pick(&self.stream_list, *stream) {
                    let _ = self.server.close_connection(s, self.now);
                }
            }
            Step::KeepAlive { connection } => {
                if let Some(c) = pick(&self.conn_list, *connection)
                    && self.server.keep_alive(c)
                {
                    let conn = &self.conns[&c];
                    assert!(
                        conn.state != ConnState::Ended && !conn.disconnected,
                        "a keep-alive on {c:?}, which is over"
                    );
                }
            }
            Step::Timeout(jump) => {
                let d = match jump {
                    Jump::Millis(n) => Duration::from_millis(u64::from(*n)),
                    Jump::Seconds(n) => Duration::from_secs(u64::from(*n)),
                    Jump::Minutes(n) => Duration::from_secs(60 * u64::from(*n)),
                    Jump::ToTimer => match self.server.poll_timeout() {
                        Some(t) if t.at > self.now => t.at - self.now,
                        _ => Duration::ZERO,
                    },
                };
                self.now += d;
                self.server.handle_timeout(self.now);
            }
            Step::Terminate { session } => {
                let live = self.sorted_live();
                if let Some(id) = pick(&live, *session) {
                    let sid = SessionId::new(&id).expect("a live id is well-formed");
                    if self.server.terminate_session(&sid) {
                        terminated = Some(id);
                    }
                }
            }
            Step::Shutdown => {
                let _ = self.server.shutdown(self.now);
            }
        }

        let carried = self.drain_outputs();
        let mut created = BTreeSet::new();
        let mut closed = BTreeSet::new();
        while let Some(e) = self.server.poll_event() {
            match e {
                ServerEvent::SessionCreated { id, .. } => {
                    assert!(
                        created.insert(id.to_string()),
                        "SessionCreated twice for {id:?}"
                    );
                }
                ServerEvent::SessionClosed { id, .. } => {
                    closed.insert(id.to_string());
                }
                _ => {}
            }
        }
        if let Some(c) = facts.must_end {
            assert_eq!(
                self.conns[&c].state,
                ConnState::Ended,
                "every request of the POST answered, but {c:?} did not end"
            );
        }
        if facts.rejected {
            assert!(
                created.is_empty() && closed.is_empty(),
                "a refusal queues no session event"
            );
            assert!(carried.is_empty(), "a refusal writes nothing");
        }
        let after = live_ids(&self.server);
        assert_eq!(
            after.len(),
            self.server.session_count(),
            "session_count() counts sessions()"
        );
        if !self.stateful {
            assert!(after.is_empty(), "a stateless server holds no session");
        }
        let new: BTreeSet<String> = after.difference(&before).cloned().collect();
        let removed: BTreeSet<String> = before.difference(&after).cloned().collect();
        assert!(
            new.len() <= 1,
            "more than one session minted in one step: {new:?}"
        );
        if !new.is_empty() {
            assert!(
                facts.may_mint,
                "session {new:?} appeared without an InitializeResult"
            );
        }
        for id in &new {
            assert!(
                !self.dead.contains(id),
                "INV-S3: ended session {id} is live again"
            );
            assert!(!self.minted.contains(id), "session id {id} minted twice");
        }
        assert_eq!(
            created, new,
            "SessionCreated names exactly the new sessions"
        );
        if let Some(stream) = facts.must_mint {
            assert_eq!(
                new.len(),
                1,
                "a successful InitializeResult mints a session"
            );
            let on_stream: Vec<&String> = carried
                .iter()
                .filter(|(s, _)| *s == stream)
                .map(|(_, id)| id)
                .collect();
            assert_eq!(
                on_stream,
                new.iter().collect::<Vec<_>>(),
                "the initialize reply's head carries the new session id"
            );
        }
        for (_, sid) in &carried {
            assert!(
                new.contains(sid),
                "INV-S1: a head carried {sid}, which was not just minted"
            );
        }
        for id in &removed {
            assert!(
                closed.contains(id),
                "session {id} ended without SessionClosed"
            );
        }
        for id in &closed {
            assert!(
                before.contains(id),
                "SessionClosed for {id}, which was not live"
            );
            assert!(
                !after.contains(id),
                "SessionClosed for {id}, which is still live"
            );
        }
        if let Some(id) = terminated {
            assert!(removed.contains(&id), "terminate_session left {id} live");
        }
        self.minted.extend(new);
        for id in removed {
            self.kill(&id);
        }
    }
}

/// The `server_sequence` checks.
pub fn check_server(case: &ServerCase) {
    let mut h = Harness::new(case, super::base_instant());
    for step in case.steps.iter().take(64) {
        h.step(step);
    }
}
