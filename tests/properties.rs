//! Property tests over generated sequences of requests, application answers, server
//! notifications and requests, disconnects (late ones included), early connection
//! closes, resumptions and time advances, checked against a reference model of the
//! server **as a client observes it** (`tests/model/`).
//!
//! Requests are built from a small alphabet (`model::alphabet`): methods, Host/Origin,
//! Accept, Content-Type, version header, a session header drawn from {none, live ids,
//! dead ids, never-issued, malformed}, bodies drawn from {initialize,
//! notifications/initialized, tools/list, response, batches, garbage, random bytes}, and
//! on GET a `Last-Event-ID` drawn from {ids the client saw on streams of this session,
//! ids seen on other sessions' streams, position 0 of any stream, a position not reached,
//! another machine's salt, malformed values}, weighted toward valid values so that
//! sequences reach deep states. Configurations vary the reply mode, sessions, the GET
//! stream, `sse_retry`, and replay: off, the defaults, or small limits that evict often.
//!
//! The model (`model::Model`) holds what a client knows: its sessions (live, or dead for
//! good), their version and `initialized`, when each would expire; the streams it reads
//! and on which connection, the answers it is owed, the event ids it saw and what it
//! could still resume with them and until when, the server's requests it has not
//! answered. It predicts the outcome of every request (from the check table, restated in
//! `model::checks`; status and code from `Policy::answer`), what every connection reads,
//! the session events and the next timeout with its reason.
//!
//! - (a) `INV-S1`: sessions are minted only by a successful InitializeResult, and the
//!   session header appears only on that stream's head.
//! - (b) `INV-S3`, `INV-S13`, `INV-S17`: a refused request changes nothing observable.
//! - (c) `INV-S17`, DESIGN "no peer input may panic": any POST body yields a typed
//!   outcome, a refusal being a 4xx JSON-RPC error.
//! - (d) the model and the machine agree after every step: the check table (`INV-S2`,
//!   `INV-S3`, `INV-S13`, `INV-S14`, `INV-S18`), 202 (`INV-S4`), GET (`INV-S6`),
//!   minting (`INV-S1`), expiry (`SRV-SESS-6`), every connection's reads (`INV-S7`..
//!   `INV-S12`, `INV-S15`), gating of server requests (`INV-S16`), error envelopes
//!   (`INV-S17`), and a late disconnect changing nothing.
//! - (e) `INV-S7`, `INV-S9`, `INV-S10`, `INV-S11`, `INV-S12`, judged on the wire alone,
//!   without the model.

mod common;
mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Response;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{
    ConnectionId, Outcome, Refusal, ReplayLimits, ReplyMode, ServerConfig, ServerEvent,
    SessionMode, StreamEvent, StreamId,
};
use mcp_http_proto::wire::jsonrpc::{MessageKind, RequestId};
use model::alphabet::*;
use model::checks::Expect;
use model::harness::{StepLog, World, answer_for, snapshot};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const IDLE: Duration = Duration::from_secs(60);
const CAP: usize = 3;
const MAX_BODY: usize = 512;

// ===================================================================================
// The generators
// ===================================================================================

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
        1 => Just(V::Host(HostV::Repeated)),
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
                last_event_id,
                ..valid(session, body)
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
        1 => any::<u8>().prop_map(|pick| Op::LateDisconnect { pick }),
        3 => any::<u8>().prop_map(|pick| Op::CloseConnection { pick }),
        // A well-formed resumption: a GET on a live session with a `Last-Event-ID`.
        4 => (any::<u8>(), arb_lei()).prop_map(|(pick, lei)| Op::Request(get_on(pick, Some(lei)))),
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
                max_total_bytes: usize::MAX,
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
            // The model does not count a session's open streams (tests/review_defects.rs
            // covers the cap).
            max_streams_per_session: None,
            standalone_stream: standalone,
            replay,
            sse_retry: Duration::from_millis(retry),
            // The reference model restates the session era; 2026-07-28 requests of the
            // alphabet are refused as unsupported here, and served in
            // `tests/modern_server.rs`.
            supported_versions: session_era_versions(),
            ..ServerConfig::default()
        })
}

/// The versions with the `initialize` handshake.
fn session_era_versions() -> Vec<ProtocolVersion> {
    ProtocolVersion::ALL
        .into_iter()
        .filter(|v| v.has_initialize())
        .collect()
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
        prop::bool::weighted(0.5),
    )
        .prop_map(
            |(session, standalone, before, close, after, answer, lei, resume, late)| {
                let opening = if standalone {
                    get_on(session, None)
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
                ops.push(Op::Request(get_on(
                    session,
                    resume.then_some(LeiV::Own(lei)),
                )));
                if late {
                    // The replaced connection's disconnect arrives after the resumption,
                    // then a message: it must reach the new connection.
                    ops.push(Op::LateDisconnect { pick: NEWEST });
                    ops.push(Op::Notify { pick: NEWEST });
                }
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
    conns: BTreeMap<ConnectionId, Conn>,
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
    fn check(
        &mut self,
        log: &StepLog,
        m: &model::Model,
        replay_on: bool,
    ) -> Result<(), TestCaseError> {
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
                        o.connection,
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
                        self.conns.remove(&o.connection).is_some(),
                        "an end after a head"
                    );
                }
                StreamEvent::Data(b) => {
                    let c = self
                        .conns
                        .get_mut(&o.connection)
                        .expect("data after a head");
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
        let before = snapshot(&s, &[]);
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
                prop_assert_eq!(snapshot(&s, &[]), before);
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
        Op::Request(get_on(0, None)),
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
    assert!(w.m.finished.is_empty(), "its finished streams went with it");
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
    // The resumable positions seen, in order: the initialize reply is not kept once
    // answered, so the first is the request stream's priming: `Own(0)`.
    let resume = || Op::Request(get_on(0, Some(LeiV::Own(0))));
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
    // Every row of the check table: a refusal added to `Refusal::ALL` that the
    // generators cannot reach fails here, so it cannot escape the model. The rows
    // of the 2026-07-28 era are the model's blind spot by construction (its server does
    // not serve that revision); `tests/modern_server.rs` reaches them. So is the cap on a
    // session's open streams (off in the model's configurations), which
    // `tests/review_defects.rs` reaches, and the store's 503 (the model has no store),
    // which `tests/store_seam.rs` reaches.
    let mut want: Vec<String> = Refusal::ALL
        .iter()
        .filter(|r| {
            !matches!(
                r,
                Refusal::HeaderMismatch
                    | Refusal::MissingMeta
                    | Refusal::RemovedMethod
                    | Refusal::TooManyStreams
                    | Refusal::StoreUnavailable
            )
        })
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
            "late disconnect of a replaced connection",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = want.iter().filter(|w| !reached.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "never reached: {missing:?}; how often the rest was: {counts:#?}"
    );
}
