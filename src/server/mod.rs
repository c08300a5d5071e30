//! The server machine.
//!
//! ```text
//!            handle_request(req, now)
//!                     │ the pipeline's checks 1..12 (pipeline.rs); a refusal changes nothing
//!      ┌──────────────┼─────────────────┬────────────────────┬──────────────┐
//!    Reject        Accepted          Dispatch             StreamOpened   SessionDeleted
//!  (4xx/5xx)  (202: notifications  (requests: a stream   (GET: the       (DELETE: 200,
//!             and responses for    whose replies the app   standalone     its streams
//!             the application)     gives with `send`)      stream)        end)
//!
//!   POST stream:  Open ──send(response)…──▶ all requests answered ──▶ End
//!                 (head at once in SSE mode; for `initialize`, with the response,
//!                  which mints the session when it is a successful InitializeResult)
//! ```
//!
//! The machine is a façade over components that own their state:
//!
//! | file | owns |
//! | --- | --- |
//! | `pipeline.rs` | the ordered checks: a pure function over a read-only view |
//! | `era.rs` | the era classifier: which rules govern a request |
//! | `refusal.rs` | the refusal table and the policy that answers each refusal |
//! | `sessions.rs` | the session table: every live session and everything it holds |
//! | `streams.rs` | open and retained streams, their replay, what they write |
//! | `connections.rs` | connections and their output queues |
//! | `outstanding.rs` | server-to-client requests and the pairing of answers |
//! | `replay.rs` | event ids and bounded replay buffers |
//! | `reply.rs` | the complete responses the machine builds |
//! | `outcome.rs` | what the machine hands out |
//! | `config.rs` | the configuration |
//! | `error.rs` | the caller's misuse |
//!
//! Outputs are per connection: see the crate docs for the driver contract.

mod config;
mod connections;
mod era;
mod error;
mod outcome;
mod outstanding;
mod pipeline;
mod refusal;
mod replay;
mod reply;
mod sessions;
mod streams;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, StatusCode, request};

pub use crate::handle::{ConnectionId, StreamId};
pub use config::{OriginPolicy, ReplayLimits, ReplyMode, ServerConfig, SessionMode};
pub use error::UsageError;
pub use outcome::{
    AbandonReason, Accepted, CloseReason, Dispatch, Outcome, Output, ServerEvent, SessionDeleted,
    StreamEvent, StreamOpened, StreamResumed, Timeout, TimeoutReason,
};
pub use outstanding::{Answered, PendingRequest};
pub use refusal::{Answer, Policy, Refusal, Reject};
pub use sessions::SessionRecord;

use crate::entropy::Entropy;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{self, Body, Message, MessageKind, RequestId};
use connections::Connections;
use outstanding::Outstanding;
use pipeline::{Checked, View};
use replay::EventIds;
use sessions::Sessions;
use streams::{Slot, StreamKind, Streams};

/// The server side of the Streamable HTTP transport, as a state machine.
///
/// Method groups, in the order a driver uses them:
/// - constructors: [`new`](Self::new) (the OS CSPRNG), [`with_entropy`](Self::with_entropy);
/// - inputs: [`check_head`](Self::check_head) (optional, from the head alone),
///   [`handle_request`](Self::handle_request), [`send`](Self::send),
///   [`request`](Self::request), [`finish_request`](Self::finish_request),
///   [`close_connection`](Self::close_connection),
///   [`handle_disconnect`](Self::handle_disconnect), [`handle_timeout`](Self::handle_timeout),
///   [`terminate_session`](Self::terminate_session),
///   [`restore_session`](Self::restore_session), [`forget_request`](Self::forget_request);
/// - outputs, drained after every input: [`poll_ready`](Self::poll_ready) and
///   [`poll_connection`](Self::poll_connection) (per connection), or
///   [`poll_output`](Self::poll_output) (any connection); [`poll_event`](Self::poll_event);
///   then [`poll_timeout`](Self::poll_timeout);
/// - getters: [`config`](Self::config), [`max_body_bytes`](Self::max_body_bytes),
///   [`session`](Self::session), [`sessions`](Self::sessions),
///   [`session_count`](Self::session_count), [`stream_count`](Self::stream_count),
///   [`standalone_stream`](Self::standalone_stream), [`connection`](Self::connection),
///   [`pending_requests`](Self::pending_requests).
pub struct Server {
    config: ServerConfig,
    entropy: Box<dyn Entropy>,
    /// This machine's event-id prefix, given to every session it mints or restores.
    events: EventIds,
    sessions: Sessions,
    streams: Streams,
    connections: Connections,
    /// Server-to-client requests sent without a session (stateless mode, or on the
    /// `initialize` stream).
    sessionless: Outstanding,
    events_out: VecDeque<ServerEvent>,
    /// Request ids minted so far.
    requests_minted: u64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("sessions", &self.sessions.len())
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server drawing session ids from the operating system's CSPRNG.
    #[cfg(feature = "os-rng")]
    pub fn new(config: ServerConfig) -> Self {
        Self::with_entropy(config, Box::new(crate::entropy::OsEntropy))
    }

