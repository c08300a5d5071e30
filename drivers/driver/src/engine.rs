//! The runtime-free core of the example server drivers (`hyper_server.rs` on hyper +
//! tokio, `blocking_server.rs` on `std::net` + threads): everything a driver does with the
//! [`Server`] machine, so that the two drivers carry only bytes and time.
//!
//! - One [`Engine`] holds the machine behind a `Mutex` that is never held across an
//!   `.await` or a blocking write. Every machine input goes through it, reads the clock
//!   under the lock (so `now` never goes backwards), and then settles: it wakes the task of
//!   every connection with output waiting ([`Server::poll_ready`]), logs session events,
//!   and hands abandoned server-to-client requests their end.
//! - A connection's output is pulled by the task that writes it
//!   ([`Engine::poll_connection`], with a `Waker`): nothing is routed, so nothing can be
//!   lost whenever the task gets to it.
//! - Applications see [`app`](crate::app)'s shapes: a [`ServerInfo`](crate::app::ServerInfo)
//!   the driver answers `initialize` from, [`Call`](crate::app::Call)s, and
//!   [`RpcError`](crate::app::RpcError)s.
//! - The machine decides: the negotiated version of `initialize` comes in
//!   [`AppRequest::negotiated`]; the client's answers come paired with the request they
//!   answer; a request whose handler ended without answering gets -32603 from the machine
//!   ([`Replier::finish_on_drop`]); a late disconnect of a replaced connection is the
//!   machine's no-op.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, request};
use mcp_http_proto::server::{
    ConnectionId, Delivery, FetchSession, FetchStream, Forwarded, Outcome, RecordChange, Refusal,
    Reject, ServerConfig, ServerEvent, SessionRecord, StoreOp, StoreUnavailable, StoredEvents,
    StoredStream, StreamEvent, StreamId, StreamKey, Ticket, UsageError,
};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{self, Message, RequestId};
use mcp_http_proto::{ProtocolVersion, Server};

use crate::log::{self as server_log, to_bytes};

/// The path of the MCP endpoint; every other path gets 404.
pub const ENDPOINT: &str = "/mcp";

/// How long [`Replier::request`] waits for the client's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The most store writes waiting or being written before new requests wait for room
/// ([`Engine::poll_store_room`]): a bound on the driver's memory when the store is slower
/// than the requests.
pub const MAX_STORE_BACKLOG: usize = 16_384;

/// The longest a timer loop sleeps before it looks at [`Server::poll_timeout`] again, so
/// that a deadline that moved earlier is noticed in time.
pub const TIMER_RECHECK: Duration = Duration::from_secs(1);

/// The driver's clock. The library reads none (`clippy.toml` forbids `Instant::now` in the
/// crate); the driver is where time comes from.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// One request message of a POST, as handed to the application.
#[derive(Debug)]
pub struct AppRequest {
    /// The request (it has an id and a method).
    pub message: Message,
    /// The session, in stateful mode (none for `initialize`).
    pub session: Option<SessionId>,
    /// The revision that governs the request.
    pub version: ProtocolVersion,
    /// For `initialize`: the version the machine negotiated; the `InitializeResult` names
    /// it.
    pub negotiated: Option<ProtocolVersion>,
}

/// What the driver sends for a request.
#[derive(Debug)]
pub enum Reply {
    /// A complete response.
    Full(Response<Bytes>),
    /// The output of a connection, pulled with [`Engine::poll_connection`].
    Stream(ConnectionId),
    /// With a shared store: the request waits for what the store holds. Read it and hand
    /// it back with [`Engine::resume_session`] or [`Engine::resume_stream`], whose
    /// [`Handled`] is the request's real one. A driver without a store hands back
    /// `Err(StoreUnavailable)` (503).
    Park(Parked),
}

/// A request parked while the driver reads the store.
#[derive(Debug)]
pub enum Parked {
    /// Read the session's record ([`FetchSession::session`]).
    Session(FetchSession),
    /// Read the stream's copy after a position ([`FetchStream::stream`],
    /// [`FetchStream::after`]).
    Stream(FetchStream),
}

