//! The server machine.
//!
//! ```text
//!            handle_request(req, now)
//!                     │ checks 1..12 (check.rs); a refusal changes nothing
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
//! Outputs for streams come out of [`Server::poll_output`] in order: a head, data chunks,
//! the end. Session events come out of [`Server::poll_event`]. See the crate docs for the
//! driver contract.

mod check;
pub mod config;
mod error;
mod replay;
mod reply;
mod requests;
mod session;
mod stream;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode, request};

pub use crate::handle::{ConnectionId, StreamId};
pub use check::{Refusal, Reject};
pub use config::{Answer, Mode, OriginPolicy, Policy, ReplayLimits, ReplyMode, ServerConfig};
pub use error::UsageError;
pub use requests::{Answered, PendingRequest};
pub use session::SessionRecord;

use crate::entropy::Entropy;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Body, Message, MessageKind, RequestId};
use check::Checked;
use replay::EventIds;
use requests::Outstanding;
use session::Sessions;
use stream::{Retained, Stream, StreamKind};

/// What became of a request. Every variant that ends the exchange carries the complete
/// response to send.
#[derive(Debug)]
#[must_use = "an outcome says what to send and what to hand to the application"]
pub enum Outcome {
    /// A check refused the request. Send the response; nothing changed.
    Reject(Reject),
    /// A POST of notifications and/or responses only: send the 202 (`SRV-POST-7`,
    /// `INV-S4`), and hand the messages to the application.
    Accepted(Accepted),
    /// A POST holding requests: hand the messages to the application, which answers each
    /// request with [`Server::send`]; the stream's output comes from
    /// [`Server::poll_output`].
    Dispatch(Dispatch),
    /// A GET opened the session's standalone SSE stream; its head is already queued in
    /// [`Server::poll_output`].
    StreamOpened(StreamOpened),
    /// A DELETE ended the session: send the response. The session's streams end (see
    /// [`Server::poll_output`]) and a [`ServerEvent::SessionClosed`] is queued.
    SessionDeleted(SessionDeleted),
    /// A GET with `Last-Event-ID` re-attached a stream: its head and the replayed events
    /// are queued in [`Server::poll_output`]; the stream goes on live (or ends, if it had
    /// finished).
    StreamResumed(StreamResumed),
}

impl Outcome {
    /// The response to send now, for outcomes that end the exchange.
    pub fn response(&self) -> Option<&Response<Bytes>> {
        match self {
            Self::Reject(r) => Some(&r.response),
            Self::Accepted(a) => Some(&a.response),
            Self::SessionDeleted(d) => Some(&d.response),
            Self::Dispatch(_) | Self::StreamOpened(_) | Self::StreamResumed(_) => None,
        }
    }

    /// The stream the exchange continues on, for outcomes that open one.
    pub fn stream(&self) -> Option<StreamId> {
        match self {
            Self::Dispatch(d) => Some(d.stream),
            Self::StreamOpened(s) => Some(s.stream),
            Self::StreamResumed(s) => Some(s.stream),
            _ => None,
        }
    }
}

/// A POST whose messages were all notifications or responses.
#[derive(Debug)]
pub struct Accepted {
    /// `202 Accepted` with an empty body.
    pub response: Response<Bytes>,
    /// The session, in stateful mode.
    pub session: Option<SessionId>,
    /// The messages, in body order (responses and errors included).
    pub messages: Vec<Message>,
    /// One entry per response or error of `messages`, in body order: the client's
    /// answers to requests the server sent with [`Server::send`] (`SRV-PSSE-2`,
    /// `SRV-GET-4`). An answer whose id is outstanding in this session names its request
    /// ([`Answered::request`]), which is then no longer outstanding; any other is
    /// unmatched (`request: None`) and is only handed over.
    pub answers: Vec<Answered>,
}

/// A POST holding at least one request.
#[derive(Debug)]
pub struct Dispatch {
    /// The reply stream: answer every request of `messages` on it.
    pub stream: StreamId,
    /// The session, in stateful mode (none for `initialize`: it has no session yet).
    pub session: Option<SessionId>,
    /// The revision that governs this request (the session's, else the header's, else
    /// 2025-03-26).
    pub version: ProtocolVersion,
    /// The messages, in body order: requests and any notifications batched with them.
    pub messages: Vec<Message>,
}

/// A GET that opened the standalone stream.
#[derive(Debug)]
pub struct StreamOpened {
    /// The stream; send server-initiated notifications and requests on it.
    pub stream: StreamId,
    /// Its session.
    pub session: SessionId,
}

