//! Property tests over generated sequences of requests, application answers, disconnects
//! and time advances.
//!
//! Requests are built from a small alphabet (methods, Host/Origin, Accept, Content-Type,
//! version header, session header drawn from {none, live ids, dead ids, never-issued,
//! malformed}, bodies drawn from {initialize, notifications/initialized, tools/list,
//! response, batches, garbage, random bytes}), weighted toward valid values so that
//! sequences reach deep states.
//!
//! A [`World`] drives one server and keeps a small reference model beside it: the live
//! and terminated session ids, each session's version, `initialized` flag, last activity
//! and standalone stream, the open streams with their unanswered requests, and the
//! pending `initialize` count. The model also re-states the check table for the alphabet.
//!
//! - (a) `INV-S1`: sessions are minted only by a successful InitializeResult, and the
//!   session header appears only on that stream's head.
//! - (b) `INV-S3`, `INV-S13`, `INV-S17`: a refused request changes nothing observable.
//! - (c) `INV-S17`, DESIGN "no peer input may panic": any POST body yields a typed
//!   outcome, a refusal being a 4xx JSON-RPC error.
//! - (d) `INV-S2`, `SRV-SESS-7`, the check table: the model and the machine agree after
//!   every step; dead and unknown ids get 404, and terminated ids never come back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use mcp_http_proto::server::{
    CloseReason, Mode, Outcome, Output, Refusal, ReplyMode, Server, ServerConfig, ServerEvent,
    SessionRecord, StreamId, Timeout,
};
use mcp_http_proto::wire::jsonrpc::{self, Body, BodyError, MessageKind, RequestId};
use mcp_http_proto::{ProtocolVersion, UsageError};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const IDLE: Duration = Duration::from_secs(60);
const CAP: usize = 3;
const MAX_BODY: usize = 512;