/// What the machine made of a request, for the driver to carry out.
#[derive(Debug)]
pub struct Handled {
    /// What to send.
    pub reply: Reply,
    /// The session the request belongs to, if any.
    pub session: Option<SessionId>,
    /// Requests for the application, each with the replier of its stream.
    pub requests: Vec<(AppRequest, Replier)>,
    /// Notifications for the application (alone, or batched with requests), and the
    /// client's answers that no waiting [`Replier::request`] took, in body order.
    pub messages: Vec<Message>,
    /// A GET opened the standalone stream: its replier.
    pub standalone: Option<Replier>,
    /// Why the request was refused, for the log line.
    pub refusal: Option<Box<str>>,
    /// A resumption: how many events were replayed and missed.
    pub resumed: Option<(usize, u64)>,
    /// With a shared store: the store writes the reply waits for. Send a
    /// [`Reply::Full`] only once [`Engine::poll_ticket`] has answered for each, and send
    /// the response it returns instead, if any (the write failed: a 503).
    pub waits: Vec<Ticket>,
    /// With a shared store: a resumption relays another node's stream. Until
    /// [`Engine::relay_next`] says it is over, read what the store gets for it and hand
    /// it to [`Engine::relay`].
    pub relay: Option<StreamId>,
}

/// The machine, and what the drivers need beside it.
pub struct Engine {
    state: Mutex<State>,
    /// The configuration's versions, newest last (what `server/discover` names).
    supported: Vec<ProtocolVersion>,
}

struct State {
    server: Server,
    /// The task to wake when a connection has output.
    wakers: HashMap<ConnectionId, Waker>,
    /// The stream of each connection handed to a driver and not over yet.
    streams: HashMap<ConnectionId, StreamId>,
    /// Tasks waiting to learn that a stream's client went away.
    gone: HashMap<StreamId, Vec<Waker>>,
    /// Server-to-client requests awaiting their answer, by the id the machine minted.
    waiters: HashMap<RequestId, Arc<Slot>>,
    /// With a shared store: the writes not taken by the store's writer yet, in order,
    /// and the writer's task.
    store_ops: VecDeque<StoreOp>,
    store_waker: Option<Waker>,
    /// Writes the writer took and has not reported done.
    store_in_flight: usize,
    /// Requests waiting for room in the store's backlog.
    room_wakers: Vec<Waker>,
    /// Tickets a reply waits for, with the outcome once confirmed (`Some(r)`: send `r`
    /// instead), and the task waiting.
    awaited: HashMap<Ticket, Option<Option<Response<Bytes>>>>,
    ticket_wakers: HashMap<Ticket, Waker>,
}

impl Engine {
    /// A machine with `config`, drawing session ids from the OS CSPRNG.
    pub fn new(config: ServerConfig) -> Arc<Self> {
        let mut supported = config.supported_versions.clone();
        supported.sort();
        supported.dedup();
        Arc::new(Self {
            supported,
            state: Mutex::new(State {
                server: Server::new(config),
                wakers: HashMap::new(),
                streams: HashMap::new(),
                gone: HashMap::new(),
                waiters: HashMap::new(),
                store_ops: VecDeque::new(),
                store_waker: None,
                store_in_flight: 0,
                room_wakers: Vec::new(),
                awaited: HashMap::new(),
                ticket_wakers: HashMap::new(),
            }),
        })
    }

    /// The protocol versions the machine serves, oldest first.
    pub fn supported_versions(&self) -> &[ProtocolVersion] {
        &self.supported
    }

    /// Locks the state. A panic while it was held (a bug) does not take the whole server
    /// down: the other connections go on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the machine with the driver's clock, then settles.
    fn input<R>(&self, f: impl FnOnce(&mut Server, Instant) -> R) -> R {
        let mut st = self.lock();
        let r = f(&mut st.server, now());
        st.settle();
        r
    }

