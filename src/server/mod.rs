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
//! | `machine.rs` | the wiring: owns the components, carries out what they decide |
//! | `pipeline.rs` | the ordered checks: a pure function over a read-only view |
//! | `era.rs` | the era classifier: which rules govern a request |
//! | `refusal.rs` | the refusal table and the policy that answers each refusal |
//! | `sessions.rs` | the session table: every live session and everything it holds |
//! | `streams.rs` | open and retained streams, their replay, what they write |
//! | `connections.rs` | connections and their output queues |
//! | `outstanding.rs` | server-to-client requests and the pairing of answers |
//! | `replay.rs` | event ids and bounded replay buffers |
//! | `store.rs` | the seam to a session store shared by several nodes |
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
mod listen;
mod lookalike;
mod machine;
mod outcome;
mod outstanding;
mod pipeline;
mod refusal;
mod replay;
mod reply;
mod sessions;
mod store;
mod streams;

use std::time::Instant;

use bytes::Bytes;
use http::{Request, request};

pub use crate::handle::{ConnectionId, StreamId};
pub use crate::params::{ParamHeader, ParamHeaderError, ParamHeaders, ParamKind};
pub use config::{OriginPolicy, ReplayLimits, ReplyMode, ServerConfig, SessionMode};
pub use error::UsageError;
pub use listen::{ACKNOWLEDGED, SUBSCRIPTION_ID_META, SubscriptionFilter};
pub use outcome::{
    AbandonReason, Accepted, CloseReason, Delivery, Dispatch, Outcome, Output, ServerEvent,
    SessionDeleted, StreamEvent, StreamOpened, StreamResumed, Timeout, TimeoutReason,
};
pub use outstanding::{Answered, PendingRequest};
pub use refusal::{Answer, Policy, Refusal, Reject};
pub use sessions::{RecordChange, SessionRecord};
pub use store::{
    FetchSession, FetchStream, Forwarded, InvalidNodeId, NodeId, StoreAction, StoreConfig, StoreOp,
    StoreUnavailable, StoredEvents, StoredStream, StreamKey, Ticket,
};

use crate::entropy::Entropy;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Message, RequestId};
use machine::Machine;

/// The server side of the Streamable HTTP transport, as a state machine.
///
/// Method groups, in the order a driver uses them:
/// - constructors: [`new`](Self::new) (the OS CSPRNG), [`with_entropy`](Self::with_entropy);
/// - inputs: [`check_head`](Self::check_head) (optional, from the head alone),
///   [`handle_request`](Self::handle_request), [`send`](Self::send),
///   [`request`](Self::request), [`finish_request`](Self::finish_request),
///   [`close_connection`](Self::close_connection),
///   [`handle_disconnect`](Self::handle_disconnect), [`keep_alive`](Self::keep_alive),
///   [`shutdown`](Self::shutdown), [`handle_timeout`](Self::handle_timeout),
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
    machine: Machine,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.machine.fmt(f)
    }
}

impl Server {
    /// A server drawing session ids from the operating system's CSPRNG.
    #[cfg(feature = "os-rng")]
    pub fn new(config: ServerConfig) -> Self {
        Self::with_entropy(config, Box::new(crate::entropy::OsEntropy))
    }

    /// A server drawing session ids from `entropy`.
    pub fn with_entropy(config: ServerConfig, entropy: Box<dyn Entropy>) -> Self {
        Self {
            machine: Machine::new(config, entropy),
        }
    }

