//! [`World`]: one `Server` and the [`Model`] side by side. Each step runs one operation on
//! both, and (when asked) asserts that the machine did what the model predicts: the
//! outcome with its status and code, what every connection read, the session events, the
//! sessions and their records, and the next timeout with its reason.

use std::time::Instant;

use bytes::Bytes;
use http::Response;
use mcp_http_proto::server::{
    ConnectionId, Outcome, Output, Refusal, Server, ServerConfig, ServerEvent, SessionRecord,
    StreamId, Timeout, UsageError,
};
use mcp_http_proto::wire::jsonrpc::RequestId;

use super::Model;
use super::alphabet::*;
use super::checks::{Expect, predict};
use super::reads::{self, observe};
use crate::common::*;

/// What the client can observe of the server between steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub records: Vec<SessionRecord>,
    pub session_count: usize,
    pub stream_count: usize,
    pub timeout: Option<Timeout>,
    pub listening: Vec<(String, Option<StreamId>)>,
    /// The connection each stream the client ever read is read on now.
    pub connections: Vec<(StreamId, Option<ConnectionId>)>,
}

pub fn snapshot(s: &Server, streams: &[StreamId]) -> Snapshot {
    let mut records: Vec<SessionRecord> = s.sessions().cloned().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let listening = records
        .iter()
        .map(|r| (r.id.to_string(), s.standalone_stream(&r.id)))
        .collect();
    Snapshot {
        records,
        session_count: s.session_count(),
        stream_count: s.stream_count(),
        timeout: s.poll_timeout(),
        listening,
        connections: streams.iter().map(|&st| (st, s.connection(st))).collect(),
    }
}

/// A resumption that happened: the stream, the position after which it replayed, and
/// how many events the machine said it replayed.
#[derive(Debug, Clone, Copy)]
pub struct Resumption {
    pub stream: StreamId,
    pub after: u64,
    pub replayed: usize,
}

/// What one step did, for the properties to judge.
pub struct StepLog {
    pub before: Snapshot,
    pub after: Snapshot,
    /// For a request: the resolved session header, and the refusal or the response.
    pub request: Option<(Sess, Option<Refusal>, Option<Response<Bytes>>)>,
    pub outcome: Option<Expect>,
    /// For an `AnswerInit` that reached a stream: the stream, and whether it minted.
    pub answered_init: Option<(StreamId, bool)>,
    pub resumed: Option<Resumption>,
    pub opened_standalone: Option<StreamId>,
    /// A disconnect of a connection that was over already.
    pub late_disconnect: bool,
    pub notes: Vec<&'static str>,
    pub outputs: Vec<Output>,
    pub events: Vec<ServerEvent>,
}

pub struct World {
    pub s: Server,
    pub m: Model,
    next_id: i64,
    /// Assert the model's predictions (property d). Without it the model follows what
    /// the machine did and the properties judge the machine alone.
    check_model: bool,
}

pub fn answer_for(id: &RequestId, error: bool) -> String {
    let id = serde_json::to_string(id).unwrap();
    if error {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"x"}}}}"#)
    } else {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
    }
}

impl World {
    pub fn new(cfg: ServerConfig, seed: u64, check_model: bool) -> Self {
        Self {
            s: server_seeded(cfg.clone(), seed),
            m: Model::new(cfg, base_instant()),
            next_id: 1,
            check_model,
        }
    }