/// A GET that resumed a stream after `Last-Event-ID` (`SRV-RES-5`).
#[derive(Debug)]
pub struct StreamResumed {
    /// The stream, the same handle it had before; its outputs go to this new connection.
    pub stream: StreamId,
    /// Its session.
    pub session: SessionId,
    /// How many events were replayed.
    pub replayed: usize,
    /// How many events after `Last-Event-ID` were no longer kept (the replay limits
    /// dropped them); the client does not see them.
    pub missed: u64,
}

/// A DELETE that ended a session.
#[derive(Debug)]
pub struct SessionDeleted {
    /// The response (200 with an empty body by default).
    pub response: Response<Bytes>,
    /// The session that ended.
    pub session: SessionId,
}

/// One step of a stream's output, in the order the driver must write them.
#[derive(Debug)]
pub enum StreamEvent {
    /// The response head: status and every header. Comes first, once.
    Head(Response<()>),
    /// Body bytes: the JSON body, or SSE frames.
    Data(Bytes),
    /// The stream is over: finish the body and release the connection. Always preceded
    /// by a `Head`: a stream cut short before its reply began (its session ended) gets a
    /// complete 404 error response first.
    End,
}

/// An output for one stream.
#[derive(Debug)]
pub struct Output {
    /// The stream it belongs to.
    pub stream: StreamId,
    /// What to write.
    pub event: StreamEvent,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DELETE.
    Deleted,
    /// The session was idle for the configured timeout.
    Expired,
    /// The application ended it with [`Server::terminate_session`].
    Terminated,
}

/// Session events for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A session was minted on a successful `InitializeResult`.
    SessionCreated {
        /// Its id.
        id: SessionId,
        /// The negotiated version.
        version: ProtocolVersion,
    },
    /// A session ended; its id gets 404 from now on.
    SessionClosed {
        /// Its id.
        id: SessionId,
        /// Why.
        reason: CloseReason,
    },
}

/// Why the machine wants [`Server::handle_timeout`] called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// A session reaches its idle timeout.
    SessionIdle,
    /// A finished stream's replay window closes.
    ReplayExpiry,
}

/// When the machine next needs [`Server::handle_timeout`], and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The instant.
    pub at: Instant,
    /// The reason.
    pub reason: TimeoutReason,
}

