//! The wiring of the server machine: it owns the components, hands each input to the
//! components that read it, and carries out what they decide.
//! [`Server`](super::Server) is its public face and delegates every call here.
//!
//! The components never see each other; only this type ties them together:
//!
//! ```text
//!  handle_request ─▶ pipeline::check (reads Sessions, Streams) ─▶ Checked
//!        ─▶ Sessions (touch, mint, initialized) ─▶ Streams (open, write, resume)
//!        ─▶ Connections (each head opens one; output waits there) ─▶ poll_connection
//!  send / request / finish_request ─▶ Outstanding (remember, pair) ─▶ Streams ─▶ Connections
//!  handle_disconnect(connection) ─▶ Connections ─▶ Streams::detach (the current one only)
//!  handle_timeout ─▶ Sessions (expired) ─▶ Streams (close, expire retained)
//!  every change to a session record, every request abandoned ─▶ poll_event
//! ```
//!
//! This file routes the inputs; [`lifecycle`] carries out what they start and end across
//! components: a POST accepted or dispatched, an answer (and the session it mints), a
//! stream closed, a session ended.

mod lifecycle;
pub(super) use lifecycle::AnswerView;
mod listening;
mod shared;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, request};

use super::connections::Connections;
use super::listen::Listens;
use super::outstanding::{self, Outstanding};
use super::pipeline::{self, Checked, View};
use super::replay::EventIds;
use super::sessions::{RecordChange, Sessions, StoreTimes};
use super::store::{FetchSession, FetchStream, StoreAction, StoreOp, Ticket};
use super::streams::{self, StreamKind, Streams};
use super::{
    CloseReason, Outcome, Output, PendingRequest, Refusal, Reject, ReplayLimits, ReplyMode,
    ServerConfig, ServerEvent, SessionDeleted, SessionRecord, StreamEvent, StreamOpened,
    StreamResumed, Timeout, TimeoutReason, UsageError, reply,
};
use crate::entropy::Entropy;
use crate::handle::{ConnectionId, StreamId};
use crate::wire::SessionId;
use crate::wire::jsonrpc::{self, Message, MessageKind, RequestId};

/// The largest answer buffer the machine keeps for the next answer (bytes).
const MAX_KEPT_ANSWER_BUFFER: usize = 64 * 1024;

pub(super) struct Machine {
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
    /// The `subscriptions/listen` streams (2026-07-28).
    listens: Listens,
    /// With a shared store: the writes the driver has not taken yet, in order.
    store_ops: VecDeque<StoreOp>,
    /// The buffer `respond` writes answers into, kept between answers.
    answer_buf: Vec<u8>,
    /// The writes a reply waits for, by ticket.
    unconfirmed: BTreeMap<Ticket, Unconfirmed>,
    /// Tickets issued so far.
    tickets: u64,
}

/// A store write whose confirmation something waits for.
#[derive(Debug)]
enum Unconfirmed {
    /// A minted session: its `initialize` reply is held on `connection` until written.
    Created {
        id: SessionId,
        connection: Option<ConnectionId>,
    },
    /// `initialized` was set: the 202 (the driver holds it) waits.
    Initialized { id: SessionId },
    /// The session ended here: the DELETE's response (the driver holds it) waits.
    Deleted { id: SessionId },
}