// ===================================================================================
// The alphabet
// ===================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meth {
    Post,
    Get,
    Delete,
    Put,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostV {
    Loopback,
    Localhost,
    V6,
    Foreign,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OriginV {
    Absent,
    Loopback,
    Foreign,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptV {
    Both,
    JsonOnly,
    SseOnly,
    Wildcard,
    Absent,
    SseQ0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CtV {
    Json,
    JsonCharset,
    TextPlain,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerV {
    Absent,
    Known(ProtocolVersion),
    Garbage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessV {
    Absent,
    Live(u8),
    Dead(u8),
    Unknown,
    CommaJoined,
    Repeated,
    NonAscii,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BodyV {
    Initialize,
    Initialized,
    ToolsList,
    Response,
    Batch,
    /// 2025-03-26: `notifications/initialized` batched with a request.
    BatchInitialized,
    BatchWithInit,
    BatchResponses,
    Garbage,
    NotJsonRpc,
    Random(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClV {
    Absent,
    Oversize,
    Malformed,
}

#[derive(Debug, Clone)]
struct Req {
    method: Meth,
    host: HostV,
    origin: OriginV,
    accept: AcceptV,
    ct: CtV,
    version: VerV,
    session: SessV,
    body: BodyV,
    cl: ClV,
    last_event_id: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Request(Req),
    /// Answer a pending `initialize`: a successful InitializeResult naming `version`, or an
    /// error.
    AnswerInit {
        pick: u8,
        success: bool,
        version: ProtocolVersion,
    },
    /// Answer one unanswered request of an open POST stream.
    Answer {
        pick: u8,
        error: bool,
    },
    /// A server notification on any stream ever opened (closed ones included).
    Notify {
        pick: u8,
    },
    /// A server-initiated request (not ping) on any stream ever opened.
    ServerRequest {
        pick: u8,
    },
    /// The client's connection for any stream ever opened goes away.
    Disconnect {
        pick: u8,
    },
    /// The clock moves on, and the machine's timers run.
    Advance(Duration),
    /// The clock moves on, but the driver's timer is late: `handle_timeout` is not called.
    AdvanceLate(Duration),
}

/// One departure from a valid request: a fault some check refuses, or a harmless
/// alternative that must pass.
#[derive(Debug, Clone, Copy)]
enum Variation {
    Host(HostV),
    Origin(OriginV),
    Accept(AcceptV),
    Ct(CtV),
    Version(VerV),
    Cl(ClV),
}

fn arb_variation() -> impl Strategy<Value = Variation> {
    use Variation as V;
    prop_oneof![
        1 => Just(V::Host(HostV::Localhost)),
        1 => Just(V::Host(HostV::V6)),
        1 => Just(V::Host(HostV::Foreign)),
        1 => Just(V::Host(HostV::Absent)),
        1 => Just(V::Origin(OriginV::Loopback)),
        1 => Just(V::Origin(OriginV::Foreign)),
        1 => Just(V::Origin(OriginV::Null)),
        1 => Just(V::Accept(AcceptV::JsonOnly)),
        1 => Just(V::Accept(AcceptV::SseOnly)),
        1 => Just(V::Accept(AcceptV::Wildcard)),
        1 => Just(V::Accept(AcceptV::Absent)),
        1 => Just(V::Accept(AcceptV::SseQ0)),
        1 => Just(V::Ct(CtV::JsonCharset)),
        1 => Just(V::Ct(CtV::TextPlain)),
        1 => Just(V::Ct(CtV::Absent)),
        1 => Just(V::Version(VerV::Known(ProtocolVersion::V2025_03_26))),
        1 => Just(V::Version(VerV::Known(ProtocolVersion::V2025_06_18))),
        1 => Just(V::Version(VerV::Known(ProtocolVersion::V2025_11_25))),
        1 => Just(V::Version(VerV::Known(ProtocolVersion::V2026_07_28))),
        1 => Just(V::Version(VerV::Garbage)),
        1 => Just(V::Cl(ClV::Oversize)),
        1 => Just(V::Cl(ClV::Malformed)),
    ]
}

fn arb_body() -> impl Strategy<Value = BodyV> {
    prop_oneof![
        5 => Just(BodyV::Initialize),
        3 => Just(BodyV::Initialized),
        6 => Just(BodyV::ToolsList),
        1 => Just(BodyV::Response),
        2 => Just(BodyV::Batch),
        2 => Just(BodyV::BatchInitialized),
        1 => Just(BodyV::BatchWithInit),
        1 => Just(BodyV::BatchResponses),
        1 => Just(BodyV::Garbage),
        1 => Just(BodyV::NotJsonRpc),
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(BodyV::Random),
    ]
}

/// The session header for a body: `initialize` mostly comes without one, everything
/// else mostly with a live one.
fn arb_session_for(body: &BodyV) -> BoxedStrategy<SessV> {
    let (absent, live) = match body {
        BodyV::Initialize => (12, 4),
        _ => (2, 12),
    };
    prop_oneof![
        absent => Just(SessV::Absent),
        live => any::<u8>().prop_map(SessV::Live),
        2 => any::<u8>().prop_map(SessV::Dead),
        1 => Just(SessV::Unknown),
        1 => Just(SessV::CommaJoined),
        1 => Just(SessV::Repeated),
        1 => Just(SessV::NonAscii),
    ]
    .boxed()
}

fn arb_req() -> impl Strategy<Value = Req> {
    let method = prop_oneof![
        10 => Just(Meth::Post),
        3 => Just(Meth::Get),
        1 => Just(Meth::Delete),
        1 => Just(Meth::Put),
    ];
    let variations = prop_oneof![
        6 => Just(vec![]),
        3 => prop::collection::vec(arb_variation(), 1..=1),
        1 => prop::collection::vec(arb_variation(), 2..=2),
    ];
    let body_and_session = arb_body().prop_flat_map(|b| {
        let s = arb_session_for(&b);
        (Just(b), s)
    });
    // `Last-Event-ID` only matters on GET.
    let last_event_id = prop::bool::weighted(0.2);
    (method, body_and_session, variations, last_event_id).prop_map(
        |(method, (body, session), variations, last_event_id)| {
            let mut r = Req {
                method,
                host: HostV::Loopback,
                origin: OriginV::Absent,
                accept: AcceptV::Both,
                ct: CtV::Json,
                version: VerV::Absent,
                session,
                body,
                cl: ClV::Absent,
                last_event_id,
            };
            for v in variations {
                match v {
                    Variation::Host(h) => r.host = h,
                    Variation::Origin(o) => r.origin = o,
                    Variation::Accept(a) => r.accept = a,
                    Variation::Ct(c) => r.ct = c,
                    Variation::Version(v) => r.version = v,
                    Variation::Cl(c) => r.cl = c,
                }
            }
            r
        },
    )
}

fn arb_op() -> impl Strategy<Value = Op> {
    let init_version = prop_oneof![
        3 => Just(ProtocolVersion::V2025_03_26),
        3 => Just(ProtocolVersion::V2025_06_18),
        2 => Just(ProtocolVersion::V2025_11_25),
        1 => Just(ProtocolVersion::V2026_07_28),
    ];
    let duration = || {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(30),
            Just(59),
            Just(60),
            Just(61),
            Just(3600)
        ]
        .prop_map(Duration::from_secs)
    };
    let advance = duration().prop_map(Op::Advance);
    let advance_late = duration().prop_map(Op::AdvanceLate);
    prop_oneof![
        12 => arb_req().prop_map(Op::Request),
        5 => (any::<u8>(), prop::bool::weighted(0.8), init_version)
            .prop_map(|(pick, success, version)| Op::AnswerInit { pick, success, version }),
        4 => (any::<u8>(), prop::bool::weighted(0.2))
            .prop_map(|(pick, error)| Op::Answer { pick, error }),
        1 => any::<u8>().prop_map(|pick| Op::Notify { pick }),
        1 => any::<u8>().prop_map(|pick| Op::ServerRequest { pick }),
        1 => any::<u8>().prop_map(|pick| Op::Disconnect { pick }),
        2 => advance,
        1 => advance_late,
    ]
}

fn arb_config() -> impl Strategy<Value = ServerConfig> {
    (
        any::<bool>(),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
    )
        .prop_map(|(json, stateful, standalone)| ServerConfig {
            mode: if stateful {
                Mode::Stateful
            } else {
                Mode::Stateless
            },
            reply_mode: if json {
                ReplyMode::Json
            } else {
                ReplyMode::Sse
            },
            max_body_bytes: MAX_BODY,
            session_idle_timeout: Some(IDLE),
            max_sessions: Some(CAP),
            standalone_stream: standalone,
            ..ServerConfig::default()
        })
}

/// A valid request with the given session variant and body.
fn valid(session: SessV, body: BodyV) -> Req {
    Req {
        method: Meth::Post,
        host: HostV::Loopback,
        origin: OriginV::Absent,
        accept: AcceptV::Both,
        ct: CtV::Json,
        version: VerV::Absent,
        session,
        body,
        cl: ClV::Absent,
        last_event_id: false,
    }
}

/// A handshake: `initialize`, a successful answer, and usually `initialized`; it gets
/// sequences to live sessions quickly.
fn arb_handshake() -> impl Strategy<Value = Vec<Op>> {
    let version = prop_oneof![
        Just(ProtocolVersion::V2025_03_26),
        Just(ProtocolVersion::V2025_06_18),
        Just(ProtocolVersion::V2025_11_25),
    ];
    (version, any::<u8>(), prop::bool::weighted(0.7)).prop_map(|(version, pick, initialized)| {
        let mut ops = vec![
            Op::Request(valid(SessV::Absent, BodyV::Initialize)),
            Op::AnswerInit {
                pick,
                success: true,
                version,
            },
        ];
        if initialized {
            // The newest session is the one the handshake just made, or another: either
            // is a valid sequence.
            ops.push(Op::Request(valid(SessV::Live(pick), BodyV::Initialized)));
        }
        ops
    })
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    let chunk = prop_oneof![
        8 => arb_op().prop_map(|op| vec![op]),
        1 => arb_handshake(),
    ];
    prop::collection::vec(chunk, 1..40).prop_map(|chunks| chunks.into_iter().flatten().collect())
}

// ===================================================================================
// The reference model
// ===================================================================================

/// A session header as resolved against the model.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sess {
    None,
    /// A well-formed id, and whether the model holds it live, dead or never issued.
    Id(String, IdKind),
    CommaJoined,
    Repeated,
    NonAscii,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    Live,
    Dead,
    Unknown,
}

#[derive(Debug, Clone)]
struct MSession {
    version: ProtocolVersion,
    initialized: bool,
    last_activity: Instant,
    standalone: Option<StreamId>,
}

#[derive(Debug, Clone)]
struct MStream {
    session: Option<String>,
    initialize: bool,
    standalone: bool,
    pending: Vec<RequestId>,
    attached: bool,
    head_sent: bool,
    /// SSE frames written before the head (held by the machine).
    held: usize,
}

#[derive(Debug, Default)]
struct Model {
    live: BTreeMap<String, MSession>,
    dead: Vec<String>,
    streams: BTreeMap<StreamId, MStream>,
    /// Every stream ever opened, in order.
    ever: Vec<StreamId>,
    pending_inits: usize,
}

impl Model {
    fn streams_of(&self, id: &str) -> Vec<StreamId> {
        self.streams
            .iter()
            .filter(|(_, s)| s.session.as_deref() == Some(id))
            .map(|(k, _)| *k)
            .collect()
    }

    fn deadline(&self, id: &str) -> Option<Instant> {
        let s = self.live.get(id)?;
        if self.streams_of(id).is_empty() {
            Some(s.last_activity + IDLE)
        } else {
            None
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.live.keys().filter_map(|id| self.deadline(id)).min()
    }

    fn touch(&mut self, id: &str, now: Instant) {
        if let Some(s) = self.live.get_mut(id) {
            s.last_activity = s.last_activity.max(now);
        }
    }
}

/// What the model knows of a body.
#[derive(Debug, Clone)]
enum Class {
    Parse,
    Invalid,
    Single {
        kind: MessageKind,
        initialize: bool,
        initialized: bool,
        id: Option<RequestId>,
    },
    Batch {
        requests: Vec<RequestId>,
        initialize: bool,
        initialized: bool,
        responses: usize,
        len: usize,
    },
}

impl Class {
    fn of_random(bytes: &[u8]) -> Class {
        match jsonrpc::classify(bytes) {
            Err(BodyError::Parse(_)) => Class::Parse,
            Err(_) => Class::Invalid,
            Ok(Body::Single(e)) => Class::Single {
                kind: e.kind,
                initialize: e.is_initialize(),
                initialized: e.method.as_deref() == Some("notifications/initialized"),
                id: e.id.clone(),
            },
            Ok(Body::Batch(es)) => Class::Batch {
                requests: es
                    .iter()
                    .filter(|e| e.kind == MessageKind::Request)
                    .filter_map(|e| e.id.clone())
                    .collect(),
                initialize: es.iter().any(|e| e.is_initialize()),
                initialized: es
                    .iter()
                    .any(|e| e.method.as_deref() == Some("notifications/initialized")),
                responses: es.iter().filter(|e| e.kind.is_response()).count(),
                len: es.len(),
            },
        }
    }
}

/// What the model expects of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Refuse(Refusal),
    Accepted,
    Dispatch,
    Opened,
    Deleted,
}

/// Observable state: what a refused request must leave as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    records: Vec<SessionRecord>,
    session_count: usize,
    stream_count: usize,
    timeout: Option<Timeout>,
    standalone: Vec<(String, Option<StreamId>)>,
}

fn snapshot(s: &Server) -> Snapshot {
    let mut records: Vec<SessionRecord> = s.sessions().cloned().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let standalone = records
        .iter()
        .map(|r| (r.id.to_string(), s.standalone_stream(&r.id)))
        .collect();
    Snapshot {
        records,
        session_count: s.session_count(),
        stream_count: s.stream_count(),
        timeout: s.poll_timeout(),
        standalone,
    }
}

/// What one step did, for the properties to judge.
struct StepLog {
    before: Snapshot,
    after: Snapshot,
    /// For a request: the resolved session header, and the refusal or the response.
    request: Option<(Sess, Option<Refusal>, Option<Response<Bytes>>)>,
    /// For a request: what became of it.
    outcome: Option<Expect>,
    /// For an `AnswerInit` that reached a stream: the stream, and whether `send` succeeded
    /// with a successful InitializeResult.
    answered_init: Option<(StreamId, bool)>,
    outputs: Vec<Output>,
    events: Vec<ServerEvent>,
}

struct World {
    s: Server,
    cfg: ServerConfig,
    now: Instant,
    m: Model,
    next_id: i64,
    /// Assert the model's predictions (property d). Without it the model is bookkeeping
    /// only, kept in step with what the machine did.
    check_model: bool,
}

fn answer_for(id: &RequestId, error: bool) -> String {
    let id = serde_json::to_string(id).unwrap();
    if error {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"x"}}}}"#)
    } else {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
    }
}

impl World {
    fn new(cfg: ServerConfig, seed: u64, check_model: bool) -> Self {
        Self {
            s: server_seeded(cfg.clone(), seed),
            cfg,
            now: base_instant(),
            m: Model::default(),
            next_id: 1,
            check_model,
        }
    }

    fn stateful(&self) -> bool {
        self.cfg.mode == Mode::Stateful
    }

    fn sse(&self) -> bool {
        self.cfg.reply_mode == ReplyMode::Sse
    }

    fn resolve(&self, v: SessV) -> Sess {
        let unknown = || Sess::Id("never-issued-0".into(), IdKind::Unknown);
        match v {
            SessV::Absent => Sess::None,
            SessV::Live(i) => match self
                .m
                .live
                .keys()
                .nth(i as usize % self.m.live.len().max(1))
            {
                Some(id) => Sess::Id(id.clone(), IdKind::Live),
                None => Sess::None,
            },
            SessV::Dead(i) => match self.m.dead.get(i as usize % self.m.dead.len().max(1)) {
                Some(id) => Sess::Id(id.clone(), IdKind::Dead),
                None => unknown(),
            },
            SessV::Unknown => unknown(),
            SessV::CommaJoined => Sess::CommaJoined,
            SessV::Repeated => Sess::Repeated,
            SessV::NonAscii => Sess::NonAscii,
        }
    }

    fn body_of(&mut self, b: &BodyV) -> (Bytes, Class) {
        let n = self.next_id;
        self.next_id += 2;
        let single = |kind, id: Option<i64>| Class::Single {
            kind,
            initialize: false,
            initialized: false,
            id: id.map(RequestId::Number),
        };
        let (text, class) = match b {
            BodyV::Initialize => (
                initialize_body(n as u64, "2025-06-18"),
                Class::Single {
                    kind: MessageKind::Request,
                    initialize: true,
                    initialized: false,
                    id: Some(RequestId::Number(n)),
                },
            ),
            BodyV::Initialized => (
                INITIALIZED.to_owned(),
                Class::Single {
                    kind: MessageKind::Notification,
                    initialize: false,
                    initialized: true,
                    id: None,
                },
            ),
            BodyV::ToolsList => (tools_list(n as u64), single(MessageKind::Request, Some(n))),
            BodyV::Response => (
                CLIENT_RESPONSE.to_owned(),
                single(MessageKind::Response, None),
            ),
            BodyV::Batch => (
                format!(
                    "[{},{PROGRESS},{}]",
                    tools_list(n as u64),
                    tools_list(n as u64 + 1)
                ),
                Class::Batch {
                    requests: vec![RequestId::Number(n), RequestId::Number(n + 1)],
                    initialize: false,
                    initialized: false,
                    responses: 0,
                    len: 3,
                },
            ),
            BodyV::BatchInitialized => (
                format!("[{INITIALIZED},{}]", tools_list(n as u64)),
                Class::Batch {
                    requests: vec![RequestId::Number(n)],
                    initialize: false,
                    initialized: true,
                    responses: 0,
                    len: 2,
                },
            ),
            BodyV::BatchWithInit => (
                format!("[{},{PROGRESS}]", initialize_body(n as u64, "2025-03-26")),
                Class::Batch {
                    requests: vec![RequestId::Number(n)],
                    initialize: true,
                    initialized: false,
                    responses: 0,
                    len: 2,
                },
            ),
            BodyV::BatchResponses => (
                format!("[{CLIENT_RESPONSE},{CLIENT_ERROR_RESPONSE}]"),
                Class::Batch {
                    requests: vec![],
                    initialize: false,
                    initialized: false,
                    responses: 2,
                    len: 2,
                },
            ),
            BodyV::Garbage => ("{garbage".to_owned(), Class::Parse),
            BodyV::NotJsonRpc => (r#"{"hello":"world"}"#.to_owned(), Class::Invalid),
            BodyV::Random(bytes) => {
                return (Bytes::from(bytes.clone()), Class::of_random(bytes));
            }
        };
        (Bytes::from(text), class)
    }

    fn build(&self, r: &Req, sess: &Sess, body: Bytes) -> Request<Bytes> {
        let method = match r.method {
            Meth::Post => "POST",
            Meth::Get => "GET",
            Meth::Delete => "DELETE",
            Meth::Put => "PUT",
        };
        let mut b = Request::builder().method(method).uri("/mcp");
        if let Some(h) = match r.host {
            HostV::Loopback => Some(HOST),
            HostV::Localhost => Some("localhost"),
            HostV::V6 => Some("[::1]:8080"),
            HostV::Foreign => Some("evil.example.com"),
            HostV::Absent => None,
        } {
            b = b.header("host", h);
        }
        if let Some(o) = match r.origin {
            OriginV::Absent => None,
            OriginV::Loopback => Some("http://localhost:3000"),
            OriginV::Foreign => Some("http://evil.example.com"),
            OriginV::Null => Some("null"),
        } {
            b = b.header("origin", o);
        }
        if let Some(a) = match r.accept {
            AcceptV::Both => Some(ACCEPT_BOTH),
            AcceptV::JsonOnly => Some("application/json"),
            AcceptV::SseOnly => Some("text/event-stream"),
            AcceptV::Wildcard => Some("*/*"),
            AcceptV::Absent => None,
            AcceptV::SseQ0 => Some("application/json, text/event-stream;q=0"),
        } {
            b = b.header("accept", a);
        }
        if let Some(c) = match r.ct {
            CtV::Json => Some(JSON),
            CtV::JsonCharset => Some("application/json; charset=utf-8"),
            CtV::TextPlain => Some("text/plain"),
            CtV::Absent => None,
        } {
            b = b.header("content-type", c);
        }
        match r.version {
            VerV::Absent => {}
            VerV::Known(v) => b = b.header("mcp-protocol-version", v.as_str()),
            VerV::Garbage => b = b.header("mcp-protocol-version", "banana"),
        }
        match sess {
            Sess::None => {}
            Sess::Id(id, _) => b = b.header(SESSION_HEADER, id.as_str()),
            Sess::CommaJoined => b = b.header(SESSION_HEADER, "abc,def"),
            Sess::Repeated => {
                b = b
                    .header(SESSION_HEADER, "abc")
                    .header(SESSION_HEADER, "abc");
            }
            Sess::NonAscii => {
                b = b.header(
                    SESSION_HEADER,
                    http::HeaderValue::from_bytes(b"ab\xffc").unwrap(),
                );
            }
        }
        match r.cl {
            ClV::Absent => {}
            ClV::Oversize => b = b.header("content-length", "100000"),
            ClV::Malformed => b = b.header("content-length", "12a"),
        }
        if r.last_event_id && r.method == Meth::Get {
            b = b.header("last-event-id", "0");
        }
        b.body(body).unwrap()
    }

    /// The check table, restated for the alphabet.
    fn predict(&self, r: &Req, sess: &Sess, class: &Class, body_len: usize) -> Expect {
        use Refusal::*;
        let stateful = self.stateful();
        let refuse = Expect::Refuse;
        // 1
        let served = match r.method {
            Meth::Post => true,
            Meth::Get => stateful && self.cfg.standalone_stream,
            Meth::Delete => stateful,
            Meth::Put => false,
        };
        if !served {
            return refuse(MethodNotAllowed);
        }
        // 2
        if r.host == HostV::Foreign {
            return refuse(ForbiddenHost);
        }
        if matches!(r.origin, OriginV::Foreign | OriginV::Null) {
            return refuse(ForbiddenOrigin);
        }
        // 3
        match r.cl {
            ClV::Malformed => return refuse(BadContentLength),
            ClV::Oversize => return refuse(BodyTooLarge),
            ClV::Absent => {}
        }
        if body_len > MAX_BODY {
            return refuse(BodyTooLarge);
        }
        // 4
        let acceptable = match r.method {
            Meth::Post => matches!(r.accept, AcceptV::Both | AcceptV::Wildcard),
            Meth::Get => matches!(
                r.accept,
                AcceptV::Both | AcceptV::SseOnly | AcceptV::Wildcard
            ),
            _ => true,
        };
        if !acceptable {
            return refuse(NotAcceptable);
        }
        // 5
        if r.method == Meth::Post && !matches!(r.ct, CtV::Json | CtV::JsonCharset) {
            return refuse(UnsupportedMediaType);
        }
        // 6
        let header_version = match r.version {
            VerV::Absent => None,
            VerV::Known(v) if self.cfg.supports(v) => Some(v),
            _ => return refuse(UnsupportedVersion),
        };
        // 7
        let id = match sess {
            Sess::CommaJoined | Sess::Repeated | Sess::NonAscii => {
                return refuse(MalformedSessionId);
            }
            Sess::None => None,
            Sess::Id(id, _) => Some(id.clone()),
        };
        let id = if stateful { id } else { None };
        // 8: unknown, terminated, or past its idle deadline though the timer is late.
        if let Some(id) = &id {
            let overdue = self.m.deadline(id).is_some_and(|at| at <= self.now);
            if !self.m.live.contains_key(id) || overdue {
                return refuse(UnknownSession);
            }
        }
        match r.method {
            Meth::Delete => {
                return if id.is_some() {
                    Expect::Deleted
                } else {
                    refuse(MissingSessionId)
                };
            }
            Meth::Get => {
                let Some(id) = id else {
                    return refuse(MissingSessionId);
                };
                // 12
                if r.last_event_id {
                    return refuse(UnknownEventId);
                }
                if self.m.live[&id].standalone.is_some() {
                    return refuse(StreamConflict);
                }
                return Expect::Opened;
            }
            _ => {}
        }
        let is_init = matches!(
            class,
            Class::Single {
                initialize: true,
                ..
            }
        );
        if stateful && id.is_none() && !is_init {
            return refuse(MissingSessionId);
        }
        let version = id
            .as_ref()
            .map(|i| self.m.live[i].version)
            .or(header_version)
            .unwrap_or(ProtocolVersion::V2025_03_26);
        // 9
        let has_request = match class {
            Class::Parse => return refuse(ParseError),
            Class::Invalid => return refuse(InvalidMessage),
            Class::Single { kind, .. } => *kind == MessageKind::Request,
            Class::Batch {
                requests,
                initialize,
                responses,
                len,
                ..
            } => {
                if version != ProtocolVersion::V2025_03_26 {
                    return refuse(BatchNotAllowed);
                }
                if *initialize {
                    return refuse(InitializeInBatch);
                }
                let mut unique = requests.clone();
                unique.sort();
                unique.dedup();
                if (*responses != 0 && responses != len) || unique.len() != requests.len() {
                    return refuse(InvalidMessage);
                }
                !requests.is_empty()
            }
        };
        if is_init && stateful {
            // 10
            if id.is_some() {
                return refuse(Reinitialize);
            }
            // 11
            if self.m.live.len() + self.m.pending_inits >= CAP {
                return refuse(SessionCap);
            }
        }
        if has_request {
            Expect::Dispatch
        } else {
            Expect::Accepted
        }
    }

    /// The session ends, and so do its streams. A stream whose reply had not begun (a JSON
    /// reply still awaiting answers) still gets a complete response, a 404, before its end:
    /// an end always follows a head.
    fn end_session(&mut self, id: &str, expected_outputs: &mut Vec<(StreamId, char)>) {
        self.m.live.remove(id);
        self.m.dead.push(id.to_owned());
        for stream in self.m.streams_of(id) {
            let st = self.m.streams.remove(&stream).unwrap();
            if st.attached {
                if !st.head_sent {
                    expected_outputs.push((stream, 'H'));
                    expected_outputs.push((stream, 'D'));
                }
                expected_outputs.push((stream, 'E'));
            }
        }
    }

    fn close_stream(&mut self, stream: StreamId) {
        let st = self.m.streams.remove(&stream).unwrap();
        if st.initialize && self.stateful() {
            self.m.pending_inits -= 1;
        }
        if let Some(id) = &st.session {
            let now = self.now;
            if let Some(s) = self.m.live.get_mut(id) {
                if s.standalone == Some(stream) {
                    s.standalone = None;
                }
            }
            self.m.touch(id, now);
        }
    }

    fn pick_any(&self, pick: u8) -> Option<StreamId> {
        if self.m.ever.is_empty() {
            None
        } else {
            Some(self.m.ever[pick as usize % self.m.ever.len()])
        }
    }

    fn step(&mut self, op: &Op) -> StepLog {
        let before = snapshot(&self.s);
        let mut expected_outputs: Vec<(StreamId, char)> = Vec::new();
        let mut expected_events: Vec<ServerEvent> = Vec::new();
        let mut request_log = None;
        let mut outcome_log = None;
        let mut answered_init = None;
        // Outputs and events come from the machine; the model says what it expects.
        let outputs;
        let events;
        match op {
            Op::Request(r) => {
                let sess = self.resolve(r.session);
                let (body, class) = if r.method == Meth::Post {
                    self.body_of(&r.body)
                } else {
                    (Bytes::new(), Class::Parse)
                };
                let expect = self.predict(r, &sess, &class, body.len());
                let req = self.build(r, &sess, body);
                let outcome = self.s.handle_request(req, self.now);
                outputs = drain(&mut self.s);
                events = drain_events(&mut self.s);
                let got = match &outcome {
                    Outcome::Reject(rej) => Expect::Refuse(rej.refusal),
                    Outcome::Accepted(_) => Expect::Accepted,
                    Outcome::Dispatch(_) => Expect::Dispatch,
                    Outcome::StreamOpened(_) => Expect::Opened,
                    Outcome::SessionDeleted(_) => Expect::Deleted,
                };
                if self.check_model {
                    assert_eq!(got, expect, "request {r:?} with session {sess:?}");
                }
                outcome_log = Some(got);
                let session_id = match &sess {
                    Sess::Id(id, _) if self.stateful() => Some(id.clone()),
                    _ => None,
                };
                let now = self.now;
                // `LIFE-5`: the session is initialized by `notifications/initialized`,
                // alone or batched (2025-03-26).
                let initialized = match &class {
                    Class::Single { initialized, .. } | Class::Batch { initialized, .. } => {
                        *initialized
                    }
                    _ => false,
                };
                let mark_initialized = |m: &mut Model| {
                    if let Some(id) = &session_id {
                        if initialized {
                            m.live.get_mut(id).unwrap().initialized = true;
                        }
                    }
                };
                match &outcome {
                    Outcome::Reject(_) => {}
                    Outcome::Accepted(_) => {
                        if let Some(id) = &session_id {
                            self.m.touch(id, now);
                        }
                        mark_initialized(&mut self.m);
                    }
                    Outcome::Dispatch(d) => {
                        if let Some(id) = &session_id {
                            self.m.touch(id, now);
                        }
                        mark_initialized(&mut self.m);
                        let initialize = d.messages.iter().any(|m| {
                            m.kind() == MessageKind::Request && m.method() == Some("initialize")
                        });
                        let pending: Vec<RequestId> = d
                            .messages
                            .iter()
                            .filter(|m| m.kind() == MessageKind::Request)
                            .filter_map(|m| m.id().cloned())
                            .collect();
                        if self.check_model {
                            let want: Vec<RequestId> = match &class {
                                Class::Single { id, .. } => id.iter().cloned().collect(),
                                Class::Batch { requests, .. } => requests.clone(),
                                _ => unreachable!(),
                            };
                            assert_eq!(pending, want, "the requests handed over");
                            assert_eq!(d.session.clone().map(|s| s.to_string()), session_id);
                        }
                        let head_sent = self.sse() && !initialize;
                        if head_sent {
                            expected_outputs.push((d.stream, 'H'));
                        }
                        if initialize && self.stateful() {
                            self.m.pending_inits += 1;
                        }
                        self.m.streams.insert(
                            d.stream,
                            MStream {
                                session: session_id.clone(),
                                initialize,
                                standalone: false,
                                pending,
                                attached: true,
                                head_sent,
                                held: 0,
                            },
                        );
                        self.m.ever.push(d.stream);
                    }
                    Outcome::StreamOpened(o) => {
                        let id = o.session.to_string();
                        self.m.touch(&id, now);
                        self.m.live.get_mut(&id).unwrap().standalone = Some(o.stream);
                        expected_outputs.push((o.stream, 'H'));
                        self.m.streams.insert(
                            o.stream,
                            MStream {
                                session: Some(id),
                                initialize: false,
                                standalone: true,
                                pending: vec![],
                                attached: true,
                                head_sent: true,
                                held: 0,
                            },
                        );
                        self.m.ever.push(o.stream);
                    }
                    Outcome::SessionDeleted(d) => {
                        let id = d.session.to_string();
                        self.end_session(&id, &mut expected_outputs);
                        expected_events.push(ServerEvent::SessionClosed {
                            id: d.session.clone(),
                            reason: CloseReason::Deleted,
                        });
                    }
                }
                let (refusal, response) = match outcome {
                    Outcome::Reject(rej) => (Some(rej.refusal), Some(rej.response)),
                    Outcome::Accepted(a) => (None, Some(a.response)),
                    Outcome::SessionDeleted(d) => (None, Some(d.response)),
                    _ => (None, None),
                };
                request_log = Some((sess, refusal, response));
            }
            Op::AnswerInit {
                pick,
                success,
                version,
            } => {
                let inits: Vec<StreamId> = self
                    .m
                    .streams
                    .iter()
                    .filter(|(_, s)| s.initialize)
                    .map(|(k, _)| *k)
                    .collect();
                if inits.is_empty() {
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                } else {
                    let stream = inits[*pick as usize % inits.len()];
                    let rid = self.m.streams[&stream].pending[0].clone();
                    let text = if *success {
                        let id = serde_json::to_string(&rid).unwrap();
                        format!(
                            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}"#
                        )
                    } else {
                        answer_for(&rid, true)
                    };
                    let result = self.s.send(stream, text, self.now);
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                    let mints = *success && self.stateful();
                    if mints && !self.cfg.supports(*version) {
                        if self.check_model {
                            assert_eq!(
                                result,
                                Err(UsageError::UnsupportedNegotiatedVersion(
                                    version.to_string()
                                ))
                            );
                        }
                    } else {
                        if self.check_model {
                            assert_eq!(result, Ok(()));
                        }
                        answered_init = Some((stream, mints && result.is_ok()));
                        let st = self.m.streams[&stream].clone();
                        if st.attached {
                            expected_outputs.push((stream, 'H'));
                            for _ in 0..st.held {
                                expected_outputs.push((stream, 'D'));
                            }
                            expected_outputs.push((stream, 'D'));
                            expected_outputs.push((stream, 'E'));
                        }
                        // The minted id is learnt from the machine's event.
                        let created = events.iter().find_map(|e| match e {
                            ServerEvent::SessionCreated { id, version } => {
                                Some((id.clone(), *version))
                            }
                            _ => None,
                        });
                        if mints {
                            let (id, v) = created.clone().expect("a SessionCreated event");
                            expected_events.push(ServerEvent::SessionCreated {
                                id: id.clone(),
                                version: *version,
                            });
                            self.m.live.insert(
                                id.to_string(),
                                MSession {
                                    version: v,
                                    initialized: false,
                                    last_activity: self.now,
                                    standalone: None,
                                },
                            );
                        }
                        self.close_stream(stream);
                    }
                }
            }
            Op::Answer { pick, error } => {
                let open: Vec<StreamId> = self
                    .m
                    .streams
                    .iter()
                    .filter(|(_, s)| !s.initialize && !s.pending.is_empty())
                    .map(|(k, _)| *k)
                    .collect();
                if open.is_empty() {
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                } else {
                    let stream = open[*pick as usize % open.len()];
                    let rid = self.m.streams[&stream].pending[0].clone();
                    let result = self.s.send(stream, answer_for(&rid, *error), self.now);
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                    if self.check_model {
                        assert_eq!(result, Ok(()));
                    }
                    let sse = self.sse();
                    let st = self.m.streams.get_mut(&stream).unwrap();
                    st.pending.remove(0);
                    let done = st.pending.is_empty();
                    if st.attached {
                        if sse {
                            expected_outputs.push((stream, 'D'));
                        } else if done {
                            expected_outputs.push((stream, 'H'));
                            expected_outputs.push((stream, 'D'));
                        }
                        if done {
                            expected_outputs.push((stream, 'E'));
                        }
                    }
                    if done {
                        self.close_stream(stream);
                    }
                }
            }
            Op::Notify { pick } | Op::ServerRequest { pick } => {
                let is_request = matches!(op, Op::ServerRequest { .. });
                match self.pick_any(*pick) {
                    None => {
                        outputs = drain(&mut self.s);
                        events = drain_events(&mut self.s);
                    }
                    Some(stream) => {
                        let msg = if is_request { SAMPLING_REQUEST } else { LOG };
                        let result = self.s.send(stream, msg, self.now);
                        outputs = drain(&mut self.s);
                        events = drain_events(&mut self.s);
                        let sse = self.sse();
                        let want = match self.m.streams.get(&stream) {
                            None => Err(UsageError::StreamClosed(stream)),
                            Some(st) if !st.standalone && !sse => {
                                Err(UsageError::JsonReplyCarriesResponsesOnly)
                            }
                            Some(st) => {
                                let initialized = st
                                    .session
                                    .as_ref()
                                    .and_then(|id| self.m.live.get(id))
                                    .is_none_or(|s| s.initialized);
                                if is_request && (st.initialize || !initialized) {
                                    Err(UsageError::NotInitialized)
                                } else {
                                    Ok(())
                                }
                            }
                        };
                        if self.check_model {
                            assert_eq!(result, want, "send on {stream:?}");
                        }
                        if result.is_ok() {
                            let st = self.m.streams.get_mut(&stream).unwrap();
                            if !st.head_sent {
                                st.held += 1;
                            } else if st.attached {
                                expected_outputs.push((stream, 'D'));
                            }
                        }
                    }
                }
            }
            Op::Disconnect { pick } => match self.pick_any(*pick) {
                None => {
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                }
                Some(stream) => {
                    let result = self.s.handle_disconnect(stream, self.now);
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                    assert_eq!(result, Ok(()), "disconnecting a stream this machine opened");
                    if let Some(st) = self.m.streams.get_mut(&stream) {
                        st.attached = false;
                        if st.standalone {
                            self.close_stream(stream);
                        }
                    }
                }
            },
            Op::AdvanceLate(d) => {
                self.now += *d;
                outputs = drain(&mut self.s);
                events = drain_events(&mut self.s);
            }
            Op::Advance(d) => {
                self.now += *d;
                let due: Vec<String> = self
                    .m
                    .live
                    .keys()
                    .filter(|id| self.m.deadline(id).is_some_and(|at| at <= self.now))
                    .cloned()
                    .collect();
                self.s.handle_timeout(self.now);
                outputs = drain(&mut self.s);
                events = drain_events(&mut self.s);
                // Book-keeping follows the machine's events; the prediction is `due`.
                let closed: Vec<String> = events
                    .iter()
                    .filter_map(|e| match e {
                        ServerEvent::SessionClosed { id, .. } => Some(id.to_string()),
                        _ => None,
                    })
                    .collect();
                for id in &due {
                    expected_events.push(ServerEvent::SessionClosed {
                        id: sid(id),
                        reason: CloseReason::Expired,
                    });
                }
                for id in closed {
                    if self.m.live.contains_key(&id) {
                        self.end_session(&id, &mut expected_outputs);
                    }
                }
            }
        }
        let after = snapshot(&self.s);
        if self.check_model {
            self.assert_agrees(&after, &outputs, &events, expected_outputs, expected_events);
        }
        StepLog {
            before,
            after,
            request: request_log,
            outcome: outcome_log,
            answered_init,
            outputs,
            events,
        }
    }

    fn assert_agrees(
        &self,
        after: &Snapshot,
        outputs: &[Output],
        events: &[ServerEvent],
        mut expected_outputs: Vec<(StreamId, char)>,
        mut expected_events: Vec<ServerEvent>,
    ) {
        let live: Vec<&String> = self.m.live.keys().collect();
        let got: Vec<String> = after.records.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), live, "live sessions");
        for r in &after.records {
            let m = &self.m.live[r.id.as_str()];
            assert_eq!(r.protocol_version, m.version, "version of {}", r.id);
            assert_eq!(r.initialized, m.initialized, "initialized of {}", r.id);
            assert_eq!(
                self.s.standalone_stream(&r.id),
                m.standalone,
                "standalone of {}",
                r.id
            );
        }
        assert_eq!(after.session_count, self.m.live.len());
        assert_eq!(after.stream_count, self.m.streams.len(), "open streams");
        assert_eq!(
            after.timeout.map(|t| t.at),
            self.m.next_deadline(),
            "the next idle deadline"
        );
        let mut got = shape(outputs);
        got.sort_by_key(|(s, _)| *s);
        expected_outputs.sort_by_key(|(s, _)| *s);
        assert_eq!(got, expected_outputs, "outputs");
        let key = |e: &ServerEvent| format!("{e:?}");
        let mut got = events.to_vec();
        got.sort_by_key(key);
        expected_events.sort_by_key(key);
        assert_eq!(got, expected_events, "events");
        // INV-S2: no terminated id is live again.
        for id in &self.m.dead {
            assert!(self.s.session(&sid(id)).is_none(), "{id} came back");
        }
    }
}