    /// The refusal the machine makes from the head alone (413, 403, 405 ...), and the
    /// largest body to read otherwise (the limit plus one, so that an oversized body
    /// without `Content-Length` is still refused).
    // A refusal is built once, on the refusing path; boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub fn check_head(&self, head: &request::Parts) -> Result<usize, (Response<Bytes>, Box<str>)> {
        let st = self.lock();
        match st.server.check_head(head) {
            Some(r) => Err((r.response, r.reason)),
            None => Ok(st.server.max_body_bytes().saturating_add(1)),
        }
    }

    /// Hands a complete request to the machine.
    pub fn handle(self: &Arc<Self>, request: Request<Bytes>) -> Handled {
        let mut st = self.lock();
        let outcome = st.server.handle_request(request, now());
        self.handled(st, outcome)
    }

    /// Gives back a request parked for a session's record ([`Server::resume_fetched`]).
    pub fn resume_session(
        self: &Arc<Self>,
        fetch: FetchSession,
        record: Result<Option<SessionRecord>, StoreUnavailable>,
    ) -> Handled {
        let mut st = self.lock();
        let outcome = match st.server.resume_fetched(fetch, record, now()) {
            Ok(outcome) => outcome,
            Err(e) => usage_reject(e),
        };
        self.handled(st, outcome)
    }

    /// Gives back a resumption parked for a stream's copy ([`Server::resume_stream`]).
    pub fn resume_stream(
        self: &Arc<Self>,
        fetch: FetchStream,
        stored: Result<Option<StoredStream>, StoreUnavailable>,
    ) -> Handled {
        let mut st = self.lock();
        let outcome = match st.server.resume_stream(fetch, stored, now()) {
            Ok(outcome) => outcome,
            Err(e) => usage_reject(e),
        };
        self.handled(st, outcome)
    }

    /// For a driver that reaches no store: a parked request gets the answer of a store
    /// that is down (503 with `Retry-After`).
    pub fn without_store(self: &Arc<Self>, mut handled: Handled) -> Handled {
        loop {
            handled = match handled.reply {
                Reply::Park(Parked::Session(f)) => self.resume_session(f, Err(StoreUnavailable)),
                Reply::Park(Parked::Stream(f)) => self.resume_stream(f, Err(StoreUnavailable)),
                _ => return handled,
            };
        }
    }

    /// What the driver does with an outcome; settles the machine.
    fn handled(self: &Arc<Self>, mut st: MutexGuard<'_, State>, outcome: Outcome) -> Handled {
        if let (Some(c), Some(s)) = (outcome.connection(), outcome.stream()) {
            st.streams.insert(c, s);
        }
        let mut handled = Handled {
            reply: match outcome.connection() {
                Some(c) => Reply::Stream(c),
                None => Reply::Full(Response::new(Bytes::new())),
            },
            session: None,
            requests: Vec::new(),
            messages: Vec::new(),
            standalone: None,
            refusal: None,
            resumed: None,
            waits: Vec::new(),
            relay: None,
        };
        match outcome {
            Outcome::Reject(r) => {
                handled.refusal = Some(r.reason);
                handled.reply = Reply::Full(r.response);
            }
            Outcome::SessionDeleted(d) => {
                handled.session = Some(d.session);
                handled.reply = Reply::Full(d.response);
            }
            Outcome::Accepted(a) => {
                handled.messages.extend(a.notifications().cloned());
                // The machine paired each answer with the request it answers, or sent it
                // on to the node whose request it answers.
                for answer in a.answers {
                    if answer.forwarded_to.is_some() {
                        continue;
                    }
                    let waiter = answer
                        .request
                        .as_ref()
                        .and_then(|p| st.waiters.remove(&p.id));
                    match waiter {
                        Some(slot) => slot.fill(Ok(answer.message)),
                        None => handled.messages.push(answer.message),
                    }
                }
                handled.session = a.session;
                handled.reply = Reply::Full(a.response);
            }
            Outcome::Dispatch(d) => {
                let replier = self.replier(d.stream, d.session.clone());
                handled.messages.extend(d.notifications().cloned());
                for message in d.requests().cloned() {
                    let request = AppRequest {
                        message,
                        session: d.session.clone(),
                        version: d.version,
                        negotiated: d.negotiated,
                    };
                    handled.requests.push((request, replier.clone()));
                }
                handled.session = d.session;
            }
            Outcome::StreamOpened(s) => {
                handled.standalone = Some(self.replier(s.stream, Some(s.session.clone())));
                handled.session = Some(s.session);
            }
            Outcome::StreamResumed(r) => {
                handled.resumed = Some((r.replayed, r.missed));
                handled.session = Some(r.session);
                if r.relayed_from.is_some() {
                    handled.relay = Some(r.stream);
                }
            }
            Outcome::FetchSession(f) => {
                handled.session = Some(f.session().clone());
                handled.reply = Reply::Park(Parked::Session(f));
            }
            Outcome::FetchStream(f) => {
                handled.session = Some(f.session().clone());
                handled.reply = Reply::Park(Parked::Stream(f));
            }
        }
        // The writes this input made that its reply waits for.
        let tickets = st.take_store_ops();
        if matches!(handled.reply, Reply::Full(_)) {
            for t in tickets {
                handled.waits.push(t);
                st.awaited.insert(t, None);
            }
        }
        st.settle();
        handled
    }

    fn replier(self: &Arc<Self>, stream: StreamId, session: Option<SessionId>) -> Replier {
        Replier {
            stream,
            session,
            engine: self.clone(),
        }
    }

    /// The next output of `connection`, or `Pending` with `waker` registered to be woken
    /// when there is some. After `End` the connection is over.
    pub fn poll_connection(&self, connection: ConnectionId, waker: &Waker) -> Poll<StreamEvent> {
        let mut st = self.lock();
        match st.server.poll_connection(connection) {
            Some(event) => {
                if matches!(event, StreamEvent::End) {
                    st.wakers.remove(&connection);
                    st.streams.remove(&connection);
                }
                Poll::Ready(event)
            }
            None => {
                st.wakers.insert(connection, waker.clone());
                Poll::Pending
            }
        }
    }

    /// The client of `connection` went away before its end. A connection that has ended,
    /// or that a resumption replaced, changes nothing (the machine decides).
    pub fn disconnect(&self, connection: ConnectionId) {
        let mut st = self.lock();
        st.wakers.remove(&connection);
        if let Err(e) = st.server.handle_disconnect(connection, now()) {
            tracing::warn!(target: "mcp_http_proto", %connection, error = %e, "disconnect");
        }
        if let Some(stream) = st.streams.remove(&connection) {
            if st.server.connection(stream).is_none() {
                for w in st.gone.remove(&stream).into_iter().flatten() {
                    w.wake();
                }
            }
        }
        st.settle();
    }

    /// Writes a keep-alive comment on `connection` if it is an open SSE stream's current
    /// connection ([`Server::keep_alive`]); the driver calls it when the connection has
    /// been quiet for its keep-alive interval.
    pub fn keep_alive(&self, connection: ConnectionId) -> bool {
        self.input(|s, _| s.keep_alive(connection))
    }

    /// Graceful shutdown: every attached connection ends cleanly ([`Server::shutdown`]).
    /// Returns how many were ended.
    pub fn shutdown(&self) -> usize {
        self.input(|s, now| s.shutdown(now))
    }

    /// Sends a server-initiated notification on a session's standalone stream
    /// (`SRV-GET-4`), here or, with a store, on the node that holds it
    /// ([`Server::notify`]); `Ok(false)` when the session has no standalone stream open
    /// (or is not held here).
    pub fn notify_session(
        &self,
        session: &SessionId,
        method: &str,
        params: serde_json::Value,
    ) -> Result<bool, UsageError> {
        let json = server_log::notification(method, params);
        // With a store, a standalone stream another node holds gets it through that node.
        self.input(|s, now| match s.notify(session, json, now) {
            Ok(Delivery::NoStream) | Err(UsageError::SessionNotHeld) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(e),
        })
    }

    /// Publishes a change notification to the listen streams whose filter admits it
    /// ([`Server::publish`]); how many took it.
    pub fn publish(&self, method: &str, params: Option<&serde_json::Value>) -> usize {
        self.input(|s, now| s.publish(method, params, now))
    }

    /// The live sessions' ids.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.lock()
            .server
            .sessions()
            .map(|r| r.id.clone())
            .collect()
    }

    /// Whether `stream`'s client has no connection to it now; else `waker` is woken
    /// when that changes.
    fn poll_gone(&self, stream: StreamId, waker: &Waker) -> Poll<()> {
        let mut st = self.lock();
        if st.server.connection(stream).is_none() {
            return Poll::Ready(());
        }
        let waiting = st.gone.entry(stream).or_default();
        if !waiting.iter().any(|w| w.will_wake(waker)) {
            waiting.push(waker.clone());
        }
        Poll::Pending
    }

    // ----- a shared session store -----

    /// The store writes waiting, in order, for the one task that performs them; else
    /// `waker` is woken when there are some. Perform each (its session's writes in this
    /// order), confirm those with a ticket with [`confirm`](Self::confirm), then report
    /// them done with [`store_written`](Self::store_written).
    pub fn poll_store_ops(&self, waker: &Waker) -> Poll<Vec<StoreOp>> {
        let mut st = self.lock();
        if st.store_ops.is_empty() {
            st.store_waker = Some(waker.clone());
            return Poll::Pending;
        }
        let ops: Vec<StoreOp> = st.store_ops.drain(..).collect();
        st.store_in_flight += ops.len();
        Poll::Ready(ops)
    }

    /// The writer is done with `n` writes it took: room for more.
    pub fn store_written(&self, n: usize) {
        let mut st = self.lock();
        st.store_in_flight = st.store_in_flight.saturating_sub(n);
        if st.store_ops.len() + st.store_in_flight < MAX_STORE_BACKLOG {
            for w in st.room_wakers.drain(..) {
                w.wake();
            }
        }
    }

    /// Whether the store's backlog (writes waiting or being written) leaves room for one
    /// more request; else `waker` is woken when it does. A driver checks before handing a
    /// request over, so that a store slower than the requests makes them wait instead of
    /// the backlog growing without bound.
    pub fn poll_store_room(&self, waker: &Waker) -> Poll<()> {
        let mut st = self.lock();
        if st.store_ops.len() + st.store_in_flight < MAX_STORE_BACKLOG {
            return Poll::Ready(());
        }
        st.room_wakers.push(waker.clone());
        Poll::Pending
    }

    /// The store has performed (or failed) the write with `ticket`: see
    /// [`Server::store_done`]. A reply waiting for it goes on.
    pub fn confirm(&self, ticket: Ticket, result: Result<(), StoreUnavailable>) {
        let mut st = self.lock();
        let replacement = match st.server.store_done(ticket, result) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "mcp_http_proto", error = %e, "store_done");
                None
            }
        };
        if let Some(slot) = st.awaited.get_mut(&ticket) {
            *slot = Some(replacement);
            if let Some(w) = st.ticket_wakers.remove(&ticket) {
                w.wake();
            }
        }
        st.settle();
    }

    /// Whether the write with `ticket` (one of [`Handled::waits`]) is confirmed:
    /// `Ready(Some(response))` when it failed and `response` (a 503) goes instead of the
    /// reply held; else `waker` is woken when it is.
    pub fn poll_ticket(&self, ticket: Ticket, waker: &Waker) -> Poll<Option<Response<Bytes>>> {
        let mut st = self.lock();
        match st.awaited.get_mut(&ticket) {
            None => Poll::Ready(None),
            Some(slot) => match slot.take() {
                Some(replacement) => {
                    st.awaited.remove(&ticket);
                    Poll::Ready(replacement)
                }
                None => {
                    st.ticket_wakers.insert(ticket, waker.clone());
                    Poll::Pending
                }
            },
        }
    }

    /// Another node changed a session's record ([`Server::refresh_session`]).
    pub fn refresh_session(&self, id: &SessionId, change: &RecordChange) -> bool {
        self.input(|s, now| s.refresh_session(id, change, now))
    }

    /// Another node ended a session ([`Server::forget_session`]).
    pub fn forget_session(&self, id: &SessionId) -> bool {
        self.input(|s, _| s.forget_session(id))
    }

    /// Evicts every idle session ([`Server::evict_idle_sessions`]): the store's news may
    /// have been missed.
    pub fn evict_idle_sessions(&self) -> usize {
        self.input(|s, _| s.evict_idle_sessions())
    }

    /// A payload another node forwarded here ([`Server::handle_forwarded`]): an answer
    /// goes to the request waiting for it, as an answer in a POST does.
    pub fn handle_forwarded(&self, payload: &[u8]) -> Result<Forwarded, UsageError> {
        let mut st = self.lock();
        let forwarded = st.server.handle_forwarded(payload, now());
        if let Ok(Forwarded::Answer(answer)) = &forwarded {
            let waiter = answer
                .request
                .as_ref()
                .and_then(|p| st.waiters.remove(&p.id));
            if let Some(slot) = waiter {
                slot.fill(Ok(answer.message.clone()));
            }
        }
        st.settle();
        forwarded
    }

    /// The stream a relay stream relays and the next position it waits for
    /// ([`Server::relay_next`]); `None` once it is over.
    pub fn relay_next(&self, stream: StreamId) -> Option<(StreamKey, u64)> {
        let st = self.lock();
        st.server.relay_next(stream).map(|(k, n)| (k.clone(), n))
    }

    /// More of a relayed stream ([`Server::relay`]).
    pub fn relay(&self, stream: StreamId, more: StoredEvents) -> Result<usize, UsageError> {
        self.input(|s, now| s.relay(stream, more, now))
    }

    /// The machine's replay limits, which a store applies to its copies of streams.
    pub fn replay_limits(&self) -> Option<mcp_http_proto::server::ReplayLimits> {
        self.lock().server.config().replay
    }

    /// Runs the timers that are due; returns when to look again.
    pub fn tick(&self) -> Instant {
        let mut st = self.lock();
        let now = now();
        if st.server.poll_timeout().is_some_and(|t| t.at <= now) {
            st.server.handle_timeout(now);
            st.settle();
        }
        match st.server.poll_timeout() {
            Some(t) => t.at.min(now + TIMER_RECHECK),
            None => now + TIMER_RECHECK,
        }
    }
}

