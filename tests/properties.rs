//! Property tests over generated sequences of requests, application answers, disconnects,
//! early connection closes, resumptions and time advances.
//!
//! Requests are built from a small alphabet (methods, Host/Origin, Accept, Content-Type,
//! version header, session header drawn from {none, live ids, dead ids, never-issued,
//! malformed}, bodies drawn from {initialize, notifications/initialized, tools/list,
//! response, batches, garbage, random bytes}, and on GET a `Last-Event-ID` drawn from {ids
//! the client saw on streams of this session, ids seen on other sessions' streams, position
//! 0 of any stream, a position the stream has not reached, another machine's salt,
//! malformed values}), weighted toward valid values so that sequences reach deep states.
//! Configurations vary the reply mode, sessions, the standalone stream, `sse_retry`, and
//! replay: off, the defaults, or small limits (events, bytes, age, finished streams) that
//! evict often.
//!
//! A [`World`] drives one server and keeps a reference model beside it: the live and
//! terminated session ids, each session's version, `initialized` flag, last activity,
//! standalone stream and finished streams kept for replay; the open streams with their
//! unanswered requests, whether a connection is attached, the frames held for the head and,
//! when the stream is resumable, its next event number and its replay buffer (frames,
//! sizes, times, how far eviction went); the finished streams kept for replay and until
//! when; the pending `initialize` count; every event id the client saw. The model re-states
//! the check table for the alphabet (step 12 included) and predicts every output byte for
//! byte (event ids are rendered with the machine's salt, learnt from the first id it
//! writes), every outcome including `StreamResumed { replayed, missed }`, every `send` and
//! `close_connection` result, and the next timeout with its reason (`SessionIdle` or
//! `ReplayExpiry`).
//!
//! - (a) `INV-S1`: sessions are minted only by a successful InitializeResult, and the
//!   session header appears only on that stream's head.
//! - (b) `INV-S3`, `INV-S13`, `INV-S17`: a refused request changes nothing observable.
//! - (c) `INV-S17`, DESIGN "no peer input may panic": any POST body yields a typed
//!   outcome, a refusal being a 4xx JSON-RPC error.
//! - (d) `INV-S2`, `SRV-SESS-7`, the check table, and resumability (`SRV-RES-1..6`,
//!   `SRV-PSSE-6`, `SRV-PSSE-9..12`, `INV-S8..S12`, `INV-S15`): the model and the machine
//!   agree after every step; dead and unknown ids get 404, and terminated ids never come
//!   back.
//! - (e) `INV-S7`, `INV-S9`, `INV-S10`, `INV-S11`, `INV-S12`, judged on the wire alone,
//!   without the model: an event id never labels two different frames; every id on a
//!   connection names that connection's stream, in increasing order, and a resumed
//!   connection starts after its `Last-Event-ID`; priming events only for 2025-11-25
//!   sessions, and first; an early close (`retry` alone) only after an event with an id; no
//!   response on a standalone stream, and no request id answered twice on a connection.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{
    AbandonReason, CloseReason, Outcome, Output, PendingRequest, Refusal, ReplayLimits, ReplyMode,
    Server, ServerConfig, ServerEvent, SessionMode, SessionRecord, StreamEvent, StreamId, Timeout,
    TimeoutReason,
};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{BodyError, MessageKind, Messages, RequestId};
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
    /// Sent on GET only.
    last_event_id: Option<LeiV>,
}

/// A `Last-Event-ID`, resolved against what the client has seen when the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeiV {
    /// An id the client saw on a stream of the request's session.
    Own(u8),
    /// An id the client saw on another session's stream (live or dead).
    Other(u8),
    /// Position 0 of any stream the machine opened (resumable or not, of any session).
    AnyStream(u8),
    /// A stream of this session at the first position it has not reached.
    NotReached(u8),
    /// An id of ours with another machine's salt.
    ForeignSalt(u8),
    /// Not of the id's form.
    Malformed(u8),
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
    /// A server notification on a stream (see [`World::pick_any`]).
    Notify {
        pick: u8,
    },
    /// A server-initiated request (not ping) on a stream (see [`World::pick_any`]).
    ServerRequest {
        pick: u8,
    },
    /// The client's connection for a stream goes away (see [`World::pick_any`]).
    Disconnect {
        pick: u8,
    },
    /// The application closes the connection of a stream (see [`World::pick_any`]),
    /// without ending the stream (`Server::close_connection`).
    CloseConnection {
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
    let last_event_id = prop::option::weighted(0.2, arb_lei());
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

fn arb_lei() -> impl Strategy<Value = LeiV> {
    prop_oneof![
        6 => any::<u8>().prop_map(LeiV::Own),
        2 => any::<u8>().prop_map(LeiV::Other),
        2 => any::<u8>().prop_map(LeiV::AnyStream),
        2 => any::<u8>().prop_map(LeiV::NotReached),
        1 => any::<u8>().prop_map(LeiV::ForeignSalt),
        1 => any::<u8>().prop_map(LeiV::Malformed),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let init_version = prop_oneof![
        1 => Just(ProtocolVersion::V2024_11_05),
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
        3 => any::<u8>().prop_map(|pick| Op::Notify { pick }),
        1 => any::<u8>().prop_map(|pick| Op::ServerRequest { pick }),
        2 => any::<u8>().prop_map(|pick| Op::Disconnect { pick }),
        3 => any::<u8>().prop_map(|pick| Op::CloseConnection { pick }),
        // A well-formed resumption: a GET on a live session with a `Last-Event-ID`.
        4 => (any::<u8>(), arb_lei()).prop_map(|(pick, lei)| Op::Request(Req {
            method: Meth::Get,
            last_event_id: Some(lei),
            ..valid(SessV::Live(pick), BodyV::Initialized)
        })),
        2 => advance,
        1 => advance_late,
    ]
}

/// Replay off, the default limits, or small limits that evict: a message frame is 70 to
/// 130 bytes, and the clock moves in steps of 0 s to an hour.
fn arb_replay() -> impl Strategy<Value = Option<ReplayLimits>> {
    let small = (
        prop::sample::select(vec![1usize, 2, 3, 1024]),
        prop::sample::select(vec![100usize, 250, 1 << 20]),
        prop::sample::select(vec![30u64, 60, 90, 300]),
        prop::sample::select(vec![0usize, 1, 2, 64]),
    )
        .prop_map(|(events, bytes, age, finished)| {
            Some(ReplayLimits {
                max_events: events,
                max_bytes: bytes,
                max_age: Duration::from_secs(age),
                max_finished_streams: finished,
            })
        });
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(ReplayLimits::default())),
        3 => small,
    ]
}