fn session_header_of<B>(r: &Response<B>) -> Option<String> {
    r.headers()
        .get(SESSION_HEADER)
        .map(|v| v.to_str().unwrap().to_owned())
}

// ===================================================================================
// The properties
// ===================================================================================

/// `cases` per property (`PROPTEST_CASES` overrides it, for longer runs). Failing cases
/// are kept in `proptest-regressions/properties.txt` at the crate root and replayed first
/// on every run.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// (a) `INV-S1`, `SRV-SESS-1`: `session_count` grows only right after `send` of a
    /// successful InitializeResult on an `initialize` stream, by one; every session header
    /// in any response or output appears on that stream's head, carries the new id, and
    /// that id was never seen before.
    #[test]
    fn sessions_are_minted_only_by_a_successful_initialize_result(
        cfg in arb_config(),
        seed in any::<u64>(),
        ops in arb_ops(),
    ) {
        let mut w = World::new(cfg, seed, false);
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for op in &ops {
            let log = w.step(op);
            let grew = log.after.session_count > log.before.session_count;
            let new_ids: Vec<String> = log
                .after
                .records
                .iter()
                .map(|r| r.id.to_string())
                .filter(|id| !log.before.records.iter().any(|r| r.id.as_str() == id))
                .collect();
            match log.answered_init {
                Some((stream, true)) => {
                    prop_assert_eq!(log.after.session_count, log.before.session_count + 1);
                    prop_assert_eq!(new_ids.len(), 1);
                    let id = &new_ids[0];
                    prop_assert!(seen.insert(id.clone()), "{} minted twice", id);
                    prop_assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
                    let created = log.events.iter().any(|e| matches!(
                        e, ServerEvent::SessionCreated { id: c, .. } if c.as_str() == id
                    ));
                    prop_assert!(created, "SessionCreated for {}", id);
                    for (s, head) in heads(&log.outputs) {
                        let h = session_header_of(head);
                        if s == stream {
                            prop_assert_eq!(h.as_deref(), Some(id.as_str()));
                        } else {
                            prop_assert_eq!(h, None);
                        }
                    }
                }
                _ => {
                    prop_assert!(!grew, "sessions grew on {:?}", op);
                    prop_assert!(new_ids.is_empty(), "new session on {:?}", op);
                    for (_, head) in heads(&log.outputs) {
                        prop_assert_eq!(session_header_of(head), None, "{:?}", op);
                    }
                }
            }
            if let Some((_, _, Some(response))) = &log.request {
                prop_assert_eq!(session_header_of(response), None, "{:?}", op);
            }
        }
    }

    /// (b) `INV-S3`, `INV-S13`, `INV-S17`: a refused request leaves every observable thing
    /// as it was (session records, counts, the next timeout, standalone slots) and queues
    /// no output or event; its response is a 4xx/5xx JSON-RPC error.
    #[test]
    fn refused_requests_change_nothing(
        cfg in arb_config(),
        seed in any::<u64>(),
        ops in arb_ops(),
    ) {
        let mut w = World::new(cfg, seed, false);
        for op in &ops {
            let log = w.step(op);
            let Some((sess, Some(refusal), Some(response))) = &log.request else {
                continue;
            };
            prop_assert_eq!(&log.before, &log.after, "{:?} ({:?}) changed state", refusal, sess);
            prop_assert!(log.outputs.is_empty(), "{:?} queued outputs", refusal);
            prop_assert!(log.events.is_empty(), "{:?} queued events", refusal);
            let status = response.status().as_u16();
            prop_assert!((400..600).contains(&status), "{:?}: {}", refusal, status);
            let body = error_body(response);
            prop_assert!(body["error"]["code"].as_i64().is_some());
        }
    }

    /// (d) `INV-S2`, `SRV-SESS-7`, the check table: after every step the machine agrees
    /// with the reference model (outcome, live sessions and their records, open streams,
    /// standalone slots, the next deadline, outputs and events); a request carrying a dead
    /// or never-issued id that passes steps 1-7 gets 404, and no terminated id comes back.
    #[test]
    fn machine_agrees_with_the_reference_model(
        cfg in arb_config(),
        seed in any::<u64>(),
        ops in arb_ops(),
    ) {
        let stateful = cfg.mode == Mode::Stateful;
        let mut w = World::new(cfg, seed, true);
        for op in &ops {
            let log = w.step(op);
            if let Some((Sess::Id(_, kind), refusal, response)) = &log.request {
                if stateful && *kind != IdKind::Live {
                    let refusal = refusal.expect("a dead or unknown id is never served");
                    prop_assert!(refusal.step() <= 8, "{:?}", refusal);
                    if refusal == Refusal::UnknownSession {
                        prop_assert_eq!(response.as_ref().unwrap().status(), 404);
                    }
                }
            }
        }
    }
}