    fn now(&self) -> Instant {
        self.m.now
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

    /// A `Last-Event-ID` for a request on `sess`: the header value, and the position it
    /// names when it is one of this machine's ids.
    fn resolve_lei(&self, v: LeiV, sess: &Sess) -> (String, Option<(StreamId, u64)>) {
        let garbage = || ("not-an-event-id".to_owned(), None);
        // Before the client read any id there is nothing to name.
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
        // Mostly (`i < 160`) an id of a stream the client could resume now.
        let resumable = |v: Vec<(StreamId, u64)>, i: u8| {
            let targets: Vec<(StreamId, u64)> = v
                .iter()
                .filter(|(s, _)| self.m.resume_point(*s).is_some_and(|(_, _, read)| !read))
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
                        .resume_point(stream)
                        .map(|(_, next, _)| next)
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

    /// A stream for an op: [`NEWEST`] is the newest open one; mostly (`pick < 192`) an
    /// open one, else any stream the client ever read, ended ones included.
    fn pick_stream(&self, pick: u8) -> Option<StreamId> {
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

    /// A connection that is over: mostly (`pick < 192`, and [`NEWEST`]) one a resumption
    /// replaced (its stream is read on a newer connection, or was resumed and ended).
    fn pick_over(&self, pick: u8) -> Option<ConnectionId> {
        let over: Vec<ConnectionId> = self
            .m
            .connections
            .iter()
            .filter(|(_, c)| !c.open)
            .map(|(k, _)| *k)
            .collect();
        let replaced: Vec<ConnectionId> = over
            .iter()
            .copied()
            .filter(|c| {
                let stream = self.m.connections[c].stream;
                self.m
                    .connections
                    .iter()
                    .any(|(k, o)| k > c && o.stream == stream)
            })
            .collect();
        let from = if (pick < 192 || pick == NEWEST) && !replaced.is_empty() {
            replaced
        } else {
            over
        };
        if pick == NEWEST {
            return from.last().copied();
        }
        from.get(pick as usize % from.len().max(1)).copied()
    }

    fn drain(&mut self) -> (Vec<Output>, Vec<ServerEvent>) {
        (drain(&mut self.s), drain_events(&mut self.s))
    }

    pub fn step(&mut self, op: &Op) -> StepLog {
        let before = snapshot(&self.s, &self.m.ever);
        self.m.begin_step();
        let mut log = StepLog {
            before: before.clone(),
            after: before,
            request: None,
            outcome: None,
            answered_init: None,
            resumed: None,
            opened_standalone: None,
            late_disconnect: false,
            notes: Vec::new(),
            outputs: Vec::new(),
            events: Vec::new(),
        };
        let now = self.now();
        let check = self.check_model;
        match op {
            Op::Request(r) => self.request(r, &mut log),
            Op::AnswerInit {
                pick,
                success,
                version,
            } => {
                let inits: Vec<StreamId> = self
                    .m
                    .streams
                    .iter()
                    .filter(|(_, s)| s.is_initialize())
                    .map(|(k, _)| *k)
                    .collect();
                if !inits.is_empty() {
                    let stream = inits[*pick as usize % inits.len()];
                    let rid = self.m.streams[&stream].owed()[0].clone();
                    let text = if *success {
                        let id = serde_json::to_string(&rid).unwrap();
                        format!(
                            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}"#
                        )
                    } else {
                        answer_for(&rid, true)
                    };
                    let result = self.s.send(stream, text.clone(), now);
                    (log.outputs, log.events) = self.drain();
                    // `INV-S1`: only a successful InitializeResult mints, and only with
                    // sessions; a version the server does not serve is the caller's error.
                    let mints = *success && self.m.stateful();
                    if mints && !self.m.cfg.supports(*version) {
                        if check {
                            assert_eq!(
                                result,
                                Err(UsageError::UnsupportedNegotiatedVersion(
                                    version.to_string()
                                ))
                            );
                        }
                    } else {
                        if check {
                            assert_eq!(result, Ok(()), "answering initialize");
                        }
                        log.answered_init = Some((stream, mints));
                        // The minted id is random: the client learns it from the head; the
                        // harness takes it from the machine's event.
                        let minted = mints.then(|| {
                            log.events
                                .iter()
                                .find_map(|e| match e {
                                    ServerEvent::SessionCreated { id, .. } => Some(id.to_string()),
                                    _ => None,
                                })
                                .expect("INV-S1: a SessionCreated event for the minted session")
                        });
                        if let Some(id) = &minted {
                            assert!(
                                !self.m.dead.contains(id) && !self.m.live.contains_key(id),
                                "INV-S1: {id} minted twice"
                            );
                        }
                        self.m
                            .answered(stream, text, minted.map(|id| (id, *version)));
                    }
                }
            }
            Op::Answer { pick, error } => {
                let owed: Vec<StreamId> = self
                    .m
                    .streams
                    .iter()
                    .filter(|(_, s)| !s.is_initialize() && !s.owed().is_empty())
                    .map(|(k, _)| *k)
                    .collect();
                if !owed.is_empty() {
                    let stream = if *pick == NEWEST {
                        *owed.last().unwrap()
                    } else {
                        owed[*pick as usize % owed.len()]
                    };
                    let rid = self.m.streams[&stream].owed()[0].clone();
                    let text = answer_for(&rid, *error);
                    let result = self.s.send(stream, text.clone(), now);
                    (log.outputs, log.events) = self.drain();
                    if check {
                        assert_eq!(result, Ok(()), "INV-S11: an owed answer is taken");
                    }
                    self.m.answered(stream, text, None);
                }
            }
            Op::Notify { pick } | Op::ServerRequest { pick } => {
                let is_request = matches!(op, Op::ServerRequest { .. });
                if let Some(stream) = self.pick_stream(*pick) {
                    // Each server-to-client request gets an id of its own.
                    let (msg, id) = if is_request {
                        self.next_id += 1;
                        let id = format!("srv-s{}", self.next_id);
                        (
                            SAMPLING_REQUEST.replace("srv-9", &id),
                            Some(RequestId::from(id.as_str())),
                        )
                    } else {
                        (LOG.to_owned(), None)
                    };
                    let result = self.s.send(stream, msg.clone(), now);
                    (log.outputs, log.events) = self.drain();
                    if check {
                        assert_eq!(
                            result,
                            self.m.send_result(stream, is_request),
                            "INV-S8, INV-S16: send on {stream:?}"
                        );
                    }
                    if result.is_ok() {
                        self.m.sent(stream, msg, id);
                    }
                }
            }
            Op::Disconnect { pick } => {
                if let Some(stream) = self.pick_stream(*pick) {
                    // The connection the client reads the stream on now, else its last.
                    let connection = self
                        .m
                        .streams
                        .get(&stream)
                        .and_then(|s| s.reading_on)
                        .or_else(|| {
                            self.m
                                .connections
                                .iter()
                                .filter(|(_, c)| c.stream == stream)
                                .map(|(k, _)| *k)
                                .next_back()
                        });
                    if let Some(c) = connection {
                        log.late_disconnect = !self.m.connections[&c].open;
                        let result = self.s.handle_disconnect(c, now);
                        (log.outputs, log.events) = self.drain();
                        assert_eq!(result, Ok(()), "disconnecting a connection it issued");
                        self.m.disconnected(c);
                    }
                }
            }
            Op::LateDisconnect { pick } => {
                if let Some(c) = self.pick_over(*pick) {
                    log.late_disconnect = true;
                    let stream = self.m.connections[&c].stream;
                    if self
                        .m
                        .connections
                        .iter()
                        .any(|(k, o)| *k > c && o.stream == stream)
                    {
                        self.m
                            .notes
                            .push("late disconnect of a replaced connection");
                    }
                    let result = self.s.handle_disconnect(c, now);
                    (log.outputs, log.events) = self.drain();
                    assert_eq!(result, Ok(()), "a late disconnect is no error");
                    self.m.disconnected(c);
                }
            }
            Op::CloseConnection { pick } => {
                if let Some(stream) = self.pick_stream(*pick) {
                    let result = self.s.close_connection(stream, now);
                    (log.outputs, log.events) = self.drain();
                    if check {
                        assert_eq!(
                            result,
                            self.m.close_connection_result(stream),
                            "SRV-PSSE-10: close_connection of {stream:?}"
                        );
                    }
                    if result.is_ok() {
                        self.m.closed_connection(stream);
                    } else if result == Err(UsageError::NotResumable(stream)) {
                        self.m.notes.push("close_connection: not resumable");
                    }
                }
            }
            Op::AdvanceLate(d) => {
                self.m.advanced(*d);
                (log.outputs, log.events) = self.drain();
            }
            Op::Advance(d) => {
                self.m.advanced(*d);
                self.s.handle_timeout(self.m.now);
                (log.outputs, log.events) = self.drain();
                // Checked, the model says which sessions expire; unchecked, it follows the
                // machine, so that the other properties judge the machine alone.
                let due = if check {
                    self.m.due_sessions()
                } else {
                    log.events
                        .iter()
                        .filter_map(|e| match e {
                            ServerEvent::SessionClosed { id, .. } => Some(id.to_string()),
                            _ => None,
                        })
                        .filter(|id| self.m.live.contains_key(id))
                        .collect()
                };
                self.m.timers_ran(due);
            }
        }
        if self.m.salt.is_none() {
            self.m.salt = reads::learn_salt(&log.outputs);
        }
        log.after = snapshot(&self.s, &self.m.ever);
        if check {
            self.assert_agrees(&log);
        }
        if log.late_disconnect {
            // A late disconnect changes nothing: `Ok`, no output, no event, no state.
            assert_eq!(log.before, log.after, "a late disconnect changed state");
            assert!(log.outputs.is_empty() && log.events.is_empty());
        }
        log.notes = std::mem::take(&mut self.m.notes);
        log
    }

    fn request(&mut self, r: &Req, log: &mut StepLog) {
        let now = self.now();
        let check = self.check_model;
        let sess = self.resolve(r.session);
        let n = self.next_id as u64;
        self.next_id += 2;
        let body = if r.method == Meth::Post {
            body_text(&r.body, n)
        } else {
            Bytes::new()
        };
        let class = if r.method == Meth::Post {
            Class::of_bytes(&body)
        } else {
            Class::Parse
        };
        let lei = match (r.method, r.last_event_id) {
            (Meth::Get, Some(v)) => Some(self.resolve_lei(v, &sess)),
            _ => None,
        };
        let position = lei.as_ref().map(|(_, p)| *p);
        let expect = predict(&self.m, r, &sess, &class, body.len(), position);
        let req = build(r, &sess, body, lei.as_ref().map(|(v, _)| v.as_str()));
        let outcome = self.s.handle_request(req, now);
        (log.outputs, log.events) = self.drain();
        let got = match &outcome {
            Outcome::Reject(rej) => Expect::Refuse(rej.refusal),
            Outcome::Accepted(_) => Expect::Accepted,
            Outcome::Dispatch(_) => Expect::Dispatch,
            Outcome::StreamOpened(_) => Expect::Opened,
            Outcome::SessionDeleted(_) => Expect::Deleted,
            Outcome::StreamResumed(o) => Expect::Resumed(o.stream),
            Outcome::FetchSession(f) => panic!("a server without a store parked {f:?}"),
            Outcome::FetchStream(f) => panic!("a server without a store parked {f:?}"),
        };
        if check {
            assert_eq!(
                got, expect,
                "the check table: request {r:?} with session {sess:?}, Last-Event-ID {lei:?}"
            );
            self.assert_response(&outcome);
        }
        log.outcome = Some(got);
        let session_id = match &sess {
            Sess::Id(id, _) if self.m.stateful() => Some(id.clone()),
            _ => None,
        };
        let initialized = class.initialized();
        match &outcome {
            Outcome::Reject(_) => {}
            Outcome::Accepted(_) => self.m.accepted(session_id.as_deref(), initialized),
            Outcome::Dispatch(d) => {
                let initialize = matches!(
                    class,
                    Class::Single {
                        initialize: true,
                        ..
                    }
                );
                if check {
                    let owed: Vec<RequestId> =
                        d.requests().filter_map(|m| m.id().cloned()).collect();
                    assert_eq!(owed, class.requests(), "INV-S11: the requests handed over");
                    assert_eq!(d.session.as_ref().map(|s| s.to_string()), session_id);
                    let governing = session_id
                        .as_ref()
                        .map(|id| self.m.live[id].version)
                        .or(match r.version {
                            VerV::Known(v) => Some(v),
                            _ => None,
                        })
                        .unwrap_or(mcp_http_proto::ProtocolVersion::V2025_03_26);
                    assert_eq!(d.version, governing, "SRV-VER-3: the governing version");
                    // `LIFE-3`: the client asked for 2025-06-18, which is served.
                    let negotiated =
                        initialize.then_some(mcp_http_proto::ProtocolVersion::V2025_06_18);
                    assert_eq!(d.negotiated, negotiated, "LIFE-3: the negotiated version");
                }
                self.m.dispatched(
                    d.stream,
                    d.connection,
                    session_id.clone(),
                    class.requests(),
                    matches!(class, Class::Batch { .. }),
                    initialize,
                    initialized,
                );
            }
            Outcome::StreamOpened(o) => {
                self.m.listening(o.stream, o.connection, o.session.as_str());
                log.opened_standalone = Some(o.stream);
            }
            Outcome::StreamResumed(o) => {
                let (_, after) = position
                    .flatten()
                    .expect("the machine resumed at a position the client named");
                let (replayed, missed) =
                    self.m
                        .resumed(o.stream, o.connection, o.session.as_str(), after);
                if check {
                    assert_eq!(Some(o.session.to_string()), session_id, "SRV-RES-6");
                    assert_eq!(
                        (o.replayed, o.missed),
                        (replayed, missed),
                        "INV-S10: replayed and missed after {after} on {:?}",
                        o.stream
                    );
                }
                log.resumed = Some(Resumption {
                    stream: o.stream,
                    after,
                    replayed: o.replayed,
                });
            }
            Outcome::SessionDeleted(d) => self.m.deleted(d.session.as_str()),
            Outcome::FetchSession(_) | Outcome::FetchStream(_) => {}
        }
        let (refusal, response) = match outcome {
            Outcome::Reject(rej) => (Some(rej.refusal), Some(rej.response)),
            Outcome::Accepted(a) => (None, Some(a.response)),
            Outcome::SessionDeleted(d) => (None, Some(d.response)),
            _ => (None, None),
        };
        log.request = Some((sess, refusal, response));
    }

    /// The response of an outcome that ends the exchange: a refusal's status and code are
    /// the policy's answer to it (`INV-S17`), with `Allow` on 405 and `Retry-After` on the
    /// session cap; 202 is empty (`INV-S4`); DELETE gets the policy's status.
    fn assert_response(&self, outcome: &Outcome) {
        let policy = &self.m.cfg.policy;
        match outcome {
            Outcome::Reject(rej) => {
                let answer = policy.answer(rej.refusal);
                assert_eq!(rej.response.status(), answer.status, "{:?}", rej.refusal);
                let body = error_body(&rej.response);
                assert_eq!(body["error"]["code"], answer.code, "{:?}", rej.refusal);
                let allow = header(&rej.response, "allow");
                match rej.refusal {
                    Refusal::MethodNotAllowed | Refusal::StandaloneStreamDisabled => {
                        assert!(allow.is_some(), "SRV-EP-2: 405 carries Allow")
                    }
                    _ => assert_eq!(allow, None),
                }
                let retry_after = header(&rej.response, "retry-after");
                assert_eq!(retry_after.is_some(), rej.refusal == Refusal::SessionCap);
            }
            Outcome::Accepted(a) => {
                assert_eq!(a.response.status(), 202);
                assert!(a.response.body().is_empty(), "INV-S4: 202 has no body");
            }
            Outcome::SessionDeleted(d) => {
                assert_eq!(d.response.status(), policy.delete_status);
            }
            _ => {}
        }
        if let Some(r) = outcome.response() {
            assert!(
                r.headers().get(SESSION_HEADER).is_none(),
                "INV-S1: no session id outside the InitializeResult's head"
            );
        }
    }

    fn assert_agrees(&self, log: &StepLog) {
        let m = &self.m;
        let after = &log.after;
        // Sessions as the client knows them.
        let live: Vec<&String> = m.live.keys().collect();
        let got: Vec<String> = after.records.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), live, "the live sessions");
        for r in &after.records {
            let s = &m.live[r.id.as_str()];
            assert_eq!(
                r.protocol_version, s.version,
                "INV-S18: version of {}",
                r.id
            );
            assert_eq!(
                r.initialized, s.initialized,
                "LIFE-5: initialized of {}",
                r.id
            );
        }
        for (id, listening) in &after.listening {
            assert_eq!(*listening, m.live[id].listening, "the GET stream of {id}");
        }
        // INV-S2: no dead id is live again.
        for id in &m.dead {
            assert!(self.s.session(&sid(id)).is_none(), "INV-S2: {id} came back");
        }
        assert_eq!(after.session_count, m.live.len());
        assert_eq!(after.stream_count, m.streams.len(), "the open streams");
        // Where the client reads each stream now.
        for (stream, connection) in &after.connections {
            let want = m.streams.get(stream).and_then(|s| s.reading_on);
            assert_eq!(*connection, want, "the connection of {stream:?}");
        }
        assert_eq!(
            after.timeout,
            m.next_timeout(),
            "SRV-SESS-6: the next timeout and its reason"
        );
        // What each connection read, in order.
        let salt = m.salt.clone().unwrap_or_default();
        let (got, streams) = observe(&log.outputs);
        let want: std::collections::BTreeMap<ConnectionId, Vec<String>> = m
            .reads
            .iter()
            .map(|(c, reads)| (*c, reads.iter().map(|r| r.render(&salt)).collect()))
            .collect();
        assert_eq!(got, want, "what each connection read");
        for (c, stream) in streams {
            assert_eq!(m.connections[&c].stream, stream, "the stream of {c:?}");
        }
        // The server's requests the client has not answered (`SRV-PSSE-2`).
        let mut sessions: Vec<Option<String>> = m.live.keys().cloned().map(Some).collect();
        sessions.push(None);
        for session in sessions {
            let mut got: Vec<(String, StreamId)> = self
                .s
                .pending_requests(session.as_deref().map(sid).as_ref())
                .map(|p| (format!("{:?}", p.id), p.stream))
                .collect();
            got.sort();
            let mut want: Vec<(String, StreamId)> = m
                .asked
                .iter()
                .filter(|a| a.session == session)
                .map(|a| (format!("{:?}", a.id), a.stream))
                .collect();
            want.sort();
            assert_eq!(
                got, want,
                "the server's requests awaiting the client in {session:?}"
            );
        }
        let key = |e: &ServerEvent| format!("{e:?}");
        let mut got = log.events.clone();
        got.sort_by_key(key);
        let mut want = m.events.clone();
        want.sort_by_key(key);
        assert_eq!(got, want, "the session events");
    }
}
