//! The reference model: the server as a client observes it.
//!
//! It knows what a client can know: the sessions it was given (live, or dead for good),
//! their negotiated version and whether it sent `initialized`; the streams it reads (the
//! reply to each POST, its GET stream), the connection it reads each on now and which of
//! its connections are over; the answers it is still owed; the event ids it saw, and what
//! it could still resume with them and until when; the server's requests it has not
//! answered yet. From these it predicts, for every input, what each connection reads
//! (heads, SSE frames, JSON bodies, ends), the session events, and when the server next
//! needs its timer and why. It never looks at the machine's state.
//!
//! | file | holds |
//! | --- | --- |
//! | `mod.rs` | [`Model`]: sessions, streams, connections, and what each input makes the client read |
//! | `checks.rs` | the check table (steps 1..12) restated over the model: the outcome of a request |
//! | `replay.rs` | [`Frame`] and [`ReplayLog`]: what a client could still replay of a stream |
//! | `reads.rs` | [`Read`]: what one connection carries, and how the machine's outputs are read |
//! | `alphabet.rs` | the generated operations and how a request is built |
//! | `harness.rs` | [`harness::World`]: drives a `Server` and the model side by side, and compares |

pub mod alphabet;
pub mod checks;
pub mod harness;
pub mod reads;
pub mod replay;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{
    AbandonReason, CloseReason, ConnectionId, PendingRequest, Refusal, ReplayLimits, ReplyMode,
    ServerConfig, ServerEvent, SessionMode, SessionRecord, StreamId, Timeout, TimeoutReason,
    UsageError,
};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::RequestId;

pub use reads::Read;
pub use replay::{Frame, ReplayLog};

/// A session as the client knows it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The version of the `InitializeResult` that created it (`INV-S18`: never changes).
    pub version: ProtocolVersion,
    /// The client sent `notifications/initialized` (`LIFE-5`, `INV-S16`).
    pub initialized: bool,
    /// The last moment the client was active in it, or one of its streams ended, or the
    /// server closed its GET connection: its idle clock runs from here (`SRV-SESS-6`).
    pub active_at: Instant,
    /// The GET stream the client listens on (read now, or closed early and resumable).
    pub listening: Option<StreamId>,
    /// Its finished replies the client could still resume, oldest first.
    pub finished: VecDeque<StreamId>,
}

/// What a stream carries for the client.
#[derive(Debug, Clone)]
pub enum Carries {
    /// The reply to a POST: the answers owed, in body order (`INV-S11`).
    Reply {
        owed: Vec<RequestId>,
        /// JSON reply mode: the answers given so far, sent as one body at the end.
        answers: Vec<String>,
        batch: bool,
        initialize: bool,
    },
    /// The GET stream: server-initiated messages only (`INV-S7`).
    Listen,
}

/// The ids a resumable stream's events carry, and what the client could replay.
#[derive(Debug, Clone)]
pub struct Ids {
    pub next_seq: u64,
    /// 2025-11-25: a priming event first, and the server may close the connection early.
    pub priming: bool,
    pub log: ReplayLog,
}

/// A stream as the client sees it.
#[derive(Debug, Clone)]
pub struct Stream {
    pub session: Option<String>,
    pub carries: Carries,
    /// The connection the client reads it on now; none after a disconnect or an early
    /// close.
    pub reading_on: Option<ConnectionId>,
    /// The response head went out: the reply has begun.
    pub begun: bool,
    /// Messages sent before the head could go (an `initialize` reply waits for its
    /// answer, which may mint the session): the client reads them right after the head.
    pub after_head: Vec<Frame>,
    /// Present when its events carry ids (`SRV-RES-1`).
    pub ids: Option<Ids>,
}

impl Stream {
    pub fn is_initialize(&self) -> bool {
        matches!(
            self.carries,
            Carries::Reply {
                initialize: true,
                ..
            }
        )
    }

    pub fn is_listen(&self) -> bool {
        matches!(self.carries, Carries::Listen)
    }