fn arb_config() -> impl Strategy<Value = ServerConfig> {
    (
        any::<bool>(),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        arb_replay(),
        prop::sample::select(vec![0u64, 1000, 2500]),
    )
        .prop_map(|(json, stateful, standalone, replay, retry)| ServerConfig {
            session_mode: if stateful {
                SessionMode::Stateful
            } else {
                SessionMode::Stateless
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
            replay,
            sse_retry: Duration::from_millis(retry),
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
        last_event_id: None,
    }
}

/// A handshake: `initialize`, a successful answer, and usually `initialized`; it gets
/// sequences to live sessions quickly.
fn arb_handshake() -> impl Strategy<Value = Vec<Op>> {
    let version = prop_oneof![
        1 => Just(ProtocolVersion::V2025_03_26),
        1 => Just(ProtocolVersion::V2025_06_18),
        2 => Just(ProtocolVersion::V2025_11_25),
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

/// A pick that names the newest open stream (see [`World::pick_any`]).
const NEWEST: u8 = 255;

/// A resumption scenario, so that sequences reach resumption of live and finished
/// streams: a request (or a standalone GET) on a live session, events, the connection
/// closed early by the application or lost by the client, more events, maybe the answer,
/// then a GET with an id the client saw (or a plain GET).
fn arb_resumption() -> impl Strategy<Value = Vec<Op>> {
    (
        any::<u8>(),
        any::<bool>(),
        0..3usize,
        any::<bool>(),
        0..4usize,
        prop::bool::weighted(0.6),
        any::<u8>(),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(session, standalone, before, close, after, answer, lei, resume)| {
                let opening = if standalone {
                    Req {
                        method: Meth::Get,
                        ..valid(SessV::Live(session), BodyV::Initialized)
                    }
                } else {
                    valid(SessV::Live(session), BodyV::ToolsList)
                };
                let mut ops = vec![Op::Request(opening)];
                ops.extend((0..before).map(|_| Op::Notify { pick: NEWEST }));
                ops.push(if close {
                    Op::CloseConnection { pick: NEWEST }
                } else {
                    Op::Disconnect { pick: NEWEST }
                });
                ops.extend((0..after).map(|_| Op::Notify { pick: NEWEST }));
                if answer && !standalone {
                    ops.push(Op::Answer {
                        pick: NEWEST,
                        error: false,
                    });
                }
                ops.push(Op::Request(Req {
                    method: Meth::Get,
                    last_event_id: resume.then_some(LeiV::Own(lei)),
                    ..valid(SessV::Live(session), BodyV::Initialized)
                }));
                ops
            },
        )
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    let chunk = prop_oneof![
        8 => arb_op().prop_map(|op| vec![op]),
        1 => arb_handshake(),
        1 => arb_resumption(),
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

/// An SSE frame or a body the model expects on a stream. Event ids are `(stream, seq)`,
/// rendered `{salt}-{stream}-{seq}` with the machine's salt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// `event: message`, an id when the stream is resumable, one `data:` line of JSON.
    Message {
        id: Option<(StreamId, u64)>,
        json: String,
    },
    /// A priming event: an id, the `retry`, empty data (`SRV-PSSE-9`).
    Priming { id: (StreamId, u64), retry: u64 },
    /// A `retry` alone, before an early close (`SRV-PSSE-12`).
    Retry(u64),
    /// An `application/json` reply body, exactly.
    Json(String),
    /// The 404 error body of a stream whose session ended before its reply began.
    SessionGone,
}

/// How [`Frame::SessionGone`] is written in the comparison of outputs.
const SESSION_GONE: &str = "<the 404 error of a session that ended>";

impl Frame {
    fn id(&self) -> Option<(StreamId, u64)> {
        match self {
            Frame::Message { id, .. } => *id,
            Frame::Priming { id, .. } => Some(*id),
            _ => None,
        }
    }

    fn render(&self, salt: &str) -> String {
        let id = |(stream, seq): (StreamId, u64)| format!("{salt}-{}-{seq}", stream.as_u64());
        match self {
            Frame::Message { id: None, json } => format!("event: message\ndata: {json}\n\n"),
            Frame::Message { id: Some(p), json } => {
                format!("event: message\nid: {}\ndata: {json}\n\n", id(*p))
            }
            Frame::Priming { id: p, retry } => format!("id: {}\nretry: {retry}\ndata:\n\n", id(*p)),
            Frame::Retry(ms) => format!("retry: {ms}\n\n"),
            Frame::Json(body) => body.clone(),
            Frame::SessionGone => SESSION_GONE.to_owned(),
        }
    }

    /// The frame's size on the wire: salts are always 8 hex digits.
    fn len(&self) -> usize {
        self.render("00000000").len()
    }
}

/// The kinds of response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadKind {
    /// 200, `text/event-stream`.
    Sse,
    /// 200, `application/json`.
    Json,
    /// 404, `application/json`: the session ended before the reply began.
    Gone,
}

/// One expected output of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exp {
    Head(HeadKind),
    Data(Frame),
    End,
}

/// One event kept for replay.
#[derive(Debug, Clone)]
struct MEvent {
    seq: u64,
    frame: Frame,
    len: usize,
    at: Instant,
}

/// A stream's replay buffer, with the machine's limits: the oldest events go first.
#[derive(Debug, Clone, Default)]
struct MBuffer {
    events: VecDeque<MEvent>,
    bytes: usize,
    /// The last sequence number evicted.
    evicted_through: Option<u64>,
}

impl MBuffer {
    /// Keeps an event, evicts, and says what evicted: (the age limit, a size limit).
    fn push(
        &mut self,
        seq: u64,
        frame: Frame,
        now: Instant,
        limits: &ReplayLimits,
    ) -> (bool, bool) {
        let len = frame.len();
        self.bytes += len;
        self.events.push_back(MEvent {
            seq,
            frame,
            len,
            at: now,
        });
        self.evict(now, limits)
    }

    /// Drops the oldest events while a limit is exceeded or they are past the age limit:
    /// when an event is kept, and when a resumption is about to replay.
    fn evict(&mut self, now: Instant, limits: &ReplayLimits) -> (bool, bool) {
        let mut why = (false, false);
        while let Some(front) = self.events.front() {
            let too_old = now.saturating_duration_since(front.at) >= limits.max_age;
            let over = self.events.len() > limits.max_events || self.bytes > limits.max_bytes;
            if !(too_old || over) {
                break;
            }
            if too_old {
                why.0 = true;
            } else {
                why.1 = true;
            }
            let gone = self.events.pop_front().unwrap();
            self.bytes -= gone.len;
            self.evicted_through = Some(gone.seq);
        }
        why
    }

    /// The frames after `seq`, and how many events after `seq` were evicted.
    fn after(&self, seq: u64) -> (Vec<Frame>, u64) {
        let missed = match self.evicted_through {
            Some(through) if through > seq => through - seq,
            _ => 0,
        };
        let frames = self
            .events
            .iter()
            .filter(|e| e.seq > seq)
            .map(|e| e.frame.clone())
            .collect();
        (frames, missed)
    }
}

#[derive(Debug, Clone)]
struct MReplay {
    next_seq: u64,
    /// 2025-11-25: priming events, early closes.
    priming: bool,
    buffer: MBuffer,
}

#[derive(Debug, Clone)]
struct MSession {
    version: ProtocolVersion,
    initialized: bool,
    last_activity: Instant,
    /// The standalone stream, attached or detached by `close_connection`.
    standalone: Option<StreamId>,
    /// Finished streams kept for replay, oldest first.
    retained: VecDeque<StreamId>,
}

#[derive(Debug, Clone)]
struct MStream {
    session: Option<String>,
    initialize: bool,
    standalone: bool,
    /// The POST body was a batch: a JSON reply is an array.
    batch: bool,
    pending: Vec<RequestId>,
    /// JSON reply mode: the answers given so far, in request order.
    answers: Vec<String>,
    attached: bool,
    head_sent: bool,
    /// SSE frames written before the head (held by the machine).
    held: Vec<Frame>,
    /// Present when the stream is resumable: ids on every event, kept for replay.
    replay: Option<MReplay>,
}

/// A finished stream kept for replay.
#[derive(Debug, Clone)]
struct MRetained {
    session: String,
    buffer: MBuffer,
    next_seq: u64,
    until: Instant,
}

#[derive(Debug, Default)]
struct Model {
    live: BTreeMap<String, MSession>,
    dead: Vec<String>,
    streams: BTreeMap<StreamId, MStream>,
    retained: BTreeMap<StreamId, MRetained>,
    /// Every stream ever opened, in order.
    ever: Vec<StreamId>,
    pending_inits: usize,
    /// The machine's event-id salt, once it has written an id.
    salt: Option<String>,
    /// Every event id the client saw: (session, stream, seq).
    seen: BTreeSet<(String, StreamId, u64)>,
    /// The session of every stream that ever had one, and every session's version.
    stream_session: BTreeMap<StreamId, String>,
    versions: BTreeMap<String, ProtocolVersion>,
    /// Server-to-client requests sent and not yet answered: (session, id, stream).
    outstanding: Vec<(Option<String>, RequestId, StreamId)>,
    /// Events the model expects from the step under way, beyond those the step adds.
    abandoned: Vec<ServerEvent>,
}

impl Model {
    /// The requests matching `gone` will never be answered: each is an event.
    fn abandon(
        &mut self,
        gone: impl Fn(&(Option<String>, RequestId, StreamId)) -> bool,
        reason: AbandonReason,
    ) {
        let (out, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.outstanding)
            .into_iter()
            .partition(|o| gone(o));
        self.outstanding = keep;
        for (session, id, stream) in out {
            self.abandoned.push(ServerEvent::RequestAbandoned {
                session: session.map(|s| SessionId::new(&s).unwrap()),
                request: PendingRequest {
                    id,
                    method: "sampling/createMessage".into(),
                    stream,
                },
                reason,
            });
        }
    }
}

impl Model {
    fn streams_of(&self, id: &str) -> Vec<StreamId> {
        self.streams
            .iter()
            .filter(|(_, s)| s.session.as_deref() == Some(id))
            .map(|(k, _)| *k)
            .collect()
    }

    /// A session is idle while none of its streams holds it: open POST streams (attached
    /// or not) and the attached standalone stream do; a standalone stream detached by
    /// `close_connection` does not.
    fn deadline(&self, id: &str) -> Option<Instant> {
        let s = self.live.get(id)?;
        let held = self
            .streams
            .values()
            .any(|st| st.session.as_deref() == Some(id) && (st.attached || !st.standalone));
        if held {
            None
        } else {
            Some(s.last_activity + IDLE)
        }
    }

    /// The next timeout: the earliest idle deadline or replay window, the idle deadline
    /// first when they are equal.
    fn next_timeout(&self) -> Option<Timeout> {
        let idle = self
            .live
            .keys()
            .filter_map(|id| self.deadline(id))
            .min()
            .map(|at| Timeout {
                at,
                reason: TimeoutReason::SessionIdle,
            });
        let replay = self
            .retained
            .values()
            .map(|r| r.until)
            .min()
            .map(|at| Timeout {
                at,
                reason: TimeoutReason::ReplayExpiry,
            });
        match (idle, replay) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    fn touch(&mut self, id: &str, now: Instant) {
        if let Some(s) = self.live.get_mut(id) {
            s.last_activity = s.last_activity.max(now);
        }
    }

    fn version_of_stream(&self, stream: StreamId) -> Option<ProtocolVersion> {
        self.stream_session
            .get(&stream)
            .and_then(|id| self.versions.get(id))
            .copied()
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
        match Messages::parse(Bytes::copy_from_slice(bytes)) {
            Err(BodyError::Parse(_)) => Class::Parse,
            Err(_) => Class::Invalid,
            Ok(Messages::One(e)) => Class::Single {
                kind: e.kind(),
                initialize: e.is_initialize(),
                initialized: e.method() == Some("notifications/initialized"),
                id: e.id().cloned(),
            },
            Ok(Messages::Batch(es)) => Class::Batch {
                requests: es
                    .iter()
                    .filter(|e| e.kind() == MessageKind::Request)
                    .filter_map(|e| e.id().cloned())
                    .collect(),
                initialize: es.iter().any(|e| e.is_initialize()),
                initialized: es
                    .iter()
                    .any(|e| e.method() == Some("notifications/initialized")),
                responses: es.iter().filter(|e| e.kind().is_response()).count(),
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
    /// `StreamResumed` for this stream.
    Resumed(StreamId),
}

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

/// A resumption that happened: the stream, the position after which it replayed, and how
/// many events the machine said it replayed.
#[derive(Debug, Clone, Copy)]
struct Resumption {
    stream: StreamId,
    after: u64,
    replayed: usize,
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
    /// For a GET that resumed a stream.
    resumed: Option<Resumption>,
    /// For a GET that opened a standalone stream.
    opened_standalone: Option<StreamId>,
    /// What the step reached, for the coverage test.
    notes: Vec<&'static str>,
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
    /// What the current step reached.
    notes: Vec<&'static str>,
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
            notes: Vec::new(),
        }
    }

    fn stateful(&self) -> bool {
        self.cfg.session_mode == SessionMode::Stateful
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

    fn build(
        &self,
        r: &Req,
        sess: &Sess,
        body: Bytes,
        last_event_id: Option<&str>,
    ) -> Request<Bytes> {
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
        if let (Meth::Get, Some(v)) = (r.method, last_event_id) {
            b = b.header("last-event-id", v);
        }
        b.body(body).unwrap()
    }

    /// The check table, restated for the alphabet. `last_event_id` is there when the
    /// request carries one, with the position it names when it is one of ours.
    fn predict(
        &self,
        r: &Req,
        sess: &Sess,
        class: &Class,
        body_len: usize,
        last_event_id: Option<Option<(StreamId, u64)>>,
    ) -> Expect {
        use Refusal::*;
        let stateful = self.stateful();
        let refuse = Expect::Refuse;
        // 1
        let served = match r.method {
            Meth::Post => true,
            // Resumption is always a GET (`BOTH-RES-7`): served even without the
            // standalone stream when streams are resumable.
            Meth::Get => {
                stateful
                    && (self.cfg.standalone_stream
                        || (self.cfg.replay.is_some() && last_event_id.is_some()))
            }
            Meth::Delete => stateful,
            Meth::Put => false,
        };
        if !served {
            let standalone_off = stateful && matches!(r.method, Meth::Get);
            return refuse(if standalone_off {
                StandaloneStreamDisabled
            } else {
                MethodNotAllowed
            });
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
                if let Some(position) = last_event_id {
                    return self.predict_resume(&id, position);
                }
                // One attached standalone stream; a detached one is replaced.
                let open = self.m.live[&id].standalone;
                if open.is_some_and(|s| self.m.streams.get(&s).is_some_and(|st| st.attached)) {
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

    /// Step 12 for a GET with `Last-Event-ID`: the id must be one of ours, name a
    /// resumable stream of this session that is still open or kept for replay, at a
    /// position it has reached; an attached stream is a conflict.
    fn predict_resume(&self, session: &str, position: Option<(StreamId, u64)>) -> Expect {
        let refuse = || Expect::Refuse(Refusal::UnknownEventId);
        if self.cfg.replay.is_none() {
            return refuse();
        }
        let Some((stream, seq)) = position else {
            return refuse();
        };
        let (owner, next_seq, attached) = if let Some(st) = self.m.streams.get(&stream) {
            match &st.replay {
                Some(r) => (st.session.as_deref(), r.next_seq, st.attached),
                None => return refuse(),
            }
        } else if let Some(r) = self.m.retained.get(&stream) {
            // A finished stream whose window has closed is gone, timer or not.
            if r.until <= self.now {
                return refuse();
            }
            (Some(r.session.as_str()), r.next_seq, false)
        } else {
            return refuse();
        };
        if owner != Some(session) || seq >= next_seq {
            return refuse();
        }
        if attached {
            return Expect::Refuse(Refusal::StreamConflict);
        }
        Expect::Resumed(stream)
    }

    /// A `Last-Event-ID` for a request on `sess`: the header value, and the position it
    /// names when it is one of this machine's ids.
    fn resolve_lei(&self, v: LeiV, sess: &Sess) -> (String, Option<(StreamId, u64)>) {
        let garbage = || ("not-an-event-id".to_owned(), None);
        // Before the machine wrote any id there is nothing to name.
        let Some(salt) = self.m.salt.clone() else {
            return garbage();
        };
        let own = match sess {
            Sess::Id(id, _) => Some(id.as_str()),
            _ => None,
        };
        let seen = |mine: bool| -> Vec<(StreamId, u64)> {
            self.m
                .seen
                .iter()
                .filter(|(s, _, _)| (Some(s.as_str()) == own) == mine)
                .map(|(_, stream, seq)| (*stream, *seq))
                .collect()
        };
        let pick = |v: Vec<(StreamId, u64)>, i: u8| v.get(i as usize % v.len().max(1)).copied();
        // Mostly (`i < 160`) an id of a stream that can be resumed now: detached, or
        // finished and kept.
        let resumable = |v: Vec<(StreamId, u64)>, i: u8| {
            let targets: Vec<(StreamId, u64)> = v
                .iter()
                .filter(|(s, _)| {
                    self.m.retained.contains_key(s)
                        || self.m.streams.get(s).is_some_and(|st| !st.attached)
                })
                .copied()
                .collect();
            if i < 160 && !targets.is_empty() {
                pick(targets, i)
            } else {
                pick(v, i)
            }
        };
        let ours = |(stream, seq): (StreamId, u64)| {
            (
                format!("{salt}-{}-{seq}", stream.as_u64()),
                Some((stream, seq)),
            )
        };
        match v {
            LeiV::Own(i) => resumable(seen(true), i).map_or_else(garbage, ours),
            LeiV::Other(i) => pick(seen(false), i).map_or_else(garbage, ours),
            LeiV::AnyStream(i) => {
                pick(self.m.ever.iter().map(|s| (*s, 0)).collect(), i).map_or_else(garbage, ours)
            }
            LeiV::NotReached(i) => match pick(seen(true), i) {
                None => garbage(),
                Some((stream, seq)) => {
                    let next = self
                        .m
                        .streams
                        .get(&stream)
                        .and_then(|s| s.replay.as_ref())
                        .map(|r| r.next_seq)
                        .or_else(|| self.m.retained.get(&stream).map(|r| r.next_seq))
                        .unwrap_or(seq + 1);
                    ours((stream, next))
                }
            },
            LeiV::ForeignSalt(i) => match pick(seen(true), i).or_else(|| pick(seen(false), i)) {
                None => garbage(),
                Some((stream, seq)) => {
                    let mut other = salt.into_bytes();
                    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
                    let other = String::from_utf8(other).unwrap();
                    (format!("{other}-{}-{seq}", stream.as_u64()), None)
                }
            },
            LeiV::Malformed(i) => {
                let forms = [
                    "0".to_owned(),
                    "garbage".to_owned(),
                    format!("{salt}-1"),
                    format!("{salt}-01-0"),
                    format!("{salt}-1-0-0"),
                    format!("{salt}--0"),
                    format!("{salt}-+1-0"),
                    format!("{salt}-1-x"),
                    format!("{salt}-99999999999999999999-0"),
                    format!("{}-1-0", &salt[..7]),
                ];
                (forms[i as usize % forms.len()].clone(), None)
            }
        }
    }

    fn limits(&self) -> ReplayLimits {
        self.cfg.replay.unwrap_or_default()
    }

    fn retry_ms(&self) -> u64 {
        u64::try_from(self.cfg.sse_retry.as_millis()).unwrap()
    }

    /// An SSE stream of a live session whose version has resumability (2025-03-26 to
    /// 2025-11-25), with replay configured, numbers its events and keeps them; 2025-11-25
    /// also gets priming events and early closes.
    fn make_resumable(&mut self, stream: StreamId) {
        let sse = self.sse();
        let replay_on = self.cfg.replay.is_some();
        let st = &self.m.streams[&stream];
        let version = st
            .session
            .as_ref()
            .and_then(|id| self.m.live.get(id))
            .map(|s| s.version);
        if st.replay.is_some() || !(st.standalone || sse) || !replay_on {
            return;
        }
        let Some(version) = version else { return };
        use ProtocolVersion as V;
        if !matches!(version, V::V2025_03_26 | V::V2025_06_18 | V::V2025_11_25) {
            return;
        }
        self.m.streams.get_mut(&stream).unwrap().replay = Some(MReplay {
            next_seq: 0,
            priming: version == V::V2025_11_25,
            buffer: MBuffer::default(),
        });
    }

    /// The SSE head, the priming event where the stream has one, then the held frames.
    fn emit_head(&mut self, stream: StreamId, exp: &mut Vec<(StreamId, Exp)>) {
        let retry = self.retry_ms();
        let st = self.m.streams.get_mut(&stream).unwrap();
        st.head_sent = true;
        let priming = match &mut st.replay {
            Some(r) if r.priming => {
                let seq = r.next_seq;
                r.next_seq += 1;
                Some(Frame::Priming {
                    id: (stream, seq),
                    retry,
                })
            }
            _ => None,
        };
        let held = std::mem::take(&mut st.held);
        if st.attached {
            exp.push((stream, Exp::Head(HeadKind::Sse)));
            for frame in priming.into_iter().chain(held) {
                self.deliver(stream, frame, exp);
            }
        }
    }

    /// A frame written to the attached connection: the client sees its id.
    fn deliver(&mut self, stream: StreamId, frame: Frame, exp: &mut Vec<(StreamId, Exp)>) {
        if let (Some((s, seq)), Some(session)) = (frame.id(), self.m.stream_session.get(&stream)) {
            self.m.seen.insert((session.clone(), s, seq));
        }
        exp.push((stream, Exp::Data(frame)));
    }

    /// One message on an SSE stream: numbered and kept when resumable, held until the
    /// head, written while a connection is attached.
    fn write(&mut self, stream: StreamId, json: String, exp: &mut Vec<(StreamId, Exp)>) {
        let limits = self.limits();
        let now = self.now;
        let st = self.m.streams.get_mut(&stream).unwrap();
        let frame = match &mut st.replay {
            Some(r) => {
                let seq = r.next_seq;
                r.next_seq += 1;
                let frame = Frame::Message {
                    id: Some((stream, seq)),
                    json,
                };
                let (age, size) = r.buffer.push(seq, frame.clone(), now, &limits);
                if age {
                    self.notes.push("evicted by age");
                }
                if size {
                    self.notes.push("evicted by size");
                }
                frame
            }
            None => Frame::Message { id: None, json },
        };
        if !st.head_sent {
            st.held.push(frame);
        } else if st.attached {
            self.deliver(stream, frame, exp);
        }
    }

    /// A stream ends: the attached connection gets its end (after a 404 if the reply had
    /// not begun); a finished resumable POST stream with events left is kept for replay
    /// until its newest event is `max_age` old, at most `max_finished_streams` per session.
    fn close_stream(&mut self, stream: StreamId, exp: &mut Vec<(StreamId, Exp)>) {
        let st = self.m.streams.remove(&stream).unwrap();
        if st.attached && !st.head_sent {
            exp.push((stream, Exp::Head(HeadKind::Gone)));
            exp.push((stream, Exp::Data(Frame::SessionGone)));
        }
        if st.attached {
            exp.push((stream, Exp::End));
        }
        if st.initialize && self.stateful() {
            self.m.pending_inits -= 1;
        }
        if st.session.is_none() {
            self.m.abandon(
                |o| o.0.is_none() && o.2 == stream,
                AbandonReason::StreamEnded,
            );
        }
        let Some(id) = st.session else { return };
        let now = self.now;
        let live = self.m.live.contains_key(&id);
        if let Some(s) = self.m.live.get_mut(&id) {
            if s.standalone == Some(stream) {
                s.standalone = None;
            }
        }
        self.m.touch(&id, now);
        if st.standalone || !live {
            return;
        }
        let Some(r) = st.replay else { return };
        let Some(newest) = r.buffer.events.back() else {
            return;
        };
        let until = newest.at + self.limits().max_age;
        self.retain(
            stream,
            MRetained {
                session: id,
                buffer: r.buffer,
                next_seq: r.next_seq,
                until,
            },
        );
    }

    fn retain(&mut self, stream: StreamId, r: MRetained) {
        let max = self.limits().max_finished_streams;
        let session = r.session.clone();
        self.m.retained.insert(stream, r);
        let s = self.m.live.get_mut(&session).unwrap();
        s.retained.push_back(stream);
        let mut gone = Vec::new();
        while s.retained.len() > max {
            gone.extend(s.retained.pop_front());
        }
        if !gone.is_empty() {
            self.notes
                .push("finished stream dropped by max_finished_streams");
        }
        for old in gone {
            self.drop_retained(old);
        }
    }

    fn drop_retained(&mut self, stream: StreamId) {
        if let Some(r) = self.m.retained.remove(&stream) {
            if let Some(s) = self.m.live.get_mut(&r.session) {
                s.retained.retain(|&x| x != stream);
            }
        }
    }

    /// The session ends, and so do its streams. A stream whose reply had not begun (a JSON
    /// reply still awaiting answers) still gets a complete response, a 404, before its end:
    /// an end always follows a head. Nothing of it is kept for replay.
    fn end_session(&mut self, id: &str, exp: &mut Vec<(StreamId, Exp)>) {
        let session = self.m.live.remove(id);
        self.m.dead.push(id.to_owned());
        self.m
            .abandon(|o| o.0.as_deref() == Some(id), AbandonReason::SessionClosed);
        for stream in self.m.streams_of(id) {
            let st = self.m.streams.remove(&stream).unwrap();
            if st.attached {
                if !st.head_sent {
                    exp.push((stream, Exp::Head(HeadKind::Gone)));
                    exp.push((stream, Exp::Data(Frame::SessionGone)));
                }
                exp.push((stream, Exp::End));
            }
        }
        for stream in session.into_iter().flat_map(|s| s.retained) {
            self.m.retained.remove(&stream);
        }
    }

    /// Finished streams whose window has passed are dropped.
    fn expire_retained(&mut self) {
        let due: Vec<StreamId> = self
            .m
            .retained
            .iter()
            .filter(|(_, r)| r.until <= self.now)
            .map(|(k, _)| *k)
            .collect();
        if !due.is_empty() {
            self.notes.push("replay window passed");
        }
        for stream in due {
            self.drop_retained(stream);
        }
    }

    /// A stream for an op: [`NEWEST`] is the newest open one; mostly (`pick < 192`) an open
    /// one, else any stream ever opened, closed ones included.
    fn pick_any(&self, pick: u8) -> Option<StreamId> {
        let open: Vec<StreamId> = self.m.streams.keys().copied().collect();
        if pick == NEWEST && !open.is_empty() {
            return open.last().copied();
        }
        let from = if pick < 192 && !open.is_empty() {
            &open
        } else {
            &self.m.ever
        };
        from.get(pick as usize % from.len().max(1)).copied()
    }

    fn step(&mut self, op: &Op) -> StepLog {
        let before = snapshot(&self.s);
        self.notes.clear();
        let mut exp: Vec<(StreamId, Exp)> = Vec::new();
        let mut expected_events: Vec<ServerEvent> = Vec::new();
        let mut request_log = None;
        let mut outcome_log = None;
        let mut answered_init = None;
        let mut resumed = None;
        let mut opened_standalone = None;
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
                let lei = match (r.method, r.last_event_id) {
                    (Meth::Get, Some(v)) => Some(self.resolve_lei(v, &sess)),
                    _ => None,
                };
                let position = lei.as_ref().map(|(_, p)| *p);
                let expect = self.predict(r, &sess, &class, body.len(), position);
                let req = self.build(r, &sess, body, lei.as_ref().map(|(v, _)| v.as_str()));
                let outcome = self.s.handle_request(req, self.now);
                outputs = drain(&mut self.s);
                events = drain_events(&mut self.s);
                let got = match &outcome {
                    Outcome::Reject(rej) => Expect::Refuse(rej.refusal),
                    Outcome::Accepted(_) => Expect::Accepted,
                    Outcome::Dispatch(_) => Expect::Dispatch,
                    Outcome::StreamOpened(_) => Expect::Opened,
                    Outcome::SessionDeleted(_) => Expect::Deleted,
                    Outcome::StreamResumed(o) => Expect::Resumed(o.stream),
                };
                if self.check_model {
                    assert_eq!(
                        got, expect,
                        "request {r:?} with session {sess:?}, Last-Event-ID {lei:?}"
                    );
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
                // A record that changes is an event (a store writes it through).
                let mark_initialized = |m: &mut Model, expected: &mut Vec<ServerEvent>| {
                    if let Some(id) = &session_id {
                        let s = m.live.get_mut(id).unwrap();
                        if initialized && !s.initialized {
                            s.initialized = true;
                            expected.push(ServerEvent::SessionUpdated {
                                record: SessionRecord {
                                    id: SessionId::new(id).unwrap(),
                                    protocol_version: s.version,
                                    initialized: true,
                                },
                            });
                        }
                    }
                };
                match &outcome {
                    Outcome::Reject(_) => {}
                    Outcome::Accepted(_) => {
                        if let Some(id) = &session_id {
                            self.m.touch(id, now);
                        }
                        mark_initialized(&mut self.m, &mut expected_events);
                    }
                    Outcome::Dispatch(d) => {
                        if let Some(id) = &session_id {
                            self.m.touch(id, now);
                        }
                        mark_initialized(&mut self.m, &mut expected_events);
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
                        if initialize && self.stateful() {
                            self.m.pending_inits += 1;
                        }
                        self.m.streams.insert(
                            d.stream,
                            MStream {
                                session: session_id.clone(),
                                initialize,
                                standalone: false,
                                batch: matches!(class, Class::Batch { .. }),
                                pending,
                                answers: Vec::new(),
                                attached: true,
                                head_sent: false,
                                held: Vec::new(),
                                replay: None,
                            },
                        );
                        if let Some(id) = &session_id {
                            self.m.stream_session.insert(d.stream, id.clone());
                        }
                        self.m.ever.push(d.stream);
                        self.make_resumable(d.stream);
                        if self.sse() && !initialize {
                            self.emit_head(d.stream, &mut exp);
                        }
                    }
                    Outcome::StreamOpened(o) => {
                        let id = o.session.to_string();
                        self.m.touch(&id, now);
                        // A standalone stream detached by `close_connection` is replaced.
                        if let Some(old) = self.m.live[&id].standalone {
                            if self.m.streams.contains_key(&old) {
                                self.close_stream(old, &mut exp);
                                self.notes.push("detached standalone stream replaced");
                            }
                        }
                        self.m.streams.insert(
                            o.stream,
                            MStream {
                                session: Some(id.clone()),
                                initialize: false,
                                standalone: true,
                                batch: false,
                                pending: vec![],
                                answers: vec![],
                                attached: true,
                                head_sent: false,
                                held: Vec::new(),
                                replay: None,
                            },
                        );
                        self.m.live.get_mut(&id).unwrap().standalone = Some(o.stream);
                        self.m.stream_session.insert(o.stream, id);
                        self.m.ever.push(o.stream);
                        self.make_resumable(o.stream);
                        self.emit_head(o.stream, &mut exp);
                        opened_standalone = Some(o.stream);
                    }
                    Outcome::StreamResumed(o) => {
                        let id = o.session.to_string();
                        self.m.touch(&id, now);
                        let (_, after) = position
                            .flatten()
                            .expect("the machine resumed at a position the model named");
                        // Events past the age limit are dropped before the replay.
                        let limits = self.limits();
                        let (frames, missed, finished) = if let Some(st) =
                            self.m.streams.get_mut(&o.stream)
                        {
                            st.attached = true;
                            let r = st.replay.as_mut().expect("a resumable stream");
                            r.buffer.evict(now, &limits);
                            let (frames, missed) = r.buffer.after(after);
                            (frames, missed, false)
                        } else {
                            let r = self.m.retained.get_mut(&o.stream).expect("kept for replay");
                            r.buffer.evict(now, &limits);
                            let (frames, missed) = r.buffer.after(after);
                            (frames, missed, true)
                        };
                        if self.check_model {
                            assert_eq!(Some(id), session_id, "the resumed stream's session");
                            assert_eq!(
                                (o.replayed, o.missed),
                                (frames.len(), missed),
                                "replayed and missed after {after} on {:?}",
                                o.stream
                            );
                        }
                        self.notes.push("resumed");
                        if finished {
                            self.notes.push("resumed a finished stream");
                        }
                        if !frames.is_empty() {
                            self.notes.push("replayed events");
                        }
                        if missed > 0 {
                            self.notes.push("missed events");
                        }
                        exp.push((o.stream, Exp::Head(HeadKind::Sse)));
                        for frame in frames {
                            self.deliver(o.stream, frame, &mut exp);
                        }
                        if finished {
                            exp.push((o.stream, Exp::End));
                        }
                        resumed = Some(Resumption {
                            stream: o.stream,
                            after,
                            replayed: o.replayed,
                        });
                    }
                    Outcome::SessionDeleted(d) => {
                        let id = d.session.to_string();
                        if self.m.live[&id]
                            .retained
                            .iter()
                            .any(|s| self.m.retained.contains_key(s))
                        {
                            self.notes
                                .push("deleted a session with finished streams kept");
                        }
                        self.end_session(&id, &mut exp);
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
                    let result = self.s.send(stream, text.clone(), self.now);
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
                            let id = id.to_string();
                            self.m.live.insert(
                                id.clone(),
                                MSession {
                                    version: v,
                                    initialized: false,
                                    last_activity: self.now,
                                    standalone: None,
                                    retained: VecDeque::new(),
                                },
                            );
                            self.m.versions.insert(id.clone(), v);
                            self.m.stream_session.insert(stream, id.clone());
                            self.m.streams.get_mut(&stream).unwrap().session = Some(id);
                            self.make_resumable(stream);
                        }
                        let sse = self.sse();
                        let st = self.m.streams.get_mut(&stream).unwrap();
                        st.pending.remove(0);
                        if sse {
                            if !st.head_sent {
                                self.emit_head(stream, &mut exp);
                            }
                            self.write(stream, text, &mut exp);
                        } else {
                            st.head_sent = true;
                            if st.attached {
                                exp.push((stream, Exp::Head(HeadKind::Json)));
                                exp.push((stream, Exp::Data(Frame::Json(text))));
                            }
                        }
                        self.close_stream(stream, &mut exp);
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
                    let stream = if *pick == NEWEST {
                        *open.last().unwrap()
                    } else {
                        open[*pick as usize % open.len()]
                    };
                    let rid = self.m.streams[&stream].pending[0].clone();
                    let text = answer_for(&rid, *error);
                    let result = self.s.send(stream, text.clone(), self.now);
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                    if self.check_model {
                        assert_eq!(result, Ok(()));
                    }
                    let sse = self.sse();
                    let st = self.m.streams.get_mut(&stream).unwrap();
                    st.pending.remove(0);
                    let done = st.pending.is_empty();
                    if !st.attached {
                        self.notes.push("answered while detached");
                    }
                    if sse {
                        self.write(stream, text, &mut exp);
                    } else {
                        st.answers.push(text);
                        if done {
                            st.head_sent = true;
                            if st.attached {
                                let body = if st.batch {
                                    format!("[{}]", st.answers.join(","))
                                } else {
                                    st.answers[0].clone()
                                };
                                exp.push((stream, Exp::Head(HeadKind::Json)));
                                exp.push((stream, Exp::Data(Frame::Json(body))));
                            }
                        }
                    }
                    if done {
                        self.close_stream(stream, &mut exp);
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
                        // Each server-to-client request gets an id of its own: the
                        // machine remembers outstanding ids per session and refuses a
                        // duplicate.
                        let msg = if is_request {
                            self.next_id += 1;
                            SAMPLING_REQUEST.replace("srv-9", &format!("srv-s{}", self.next_id))
                        } else {
                            LOG.to_owned()
                        };
                        let result = self.s.send(stream, msg.clone(), self.now);
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
                            if is_request {
                                let session = self.m.streams[&stream].session.clone();
                                let id = RequestId::from(format!("srv-s{}", self.next_id).as_str());
                                self.m.outstanding.push((session, id, stream));
                            }
                            self.write(stream, msg, &mut exp);
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
                    let result = disconnect(&mut self.s, stream, self.now);
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                    assert_eq!(result, Ok(()), "disconnecting a stream this machine opened");
                    // The disconnect names the stream's current connection; a stream with
                    // none has nothing left to disconnect (a late disconnect is a no-op).
                    if let Some(st) = self.m.streams.get_mut(&stream) {
                        if st.attached {
                            st.attached = false;
                            if st.standalone {
                                self.close_stream(stream, &mut exp);
                            }
                        }
                    }
                }
            },
            Op::CloseConnection { pick } => match self.pick_any(*pick) {
                None => {
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                }
                Some(stream) => {
                    let result = self.s.close_connection(stream, self.now);
                    outputs = drain(&mut self.s);
                    events = drain_events(&mut self.s);
                    // Only resumable streams of 2025-11-25 sessions whose head (and so their
                    // priming event) went out.
                    let want = match self.m.streams.get(&stream) {
                        None => Err(UsageError::StreamClosed(stream)),
                        Some(st)
                            if !(st.head_sent && st.replay.as_ref().is_some_and(|r| r.priming)) =>
                        {
                            Err(UsageError::NotResumable(stream))
                        }
                        Some(_) => Ok(()),
                    };
                    if self.check_model {
                        assert_eq!(result, want, "close_connection of {stream:?}");
                    }
                    if result.is_ok() {
                        let retry = self.retry_ms();
                        let st = self.m.streams.get_mut(&stream).unwrap();
                        if st.attached {
                            st.attached = false;
                            exp.push((stream, Exp::Data(Frame::Retry(retry))));
                            exp.push((stream, Exp::End));
                            self.notes.push("connection closed early");
                            // A detached standalone stream no longer holds its session,
                            // whose idle clock starts at the close.
                            if st.standalone {
                                let owner = st.session.clone();
                                if let Some(sess) = owner.and_then(|id| self.m.live.get_mut(&id)) {
                                    sess.last_activity = sess.last_activity.max(self.now);
                                }
                            }
                        }
                    } else if result == Err(UsageError::NotResumable(stream)) {
                        self.notes.push("close_connection: not resumable");
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
                        self.end_session(&id, &mut exp);
                    }
                }
                self.expire_retained();
            }
        }
        if self.m.salt.is_none() {
            self.m.salt = learn_salt(&outputs);
        }
        let after = snapshot(&self.s);
        expected_events.append(&mut self.m.abandoned);
        if self.check_model {
            self.assert_agrees(&after, &outputs, &events, exp, expected_events);
        }
        StepLog {
            before,
            after,
            request: request_log,
            outcome: outcome_log,
            answered_init,
            resumed,
            opened_standalone,
            notes: std::mem::take(&mut self.notes),
            outputs,
            events,
        }
    }

    fn assert_agrees(
        &self,
        after: &Snapshot,
        outputs: &[Output],
        events: &[ServerEvent],
        expected_outputs: Vec<(StreamId, Exp)>,
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
            after.timeout,
            self.m.next_timeout(),
            "the next timeout and its reason"
        );
        // Every output, byte for byte, in order per stream.
        let salt = self.m.salt.clone().unwrap_or_default();
        let mut got = observed(outputs);
        let mut want: Vec<(StreamId, String)> = expected_outputs
            .iter()
            .map(|(s, e)| {
                let text = match e {
                    Exp::Head(kind) => format!("head {kind:?}"),
                    Exp::Data(frame) => format!("data {}", frame.render(&salt)),
                    Exp::End => "end".to_owned(),
                };
                (*s, text)
            })
            .collect();
        got.sort_by_key(|(s, _)| *s);
        want.sort_by_key(|(s, _)| *s);
        assert_eq!(got, want, "outputs");
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

/// The machine's event-id salt, from the first id in `outputs`: 8 lower-case hex digits.
fn learn_salt(outputs: &[Output]) -> Option<String> {
    outputs.iter().find_map(|o| {
        let StreamEvent::Data(b) = &o.event else {
            return None;
        };
        let text = std::str::from_utf8(b).ok()?;
        let id = text.lines().find_map(|l| l.strip_prefix("id: "))?;
        let salt = id.split('-').next().unwrap().to_owned();
        assert!(
            salt.len() == 8 && salt.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "an event-id salt is 8 lower-case hex digits: {id:?}"
        );
        Some(salt)
    })
}

/// The outputs as the model writes its expectations: the head's kind, the data as text
/// (a 404 error body as [`SESSION_GONE`]), the end.
fn observed(outputs: &[Output]) -> Vec<(StreamId, String)> {
    let mut last_head: BTreeMap<StreamId, HeadKind> = BTreeMap::new();
    outputs
        .iter()
        .map(|o| {
            let text = match &o.event {
                StreamEvent::Head(h) => {
                    let ct = header(h, "content-type");
                    let kind = match (h.status().as_u16(), ct) {
                        (404, Some(JSON)) => HeadKind::Gone,
                        (200, Some(EVENT_STREAM)) => HeadKind::Sse,
                        (200, Some(JSON)) => HeadKind::Json,
                        other => panic!("an unexpected head {other:?}: {h:?}"),
                    };
                    last_head.insert(o.stream, kind);
                    format!("head {kind:?}")
                }
                StreamEvent::Data(b) if last_head.get(&o.stream) == Some(&HeadKind::Gone) => {
                    let body: serde_json::Value = serde_json::from_slice(b).unwrap();
                    assert!(body["id"].is_null(), "{body}");
                    assert_eq!(body["error"]["code"], -32001, "{body}");
                    format!("data {SESSION_GONE}")
                }
                StreamEvent::Data(b) => format!("data {}", std::str::from_utf8(b).unwrap()),
                StreamEvent::End => "end".to_owned(),
            };
            (o.stream, text)
        })
        .collect()
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
        let stateful = cfg.session_mode == SessionMode::Stateful;
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

    /// (e) `INV-S7`, `INV-S9`, `INV-S10`, `INV-S11`, `INV-S12`, `SRV-RES-3`, judged on the
    /// machine's outputs alone (the model only picks the streams and ids the sequence
    /// uses): see [`Wire::check`].
    #[test]
    fn stream_invariants_hold_on_the_wire(
        cfg in arb_config(),
        seed in any::<u64>(),
        ops in arb_ops(),
    ) {
        let replay_on = cfg.replay.is_some();
        let mut w = World::new(cfg, seed, false);
        let mut wire = Wire::default();
        for op in &ops {
            let log = w.step(op);
            wire.check(&log, &w.m, replay_on)?;
        }
    }
}

/// What property (e) remembers of the wire.
#[derive(Default)]
struct Wire {
    /// Every event id written, and the frame it labelled.
    frames: BTreeMap<String, SseFrame>,
    standalone: BTreeSet<StreamId>,
    /// The connection each stream has now.
    conns: BTreeMap<StreamId, Conn>,
}

/// One connection of a stream, from its head to its end.
struct Conn {
    sse: bool,
    /// For a resumed connection: the position of its `Last-Event-ID`.
    resumed_after: Option<u64>,
    frames: usize,
    last_seq: Option<u64>,
    saw_id: bool,
    closed_early: bool,
    /// The request ids answered on this connection.
    responses: BTreeSet<String>,
}

/// An event id of this machine: `{salt}-{stream}-{seq}` (`SRV-RES-3`).
fn parse_event_id(id: &str) -> (String, u64, u64) {
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts.len(), 3, "{id:?}");
    (
        parts[0].to_owned(),
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
    )
}

impl Wire {
    /// - `INV-S9`, `SRV-RES-2`: an event id never labels two different frames; an id comes
    ///   again only in a replay, on a resumed connection, with the very same frame.
    /// - `INV-S10`, `SRV-RES-3`, `SRV-RES-6`: every id on a connection names that
    ///   connection's stream, ids increase along a connection, and a resumed connection
    ///   carries only events after its `Last-Event-ID`, as many as `replayed` says.
    /// - `INV-S12`, `SRV-PSSE-9`, `SRV-PSSE-12`: a priming event only on streams of
    ///   2025-11-25 sessions, only first on a fresh connection, and always first there
    ///   when replay is on; an early close (`retry` alone) only once the client holds an
    ///   id (an event with one on this connection, or the `Last-Event-ID` it resumed
    ///   from), and nothing after it but the end.
    /// - `INV-S7`, `SRV-GET-6`: no response on a standalone stream. `INV-S11`: no request
    ///   id answered twice on a connection.
    fn check(&mut self, log: &StepLog, m: &Model, replay_on: bool) -> Result<(), TestCaseError> {
        if let Some(s) = log.opened_standalone {
            self.standalone.insert(s);
        }
        if let Some(r) = log.resumed {
            let frames: usize = log
                .outputs
                .iter()
                .filter(|o| o.stream == r.stream)
                .filter_map(|o| match &o.event {
                    StreamEvent::Data(b) => Some(sse_frames(b).len()),
                    _ => None,
                })
                .sum();
            prop_assert_eq!(frames, r.replayed, "a resumption writes its replay only");
        }
        for o in &log.outputs {
            match &o.event {
                StreamEvent::Head(h) => {
                    let resumed_after = log
                        .resumed
                        .filter(|r| r.stream == o.stream)
                        .map(|r| r.after);
                    self.conns.insert(
                        o.stream,
                        Conn {
                            sse: header(h, "content-type") == Some(EVENT_STREAM),
                            resumed_after,
                            frames: 0,
                            last_seq: None,
                            // A resumed connection starts from the client's cursor, its
                            // `Last-Event-ID`.
                            saw_id: resumed_after.is_some(),
                            closed_early: false,
                            responses: BTreeSet::new(),
                        },
                    );
                }
                StreamEvent::End => {
                    prop_assert!(
                        self.conns.remove(&o.stream).is_some(),
                        "an end after a head"
                    );
                }
                StreamEvent::Data(b) => {
                    let c = self.conns.get_mut(&o.stream).expect("data after a head");
                    if !c.sse {
                        continue;
                    }
                    let version = m.version_of_stream(o.stream);
                    for f in sse_frames(b) {
                        prop_assert!(!c.closed_early, "nothing but the end after an early close");
                        let first = c.frames == 0;
                        c.frames += 1;
                        let fresh = c.resumed_after.is_none();
                        let v11 = version == Some(ProtocolVersion::V2025_11_25);
                        if f.is_priming() {
                            prop_assert!(v11, "priming for {:?} on {:?}", version, o.stream);
                            prop_assert!(first && fresh, "priming first, on a fresh connection");
                        } else if first && fresh && v11 && replay_on {
                            prop_assert!(false, "a 2025-11-25 stream starts with priming: {:?}", f);
                        }
                        if f.retry.is_some() && !f.has_data {
                            prop_assert!(f.id.is_none());
                            prop_assert!(c.saw_id, "an early close after an event with an id");
                            c.closed_early = true;
                        }
                        if let Some(id) = &f.id {
                            c.saw_id = true;
                            let (_, stream, seq) = parse_event_id(id);
                            prop_assert_eq!(stream, o.stream.as_u64(), "{} names its stream", id);
                            if let Some(last) = c.last_seq {
                                prop_assert!(seq > last, "ids increase: {} after {}", seq, last);
                            }
                            if let Some(after) = c.resumed_after {
                                prop_assert!(
                                    seq > after,
                                    "{} is after Last-Event-ID {}",
                                    seq,
                                    after
                                );
                            }
                            c.last_seq = Some(seq);
                            match self.frames.get(id) {
                                Some(prev) => {
                                    prop_assert_eq!(prev, &f, "{} labels one frame", id);
                                    prop_assert!(!fresh, "{} repeated outside a replay", id);
                                }
                                None => {
                                    self.frames.insert(id.clone(), f.clone());
                                }
                            }
                        }
                        if let Some(msg) = f.message() {
                            if msg.get("method").is_none() {
                                prop_assert!(
                                    !self.standalone.contains(&o.stream),
                                    "a response on a standalone stream: {}",
                                    msg
                                );
                                prop_assert!(
                                    c.responses.insert(msg["id"].to_string()),
                                    "{} answered twice on one connection",
                                    msg["id"]
                                );
                            }
                        }
                    }
                }
            }
        }
        Ok(())
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
            session_mode: if stateful { SessionMode::Stateful } else { SessionMode::Stateless },
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
    assert!(w.m.retained.is_empty(), "its finished streams went with it");
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

/// A fixed resumption sequence through the checked model (`SRV-PSSE-10`, `SRV-PSSE-12`,
/// `SRV-RES-5`, `INV-S15`): a 2025-11-25 session; a request whose connection the
/// application closes early; a notification and the answer sent while detached; a GET
/// with the priming id that replays both, then ends; the same again (the finished stream
/// is kept); its window passing; and then the id refused.
#[test]
fn the_model_follows_a_resumption_sequence() {
    let cfg = ServerConfig {
        max_body_bytes: MAX_BODY,
        session_idle_timeout: Some(IDLE),
        max_sessions: Some(CAP),
        replay: Some(ReplayLimits {
            max_age: Duration::from_secs(30),
            ..ReplayLimits::default()
        }),
        ..ServerConfig::default()
    };
    let mut w = World::new(cfg, 5, true);
    // The ids seen, in order: the initialize stream's priming (0) and response (1), then
    // the request stream's priming: `Own(2)`.
    let resume = || {
        Op::Request(Req {
            method: Meth::Get,
            last_event_id: Some(LeiV::Own(2)),
            ..valid(SessV::Live(0), BodyV::Initialized)
        })
    };
    let ops = [
        Op::Request(valid(SessV::Absent, BodyV::Initialize)),
        Op::AnswerInit {
            pick: 0,
            success: true,
            version: ProtocolVersion::V2025_11_25,
        },
        Op::Request(valid(SessV::Live(0), BodyV::Initialized)),
        Op::Request(valid(SessV::Live(0), BodyV::ToolsList)),
        Op::CloseConnection { pick: 1 },
        Op::Notify { pick: 1 },
        Op::Answer {
            pick: 0,
            error: false,
        },
        resume(),
        resume(),
        Op::Advance(Duration::from_secs(30)),
        resume(),
    ];
    let logs: Vec<StepLog> = ops.iter().map(|op| w.step(op)).collect();
    assert_eq!(
        shape(&logs[4].outputs)
            .iter()
            .map(|(_, c)| *c)
            .collect::<String>(),
        "DE",
        "retry, then the end of the connection"
    );
    assert!(logs[5].outputs.is_empty() && logs[6].outputs.is_empty());
    for log in &logs[7..9] {
        let r = log.resumed.expect("resumed");
        assert_eq!((r.after, r.replayed), (0, 2));
        assert_eq!(
            shape(&log.outputs)
                .iter()
                .map(|(_, c)| *c)
                .collect::<String>(),
            "HDDE"
        );
    }
    assert!(logs[9].notes.contains(&"replay window passed"));
    assert_eq!(
        logs[10].request.as_ref().unwrap().1,
        Some(Refusal::UnknownEventId)
    );
    assert_eq!(w.s.session_count(), 1);
}

/// The generator is worth its cases: over 256 deterministic sequences it reaches every
/// refusal of the check table, every kind of outcome, minting, every way a session ends,
/// and every resumability path (replay, a finished stream resumed, evicted events, early
/// closes, windows passing, finished streams dropped by the cap). A change to the
/// alphabet's weights that starves a branch fails here.
#[test]
fn generated_sequences_reach_every_check_and_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..256u64 {
        let cfg = arb_config().new_tree(&mut runner).unwrap().current();
        let ops = arb_ops().new_tree(&mut runner).unwrap().current();
        let mut w = World::new(cfg, seed, false);
        for op in &ops {
            let log = w.step(op);
            if let Some(outcome) = &log.outcome {
                reached.insert(match outcome {
                    Expect::Resumed(_) => "Resumed".to_owned(),
                    other => format!("{other:?}"),
                });
            }
            reached.extend(log.notes.iter().map(|n| n.to_string()));
            for n in &log.notes {
                *counts.entry(n.to_string()).or_insert(0usize) += 1;
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
    want.push("Resumed".to_owned());
    want.extend(["created", "closed Deleted", "closed Expired"].map(String::from));
    want.extend(
        [
            "resumed",
            "resumed a finished stream",
            "replayed events",
            "missed events",
            "connection closed early",
            "close_connection: not resumable",
            "replay window passed",
            "finished stream dropped by max_finished_streams",
            "detached standalone stream replaced",
            "answered while detached",
            "evicted by age",
            "evicted by size",
            "deleted a session with finished streams kept",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = want.iter().filter(|w| !reached.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "never reached: {missing:?}; how often the rest was: {counts:#?}"
    );
}