impl State {
    /// After every input: wake the connections with output, log session events, and end
    /// the waits of requests that will never be answered.
    /// Moves the machine's store writes to the writer's queue, in order; the tickets
    /// among them (writes a reply may wait for).
    fn take_store_ops(&mut self) -> Vec<Ticket> {
        let mut tickets = Vec::new();
        while let Some(op) = self.server.poll_store() {
            if let Some(t) = op.ticket {
                tickets.push(t);
            }
            self.store_ops.push_back(op);
        }
        tickets
    }

    fn settle(&mut self) {
        // A stream that lost its connection (the client left, the machine closed it early
        // or at shutdown, the stream ended): its `client_gone` waiters go on.
        let server = &self.server;
        let lost: Vec<StreamId> = self
            .gone
            .keys()
            .copied()
            .filter(|s| server.connection(*s).is_none())
            .collect();
        for s in lost {
            for w in self.gone.remove(&s).into_iter().flatten() {
                w.wake();
            }
        }
        while let Some(c) = self.server.poll_ready() {
            if let Some(w) = self.wakers.remove(&c) {
                w.wake();
            }
        }
        self.take_store_ops();
        if !self.store_ops.is_empty() {
            if let Some(w) = self.store_waker.take() {
                w.wake();
            }
        }
        while let Some(event) = self.server.poll_event() {
            server_log::session_event(&event);
            if let ServerEvent::RequestAbandoned { request, .. } = event {
                if let Some(slot) = self.waiters.remove(&request.id) {
                    slot.fill(Err(RequestError::Closed));
                }
            }
        }
    }
}