    /// A server drawing session ids from `entropy`.
    pub fn with_entropy(config: ServerConfig, mut entropy: Box<dyn Entropy>) -> Self {
        // The event-id salt tells this machine's ids from another's (`SRV-RES-3`).
        let mut salt = [0u8; 4];
        entropy.fill(&mut salt);
        Self {
            events: EventIds::new(salt),
            sessions: Sessions::new(config.session_idle_timeout),
            streams: Streams::new(
                config.sse_retry,
                config.replay.unwrap_or_default(),
                config.policy.answer(Refusal::UnknownSession),
            ),
            config,
            entropy,
            connections: Connections::default(),
            sessionless: Outstanding::default(),
            events_out: VecDeque::new(),
            requests_minted: 0,
        }
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The largest body to read, in bytes. A driver reads at most this many plus one, so
    /// that an oversized body without `Content-Length` is still refused with 413.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    /// A live session's record.
    pub fn session(&self, id: &SessionId) -> Option<&SessionRecord> {
        self.sessions.get(id).map(|e| e.record())
    }

    /// Every live session's record, in no particular order.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionRecord> {
        self.sessions.records()
    }

    /// How many sessions are live.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// How many streams are open (attached or not).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The session's open standalone stream, where server-initiated messages that relate
    /// to no request go (`SRV-GET-4`, `SRV-MULTI-2`).
    pub fn standalone_stream(&self, id: &SessionId) -> Option<StreamId> {
        self.sessions.get(id).and_then(|e| e.standalone())
    }

    /// The connection a stream writes to now, if one is attached.
    pub fn connection(&self, stream: StreamId) -> Option<ConnectionId> {
        self.streams.get(stream).and_then(|s| s.connection())
    }

    /// The server-to-client requests of a session (`None`: the session-less table) still
    /// awaiting their answer, in no particular order.
    pub fn pending_requests(
        &self,
        session: Option<&SessionId>,
    ) -> impl Iterator<Item = &PendingRequest> {
        let table = match session {
            Some(id) => self.sessions.get(id).map(|e| e.outstanding()),
            None => Some(&self.sessionless),
        };
        table.into_iter().flat_map(Outstanding::iter)
    }

    // ----- inputs -----

    /// Runs the checks that need only the request head (steps 1 to 8, but the
    /// session-less POST case, which needs to know whether the body is `initialize`).
    /// A driver calls it before reading the body, to refuse early (413, 403, 405 ...).
    /// Read-only: passing it changes nothing, and `handle_request` runs every check again.
    pub fn check_head(&self, head: &request::Parts) -> Option<Reject> {
        pipeline::check(self.view(), head, None, None).err()
    }