// ----- (c): any bytes as a POST body -----

/// JSON values shaped like JSON-RPC: objects over its keys and values, and arrays of them.
fn arb_jsonish() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["jsonrpc", "id", "method", "params", "result", "error"]);
    let value = prop::sample::select(vec![
        r#""2.0""#,
        r#""1.0""#,
        "1",
        "-7",
        "1.5",
        "99999999999999999999",
        r#""x""#,
        "null",
        "{}",
        "[]",
        "true",
        r#""initialize""#,
        r#""notifications/initialized""#,
        r#""tools/list""#,
        r#"{"code":1,"message":"m"}"#,
        r#"{"protocolVersion":"2025-06-18"}"#,
        r#"{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"c","version":"1"}}"#,
    ]);
    let object = prop::collection::vec((key, value), 0..6).prop_map(|kvs| {
        let fields: Vec<String> = kvs.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
        format!("{{{}}}", fields.join(","))
    });
    prop_oneof![
        3 => object.clone(),
        1 => prop::collection::vec(object, 0..4).prop_map(|os| format!("[{}]", os.join(","))),
    ]
}

/// Valid bodies, cut short or with one byte changed.
fn arb_mutated() -> impl Strategy<Value = Vec<u8>> {
    let base = prop::sample::select(vec![
        initialize_body(1, "2025-06-18"),
        tools_list(2),
        INITIALIZED.to_owned(),
        CLIENT_RESPONSE.to_owned(),
        format!("[{},{}]", tools_list(3), PROGRESS),
    ]);
    (
        base,
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(b, at, byte, truncate)| {
            let mut v = b.into_bytes();
            let i = at.index(v.len());
            if truncate {
                v.truncate(i);
            } else {
                v[i] = byte;
            }
            v
        })
}