// ----- the application's handle on a stream -----

/// A handle on one stream, to send JSON-RPC messages on it. Each call is one machine
/// input; nothing is awaited, so it can be called from async and blocking code alike.
#[derive(Clone)]
pub struct Replier {
    stream: StreamId,
    /// The stream's session (none in stateless mode, and for `initialize`).
    session: Option<SessionId>,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Why [`Replier::request`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The machine refused to send the request (see [`Server::send`]).
    Usage(UsageError),
    /// No answer within the timeout; the request is forgotten (a late answer goes to the
    /// application as an unpaired message).
    Timeout,
    /// The session ended (or the stream, without a session) before the answer.
    Closed,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("the client did not answer in time"),
            Self::Closed => f.write_str("the session ended before the client answered"),
        }
    }
}

impl std::error::Error for RequestError {}

impl Replier {
    /// The stream this replier sends on.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The stream's session (none in stateless mode and for `initialize`).
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// Sends one JSON-RPC message (its JSON text) on the stream: see [`Server::send`].
    pub fn send(&self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        let json = json.into();
        self.engine.input(|s, now| s.send(self.stream, json, now))
    }

    /// Sends a notification `{"jsonrpc":"2.0","method":..,"params":..}`.
    pub fn notify(&self, method: &str, params: serde_json::Value) -> Result<(), UsageError> {
        self.send(server_log::notification(method, params))
    }