    /// Handles one complete request. The body is the whole body as read (at most
    /// [`max_body_bytes`](Self::max_body_bytes) + 1 bytes).
    ///
    /// A refused request changes nothing (`INV-S3`, `INV-S13`).
    pub fn handle_request(&mut self, request: Request<Bytes>, now: Instant) -> Outcome {
        let (head, body) = request.into_parts();
        let checked = match pipeline::check(self.view(), &head, Some(&body), Some(now)) {
            Ok(c) => c,
            Err(reject) => return Outcome::Reject(reject),
        };
        // Everything below is accepted: now the machine may change.
        match checked {
            Checked::Post {
                session,
                version,
                body: parsed,
            } => self.accept_post(session, version, &body, parsed, now),
            Checked::Get { session } => {
                self.sessions.touch(&session, now);
                // A standalone stream whose connection is gone is replaced by the new one
                // (one attached at a time is step 12's 409).
                if let Some(old) = self.standalone_stream(&session) {
                    self.close_stream(old, Some(now));
                }
                let (stream, connection) = self.streams.open(
                    Some(session.clone()),
                    ReplyMode::Sse,
                    StreamKind::Standalone,
                    &mut self.connections,
                );
                self.sessions.stream_busy(&session, stream);
                self.sessions.set_standalone(&session, stream);
                self.make_resumable(stream, &session);
                self.streams.emit_head(stream, &mut self.connections);
                Outcome::StreamOpened(StreamOpened {
                    stream,
                    connection,
                    session,
                })
            }
            Checked::Delete { session } => {
                // `SRV-SESS-7`: from here on the id gets 404.
                self.end_session(&session, CloseReason::Deleted);
                Outcome::SessionDeleted(SessionDeleted {
                    response: reply::empty(self.config.policy.delete_status),
                    session,
                })
            }
            Checked::Resume {
                session,
                stream,
                after,
            } => {
                self.sessions.touch(&session, now);
                let (connection, replayed, missed, open) =
                    self.streams
                        .resume(stream, after, now, &mut self.connections);
                if open {
                    self.sessions.stream_busy(&session, stream);
                }
                Outcome::StreamResumed(StreamResumed {
                    stream,
                    connection,
                    session,
                    replayed,
                    missed,
                })
            }
            Checked::HeadOnly => unreachable!("handle_request always passes the body"),
        }
    }

    /// Sends one JSON-RPC message (its JSON text) on a stream.
    ///
    /// - A response or error answers a request of that POST; when every request of the
    ///   POST is answered the stream ends (`SRV-PSSE-5`, `INV-S11`). The answer to
    ///   `initialize`, when it is a successful `InitializeResult`, mints the session, and
    ///   the session id rides on this response only (`SRV-SESS-1`, `INV-S1`).
    /// - A notification or request goes on the stream before the response
    ///   (`SRV-PSSE-2`), or on a standalone stream (`SRV-GET-4`); each message goes to
    ///   exactly the one stream named (`SRV-MULTI-2`, `INV-S8`).
    /// - A request is remembered for the stream's session until the client answers it
    ///   (see [`request`](Self::request), which also mints its id). Its id must not be
    ///   outstanding in the session already
    ///   ([`UsageError::DuplicateOutstandingRequest`]), and a session has at most
    ///   [`ServerConfig::max_outstanding_requests`] outstanding
    ///   ([`UsageError::TooManyOutstandingRequests`]).
    ///
    /// After the client disconnected, a POST stream still takes its answers (a disconnect
    /// is not a cancellation, `SRV-PSSE-6`), but nothing is written.
    pub fn send(
        &mut self,
        stream: StreamId,
        message: impl Into<Bytes>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let message = Message::parse(message.into()).map_err(UsageError::InvalidMessage)?;
        let s = self.stream_ref(stream)?;
        let session = s.session().cloned();
        let is_post = matches!(s.kind(), StreamKind::Post { .. });
        match message.kind() {
            MessageKind::Response | MessageKind::Error if !is_post => {
                Err(UsageError::ResponseOnStandaloneStream)
            }
            MessageKind::Response | MessageKind::Error => self.answer(stream, message, now),
            _ if is_post && s.reply() == ReplyMode::Json => {
                Err(UsageError::JsonReplyCarriesResponsesOnly)
            }
            kind => {
                if kind == MessageKind::Request {
                    // `LIFE-7`, `INV-S16`: requests other than ping wait for `initialized`.
                    let initialized = session
                        .as_ref()
                        .and_then(|id| self.sessions.get(id))
                        .is_none_or(|e| e.record().initialized);
                    if message.method() != Some("ping") && (s.is_initialize() || !initialized) {
                        return Err(UsageError::NotInitialized);
                    }
                    self.remember_request(session.as_ref(), stream, &message)?;
                }
                self.streams
                    .write_message(stream, message.json(), now, &mut self.connections);
                Ok(())
            }
        }
    }