fn arb_body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256),
        2 => arb_jsonish().prop_map(String::into_bytes),
        2 => arb_mutated(),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// (c) `INV-S17`, `SRV-POST-8`, `SRV-POST-9`, DESIGN "no peer input may panic": any
    /// bytes as the body of an otherwise valid POST, with or without a live session, yield
    /// a dispatch or a 202 (whose every request can then be answered, ending the stream),
    /// or a 4xx with a JSON-RPC error body that changed nothing.
    #[test]
    fn any_post_body_yields_a_typed_outcome(
        body in arb_body_bytes(),
        with_session in any::<bool>(),
        json_mode in any::<bool>(),
        stateful in prop::bool::weighted(0.8),
        version in prop::sample::select(vec!["2025-03-26", "2025-06-18"]),
    ) {
        let t0 = base_instant();
        let mut s = server(ServerConfig {
            reply_mode: if json_mode { ReplyMode::Json } else { ReplyMode::Sse },
            mode: if stateful { Mode::Stateful } else { Mode::Stateless },
            ..ServerConfig::default()
        });
        let session = if with_session && stateful {
            Some(open_session_with(&mut s, version, t0))
        } else {
            None
        };
        let before = snapshot(&s);
        let mut req = post("");
        *req.body_mut() = Bytes::from(body);
        if let Some(id) = &session {
            req = req.set(SESSION_HEADER, id);
        }
        match s.handle_request(req, t0) {
            Outcome::Reject(r) => {
                let status = r.response.status().as_u16();
                prop_assert!((400..500).contains(&status), "{:?}: {}", r.refusal, status);
                error_body(&r.response);
                prop_assert_eq!(snapshot(&s), before);
                prop_assert!(s.poll_output().is_none());
                prop_assert!(s.poll_event().is_none());
            }
            Outcome::Accepted(a) => {
                prop_assert_eq!(a.response.status(), 202);
                prop_assert!(a.response.body().is_empty());
                prop_assert!(!a.messages.is_empty());
                prop_assert!(a.messages.iter().all(|m| m.kind() != MessageKind::Request));
                prop_assert_eq!(s.stream_count(), 0);
            }
            Outcome::Dispatch(d) => {
                let requests: Vec<RequestId> = d
                    .messages
                    .iter()
                    .filter(|m| m.kind() == MessageKind::Request)
                    .map(|m| m.id().cloned().expect("a request has an id"))
                    .collect();
                prop_assert!(!requests.is_empty());
                for rid in &requests {
                    prop_assert_eq!(s.send(d.stream, answer_for(rid, true), t0), Ok(()));
                }
                let out = drain(&mut s);
                prop_assert!(ends(&out, d.stream), "answered in full, the stream ends");
                prop_assert_eq!(s.stream_count(), 0);
            }
            other => prop_assert!(false, "a POST cannot {:?}", other),
        }
    }
}