    /// Answers request `id` with a result (written by the machine: see
    /// [`Server::respond`]).
    pub fn respond_ok(&self, id: &RequestId, result: serde_json::Value) -> Result<(), UsageError> {
        self.respond(id, &result)
    }

    /// Answers request `id` with any serializable result: [`Server::respond`].
    pub fn respond<R: serde::Serialize>(
        &self,
        id: &RequestId,
        result: &R,
    ) -> Result<(), UsageError> {
        self.engine
            .input(|s, now| s.respond(self.stream, id, result, now))
    }

    /// Answers request `id` with a JSON-RPC error.
    pub fn respond_err(&self, id: &RequestId, code: i32, message: &str) -> Result<(), UsageError> {
        self.engine
            .input(|s, now| s.respond_error(self.stream, id, code, message, None, now))
    }

    /// Answers request `id` with what the application made of it: a result, or a
    /// JSON-RPC error.
    pub fn answer(
        &self,
        id: &RequestId,
        answer: Result<serde_json::Value, crate::app::RpcError>,
    ) -> Result<(), UsageError> {
        match answer {
            Ok(v) => self.respond_ok(id, v),
            Err(e) => self.engine.input(|s, now| {
                s.respond_error(self.stream, id, e.code, &e.message, e.data.as_ref(), now)
            }),
        }
    }