    // ----- getters -----
    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        self.machine.config()
    }

    /// The largest body to read, in bytes. A driver reads at most this many plus one, so
    /// that an oversized body without `Content-Length` is still refused with 413.
    pub fn max_body_bytes(&self) -> usize {
        self.machine.max_body_bytes()
    }

    /// A live session's record.
    pub fn session(&self, id: &SessionId) -> Option<&SessionRecord> {
        self.machine.session(id)
    }

    /// Every live session's record, in no particular order.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionRecord> {
        self.machine.sessions()
    }

    /// How many sessions are live.
    pub fn session_count(&self) -> usize {
        self.machine.session_count()
    }

    /// How many streams are open (attached or not).
    pub fn stream_count(&self) -> usize {
        self.machine.stream_count()
    }

    /// The bytes of SSE frames kept for replay, all sessions and streams together; never
    /// more than [`ReplayLimits::max_total_bytes`](crate::server::ReplayLimits::max_total_bytes)
    /// once a write returns.
    pub fn replay_bytes(&self) -> usize {
        self.machine.replay_bytes()
    }

    /// The session's open standalone stream, where server-initiated messages that relate
    /// to no request go (`SRV-GET-4`, `SRV-MULTI-2`).
    pub fn standalone_stream(&self, id: &SessionId) -> Option<StreamId> {
        self.machine.standalone_stream(id)
    }

    /// The connection a stream writes to now, if one is attached.
    pub fn connection(&self, stream: StreamId) -> Option<ConnectionId> {
        self.machine.connection(stream)
    }

    /// The server-to-client requests of a session (`None`: the session-less table) still
    /// awaiting their answer, in no particular order.
    pub fn pending_requests(
        &self,
        session: Option<&SessionId>,
    ) -> impl Iterator<Item = &PendingRequest> {
        self.machine.pending_requests(session)
    }

    // ----- inputs -----
    /// Runs the checks that need only the request head (steps 1 to 8, but the
    /// session-less POST case, which needs to know whether the body is `initialize`, and
    /// a POST's unsupported version, whose 2026-07-28 error carries the request's id and
    /// whose era the body's `_meta` may decide; those checks stop at step 6).
    /// A driver calls it before reading the body, to refuse early (413, 403, 405 ...).
    /// Read-only: passing it changes nothing, and `handle_request` runs every check again.
    pub fn check_head(&self, head: &request::Parts) -> Option<Reject> {
        self.machine.check_head(head)
    }

    /// Handles one complete request. The body is the whole body as read (at most
    /// [`max_body_bytes`](Self::max_body_bytes) + 1 bytes).
    ///
    /// A refused request changes nothing (`INV-S3`, `INV-S13`).
    pub fn handle_request(&mut self, request: Request<Bytes>, now: Instant) -> Outcome {
        self.machine.handle_request(request, now)
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
        self.machine.send(stream, message, now)
    }

    /// Answers request `id` of a POST stream with `result`:
    /// `{"jsonrpc":"2.0","id":ID,"result":RESULT}`, serialized by the machine. The rules
    /// of [`send`](Self::send) for answers apply (the answer to `initialize` mints the
    /// session; the last answer of a POST ends its stream).
    ///
    /// Cheaper than [`send`](Self::send) with the same message: the machine writes the
    /// envelope itself, so it has nothing to parse back. A `result` that does not
    /// serialize as JSON is [`UsageError::Unserializable`].
    pub fn respond(
        &mut self,
        stream: StreamId,
        id: &RequestId,
        result: &impl serde::Serialize,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.machine.respond(stream, id, result, now)
    }

    /// Answers request `id` of a POST stream with a JSON-RPC error (`code`, `message`,
    /// and `data` when given), written by the machine: see [`respond`](Self::respond).
    pub fn respond_error(
        &mut self,
        stream: StreamId,
        id: &RequestId,
        code: i32,
        message: &str,
        data: Option<&serde_json::Value>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let message = Message::error(id, code, message, data);
        self.machine.send_answer(stream, message, now)
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
        self.machine.request(stream, method, params, now)
    }

    /// Makes `stream`, the SSE stream of a 2026-07-28 `subscriptions/listen` request, a
    /// listen stream (`N26-5`, `N26-18`): the machine sends
    /// `notifications/subscriptions/acknowledged` with `honoured` (what the client asked
    /// for, [`SubscriptionFilter::from_params`], cut down to what the application
    /// supports), and from then on [`publish`](Self::publish) delivers the notifications
    /// the filter admits. Every message on it carries the subscription id (the request's
    /// id). The stream stays open until the client closes it (cancellation, `N26-4`) or
    /// [`end_listen`](Self::end_listen) / [`shutdown`](Self::shutdown) ends it.
    pub fn listen(
        &mut self,
        stream: StreamId,
        honoured: SubscriptionFilter,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.machine.listen(stream, honoured, now)
    }

    /// Sends a change notification (`notifications/tools/list_changed`, `.../prompts/...`,
    /// `.../resources/list_changed`, `notifications/resources/updated`) to every listen
    /// stream whose filter admits it, tagged with that stream's subscription id. Returns
    /// how many streams took it.
    pub fn publish(
        &mut self,
        method: &str,
        params: Option<&serde_json::Value>,
        now: Instant,
    ) -> usize {
        self.machine.publish(method, params, now)
    }

    /// Ends a listen stream from the server side: its result (with the subscription id)
    /// goes first, then the stream ends (`N26-18`).
    pub fn end_listen(&mut self, stream: StreamId, now: Instant) -> Result<(), UsageError> {
        self.machine.end_listen(stream, now)
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
        self.machine.finish_request(stream, id, now)
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
        self.machine.close_connection(stream, now)
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
        self.machine.handle_disconnect(connection, now)
    }

    /// Writes an SSE keep-alive comment (`: keep-alive`) on `connection`, when it is the
    /// current connection of an SSE stream whose head went out; returns whether it did.
    /// The driver calls it when the connection has been quiet for its keep-alive interval
    /// (15 s is common: the TypeScript SDK and rmcp use it), so that proxies and clients
    /// do not time an idle stream out. A client ignores comments.
    pub fn keep_alive(&mut self, connection: ConnectionId) -> bool {
        self.machine.keep_alive(connection)
    }

    /// The server is going away (graceful shutdown): every connection a stream is
    /// written to ends now, cleanly. A resumable stream of a 2025-11-25 client gets a
    /// `retry` first and can be resumed (`SRV-PSSE-10`); a standalone stream ends; a POST
    /// stream's connection ends, the stream going on detached and taking its answers. A
    /// reply whose head has not gone yet (JSON, `initialize`) is left to its answer.
    /// Returns how many connections were ended.
    pub fn shutdown(&mut self, now: Instant) -> usize {
        self.machine.shutdown(now)
    }

    /// Expires what is due at `now`: idle sessions end (`SRV-SESS-6`), their streams end,
    /// and a [`ServerEvent::SessionClosed`] is queued for each; finished streams whose
    /// replay window has closed are dropped.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now)
    }

    /// Ends a session on the server's initiative (`SRV-SESS-6`): its streams end and its
    /// id gets 404 from now on. Returns whether the session was live.
    pub fn terminate_session(&mut self, id: &SessionId) -> bool {
        self.machine.terminate_session(id)
    }

    /// Puts back a session kept elsewhere (an external store, another process), so a
    /// client can go on with it here.
    pub fn restore_session(
        &mut self,
        record: SessionRecord,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.machine.restore_session(record, now)
    }

    // ----- a shared session store (`ServerConfig::store`) -----
    /// Gives back a request parked by [`Outcome::FetchSession`], with what the store
    /// holds for its session: `Ok(Some(record))`, `Ok(None)` (no such session: 404, as
    /// an unknown id gets here), or `Err(StoreUnavailable)` (503 with `Retry-After`).
    /// The checks go on at step 8, in the same order, so the outcome is the one the
    /// request would have had on the node that holds the session. A refused request
    /// leaves nothing behind: the record is only kept when the request is accepted.
    ///
    /// Misuse: a record of another session is [`UsageError::FetchedAnotherSession`], and
    /// one whose version this server does not serve with sessions is
    /// [`UsageError::UnsupportedNegotiatedVersion`]; the request is then dropped (answer
    /// it with a 500).
    pub fn resume_fetched(
        &mut self,
        fetch: FetchSession,
        record: Result<Option<SessionRecord>, StoreUnavailable>,
        now: Instant,
    ) -> Result<Outcome, UsageError> {
        self.machine.resume_fetched(fetch, record, now)
    }

    /// The next write to the store, in order. Drain after every input until `None`, and
    /// perform the writes of one session in this order. A write with a
    /// [`ticket`](StoreOp::ticket) is one a reply waits for: confirm it with
    /// [`store_done`](Self::store_done) before sending the response the same input
    /// returned (a DELETE's, a 202). A reply on a connection (the `initialize` answer)
    /// is held by the machine until then.
    #[must_use]
    pub fn poll_store(&mut self) -> Option<StoreOp> {
        self.machine.poll_store()
    }

    /// Confirms a write [`poll_store`](Self::poll_store) handed out with a ticket.
    ///
    /// - `Ok(())`: what waited goes out (the held `initialize` reply is released).
    /// - `Err(StoreUnavailable)`: nothing is half-done. A session whose creation failed
    ///   is gone, and its held reply becomes a 503 with `Retry-After`. A failed
    ///   `initialized` is undone here. A failed delete leaves the session in the store,
    ///   and the client is told to retry. When the reply the driver holds must change,
    ///   the 503 to send instead of it is returned.
    ///
    /// A ticket never issued, or confirmed already, is [`UsageError::UnknownTicket`].
    pub fn store_done(
        &mut self,
        ticket: Ticket,
        result: Result<(), StoreUnavailable>,
    ) -> Result<Option<http::Response<Bytes>>, UsageError> {
        self.machine.store_done(ticket, result)
    }

    /// Another node changed a session's record (a [`StoreAction::Update`] it wrote):
    /// the copy held here, if any, takes the change. A standalone stream opened on
    /// another node supersedes the one held here, which ends. Returns whether a copy
    /// was held. Nothing is written back.
    pub fn refresh_session(&mut self, id: &SessionId, change: &RecordChange, now: Instant) -> bool {
        self.machine.refresh_session(id, change, now)
    }

    /// Gives back a resumption parked by [`Outcome::FetchStream`], with the store's copy
    /// of the stream (`Ok(None)`: the store has none: 400, as an unknown `Last-Event-ID`
    /// gets). A copy of another session, or one that has not reached the position, is
    /// refused the same way (`SRV-RES-6`). Otherwise the events after the position go
    /// out on a new connection ([`Outcome::StreamResumed`], with
    /// [`relayed_from`](StreamResumed::relayed_from) set while the stream goes on), and
    /// [`relay`](Self::relay) carries the rest.
    pub fn resume_stream(
        &mut self,
        fetch: FetchStream,
        stored: Result<Option<StoredStream>, StoreUnavailable>,
        now: Instant,
    ) -> Result<Outcome, UsageError> {
        self.machine.resume_stream(fetch, stored, now)
    }

    /// More of a relayed stream, as the store got it: the events go out in order, each
    /// once (positions already relayed are skipped), and the stream ends when `ended`.
    /// Returns how many events went out. A stream that relays nothing is
    /// [`UsageError::NotARelayStream`].
    pub fn relay(
        &mut self,
        stream: StreamId,
        more: StoredEvents,
        now: Instant,
    ) -> Result<usize, UsageError> {
        self.machine.relay(stream, more, now)
    }

    /// The stream an open relay stream relays, and the next position it waits for: read
    /// the store's events of that stream from there. `None` for a stream that is not an
    /// open relay.
    pub fn relay_next(&self, stream: StreamId) -> Option<(&StreamKey, u64)> {
        self.machine.relay_next(stream)
    }

    /// A payload another node forwarded to this one (a [`StoreAction::Forward`] naming
    /// this node): a client's answer to a request sent here, paired as an accepted
    /// POST's answers are, or a message for this node's standalone stream of the
    /// session, sent on it. Bytes that are no such payload are
    /// [`UsageError::InvalidForward`].
    pub fn handle_forwarded(
        &mut self,
        payload: &[u8],
        now: Instant,
    ) -> Result<Forwarded, UsageError> {
        self.machine.handle_forwarded(payload, now)
    }

    /// Sends a server-initiated notification to a session, wherever its standalone
    /// stream is (`SRV-GET-4`): on it when it is open here, else, with a store, to the
    /// node whose stream the record names (a [`StoreAction::Forward`]); otherwise nothing
    /// is sent ([`Delivery::NoStream`]). The session must be held here
    /// ([`UsageError::SessionNotHeld`]). A request can only go to a stream here
    /// ([`UsageError::RequestOnRemoteStream`]).
    pub fn notify(
        &mut self,
        session: &SessionId,
        message: impl Into<Bytes>,
        now: Instant,
    ) -> Result<Delivery, UsageError> {
        self.machine.notify(session, message.into(), now)
    }

    /// Evicts every idle session from this node's memory (each a
    /// [`ServerEvent::SessionEvicted`]); they stay in the store. A driver calls it when it
    /// may have missed other nodes' changes (its subscription to them dropped), so that
    /// nothing stale is served. Sessions with a stream open here stay. Returns how many
    /// were evicted.
    pub fn evict_idle_sessions(&mut self) -> usize {
        self.machine.evict_idle_sessions()
    }

    /// Another node ended a session (a [`StoreAction::Delete`] it wrote): the copy held
    /// here ends too, with its streams, and its id gets 404 here as everywhere
    /// ([`CloseReason::EndedElsewhere`]). Returns whether one was held. Nothing is
    /// written back.
    pub fn forget_session(&mut self, id: &SessionId) -> bool {
        self.machine.forget_session(id)
    }

    /// Gives up on a server-to-client request (a timeout, a cancellation): a later answer
    /// with its id is handed over unpaired. Returns the request, if it was outstanding.
    pub fn forget_request(
        &mut self,
        session: Option<&SessionId>,
        id: &RequestId,
    ) -> Option<PendingRequest> {
        self.machine.forget_request(session, id)
    }

    // ----- outputs -----
    /// A connection that has output waiting: a driver that parks a task per connection
    /// wakes that one. Listed once each time output arrives for a connection that was
    /// not listed; drain after every input until `None`.
    #[must_use]
    pub fn poll_ready(&mut self) -> Option<ConnectionId> {
        self.machine.poll_ready()
    }

    /// The next output of `connection`, in order: its head, body chunks, its end. Output
    /// waits here until it is pulled, whenever that is; after `End` the connection is
    /// over.
    #[must_use]
    pub fn poll_connection(&mut self, connection: ConnectionId) -> Option<StreamEvent> {
        self.machine.poll_connection(connection)
    }

    /// The next output of any connection, for a driver that writes everything from one
    /// place (a single-threaded loop, a test): connections in the order output arrived
    /// for them, each drained before the next.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.machine.poll_output()
    }

    /// The next session event. Drain after every input until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.machine.poll_event()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, and why; `None` when
    /// nothing is scheduled. Cheap: a lookup, no allocation.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timeout> {
        self.machine.poll_timeout()
    }

    // ----- wiring -----
}