/// A fixed sequence through the checked model: minting, 202, a 2025-03-26 batch answered
/// in two parts, a GET stream and its disconnect, a late timer (404 while overdue), expiry,
/// and 404 for the expired id.
#[test]
fn the_model_follows_a_known_sequence() {
    let cfg = ServerConfig {
        max_body_bytes: MAX_BODY,
        session_idle_timeout: Some(IDLE),
        max_sessions: Some(CAP),
        ..ServerConfig::default()
    };
    let mut w = World::new(cfg, 3, true);
    let ops = [
        Op::Request(valid(SessV::Absent, BodyV::Initialize)),
        Op::AnswerInit {
            pick: 0,
            success: true,
            version: ProtocolVersion::V2025_03_26,
        },
        Op::Request(valid(SessV::Live(0), BodyV::Initialized)),
        Op::Request(valid(SessV::Live(0), BodyV::Batch)),
        Op::Answer {
            pick: 0,
            error: false,
        },
        Op::Answer {
            pick: 0,
            error: true,
        },
        Op::Request(Req {
            method: Meth::Get,
            ..valid(SessV::Live(0), BodyV::Initialized)
        }),
        Op::ServerRequest { pick: 2 },
        Op::Disconnect { pick: 2 },
        Op::AdvanceLate(IDLE),
        Op::Request(valid(SessV::Live(0), BodyV::ToolsList)),
        Op::Advance(Duration::ZERO),
        Op::Request(valid(SessV::Dead(0), BodyV::ToolsList)),
    ];
    let mut kinds = Vec::new();
    for op in &ops {
        let log = w.step(op);
        kinds.push(log.request.map(|(_, refusal, _)| refusal));
    }
    assert_eq!(w.m.dead.len(), 1, "the session expired");
    let n = kinds.len();
    assert_eq!(
        kinds[n - 3],
        Some(Some(Refusal::UnknownSession)),
        "overdue, it gets 404 before the timer runs"
    );
    assert_eq!(
        kinds[n - 1],
        Some(Some(Refusal::UnknownSession)),
        "expired, its id gets 404"
    );
    assert_eq!(w.s.session_count(), 0);
}