    /// Sends `notifications/progress` for `token` on the stream (`progress` of `total`,
    /// with an optional message).
    pub fn progress(
        &self,
        token: &serde_json::Value,
        progress: u64,
        total: Option<u64>,
        message: Option<&str>,
    ) -> Result<(), UsageError> {
        let mut params = serde_json::json!({"progressToken": token, "progress": progress});
        if let Some(t) = total {
            params["total"] = t.into();
        }
        if let Some(m) = message {
            params["message"] = m.into();
        }
        self.notify("notifications/progress", params)
    }

    /// Resolves when the client has no connection to this stream: it went away (or the
    /// server closed the connection early). In the 2025 revisions that is not a
    /// cancellation (`SRV-PSSE-6`): an answer is still kept for a resume.
    pub fn client_gone(&self) -> ClientGone {
        ClientGone {
            stream: self.stream,
            engine: self.engine.clone(),
        }
    }

    /// Answers request `id` with a JSON-RPC error carrying `data`.
    pub fn respond_err_data(
        &self,
        id: &RequestId,
        code: i32,
        message: &str,
        data: &serde_json::Value,
    ) -> Result<(), UsageError> {
        self.engine
            .input(|s, now| s.respond_error(self.stream, id, code, message, Some(data), now))
    }

    /// Sends a request to the client on this stream (`SRV-PSSE-2` on a POST stream,
    /// before its response; `SRV-GET-4` on the standalone stream), with an id the machine
    /// mints. The answer, as the client sent it, comes through the returned
    /// [`PendingAnswer`]: await it, or [`wait`](PendingAnswer::wait) for it.
    pub fn request(&self, method: &str, params: serde_json::Value) -> PendingAnswer {
        let slot = Arc::new(Slot::default());
        let params = (!params.is_null()).then_some(params);
        let sent = {
            let mut st = self.engine.lock();
            let sent = st
                .server
                .request(self.stream, method, params.as_ref(), now());
            if let Ok(id) = &sent {
                // Registered under the same lock as the send: the answer cannot come first.
                st.waiters.insert(id.clone(), slot.clone());
            }
            st.settle();
            sent
        };
        match sent {
            Ok(id) => PendingAnswer {
                slot,
                id: Some(id),
                session: self.session.clone(),
                engine: self.engine.clone(),
                deadline: None,
            },
            Err(e) => {
                slot.fill(Err(RequestError::Usage(e)));
                PendingAnswer {
                    slot,
                    id: None,
                    session: None,
                    engine: self.engine.clone(),
                    deadline: None,
                }
            }
        }
    }

    /// Closes the stream's connection without ending the stream (`SRV-PSSE-10`): the
    /// client resumes with GET + `Last-Event-ID` and gets what was sent meanwhile. Only
    /// for resumable streams of 2025-11-25 clients (see [`Server::close_connection`]).
    pub fn close_connection(&self) -> Result<(), UsageError> {
        self.engine
            .input(|s, now| s.close_connection(self.stream, now))
    }

    /// Publishes a change notification to the listen streams that admit it
    /// ([`Engine::publish`]).
    pub fn publish(&self, method: &str, params: Option<&serde_json::Value>) -> usize {
        self.engine.publish(method, params)
    }