    /// Sends a server-to-client request (`sampling/createMessage`, `elicitation/create`,
    /// `roots/list`, `ping` ...) on a stream, with an id the machine mints: unique across
    /// this machine, naming it and the stream (`{prefix}-{stream}-r{n}`). The POST that
    /// carries the client's answer is [`Outcome::Accepted`], whose
    /// [`Accepted::answers`] pairs it with this request. `params` is left out when `None`.
    /// The rules of [`send`](Self::send) for requests apply.
    pub fn request(
        &mut self,
        stream: StreamId,
        method: &str,
        params: Option<&serde_json::Value>,
        now: Instant,
    ) -> Result<RequestId, UsageError> {
        self.stream_ref(stream)?;
        if params.is_some_and(|p| !(p.is_object() || p.is_array())) {
            return Err(UsageError::InvalidRequest);
        }
        self.requests_minted += 1;
        let id = RequestId::String(
            format!(
                "{}-{}-r{}",
                self.events.prefix(),
                stream.0,
                self.requests_minted
            )
            .into(),
        );
        self.send(stream, outstanding::request_json(&id, method, params)?, now)?;
        Ok(id)
    }

    /// Tells the machine that the application is done with request `id` of `stream` (its
    /// handler returned, failed or was cancelled). A request it left unanswered gets a
    /// JSON-RPC internal error (-32603) from the machine, so that the stream still ends;
    /// returns whether that happened. Harmless for a request that was answered or a
    /// stream that has ended.
    pub fn finish_request(
        &mut self,
        stream: StreamId,
        id: &RequestId,
        now: Instant,
    ) -> Result<bool, UsageError> {
        let s = match self.stream_ref(stream) {
            Ok(s) => s,
            Err(UsageError::StreamClosed(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if s.unanswered_slot(id).is_none() {
            return Ok(false);
        }
        let body = jsonrpc::error_body(
            Some(id),
            jsonrpc::INTERNAL_ERROR,
            "the server did not answer this request",
            None,
        );
        self.send(stream, body, now)?;
        Ok(true)
    }

    /// Closes the connection of a stream without ending the stream (`SRV-PSSE-10`), so
    /// that no connection is held while a long request runs: a `retry` goes out first
    /// (`SRV-PSSE-12`, `INV-S12`), then the end of this connection's body. Events sent
    /// meanwhile are numbered and kept; the client resumes with GET + `Last-Event-ID`.
    ///
    /// Only for resumable streams of clients at 2025-11-25 or later, whose first event
    /// carried an id: older clients do not expect the server to close early
    /// (`SRV-PSSE-4`). Closing a stream that has no connection attached does nothing.
    pub fn close_connection(&mut self, stream: StreamId, now: Instant) -> Result<(), UsageError> {
        let s = self.stream_ref(stream)?;
        if !s.can_close_early() {
            return Err(UsageError::NotResumable(stream));
        }
        let standalone = matches!(s.kind(), StreamKind::Standalone);
        let session = s.session().cloned();
        if self.streams.close_connection(stream, &mut self.connections) && standalone {
            // A detached standalone stream does not keep its session from idling: nothing
            // but the client's return would end it. Its idle clock starts now.
            if let Some(id) = session {
                self.sessions.stream_idle(&id, stream, now);
            }
        }
        Ok(())
    }

    /// The client's `connection` went away. When it is its stream's current connection,
    /// a standalone stream closes (the next GET opens a new one) and a POST stream keeps
    /// taking its answers (a disconnect is not a cancellation in the 2025 revisions,
    /// `SRV-PSSE-6`, `INV-S15`), which are numbered and kept for a GET with
    /// `Last-Event-ID` when the stream is resumable, and otherwise not written. What was
    /// queued for the connection is dropped. A connection that has ended, or that a
    /// resumption replaced, changes nothing.
    pub fn handle_disconnect(
        &mut self,
        connection: ConnectionId,
        now: Instant,
    ) -> Result<(), UsageError> {
        if !self.connections.issued(connection) {
            return Err(UsageError::UnknownConnection(connection));
        }
        let stream = self.connections.stream_of(connection);
        self.connections.disconnect(connection);
        let Some(stream) = stream else {
            return Ok(());
        };
        if !self.streams.detach(stream, connection) {
            return Ok(()); // already replaced, closed early, or ended
        }
        let standalone = self
            .streams
            .get(stream)
            .is_some_and(|s| matches!(s.kind(), StreamKind::Standalone));
        if standalone {
            self.close_stream(stream, Some(now));
        }
        Ok(())
    }

    /// Expires what is due at `now`: idle sessions end (`SRV-SESS-6`), their streams end,
    /// and a [`ServerEvent::SessionClosed`] is queued for each; finished streams whose
    /// replay window has closed are dropped.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.sessions.pop_expired(now) {
            self.end_session(&id, CloseReason::Expired);
        }
        for (stream, session) in self.streams.expire_retained(now) {
            self.sessions.unretain(&session, stream);
        }
    }

    /// Ends a session on the server's initiative (`SRV-SESS-6`): its streams end and its
    /// id gets 404 from now on. Returns whether the session was live.
    pub fn terminate_session(&mut self, id: &SessionId) -> bool {
        if !self.sessions.contains(id) {
            return false;
        }
        self.end_session(id, CloseReason::Terminated);
        true
    }

    /// Puts back a session kept elsewhere (an external store, another process), so a
    /// client can go on with it here.
    pub fn restore_session(
        &mut self,
        record: SessionRecord,
        now: Instant,
    ) -> Result<(), UsageError> {
        if self.sessions.contains(&record.id) {
            return Err(UsageError::DuplicateSession);
        }
        if !self.config.supports(record.protocol_version) {
            return Err(UsageError::UnsupportedNegotiatedVersion(
                record.protocol_version.to_string(),
            ));
        }
        if pipeline::session_cap_reached(self.view()) {
            return Err(UsageError::SessionCapReached);
        }
        self.sessions.insert(record, self.events.clone(), None, now);
        Ok(())
    }

    /// Gives up on a server-to-client request (a timeout, a cancellation): a later answer
    /// with its id is handed over unpaired. Returns the request, if it was outstanding.
    pub fn forget_request(
        &mut self,
        session: Option<&SessionId>,
        id: &RequestId,
    ) -> Option<PendingRequest> {
        match session {
            Some(s) => self.sessions.outstanding_mut(s)?.take(id),
            None => self.sessionless.take(id),
        }
    }

    // ----- outputs -----

    /// A connection that has output waiting: a driver that parks a task per connection
    /// wakes that one. Listed once each time output arrives for a connection that was
    /// not listed; drain after every input until `None`.
    #[must_use]
    pub fn poll_ready(&mut self) -> Option<ConnectionId> {
        self.connections.poll_ready()
    }

    /// The next output of `connection`, in order: its head, body chunks, its end. Output
    /// waits here until it is pulled, whenever that is; after `End` the connection is
    /// over.
    #[must_use]
    pub fn poll_connection(&mut self, connection: ConnectionId) -> Option<StreamEvent> {
        self.connections.poll(connection)
    }

    /// The next output of any connection, for a driver that writes everything from one
    /// place (a single-threaded loop, a test): connections in the order output arrived
    /// for them, each drained before the next.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.connections.poll_any()
    }