/// The server side of the Streamable HTTP transport, as a state machine.
///
/// Method groups, in the order a driver uses them:
/// - inputs: [`check_head`](Self::check_head) (optional, from the head alone),
///   [`handle_request`](Self::handle_request), [`send`](Self::send),
///   [`handle_disconnect`](Self::handle_disconnect), [`handle_timeout`](Self::handle_timeout),
///   [`terminate_session`](Self::terminate_session);
/// - outputs, drained after every input until `None`: [`poll_output`](Self::poll_output),
///   [`poll_event`](Self::poll_event), then [`poll_timeout`](Self::poll_timeout);
/// - getters: [`config`](Self::config), [`session`](Self::session),
///   [`sessions`](Self::sessions), [`standalone_stream`](Self::standalone_stream).
pub struct Server {
    config: ServerConfig,
    entropy: Box<dyn Entropy>,
    sessions: Sessions,
    streams: HashMap<StreamId, Stream>,
    /// Finished streams kept for replay, and when each goes.
    retained: HashMap<StreamId, Retained>,
    retained_deadlines: BTreeSet<(Instant, StreamId)>,
    event_ids: EventIds,
    next_stream: u64,
    pending_initializes: usize,
    /// Session ids minted so far.
    minted: u64,
    outputs: VecDeque<Output>,
    events: VecDeque<ServerEvent>,
    /// Server-to-client requests awaiting their answer.
    outstanding: Outstanding,
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
            retained: HashMap::new(),
            retained_deadlines: BTreeSet::new(),
            event_ids: EventIds::new(salt),
            sessions: Sessions::new(config.session_idle_timeout),
            config,
            entropy,
            streams: HashMap::new(),
            next_stream: 0,
            pending_initializes: 0,
            minted: 0,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            outstanding: Outstanding::default(),
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
        self.sessions.get(id).map(|e| &e.record)
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
        self.sessions.get(id).and_then(|e| e.standalone)
    }

    // ----- inputs -----

    /// Runs the checks that need only the request head (steps 1 to 8, but the
    /// session-less POST case, which needs to know whether the body is `initialize`).
    /// A driver calls it before reading the body, to refuse early (413, 403, 405 ...).
    /// Read-only: passing it changes nothing, and `handle_request` runs every check again.
    pub fn check_head(&self, head: &request::Parts) -> Option<Reject> {
        self.check(head, None, None).err()
    }

    /// Handles one complete request. The body is the whole body as read (at most
    /// [`max_body_bytes`](Self::max_body_bytes) + 1 bytes).
    ///
    /// A refused request changes nothing (`INV-S3`, `INV-S13`).
    pub fn handle_request(&mut self, request: Request<Bytes>, now: Instant) -> Outcome {
        let (head, body) = request.into_parts();
        let checked = match self.check(&head, Some(&body), Some(now)) {
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
                    self.close_stream(old, now);
                }
                let stream = self.open_stream(
                    Some(session.clone()),
                    ReplyMode::Sse,
                    StreamKind::Standalone,
                );
                self.sessions
                    .with(&session, |e| e.standalone = Some(stream));
                self.emit_head(stream);
                Outcome::StreamOpened(StreamOpened { stream, session })
            }
            Checked::Delete { session } => {
                // `SRV-SESS-7`: from here on the id gets 404.
                self.end_session(&session, CloseReason::Deleted, now);
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
                let (replayed, missed) = self.resume(stream, after, now);
                Outcome::StreamResumed(StreamResumed {
                    stream,
                    session,
                    replayed,
                    missed,
                })
            }
            Checked::HeadOnly => unreachable!("handle_request always passes the body"),
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
        let has_request = envelopes.iter().any(|e| e.kind == MessageKind::Request);
        // `LIFE-5`: the client's `notifications/initialized` (alone, or batched with
        // requests in 2025-03-26) opens the session for server-initiated requests
        // (`INV-S16`).
        if let Some(s) = &session {
            if messages
                .iter()
                .any(|m| m.method() == Some("notifications/initialized"))
            {
                self.sessions.with(s, |e| e.record.initialized = true);
            }
        }
        if !has_request {
            // `SRV-POST-7`, `INV-S4`: 202 with no body. Responses answer the server's own
            // requests (`SRV-PSSE-2`, `SRV-GET-4`).
            let answers = self.match_answers(session.as_ref(), &messages);
            return Outcome::Accepted(Accepted {
                response: reply::empty(StatusCode::ACCEPTED),
                session,
                messages,
                answers,
            });
        }
        let initialize = envelopes.iter().any(|e| e.is_initialize());
        let slots: Vec<(RequestId, Option<Bytes>)> = envelopes
            .iter()
            .filter(|e| e.kind == MessageKind::Request)
            .filter_map(|e| e.id.clone().map(|id| (id, None)))
            .collect();
        let kind = StreamKind::Post {
            unanswered: slots.len(),
            slots,
            batch: parsed.is_batch(),
            initialize,
        };
        let stream = self.open_stream(session.clone(), self.config.reply_mode, kind);
        if initialize && self.config.mode == Mode::Stateful {
            self.pending_initializes += 1;
        }
        // SSE: the head goes at once, but for `initialize`, whose head must carry the
        // session id minted by the answer (`SRV-SESS-1`).
        if self.config.reply_mode == ReplyMode::Sse && !initialize {
            self.emit_head(stream);
        }
        Outcome::Dispatch(Dispatch {
            stream,
            session,
            version,
            messages,
        })
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
    /// - A request is remembered for the stream's session until the client answers it:
    ///   the POST that carries the answer is [`Outcome::Accepted`], whose
    ///   [`Accepted::answers`] names the request. Its id must not be outstanding in the
    ///   session already ([`UsageError::DuplicateOutstandingRequest`]), and a session has
    ///   at most [`ServerConfig::max_outstanding_requests`] outstanding
    ///   ([`UsageError::TooManyOutstandingRequests`]). A request is forgotten when
    ///   answered, with [`forget_request`](Self::forget_request), when its session ends,
    ///   and, in stateless mode, when the stream it went on ends.
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
        let reply = s.reply;
        let session = s.session.clone();
        match (&s.kind, message.kind()) {
            (StreamKind::Standalone, MessageKind::Response | MessageKind::Error) => {
                Err(UsageError::ResponseOnStandaloneStream)
            }
            (StreamKind::Post { .. }, MessageKind::Response | MessageKind::Error) => {
                self.answer(stream, message, now)
            }
            (StreamKind::Post { .. }, _) if reply == ReplyMode::Json => {
                Err(UsageError::JsonReplyCarriesResponsesOnly)
            }
            (kind, k) => {
                // `LIFE-7`, `INV-S16`: requests other than ping wait for `initialized`.
                let initializing = matches!(
                    kind,
                    StreamKind::Post {
                        initialize: true,
                        ..
                    }
                );
                let initialized = session
                    .as_ref()
                    .and_then(|id| self.sessions.get(id))
                    .is_none_or(|e| e.record.initialized);
                if k == MessageKind::Request
                    && message.method() != Some("ping")
                    && (initializing || !initialized)
                {
                    return Err(UsageError::NotInitialized);
                }
                if k == MessageKind::Request {
                    self.check_outgoing_request(session.as_ref(), &message)?;
                    self.remember_request(session, stream, &message);
                }
                self.write_message(stream, message.json(), now);
                Ok(())
            }
        }
    }

    fn answer(
        &mut self,
        stream: StreamId,
        message: Message,
        now: Instant,
    ) -> Result<(), UsageError> {
        let s = self.streams.get(&stream).expect("checked by the caller");
        let StreamKind::Post {
            slots, initialize, ..
        } = &s.kind
        else {
            unreachable!("checked by the caller")
        };
        let slot = message
            .id()
            .and_then(|id| {
                slots
                    .iter()
                    .position(|(rid, ans)| rid == id && ans.is_none())
            })
            .ok_or_else(|| UsageError::NotPending(message.id().cloned()))?;
        // The answer to `initialize`: mint the session when it succeeded (`SRV-SESS-1`).
        let mut minted = None;
        if *initialize
            && self.config.mode == Mode::Stateful
            && message.kind() == MessageKind::Response
        {
            let env = match crate::wire::jsonrpc::classify(message.json()) {
                Ok(Body::Single(env)) => env,
                _ => unreachable!("parsed as one message above"),
            };
            if let Some(v) = env.initialize_result_version() {
                let version = ProtocolVersion::from_wire(&v)
                    .filter(|v| self.config.supports(*v))
                    .ok_or_else(|| UsageError::UnsupportedNegotiatedVersion(v.to_string()))?;
                minted = Some(version);
            }
        }
        // Committed from here on.
        if let Some(version) = minted {
            let id = self.mint_session_id();
            self.sessions.insert(
                SessionRecord {
                    id: id.clone(),
                    protocol_version: version,
                    initialized: false,
                },
                now,
            );
            self.sessions.with(&id, |e| e.streams.push(stream));
            self.events.push_back(ServerEvent::SessionCreated {
                id: id.clone(),
                version,
            });
            self.streams.get_mut(&stream).expect("present").session = Some(id);
            self.make_resumable(stream);
        }
        let s = self.streams.get_mut(&stream).expect("present");
        let StreamKind::Post {
            slots,
            unanswered,
            batch,
            initialize,
        } = &mut s.kind
        else {
            unreachable!()
        };
        *unanswered -= 1;
        let done = *unanswered == 0;
        let was_initialize = *initialize;
        match s.reply {
            ReplyMode::Sse => {
                slots[slot].1 = Some(Bytes::new());
                if !s.head_sent {
                    self.emit_head(stream);
                }
                self.write_message(stream, message.json(), now);
            }
            ReplyMode::Json => {
                slots[slot].1 = Some(message.json().clone());
                if done {
                    let body = if *batch {
                        let mut out = Vec::with_capacity(
                            slots
                                .iter()
                                .map(|(_, a)| a.as_ref().map_or(0, |b| b.len() + 1))
                                .sum::<usize>()
                                + 2,
                        );
                        out.push(b'[');
                        for (i, (_, a)) in slots.iter().enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            out.extend_from_slice(a.as_ref().expect("all answered"));
                        }
                        out.push(b']');
                        Bytes::from(out)
                    } else {
                        slots[0].1.clone().expect("answered")
                    };
                    let head =
                        reply::json_head(body.len(), s.session.as_ref().filter(|_| was_initialize));
                    s.head_sent = true;
                    if s.attached {
                        self.outputs.push_back(Output {
                            stream,
                            event: StreamEvent::Head(head),
                        });
                        self.outputs.push_back(Output {
                            stream,
                            event: StreamEvent::Data(body),
                        });
                    }
                }
            }
        }
        if done {
            self.close_stream(stream, now);
        }
        Ok(())
    }

    /// The client's connection for `stream` went away. A standalone stream closes (the
    /// next GET opens a new one); a POST stream keeps taking its answers (a disconnect is
    /// not a cancellation in the 2025 revisions, `SRV-PSSE-6`, `INV-S15`), which are
    /// numbered and kept for a GET with `Last-Event-ID` when the stream is resumable, and
    /// otherwise not written. Calling it for a stream that has already ended is harmless.
    pub fn handle_disconnect(&mut self, stream: StreamId, now: Instant) -> Result<(), UsageError> {
        match self.stream_ref(stream) {
            Err(UsageError::StreamClosed(_)) => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let s = self.streams.get_mut(&stream).expect("present");
        s.attached = false;
        // Outputs already queued for a gone connection are dropped.
        self.outputs.retain(|o| o.stream != stream);
        if matches!(s.kind, StreamKind::Standalone) {
            self.close_stream(stream, now);
        }
        Ok(())
    }

    /// Expires what is due at `now`: idle sessions end (`SRV-SESS-6`), their streams end,
    /// and a [`ServerEvent::SessionClosed`] is queued for each.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.sessions.pop_expired(now) {
            self.end_session(&id, CloseReason::Expired, now);
        }
        self.expire_retained(now);
    }

    /// Ends a session on the server's initiative (`SRV-SESS-6`): its streams end and its
    /// id gets 404 from now on. Returns whether the session was live.
    pub fn terminate_session(&mut self, id: &SessionId, now: Instant) -> bool {
        if !self.sessions.contains(id) {
            return false;
        }
        self.end_session(id, CloseReason::Terminated, now);
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
        if let Some(cap) = self.config.max_sessions {
            if self.sessions.len() + self.pending_initializes >= cap {
                return Err(UsageError::SessionCapReached);
            }
        }
        self.sessions.insert(record, now);
        Ok(())
    }

    // ----- outputs -----

    /// The next stream output, in order. Drain after every input until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next session event. Drain after every input until `None`.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, and why; `None` when
    /// nothing is scheduled. Cheap: a lookup, no allocation.
    pub fn poll_timeout(&self) -> Option<Timeout> {
        let idle = self.sessions.next_deadline().map(|at| Timeout {
            at,
            reason: TimeoutReason::SessionIdle,
        });
        let replay = self.retained_deadlines.first().map(|&(at, _)| Timeout {
            at,
            reason: TimeoutReason::ReplayExpiry,
        });
        match (idle, replay) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    // ----- internals -----

    fn stream_ref(&self, stream: StreamId) -> Result<&Stream, UsageError> {
        match self.streams.get(&stream) {
            Some(s) => Ok(s),
            None if stream.0 < self.next_stream => Err(UsageError::StreamClosed(stream)),
            None => Err(UsageError::UnknownStream(stream)),
        }
    }

    fn end_session(&mut self, id: &SessionId, reason: CloseReason, now: Instant) {
        let Some(entry) = self.sessions.remove(id) else {
            return;
        };
        // Its streams end, a detached standalone one too; nothing of it is kept for
        // replay: its id gets 404 from now on.
        for stream in entry.streams.into_iter().chain(entry.standalone) {
            self.close_stream(stream, now);
        }
        for stream in entry.retained {
            self.drop_retained(stream);
        }
        self.outstanding.drop_session(id);
        self.events.push_back(ServerEvent::SessionClosed {
            id: id.clone(),
            reason,
        });
    }

    /// 128 random bits as 32 lower-case hex digits: visible ASCII (`SRV-SESS-3`), from
    /// the injected CSPRNG (`SRV-SEC-8`). A mint counter is mixed into the first 8 bytes:
    /// XOR with a counter keeps a uniform draw uniform, and makes ids distinct over the
    /// machine's lifetime (`INV-S1`) even with a degenerate (constant) test source, so the
    /// loop, which only guards against a live collision, always ends.
    fn mint_session_id(&mut self) -> SessionId {
        loop {
            let mut raw = [0u8; 16];
            self.entropy.fill(&mut raw);
            self.minted += 1;
            for (b, c) in raw.iter_mut().zip(self.minted.to_le_bytes()) {
                *b ^= c;
            }
            let mut hex = String::with_capacity(32);
            for b in raw {
                hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
            }
            let id = SessionId::new(&hex).expect("hex is visible ASCII");
            if !self.sessions.contains(&id) {
                return id;
            }
        }
    }
}