    /// Makes the stream a `subscriptions/listen` stream honouring `filter`
    /// ([`Server::listen`]).
    pub fn listen(
        &self,
        filter: mcp_http_proto::server::SubscriptionFilter,
    ) -> Result<(), UsageError> {
        self.engine
            .input(|s, now| s.listen(self.stream, filter, now))
    }

    /// A guard that, when dropped, tells the machine the application is done with
    /// request `id` ([`Server::finish_request`]): a request left unanswered (the handler
    /// returned early, panicked, or was cancelled) gets -32603 from the machine.
    pub fn finish_on_drop(&self, id: RequestId) -> FinishGuard {
        FinishGuard {
            replier: self.clone(),
            id,
        }
    }
}

/// See [`Replier::client_gone`].
pub struct ClientGone {
    stream: StreamId,
    engine: Arc<Engine>,
}

impl Future for ClientGone {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.engine.poll_gone(self.stream, cx.waker())
    }
}

/// See [`Replier::finish_on_drop`].
pub struct FinishGuard {
    replier: Replier,
    id: RequestId,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        let r = &self.replier;
        let answered = r
            .engine
            .input(|s, now| s.finish_request(r.stream, &self.id, now));
        if answered == Ok(true) {
            tracing::warn!(target: "mcp_http_proto", id = %self.id, "a request was left unanswered: the machine sent -32603");
        }
    }
}

// ----- the answer to a server-to-client request -----

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    filled: Condvar,
}

#[derive(Default)]
struct SlotState {
    value: Option<Result<Message, RequestError>>,
    waker: Option<Waker>,
}

impl Slot {
    fn fill(&self, value: Result<Message, RequestError>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.value.is_none() {
            s.value = Some(value);
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        self.filled.notify_all();
    }
}

/// The client's answer to a [`Replier::request`], to await (async drivers) or
/// [`wait`](Self::wait) for (blocking drivers). Dropped unanswered, or timed out, the
/// request is forgotten by the machine.
pub struct PendingAnswer {
    slot: Arc<Slot>,
    id: Option<RequestId>,
    session: Option<SessionId>,
    engine: Arc<Engine>,
    deadline: Option<Instant>,
}

impl PendingAnswer {
    /// The id the machine minted for the request.
    pub fn id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// Blocks until the answer, or `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Result<Message, RequestError> {
        let deadline = now() + timeout;
        let mut s = self
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(v) = s.value.take() {
                self.id = None;
                return v;
            }
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                return Err(RequestError::Timeout); // forgotten on drop
            }
            s = self
                .slot
                .filled
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Gives up at `deadline` (checked each time the future is polled; an async driver
    /// wraps the await in its runtime's timeout to be polled then).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

impl Future for PendingAnswer {
    type Output = Result<Message, RequestError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut s = this
            .slot
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = s.value.take() {
            this.id = None;
            return Poll::Ready(v);
        }
        if this.deadline.is_some_and(|d| now() >= d) {
            return Poll::Ready(Err(RequestError::Timeout));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for PendingAnswer {
    fn drop(&mut self) {
        // Not answered: the machine forgets it, and a late answer is handed over unpaired.
        if let Some(id) = self.id.take() {
            let mut st = self.engine.lock();
            st.waiters.remove(&id);
            st.server.forget_request(self.session.as_ref(), &id);
        }
    }
}

// ----- the application -----

/// The driver's misuse of the machine on a parked request: a 500 with a JSON-RPC body.
fn usage_reject(e: UsageError) -> Outcome {
    tracing::error!(target: "mcp_http_proto", error = %e, "a parked request");
    let mut response = driver_error(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "the server could not resume the request",
    );
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    Outcome::Reject(Reject {
        refusal: Refusal::StoreUnavailable,
        response,
        reason: e.to_string().into(),
    })
}

/// The JSON of a complete error response the driver makes itself: only for what the
/// machine does not see (a path other than the endpoint, a head that does not parse, a
/// body it cannot frame, a full server).
pub fn driver_error(status: http::StatusCode, message: &str) -> Response<Bytes> {
    let body = jsonrpc::error_body(None, jsonrpc::SERVER_ERROR, message, None);
    let len = body.len();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    r
}

/// Turns a JSON value into bytes (re-exported for the examples).
pub fn json_bytes(v: &serde_json::Value) -> Bytes {
    to_bytes(v)
}