    /// The next session event. Drain after every input until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events_out.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, and why; `None` when
    /// nothing is scheduled. Cheap: a lookup, no allocation.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timeout> {
        let idle = self.sessions.next_deadline().map(|at| Timeout {
            at,
            reason: TimeoutReason::SessionIdle,
        });
        let replay = self.streams.next_retained_deadline().map(|at| Timeout {
            at,
            reason: TimeoutReason::ReplayExpiry,
        });
        match (idle, replay) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    // ----- wiring -----

    fn view(&self) -> View<'_> {
        View {
            config: &self.config,
            sessions: &self.sessions,
            streams: &self.streams,
        }
    }

    fn replay_limits(&self) -> ReplayLimits {
        self.config.replay.unwrap_or_default()
    }

    fn stream_ref(&self, stream: StreamId) -> Result<&streams::Stream, UsageError> {
        match self.streams.get(stream) {
            Some(s) => Ok(s),
            None if self.streams.issued(stream) => Err(UsageError::StreamClosed(stream)),
            None => Err(UsageError::UnknownStream(stream)),
        }
    }

    fn accept_post(
        &mut self,
        session: Option<SessionId>,
        version: ProtocolVersion,
        body: &Bytes,
        parsed: Body<'_>,
        now: Instant,
    ) -> Outcome {
        if let Some(s) = &session {
            self.sessions.touch(s, now);
        }
        let envelopes = parsed.messages();
        let messages: Vec<Message> = envelopes
            .iter()
            .map(|e| Message::from_envelope(body, e))
            .collect();
        // `LIFE-5`: the client's `notifications/initialized` (alone, or batched with
        // requests in 2025-03-26) opens the session for server-initiated requests
        // (`INV-S16`).
        if let Some(s) = &session {
            let initialized = messages
                .iter()
                .any(|m| m.method() == Some("notifications/initialized"));
            if let Some(record) = initialized
                .then(|| self.sessions.mark_initialized(s))
                .flatten()
            {
                self.events_out
                    .push_back(ServerEvent::SessionUpdated { record });
            }
        }
        let slots: Vec<Slot> = envelopes
            .iter()
            .filter(|e| e.kind == MessageKind::Request)
            .filter_map(|e| e.id.clone().map(Slot::new))
            .collect();
        if slots.is_empty() {
            // `SRV-POST-7`, `INV-S4`: 202 with no body. Responses answer the server's own
            // requests (`SRV-PSSE-2`, `SRV-GET-4`).
            let table = match &session {
                Some(s) => self.sessions.outstanding_mut(s),
                None => Some(&mut self.sessionless),
            };
            let answers = table.map(|t| t.pair_all(&messages)).unwrap_or_default();
            return Outcome::Accepted(Accepted {
                response: reply::empty(StatusCode::ACCEPTED),
                session,
                messages,
                answers,
            });
        }
        let init = envelopes.iter().find(|e| e.is_initialize());
        // `LIFE-3`: the machine negotiates; the application answers with this version.
        let negotiated = init.map(|e| {
            self.config
                .negotiate(e.initialize_request_version().as_deref().unwrap_or(""))
        });
        let kind = StreamKind::Post {
            slots,
            batch: parsed.is_batch(),
            initialize: init.is_some(),
        };
        let reply_mode = self.config.reply_mode;
        let (stream, connection) =
            self.streams
                .open(session.clone(), reply_mode, kind, &mut self.connections);
        if let Some(s) = &session {
            self.sessions.stream_busy(s, stream);
            self.make_resumable(stream, s);
        }
        // SSE: the head goes at once, but for `initialize`, whose head must carry the
        // session id minted by the answer (`SRV-SESS-1`).
        if reply_mode == ReplyMode::Sse && init.is_none() {
            self.streams.emit_head(stream, &mut self.connections);
        }
        Outcome::Dispatch(Dispatch {
            stream,
            connection,
            session,
            version,
            negotiated,
            messages,
        })
    }

    /// A response or error for a POST stream: the answer of one of its requests.
    fn answer(
        &mut self,
        stream: StreamId,
        message: Message,
        now: Instant,
    ) -> Result<(), UsageError> {
        let s = self.stream_ref(stream)?;
        let slot = message
            .id()
            .and_then(|id| s.unanswered_slot(id))
            .ok_or_else(|| UsageError::NotPending(message.id().cloned()))?;
        // The answer to `initialize`: mint the session when it succeeded (`SRV-SESS-1`).
        let mut minted = None;
        let mints = s.is_initialize() && s.session().is_none() && self.config.is_stateful();
        if mints && message.kind() == MessageKind::Response {
            if let Some(v) = message.initialize_result_version() {
                let version = ProtocolVersion::from_wire(&v)
                    .filter(|v| self.config.supports(*v))
                    .ok_or(UsageError::UnsupportedNegotiatedVersion(v))?;
                minted = Some(version);
            }
        }
        // Committed from here on.
        if let Some(version) = minted {
            let id = self.sessions.mint_id(&mut *self.entropy);
            let record = SessionRecord {
                id: id.clone(),
                protocol_version: version,
                initialized: false,
            };
            self.sessions
                .insert(record, self.events.clone(), Some(stream), now);
            self.streams.set_session(stream, id.clone());
            self.make_resumable(stream, &id);
            self.events_out
                .push_back(ServerEvent::SessionCreated { id, version });
        }
        let done = self
            .streams
            .answer(stream, slot, message.json(), now, &mut self.connections);
        if done {
            self.close_stream(stream, Some(now));
        }
        Ok(())
    }

    /// Gives a stream of `session` event ids and a replay buffer when it can be resumed:
    /// an SSE stream of a session whose version has resumability, with replay configured
    /// (`SRV-RES-1`).
    fn make_resumable(&mut self, stream: StreamId, session: &SessionId) {
        let Some(entry) = self.sessions.get(session) else {
            return;
        };
        let version = entry.version();
        if self.config.replay.is_some() && version.has_resumability() {
            let prefix = entry.events().clone();
            self.streams
                .make_resumable(stream, prefix, version.allows_priming());
        }
    }

    /// Checks that a request about to go out can be remembered (a fresh id, room under
    /// the cap), and remembers it.
    fn remember_request(
        &mut self,
        session: Option<&SessionId>,
        stream: StreamId,
        message: &Message,
    ) -> Result<(), UsageError> {
        let max = self.config.max_outstanding_requests;
        let table = match session {
            Some(s) => self
                .sessions
                .outstanding_mut(s)
                .expect("a stream's session is live"),
            None => &mut self.sessionless,
        };
        table.remember(message, stream, max)
    }

    /// Ends a stream and settles what it leaves with its session; `now` is `None` when the
    /// session itself has ended.
    fn close_stream(&mut self, stream: StreamId, now: Option<Instant>) {
        let live = self
            .streams
            .get(stream)
            .and_then(|s| s.session())
            .is_some_and(|id| self.sessions.contains(id));
        let Some(closed) = self.streams.close(stream, live, &mut self.connections) else {
            return;
        };
        // Session-less requests it carried (stateless mode, or sent before `initialize`
        // minted a session) can be answered no more.
        for request in self.sessionless.drain_stream(stream) {
            self.events_out.push_back(ServerEvent::RequestAbandoned {
                session: None,
                request,
                reason: AbandonReason::StreamEnded,
            });
        }
        let (Some(id), Some(now)) = (closed.session, now) else {
            return;
        };
        // The session is idle from now if this was its last stream.
        self.sessions.stream_ended(&id, stream, now);
        if closed.retained_until.is_some() {
            let max = self.replay_limits().max_finished_streams;
            for old in self.sessions.retain(&id, stream, max) {
                self.streams.drop_retained(old);
            }
        }
    }

    fn end_session(&mut self, id: &SessionId, reason: CloseReason) {
        let Some(mut entry) = self.sessions.remove(id) else {
            return;
        };
        // Its streams end, a detached standalone one too; nothing of it is kept for
        // replay: its id gets 404 from now on.
        let open: Vec<StreamId> = Sessions::streams_of(&entry).collect();
        for stream in open {
            self.close_stream(stream, None);
        }
        for stream in Sessions::retained_of(&entry).collect::<Vec<_>>() {
            self.streams.drop_retained(stream);
        }
        for request in Sessions::outstanding_of(&mut entry) {
            self.events_out.push_back(ServerEvent::RequestAbandoned {
                session: Some(id.clone()),
                request,
                reason: AbandonReason::SessionClosed,
            });
        }
        self.events_out.push_back(ServerEvent::SessionClosed {
            id: id.clone(),
            reason,
        });
    }
}