/// The generator is worth its cases: over 256 deterministic sequences it reaches every
/// refusal of the check table, every kind of outcome, minting, and every way a session
/// ends. A change to the alphabet's weights that starves a branch fails here.
#[test]
fn generated_sequences_reach_every_check_and_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut reached: BTreeSet<String> = BTreeSet::new();
    for seed in 0..256u64 {
        let cfg = arb_config().new_tree(&mut runner).unwrap().current();
        let ops = arb_ops().new_tree(&mut runner).unwrap().current();
        let mut w = World::new(cfg, seed, false);
        for op in &ops {
            let log = w.step(op);
            if let Some(outcome) = &log.outcome {
                reached.insert(format!("{outcome:?}"));
            }
            for e in &log.events {
                let name = match e {
                    ServerEvent::SessionCreated { .. } => "created".to_owned(),
                    ServerEvent::SessionClosed { reason, .. } => format!("closed {reason:?}"),
                    other => format!("{other:?}"),
                };
                reached.insert(name);
            }
        }
    }
    use Refusal::*;
    let mut want: Vec<String> = [
        MethodNotAllowed,
        ForbiddenHost,
        ForbiddenOrigin,
        BodyTooLarge,
        BadContentLength,
        NotAcceptable,
        UnsupportedMediaType,
        UnsupportedVersion,
        MalformedSessionId,
        MissingSessionId,
        UnknownSession,
        ParseError,
        InvalidMessage,
        BatchNotAllowed,
        InitializeInBatch,
        Reinitialize,
        SessionCap,
        UnknownEventId,
        StreamConflict,
    ]
    .iter()
    .map(|r| format!("{:?}", Expect::Refuse(*r)))
    .collect();
    want.extend(
        [
            Expect::Accepted,
            Expect::Dispatch,
            Expect::Opened,
            Expect::Deleted,
        ]
        .iter()
        .map(|e| format!("{e:?}")),
    );
    want.extend(["created", "closed Deleted", "closed Expired"].map(String::from));
    let missing: Vec<&String> = want.iter().filter(|w| !reached.contains(*w)).collect();
    assert!(missing.is_empty(), "never reached: {missing:?}");
}