    pub fn owed(&self) -> &[RequestId] {
        match &self.carries {
            Carries::Reply { owed, .. } => owed,
            Carries::Listen => &[],
        }
    }
}

/// A finished reply the client could still resume, until its last event is too old.
#[derive(Debug, Clone)]
pub struct Finished {
    pub session: String,
    pub log: ReplayLog,
    pub next_seq: u64,
    pub until: Instant,
}

/// One of the client's connections.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub stream: StreamId,
    /// The client still reads it; once over, nothing reaches it again.
    pub open: bool,
}

/// A server-to-client request the client has not answered.
#[derive(Debug, Clone)]
pub struct Asked {
    pub session: Option<String>,
    pub id: RequestId,
    pub stream: StreamId,
}

/// The model. See the module docs.
#[derive(Debug)]
pub struct Model {
    pub cfg: ServerConfig,
    pub now: Instant,
    pub live: BTreeMap<String, Session>,
    /// Ended sessions, in the order they ended: never live again (`INV-S2`).
    pub dead: Vec<String>,
    pub streams: BTreeMap<StreamId, Stream>,
    pub finished: BTreeMap<StreamId, Finished>,
    pub connections: BTreeMap<ConnectionId, Connection>,
    /// Every stream the client ever read, in order, and its session if it had one.
    pub ever: Vec<StreamId>,
    pub stream_session: BTreeMap<StreamId, String>,
    /// The version of every session that ever was.
    pub versions: BTreeMap<String, ProtocolVersion>,
    /// The machine's event-id salt, once the client read an id.
    pub salt: Option<String>,
    /// Every event id the client read: (session, stream, seq).
    pub seen: BTreeSet<(String, StreamId, u64)>,
    pub asked: Vec<Asked>,
    /// What this step makes each connection read, in order.
    pub reads: BTreeMap<ConnectionId, Vec<Read>>,
    /// The events this step makes the server report.
    pub events: Vec<ServerEvent>,
    /// What this step reached, for the coverage test.
    pub notes: Vec<&'static str>,
}