/// An SSE comment: keeps an idle stream's connection (and the proxies on its way) from
/// timing out; a client's decoder ignores it.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("sessions", &self.sessions.len())
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl Machine {
    pub(super) fn new(config: ServerConfig, mut entropy: Box<dyn Entropy>) -> Self {
        // The event-id salt tells this machine's ids from another's (`SRV-RES-3`).
        let mut salt = [0u8; 4];
        entropy.fill(&mut salt);
        // With a store, the table is a cache: an idle session leaves it after
        // `cache_for` (never later than the idle timeout), and the store's TTL (the idle
        // timeout plus a touch interval) decides when the session expires.
        let (local_idle, store_times) = match &config.store {
            None => (config.session_idle_timeout, None),
            Some(store) => (
                Some(
                    config
                        .session_idle_timeout
                        .map_or(store.cache_for, |t| t.min(store.cache_for)),
                ),
                Some(StoreTimes {
                    touch_interval: store.touch_interval,
                    ttl: config
                        .session_idle_timeout
                        .and_then(|t| t.checked_add(store.touch_interval)),
                }),
            ),
        };
        let mut machine = Self {
            events: EventIds::new(salt, config.store.as_ref().map(|s| &s.node_id)),
            sessions: Sessions::new(local_idle, store_times),
            streams: Streams::new(
                config.sse_retry,
                config.replay.unwrap_or_default(),
                config.policy.answer(Refusal::UnknownSession),
            ),
            connections: Connections::new(config.max_queued_bytes),
            config,
            entropy,
            sessionless: Outstanding::default(),
            events_out: VecDeque::new(),
            requests_minted: 0,
            listens: Listens::default(),
            store_ops: VecDeque::new(),
            answer_buf: Vec::new(),
            unconfirmed: BTreeMap::new(),
            tickets: 0,
        };
        if machine.config.store.is_some() {
            machine.streams.spill_to_store();
        }
        machine
    }

    pub(super) fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub(super) fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    pub(super) fn session(&self, id: &SessionId) -> Option<&SessionRecord> {
        self.sessions.get(id).map(|e| e.record())
    }

    pub(super) fn sessions(&self) -> impl Iterator<Item = &SessionRecord> {
        self.sessions.records()
    }

    pub(super) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(super) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    pub(super) fn replay_bytes(&self) -> usize {
        self.streams.replay_bytes()
    }

    pub(super) fn standalone_stream(&self, id: &SessionId) -> Option<StreamId> {
        self.sessions.get(id).and_then(|e| e.standalone())
    }

    pub(super) fn connection(&self, stream: StreamId) -> Option<ConnectionId> {
        self.streams.get(stream).and_then(|s| s.connection())
    }

    pub(super) fn pending_requests(
        &self,
        session: Option<&SessionId>,
    ) -> impl Iterator<Item = &PendingRequest> {
        let table = match session {
            Some(id) => self.sessions.get(id).map(|e| e.outstanding()),
            None => Some(&self.sessionless),
        };
        table.into_iter().flat_map(Outstanding::iter)
    }

    pub(super) fn check_head(&self, head: &request::Parts) -> Option<Reject> {
        pipeline::check(self.view(), head, None, None).err()
    }

    fn accept_request(&mut self, request: Request<Bytes>, now: Instant) -> Outcome {
        let (head, body) = request.into_parts();
        self.check_and_accept(head, body, None, now)
    }

    /// Runs the checks and carries out what passed. `restored` is a session just put
    /// back from the store for this request: a refusal takes it out again, so that a
    /// refused request changes nothing.
    fn check_and_accept(
        &mut self,
        head: request::Parts,
        body: Bytes,
        restored: Option<&SessionId>,
        now: Instant,
    ) -> Outcome {
        let checked = match pipeline::check(self.view(), &head, Some(&body), Some(now)) {
            Ok(c) => c,
            Err(reject) => {
                if let Some(id) = restored {
                    self.sessions.remove(id);
                }
                return Outcome::Reject(reject);
            }
        };
        // Everything below is accepted: now the machine may change.
        match checked {
            Checked::Fetch { session } => Outcome::FetchSession(FetchSession {
                session,
                request: Request::from_parts(head, body),
            }),
            Checked::FetchStream {
                session,
                stream,
                after,
            } => Outcome::FetchStream(FetchStream {
                session,
                stream,
                after,
                request: Request::from_parts(head, body),
            }),
            Checked::Post {
                session,
                version,
                body: parsed,
            } => self.accept_post(session, version, &body, parsed, false, now),
            Checked::Modern {
                version,
                body: parsed,
            } => self.accept_post(None, version, &body, parsed, true, now),
            Checked::Get { session } => {
                self.activity(&session, now);
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
                // With a store, the record names it: messages for it find this node, and
                // a standalone stream the session had on another node is superseded.
                if self.config.store.is_some() {
                    let key = self.events.stream_key(stream.0);
                    self.sessions
                        .change(&session, &RecordChange::Standalone(key.clone()));
                    self.write_through_change(&session, RecordChange::Standalone(key));
                }
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
                self.activity(&session, now);
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
                    relayed_from: None,
                })
            }
            Checked::HeadOnly => unreachable!("handle_request always passes the body"),
        }
    }

    /// Answers request `id` of a POST stream with `result`, the envelope written by the
    /// machine into a buffer it keeps (`Server::respond`): the rules of `send` for
    /// answers, with nothing to read back and no allocation for the text.
    pub(super) fn respond(
        &mut self,
        stream: StreamId,
        id: &RequestId,
        result: &impl serde::Serialize,
        now: Instant,
    ) -> Result<(), UsageError> {
        let mut buf = std::mem::take(&mut self.answer_buf);
        let r = match Message::write_response(&mut buf, id, result) {
            Err(e) => Err(UsageError::Unserializable(e.to_string())),
            Ok(()) => {
                let view = AnswerView {
                    kind: MessageKind::Response,
                    id: Some(id),
                    json: &buf,
                    shared: None,
                };
                self.answer(stream, view, now)
            }
        };
        // A buffer grown by one large answer is let go.
        if buf.capacity() <= MAX_KEPT_ANSWER_BUFFER {
            self.answer_buf = buf;
        }
        self.settle_overflow(now);
        r
    }

    /// Answers with a message the machine wrote itself (`Server::respond_error`).
    pub(super) fn send_answer(
        &mut self,
        stream: StreamId,
        message: Message,
        now: Instant,
    ) -> Result<(), UsageError> {
        let r = self.answer(stream, AnswerView::of(&message), now);
        self.settle_overflow(now);
        r
    }

    fn send_message(
        &mut self,
        stream: StreamId,
        message: impl Into<Bytes>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let message = Message::parse(message.into()).map_err(UsageError::InvalidMessage)?;
        match message.kind() {
            MessageKind::Response | MessageKind::Error => {
                return self.answer(stream, AnswerView::of(&message), now);
            }
            MessageKind::Request | MessageKind::Notification => {}
        }
        let s = self.stream_ref(stream)?;
        if s.is_relay() {
            // Its events are another node's: only `Server::relay` writes on it.
            return Err(UsageError::RelayStream(stream));
        }
        let session = s.session().cloned();
        let is_post = matches!(s.kind(), StreamKind::Post { .. });
        match message.kind() {
            _ if is_post && s.reply() == ReplyMode::Json => {
                Err(UsageError::JsonReplyCarriesResponsesOnly)
            }
            kind => {
                if kind == MessageKind::Request && s.is_modern() {
                    // `N26-3`: server-to-client interactions are results (MRTR), never
                    // requests on a 2026-07-28 stream.
                    return Err(UsageError::RequestOnModernStream);
                }
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

    pub(super) fn request(
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

    pub(super) fn finish_request(
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

    pub(super) fn close_connection(
        &mut self,
        stream: StreamId,
        now: Instant,
    ) -> Result<(), UsageError> {
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

    pub(super) fn send(
        &mut self,
        stream: StreamId,
        message: impl Into<Bytes>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let r = self.send_message(stream, message, now);
        self.settle_overflow(now);
        r
    }

    pub(super) fn handle_request(&mut self, request: Request<Bytes>, now: Instant) -> Outcome {
        let outcome = self.accept_request(request, now);
        self.settle_overflow(now);
        outcome
    }

    /// A connection whose queue passed its bound is as good as gone: its stream goes on
    /// detached (a standalone stream ends, as when its client leaves).
    pub(super) fn settle_overflow(&mut self, now: Instant) {
        for (connection, stream) in self.connections.take_overflowed() {
            if !self.streams.detach(stream, connection) {
                continue;
            }
            let standalone = self
                .streams
                .get(stream)
                .is_some_and(|s| s.ends_with_connection());
            if standalone {
                self.close_stream(stream, Some(now));
            }
        }
    }

    pub(super) fn keep_alive(&mut self, connection: ConnectionId) -> bool {
        let Some(stream) = self.connections.stream_of(connection) else {
            return false;
        };
        let sse_and_current = self.streams.get(stream).is_some_and(|s| {
            s.reply() == ReplyMode::Sse && s.head_sent() && s.connection() == Some(connection)
        });
        if sse_and_current {
            self.connections.push(
                connection,
                StreamEvent::Data(Bytes::from_static(KEEP_ALIVE)),
            );
        }
        sse_and_current
    }

    pub(super) fn shutdown(&mut self, now: Instant) -> usize {
        // `N26-18`: a listen stream the server ends gets its result first.
        let mut ended = self.end_all_listens(now);
        for stream in self.streams.attached() {
            let Some(s) = self.streams.get(stream) else {
                continue;
            };
            if s.can_close_early() {
                // `SRV-PSSE-10`: the client resumes, here or on another node.
                ended += usize::from(self.close_connection(stream, now).is_ok());
            } else if s.ends_with_connection() {
                self.close_stream(stream, Some(now));
                ended += 1;
            } else if self.streams.end_connection(stream, &mut self.connections) {
                ended += 1;
            }
        }
        ended
    }

    pub(super) fn handle_disconnect(
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
        let Some(s) = self.streams.get(stream) else {
            return Ok(());
        };
        if s.is_modern() {
            // `N26-4`: closing a 2026-07-28 response stream is cancellation: the
            // application is told, and nothing more is sent for the request.
            let cancelled = self.streams.unanswered(stream);
            self.close_stream(stream, Some(now));
            for request in cancelled {
                self.events_out
                    .push_back(ServerEvent::RequestCancelled { stream, request });
            }
        } else if s.ends_with_connection() {
            self.close_stream(stream, Some(now));
        }
        Ok(())
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.sessions.pop_expired(now) {
            if self.config.store.is_some() {
                // The store's TTL decides expiry; here the session only leaves memory.
                self.evict_session(&id);
            } else {
                self.end_session(&id, CloseReason::Expired);
            }
        }
        while let Some((id, ttl)) = self.sessions.pop_touch_due(now) {
            self.push_store(None, StoreAction::Touch { id, ttl });
        }
        for (stream, session) in self.streams.expire_retained(now) {
            self.sessions.unretain(&session, stream);
        }
    }

    pub(super) fn terminate_session(&mut self, id: &SessionId) -> bool {
        if !self.sessions.contains(id) {
            return false;
        }
        self.end_session(id, CloseReason::Terminated);
        true
    }

    pub(super) fn restore_session(
        &mut self,
        record: SessionRecord,
        now: Instant,
    ) -> Result<(), UsageError> {
        if self.sessions.contains(&record.id) {
            return Err(UsageError::DuplicateSession);
        }
        let v = record.protocol_version;
        if !(v.has_initialize() && self.config.supports(v)) {
            return Err(UsageError::UnsupportedNegotiatedVersion(
                record.protocol_version.to_string(),
            ));
        }
        if pipeline::session_cap_reached(self.view()) {
            return Err(UsageError::SessionCapReached);
        }
        self.sessions.insert(record, None, now);
        Ok(())
    }

    pub(super) fn forget_request(
        &mut self,
        session: Option<&SessionId>,
        id: &RequestId,
    ) -> Option<PendingRequest> {
        match session {
            Some(s) => self.sessions.outstanding_mut(s)?.take(id),
            None => self.sessionless.take(id),
        }
    }

    pub(super) fn poll_ready(&mut self) -> Option<ConnectionId> {
        self.connections.poll_ready()
    }

    pub(super) fn poll_connection(&mut self, connection: ConnectionId) -> Option<StreamEvent> {
        self.connections.poll(connection)
    }

    pub(super) fn poll_output(&mut self) -> Option<Output> {
        self.connections.poll_any()
    }

    pub(super) fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events_out.pop_front()
    }

    pub(super) fn poll_timeout(&self) -> Option<Timeout> {
        let idle = self.sessions.next_deadline().map(|at| Timeout {
            at,
            reason: TimeoutReason::SessionIdle,
        });
        let replay = self.streams.next_retained_deadline().map(|at| Timeout {
            at,
            reason: TimeoutReason::ReplayExpiry,
        });
        let touch = self.sessions.next_touch().map(|at| Timeout {
            at,
            reason: TimeoutReason::StoreTouch,
        });
        [idle, replay, touch]
            .into_iter()
            .flatten()
            .min_by_key(|t| t.at)
    }

    fn view(&self) -> View<'_> {
        View {
            config: &self.config,
            sessions: &self.sessions,
            streams: &self.streams,
            events: &self.events,
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
}