impl Model {
    pub fn new(cfg: ServerConfig, now: Instant) -> Self {
        Self {
            cfg,
            now,
            live: BTreeMap::new(),
            dead: Vec::new(),
            streams: BTreeMap::new(),
            finished: BTreeMap::new(),
            connections: BTreeMap::new(),
            ever: Vec::new(),
            stream_session: BTreeMap::new(),
            versions: BTreeMap::new(),
            salt: None,
            seen: BTreeSet::new(),
            asked: Vec::new(),
            reads: BTreeMap::new(),
            events: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn stateful(&self) -> bool {
        self.cfg.session_mode == SessionMode::Stateful
    }

    pub fn sse(&self) -> bool {
        self.cfg.reply_mode == ReplyMode::Sse
    }

    pub fn limits(&self) -> ReplayLimits {
        self.cfg.replay.unwrap_or_default()
    }

    pub fn retry_ms(&self) -> u64 {
        u64::try_from(self.cfg.sse_retry.as_millis()).unwrap()
    }

    /// The JSON-RPC code of the 404 a stream cut short by the end of its session gets.
    fn gone_code(&self) -> i64 {
        self.cfg.policy.answer(Refusal::UnknownSession).code.into()
    }

    fn read(&mut self, connection: ConnectionId, read: Read) {
        self.reads.entry(connection).or_default().push(read);
    }

    /// Starts a step: nothing read, no event yet.
    pub fn begin_step(&mut self) {
        self.reads.clear();
        self.events.clear();
        self.notes.clear();
    }

    // ----- sessions and time -----

    /// `SRV-SESS-6`: a session does not idle while a request of it is unanswered or the
    /// client reads its GET stream; otherwise it expires `session_idle_timeout` after
    /// it was last active.
    pub fn idle_deadline(&self, id: &str) -> Option<Instant> {
        let s = self.live.get(id)?;
        let held = self.streams.values().any(|st| {
            st.session.as_deref() == Some(id) && (!st.is_listen() || st.reading_on.is_some())
        });
        let timeout = self.cfg.session_idle_timeout?;
        (!held).then(|| s.active_at + timeout)
    }

    /// A session is live for a request at `now` until its idle deadline, timer or not
    /// (`INV-S2`).
    pub fn is_live(&self, id: &str) -> bool {
        self.live.contains_key(id) && self.idle_deadline(id).is_none_or(|at| at > self.now)
    }

    /// The next timeout the server announces: the earliest idle deadline or end of a
    /// finished reply's replay window, the idle deadline first when equal.
    pub fn next_timeout(&self) -> Option<Timeout> {
        let idle = self
            .live
            .keys()
            .filter_map(|id| self.idle_deadline(id))
            .min()
            .map(|at| Timeout {
                at,
                reason: TimeoutReason::SessionIdle,
            });
        let replay = self
            .finished
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

    fn active(&mut self, id: &str) {
        let now = self.now;
        if let Some(s) = self.live.get_mut(id) {
            s.active_at = s.active_at.max(now);
        }
    }

    /// `initialize` requests whose answer has not come yet: they count toward the cap
    /// (step 11).
    pub fn initializes_unanswered(&self) -> usize {
        self.streams
            .values()
            .filter(|s| s.is_initialize() && s.session.is_none())
            .count()
    }

    /// `LIFE-5`: `notifications/initialized` arrived; the record's change is an event.
    fn initialized(&mut self, id: &str) {
        let s = self.live.get_mut(id).expect("a live session");
        if !s.initialized {
            s.initialized = true;
            let record = SessionRecord {
                id: SessionId::new(id).unwrap(),
                protocol_version: s.version,
                initialized: true,
                standalone: None,
            };
            self.events.push(ServerEvent::SessionUpdated { record });
        }
    }

    /// The session ends (`INV-S2`): its streams end, what the client read on them is
    /// over, nothing of it can be resumed, and the server's requests in it are abandoned.
    pub fn end_session(&mut self, id: &str, reason: CloseReason) {
        let session = self.live.remove(id).expect("a live session");
        self.dead.push(id.to_owned());
        self.abandon(
            |a| a.session.as_deref() == Some(id),
            AbandonReason::SessionClosed,
        );
        let streams: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| s.session.as_deref() == Some(id))
            .map(|(k, _)| *k)
            .collect();
        for stream in streams {
            self.end_stream(stream);
        }
        for stream in session.finished {
            self.finished.remove(&stream);
        }
        self.events.push(ServerEvent::SessionClosed {
            id: SessionId::new(id).unwrap(),
            reason,
        });
    }

    fn abandon(&mut self, gone: impl Fn(&Asked) -> bool, reason: AbandonReason) {
        let (out, keep): (Vec<Asked>, Vec<Asked>) = std::mem::take(&mut self.asked)
            .into_iter()
            .partition(|a| gone(a));
        self.asked = keep;
        for a in out {
            self.events.push(ServerEvent::RequestAbandoned {
                session: a.session.map(|s| SessionId::new(&s).unwrap()),
                request: PendingRequest {
                    id: a.id,
                    method: "sampling/createMessage".into(),
                    stream: a.stream,
                },
                reason,
            });
        }
    }

    // ----- streams -----

    fn open_connection(&mut self, connection: ConnectionId, stream: StreamId) {
        assert!(
            !self.connections.contains_key(&connection),
            "a fresh connection handle: {connection:?}"
        );
        self.connections
            .insert(connection, Connection { stream, open: true });
    }

    fn close_connection_handle(&mut self, connection: ConnectionId) {
        if let Some(c) = self.connections.get_mut(&connection) {
            c.open = false;
        }
    }

    /// `SRV-RES-1`: an SSE stream of a live session whose version has resumability
    /// (2025-03-26 to 2025-11-25), with replay on, numbers its events; 2025-11-25 also
    /// primes them (`SRV-PSSE-9`).
    fn maybe_resumable(&mut self, stream: StreamId) {
        let st = &self.streams[&stream];
        let version = st
            .session
            .as_ref()
            .and_then(|id| self.live.get(id))
            .map(|s| s.version);
        if st.ids.is_some() || !(st.is_listen() || self.sse()) || self.cfg.replay.is_none() {
            return;
        }
        let Some(version) = version else { return };
        use ProtocolVersion as V;
        if !matches!(version, V::V2025_03_26 | V::V2025_06_18 | V::V2025_11_25) {
            return;
        }
        self.streams.get_mut(&stream).unwrap().ids = Some(Ids {
            next_seq: 0,
            priming: version == V::V2025_11_25,
            log: ReplayLog::default(),
        });
    }

    /// A frame reaches the connection the client reads the stream on: it sees its id.
    fn deliver(&mut self, stream: StreamId, connection: ConnectionId, frame: Frame) {
        if let (Some((s, seq)), Some(session)) = (frame.id(), self.stream_session.get(&stream)) {
            self.seen.insert((session.clone(), s, seq));
        }
        self.read(connection, Read::Data(frame));
    }

    /// The SSE head (with the session id on the reply that minted it, `INV-S1`), the
    /// priming event where the client understands one (`INV-S12`), then what waited.
    fn begin_sse(&mut self, stream: StreamId) {
        let retry = self.retry_ms();
        let st = self.streams.get_mut(&stream).unwrap();
        st.begun = true;
        let priming = match &mut st.ids {
            Some(ids) if ids.priming => {
                let seq = ids.next_seq;
                ids.next_seq += 1;
                Some(Frame::Priming {
                    id: (stream, seq),
                    retry,
                })
            }
            _ => None,
        };
        let waited = std::mem::take(&mut st.after_head);
        let session = st.session.clone().filter(|_| st.is_initialize());
        if let Some(c) = st.reading_on {
            self.read(c, Read::Head(reads::Head::sse(session)));
            for frame in priming.into_iter().chain(waited) {
                self.deliver(stream, c, frame);
            }
        }
    }

    /// One message on an SSE stream: numbered and kept when resumable, after the head,
    /// read only where the client reads the stream now.
    fn write(&mut self, stream: StreamId, json: String) {
        let limits = self.limits();
        let now = self.now;
        let st = self.streams.get_mut(&stream).unwrap();
        let frame = match &mut st.ids {
            Some(ids) => {
                let seq = ids.next_seq;
                ids.next_seq += 1;
                let frame = Frame::Message {
                    id: Some((stream, seq)),
                    json,
                };
                let lost = ids.log.keep(seq, frame.clone(), now, &limits);
                if lost.by_age {
                    self.notes.push("evicted by age");
                }
                if lost.by_size {
                    self.notes.push("evicted by size");
                }
                frame
            }
            None => Frame::Message { id: None, json },
        };
        if !st.begun {
            st.after_head.push(frame);
        } else if let Some(c) = st.reading_on {
            self.deliver(stream, c, frame);
        }
    }

    /// A stream ends: its connection reads the end (after a complete 404 when its reply
    /// never began); a finished reply (not `initialize`'s) of a live session with events left stays
    /// resumable until its newest event is `max_age` old, at most
    /// `max_finished_streams` per session (`SRV-RES-5`).
    fn end_stream(&mut self, stream: StreamId) {
        let st = self.streams.remove(&stream).unwrap();
        if let Some(c) = st.reading_on {
            if !st.begun {
                let code = self.gone_code();
                self.read(c, Read::Head(reads::Head::gone()));
                self.read(c, Read::Data(Frame::Error(code)));
            }
            self.read(c, Read::End);
            self.close_connection_handle(c);
        }
        // Session-less requests it carried (stateless mode) can be answered no more.
        self.abandon(
            |a| a.session.is_none() && a.stream == stream,
            AbandonReason::StreamEnded,
        );
        let Some(id) = st.session.clone() else { return };
        let Some(s) = self.live.get_mut(&id) else {
            return;
        };
        if s.listening == Some(stream) {
            s.listening = None;
        }
        self.active(&id);
        // A listen stream, and an `initialize` reply, are not kept for replay.
        if st.is_listen() || st.is_initialize() {
            return;
        }
        let Some(ids) = st.ids else { return };
        let Some(until) = ids.log.empty_at(&self.limits()) else {
            return;
        };
        self.finished.insert(
            stream,
            Finished {
                session: id.clone(),
                log: ids.log,
                next_seq: ids.next_seq,
                until,
            },
        );
        let max = self.limits().max_finished_streams;
        let s = self.live.get_mut(&id).unwrap();
        s.finished.push_back(stream);
        let mut gone = Vec::new();
        while s.finished.len() > max {
            gone.extend(s.finished.pop_front());
        }
        if !gone.is_empty() {
            self.notes
                .push("finished stream dropped by max_finished_streams");
        }
        for old in gone {
            self.finished.remove(&old);
        }
    }

    fn register(&mut self, stream: StreamId, connection: ConnectionId, st: Stream) {
        if let Some(id) = &st.session {
            self.stream_session.insert(stream, id.clone());
        }
        assert!(
            !self.ever.contains(&stream),
            "a fresh stream handle: {stream:?}"
        );
        self.ever.push(stream);
        self.streams.insert(stream, st);
        self.open_connection(connection, stream);
    }

    // ----- what the client sends -----

    /// 202 to a POST of notifications and responses (`SRV-POST-7`, `INV-S4`).
    pub fn accepted(&mut self, session: Option<&str>, initialized: bool) {
        if let Some(id) = session {
            self.active(id);
            if initialized {
                self.initialized(id);
            }
        }
    }

    /// A POST with requests: the client reads the reply on `connection`; it is owed one
    /// answer per request (`INV-S11`). In SSE mode the head goes at once, but for
    /// `initialize`, whose head waits for the answer that may mint the session.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatched(
        &mut self,
        stream: StreamId,
        connection: ConnectionId,
        session: Option<String>,
        owed: Vec<RequestId>,
        batch: bool,
        initialize: bool,
        initialized: bool,
    ) {
        if let Some(id) = &session {
            self.active(id);
            if initialized {
                self.initialized(id);
            }
        }
        self.register(
            stream,
            connection,
            Stream {
                session,
                carries: Carries::Reply {
                    owed,
                    answers: Vec::new(),
                    batch,
                    initialize,
                },
                reading_on: Some(connection),
                begun: false,
                after_head: Vec::new(),
                ids: None,
            },
        );
        self.maybe_resumable(stream);
        if self.sse() && !initialize {
            self.begin_sse(stream);
        }
    }

    /// A GET opened the session's stream (`SRV-GET-4`); a GET stream the server closed
    /// early is replaced by it.
    pub fn listening(&mut self, stream: StreamId, connection: ConnectionId, session: &str) {
        self.active(session);
        if let Some(old) = self.live[session].listening {
            if self.streams.contains_key(&old) {
                self.end_stream(old);
                self.notes.push("detached standalone stream replaced");
            }
        }
        self.register(
            stream,
            connection,
            Stream {
                session: Some(session.to_owned()),
                carries: Carries::Listen,
                reading_on: Some(connection),
                begun: false,
                after_head: Vec::new(),
                ids: None,
            },
        );
        self.live.get_mut(session).unwrap().listening = Some(stream);
        self.maybe_resumable(stream);
        self.begin_sse(stream);
    }

    /// Where a `Last-Event-ID` naming `stream` could resume: its session, the first
    /// position not reached, and whether the client reads it now. A finished reply past
    /// its window is gone, timer or not.
    pub fn resume_point(&self, stream: StreamId) -> Option<(&str, u64, bool)> {
        if let Some(st) = self.streams.get(&stream) {
            let ids = st.ids.as_ref()?;
            return Some((
                st.session.as_deref()?,
                ids.next_seq,
                st.reading_on.is_some(),
            ));
        }
        let f = self.finished.get(&stream)?;
        (f.until > self.now).then_some((f.session.as_str(), f.next_seq, false))
    }

    /// GET + `Last-Event-ID` (`SRV-RES-5`, `INV-S10`): the client reads `stream` on
    /// `connection` now: a head, the events after `after` still kept, then the live
    /// stream or, for a finished reply, the end. Returns (replayed, missed).
    pub fn resumed(
        &mut self,
        stream: StreamId,
        connection: ConnectionId,
        session: &str,
        after: u64,
    ) -> (usize, u64) {
        self.active(session);
        let limits = self.limits();
        let now = self.now;
        let (frames, missed, finished) = if let Some(st) = self.streams.get_mut(&stream) {
            st.reading_on = Some(connection);
            let ids = st.ids.as_mut().expect("a resumable stream");
            ids.log.forget_old(now, &limits);
            let (frames, missed) = ids.log.after(after);
            (frames, missed, false)
        } else {
            let f = self.finished.get_mut(&stream).expect("kept for replay");
            f.log.forget_old(now, &limits);
            let (frames, missed) = f.log.after(after);
            (frames, missed, true)
        };
        self.open_connection(connection, stream);
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
        self.read(connection, Read::Head(reads::Head::sse(None)));
        let replayed = frames.len();
        for frame in frames {
            self.deliver(stream, connection, frame);
        }
        if finished {
            self.read(connection, Read::End);
            self.close_connection_handle(connection);
        }
        (replayed, missed)
    }

    /// DELETE (`SRV-SESS-9`).
    pub fn deleted(&mut self, session: &str) {
        if self.live[session]
            .finished
            .iter()
            .any(|s| self.finished.contains_key(s))
        {
            self.notes
                .push("deleted a session with finished streams kept");
        }
        self.end_session(session, CloseReason::Deleted);
    }

    /// The client's `connection` went away. The connection it reads a stream on now:
    /// the GET stream ends; a reply goes on taking its answers (`SRV-PSSE-6`,
    /// `INV-S15`), kept for a resumption when it is resumable. A connection that is
    /// over already changes nothing.
    pub fn disconnected(&mut self, connection: ConnectionId) {
        let Some(c) = self.connections.get(&connection).copied() else {
            return;
        };
        if !c.open {
            return;
        }
        self.close_connection_handle(connection);
        let Some(st) = self.streams.get_mut(&c.stream) else {
            return;
        };
        if st.reading_on != Some(connection) {
            return;
        }
        st.reading_on = None;
        if st.is_listen() {
            self.end_stream(c.stream);
        }
    }

    // ----- what the application does -----

    /// Whether `send` of a notification or (non-ping) request on `stream` succeeds: not on
    /// an ended stream; a JSON reply carries answers only; requests wait for
    /// `initialized` and never go on an `initialize` reply (`INV-S16`).
    pub fn send_result(&self, stream: StreamId, is_request: bool) -> Result<(), UsageError> {
        let Some(st) = self.streams.get(&stream) else {
            return Err(UsageError::StreamClosed(stream));
        };
        if !st.is_listen() && !self.sse() {
            return Err(UsageError::JsonReplyCarriesResponsesOnly);
        }
        let initialized = st
            .session
            .as_ref()
            .and_then(|id| self.live.get(id))
            .is_none_or(|s| s.initialized);
        if is_request && (st.is_initialize() || !initialized) {
            return Err(UsageError::NotInitialized);
        }
        Ok(())
    }

    /// A notification or server request went out on `stream` (`INV-S8`: that stream
    /// only).
    pub fn sent(&mut self, stream: StreamId, json: String, request: Option<RequestId>) {
        if let Some(id) = request {
            let session = self.streams[&stream].session.clone();
            self.asked.push(Asked {
                session,
                id,
                stream,
            });
        }
        self.write(stream, json);
    }

    /// The application answers the first owed request of `stream`. `minted`: the answer
    /// to `initialize` was a successful InitializeResult and made this session
    /// (`INV-S1`). When the last answer is given the stream ends (`SRV-PSSE-5`).
    pub fn answered(
        &mut self,
        stream: StreamId,
        json: String,
        minted: Option<(String, ProtocolVersion)>,
    ) {
        if let Some((id, version)) = minted {
            self.events.push(ServerEvent::SessionCreated {
                id: SessionId::new(&id).unwrap(),
                version,
            });
            self.live.insert(
                id.clone(),
                Session {
                    version,
                    initialized: false,
                    active_at: self.now,
                    listening: None,
                    finished: VecDeque::new(),
                },
            );
            self.versions.insert(id.clone(), version);
            self.stream_session.insert(stream, id.clone());
            self.streams.get_mut(&stream).unwrap().session = Some(id);
            self.maybe_resumable(stream);
        }
        let sse = self.sse();
        let st = self.streams.get_mut(&stream).unwrap();
        if st.reading_on.is_none() {
            self.notes.push("answered while detached");
        }
        let Carries::Reply {
            owed,
            answers,
            batch,
            ..
        } = &mut st.carries
        else {
            unreachable!("answers go on replies")
        };
        owed.remove(0);
        let done = owed.is_empty();
        if sse {
            if !st.begun {
                self.begin_sse(stream);
            }
            self.write(stream, json);
        } else {
            answers.push(json);
            if done {
                let body = if *batch {
                    format!("[{}]", answers.join(","))
                } else {
                    answers[0].clone()
                };
                st.begun = true;
                let session = st.session.clone().filter(|_| st.is_initialize());
                if let Some(c) = st.reading_on {
                    self.read(c, Read::Head(reads::Head::json(session)));
                    self.read(c, Read::Data(Frame::Json(body)));
                }
            }
        }
        if done {
            self.end_stream(stream);
        }
    }

    /// Whether the server may close `stream`'s connection early (`SRV-PSSE-10`): only a
    /// resumable stream of a 2025-11-25 session whose head (and priming event) went out.
    pub fn close_connection_result(&self, stream: StreamId) -> Result<(), UsageError> {
        match self.streams.get(&stream) {
            None => Err(UsageError::StreamClosed(stream)),
            Some(st) if !(st.begun && st.ids.as_ref().is_some_and(|i| i.priming)) => {
                Err(UsageError::NotResumable(stream))
            }
            Some(_) => Ok(()),
        }
    }

    /// The server closed the connection early: a `retry`, then the end (`SRV-PSSE-12`,
    /// `INV-S12`). A GET stream so closed no longer keeps its session from idling.
    pub fn closed_connection(&mut self, stream: StreamId) {
        let retry = self.retry_ms();
        let st = self.streams.get_mut(&stream).unwrap();
        let Some(c) = st.reading_on.take() else {
            return;
        };
        let listen = st.is_listen();
        let session = st.session.clone();
        self.read(c, Read::Data(Frame::Retry(retry)));
        self.read(c, Read::End);
        self.close_connection_handle(c);
        self.notes.push("connection closed early");
        if listen {
            if let Some(id) = session {
                self.active(&id);
            }
        }
    }

    /// Time passes (the driver's timer may be late).
    pub fn advanced(&mut self, d: std::time::Duration) {
        self.now += d;
    }

    /// The sessions whose idle deadline has come (`SRV-SESS-6`).
    pub fn due_sessions(&self) -> Vec<String> {
        self.live
            .keys()
            .filter(|id| self.idle_deadline(id).is_some_and(|at| at <= self.now))
            .cloned()
            .collect()
    }

    /// The machine's timer runs: the `due` sessions end, and finished replies past their
    /// window can no longer be resumed.
    pub fn timers_ran(&mut self, due: Vec<String>) {
        for id in due {
            self.end_session(&id, CloseReason::Expired);
        }
        let past: Vec<StreamId> = self
            .finished
            .iter()
            .filter(|(_, f)| f.until <= self.now)
            .map(|(k, _)| *k)
            .collect();
        if !past.is_empty() {
            self.notes.push("replay window passed");
        }
        for stream in past {
            let f = self.finished.remove(&stream).unwrap();
            if let Some(s) = self.live.get_mut(&f.session) {
                s.finished.retain(|&x| x != stream);
            }
        }
    }

    /// The version of the session a stream belongs to, if it has one.
    pub fn version_of_stream(&self, stream: StreamId) -> Option<ProtocolVersion> {
        self.stream_session
            .get(&stream)
            .and_then(|id| self.versions.get(id))
            .copied()
    }
}
