//! A generic async driver for the [`Server`] machine on hyper 1 + tokio.
//!
//! The driver carries out what the machine decides and holds no protocol logic of its own:
//!
//! - one `Arc<Shared>` holds the machine and a route (an unbounded channel) per open stream,
//!   behind a `std::sync::Mutex` that is never held across an `.await`;
//! - after **every** machine input it drains [`Server::poll_output`] (routing each output to
//!   its stream's channel) and [`Server::poll_event`] (logging sessions created and closed);
//! - a request is refused from its head when it can be ([`Server::check_head`]: a 413 goes
//!   out without reading the body), else its body is read up to
//!   [`Server::max_body_bytes`] + 1 bytes and handed to [`Server::handle_request`];
//! - every request message of a POST goes to the [`App`] in its own task, with a
//!   [`Replier`] for its stream; the HTTP response is the stream's `Head`, then its `Data`
//!   chunks as they come, until `End`;
//! - when hyper drops a response body before its end (the client went away), the driver
//!   calls [`Server::handle_disconnect`];
//! - a timer task calls [`Server::handle_timeout`] when [`Server::poll_timeout`] says so;
//! - a request the application sends to the client ([`Replier::request`]) waits on a
//!   oneshot kept in the shared state under (session, id); the POST that carries the
//!   client's answer is matched by the machine ([`Accepted::answers`]) and the driver hands
//!   the answer to that oneshot. Answers nobody waits for go to [`App::accepted`].
//!
//! It listens where it is told; the examples bind 127.0.0.1 only.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{
    Accepted, ConnectionId, Outcome, ServerConfig, ServerEvent, StreamEvent, StreamId,
};
use mcp_http_proto::wire::jsonrpc::{self, Message, MessageKind, RequestId};
use mcp_http_proto::wire::{MCP_SESSION_ID, SessionId};
use mcp_http_proto::{ProtocolVersion, Server};

use super::server_log::{self, short, to_bytes};
use tokio::net::TcpListener;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// The path of the MCP endpoint; every other path gets 404.
pub const ENDPOINT: &str = "/mcp";

/// The longest the timer task sleeps before it looks at [`Server::poll_timeout`] again, so
/// that a deadline that moved earlier is noticed in time.
const TIMER_RECHECK: Duration = Duration::from_secs(1);

/// How long [`Replier::request`] waits for the client's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

// ----- the application side -----

/// One request message of a POST, as handed to [`App::handle`].
#[derive(Debug)]
pub struct AppRequest {
    /// The request (kind [`MessageKind::Request`]: it has an id and a method).
    pub message: Message,
    /// The session, in stateful mode (none for `initialize`).
    pub session: Option<SessionId>,
    /// The revision that governs the request.
    pub version: ProtocolVersion,
}

/// The application on top of the driver.
///
/// Every request message of a POST is handed to [`handle`](App::handle) in a task of its
/// own; the requests of a batch run concurrently. The handler answers its request once,
/// with [`Replier::respond_ok`], [`Replier::respond_err`] or [`Replier::send`], after any
/// related notifications ([`Replier::notify`]). A handler that returns (or panics) without
/// answering gets a JSON-RPC internal error sent in its place, so that the stream ends.
pub trait App: Send + Sync + 'static {
    /// Handles one request message. Implementations may be `async fn`.
    fn handle(&self, request: AppRequest, replier: Replier) -> impl Future<Output = ()> + Send;

    /// The notifications and responses of a POST that was answered 202, in body order,
    /// but for the answers handed to a waiting [`Replier::request`].
    fn accepted(&self, messages: &[Message], session: Option<&SessionId>) {
        let _ = (messages, session);
    }

    /// A GET opened the session's standalone SSE stream. The replier may send
    /// notifications and requests on it (never responses) for as long as it stays open.
    fn standalone_opened(&self, session: &SessionId, replier: Replier) {
        let _ = (session, replier);
    }
}

/// A handle on one stream, to send JSON-RPC messages on it.
///
/// Each call locks the machine, passes the message to [`Server::send`] and drains the
/// outputs; nothing is awaited, so it can be called from async and sync code alike.
#[derive(Clone)]
pub struct Replier {
    stream: StreamId,
    /// The stream's session (none in stateless mode, and for `initialize`).
    session: Option<SessionId>,
    shared: Arc<Shared>,
}

/// Why [`Replier::request`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The machine refused to send the request (see [`Server::send`]).
    Usage(UsageError),
    /// No answer within the timeout; the request is forgotten (a late answer goes to
    /// [`App::accepted`]).
    Timeout,
    /// The session ended (or the server shut down) before the answer.
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

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Replier {
    /// The stream this replier sends on.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// Sends one JSON-RPC message (its JSON text) on the stream: see [`Server::send`] for
    /// what it accepts and the errors. A notification on a POST answered with
    /// `application/json` is [`UsageError::JsonReplyCarriesResponsesOnly`]; a stream whose
    /// session ended is [`UsageError::StreamClosed`].
    pub fn send(&self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        self.shared.send(self.stream, json.into())
    }

    /// Sends a notification `{"jsonrpc":"2.0","method":..,"params":..}`.
    pub fn notify(&self, method: &str, params: serde_json::Value) -> Result<(), UsageError> {
        self.send(server_log::notification(method, params))
    }

    /// Answers request `id` with a result.
    pub fn respond_ok(&self, id: &RequestId, result: serde_json::Value) -> Result<(), UsageError> {
        self.send(server_log::result(id, result))
    }

    /// Answers request `id` with a JSON-RPC error.
    pub fn respond_err(&self, id: &RequestId, code: i32, message: &str) -> Result<(), UsageError> {
        self.send(jsonrpc::error_body(Some(id), code, message, None))
    }

    /// Sends a request to the client on this stream (`SRV-PSSE-2` on a POST stream, before
    /// its response; `SRV-GET-4` on the standalone stream) and waits up to
    /// [`REQUEST_TIMEOUT`] for the answer: the response or error message, as the client
    /// sent it. The id is chosen by the driver, unique across the server. `params` is
    /// left out when `Null`. On an `initialize` stream (only `ping` is allowed there) the
    /// request has no session yet, and an answer that comes with the new session id is
    /// not matched: it times out.
    pub fn request(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> impl Future<Output = Result<Message, RequestError>> + Send + 'static {
        self.request_with_timeout(method, params, REQUEST_TIMEOUT)
    }

    /// [`request`](Self::request) with its own timeout.
    pub fn request_with_timeout(
        &self,
        method: &str,
        params: serde_json::Value,
        timeout: Duration,
    ) -> impl Future<Output = Result<Message, RequestError>> + Send + 'static {
        let shared = self.shared.clone();
        let session = self.session.clone();
        let sent = {
            let mut st = self.shared.lock();
            st.next_request += 1;
            let id = RequestId::Number(st.next_request);
            let mut msg = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method});
            if !params.is_null() {
                msg["params"] = params;
            }
            let (tx, rx) = oneshot::channel();
            // Registered before the send, under the same lock: the answer cannot come
            // before its waiter.
            let key = (session.clone(), id.clone());
            st.waiters.insert(key.clone(), tx);
            let result = st.server.send(self.stream, to_bytes(&msg), now());
            st.drain();
            match result {
                Ok(()) => Ok((id, rx)),
                Err(e) => {
                    st.waiters.remove(&key);
                    Err(RequestError::Usage(e))
                }
            }
        };
        async move {
            let (id, rx) = sent?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(_)) => Err(RequestError::Closed),
                Err(_) => {
                    let mut st = shared.lock();
                    st.waiters.remove(&(session.clone(), id.clone()));
                    st.server.forget_request(session.as_ref(), &id);
                    Err(RequestError::Timeout)
                }
            }
        }
    }

    /// The stream's session (none in stateless mode and for `initialize`).
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// Closes the stream's connection without ending the stream (`SRV-PSSE-10`): the
    /// client resumes with GET + `Last-Event-ID` and gets what was sent meanwhile. Only
    /// for resumable streams of 2025-11-25 clients (see [`Server::close_connection`]).
    pub fn close_connection(&self) -> Result<(), UsageError> {
        let mut st = self.shared.lock();
        let result = st.server.close_connection(self.stream, now());
        st.drain();
        result
    }

    /// Reads the machine (its configuration, sessions ...) under the lock. `f` must not
    /// send on a replier: the lock is not reentrant.
    pub fn with_server<R>(&self, f: impl FnOnce(&Server) -> R) -> R {
        f(&self.shared.lock().server)
    }
}

/// The driver's clock. The library reads none (`clippy.toml` forbids `Instant::now` in the
/// crate); the driver is where time comes from. Read it under the machine's lock, so that
/// the `now` given to the machine never goes backwards.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

// ----- shared state -----

/// The machine and the routes of its open streams.
pub struct Shared {
    state: Mutex<State>,
}

struct State {
    server: Server,
    /// Where each open stream's outputs go: to the response body that writes them.
    routes: HashMap<ConnectionId, mpsc::UnboundedSender<StreamEvent>>,
    /// Server-to-client requests awaiting their answer, by (session, id).
    waiters: HashMap<(Option<SessionId>, RequestId), oneshot::Sender<Message>>,
    /// The last id [`Replier::request`] used.
    next_request: i64,
}

impl Shared {
    fn new(server: Server) -> Self {
        Self {
            state: Mutex::new(State {
                server,
                routes: HashMap::new(),
                waiters: HashMap::new(),
                next_request: 0,
            }),
        }
    }

    /// Locks the state. A panic while it was held (a bug) does not take the whole server
    /// down: the other connections go on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, stream: StreamId, json: Bytes) -> Result<(), UsageError> {
        let mut st = self.lock();
        // The clock is read under the lock, so that `now` never goes backwards.
        let result = st.server.send(stream, json, now());
        st.drain();
        result
    }
}

impl State {
    /// Hands each matched answer of an accepted POST to its waiting
    /// [`Replier::request`]; returns the messages nobody waits for, in body order.
    fn route_answers(&mut self, accepted: &mut Accepted) -> Vec<Message> {
        let mut answers = accepted.answers.drain(..);
        let mut rest = Vec::with_capacity(accepted.messages.len());
        for message in accepted.messages.drain(..) {
            if !message.kind().is_response() {
                rest.push(message);
                continue;
            }
            let request = answers.next().and_then(|a| a.request);
            let waiter =
                request.and_then(|r| self.waiters.remove(&(accepted.session.clone(), r.id)));
            match waiter {
                // A waiter gone (timed out just now) leaves the answer to the application.
                Some(tx) => {
                    if let Err(message) = tx.send(message) {
                        rest.push(message);
                    }
                }
                None => rest.push(message),
            }
        }
        rest
    }

    /// Drains the machine's outputs to their streams and logs its session events.
    fn drain(&mut self) {
        while let Some(out) = self.server.poll_output() {
            let end = matches!(out.event, StreamEvent::End);
            if let Some(tx) = self.routes.get(&out.connection) {
                // A closed receiver means the body is being dropped; its disconnect follows.
                let _ = tx.send(out.event);
            }
            if end {
                self.routes.remove(&out.connection);
            }
        }
        while let Some(event) = self.server.poll_event() {
            server_log::session_event(&event);
            if let ServerEvent::SessionClosed { id, .. } = event {
                // Its requests will never be answered: their waiters get `Closed`.
                self.waiters.retain(|(s, _), _| s.as_ref() != Some(&id));
            }
        }
    }
}

// ----- serving -----

/// Serves `app` on `listener` until Ctrl-C.
pub async fn serve<A: App>(listener: TcpListener, config: ServerConfig, app: A) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: serve until the process is killed.
            std::future::pending::<()>().await;
        }
    };
    serve_with_shutdown(listener, config, app, ctrl_c).await;
}

/// Serves `app` on `listener` until `shutdown` completes. Then it stops accepting and
/// returns; connections still open are dropped with the runtime.
pub async fn serve_with_shutdown<A: App>(
    listener: TcpListener,
    config: ServerConfig,
    app: A,
    shutdown: impl Future<Output = ()>,
) {
    let shared = Arc::new(Shared::new(Server::new(config)));
    let app = Arc::new(app);
    let timers = tokio::spawn(run_timers(shared.clone()));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off a little.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("set TCP_NODELAY: {e}");
        }
        let shared = shared.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(req, shared, app).await) }
            });
            // Errors here are the peer's doing (reset, garbage, gone mid-body).
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
    timers.abort();
    eprintln!("shutting down");
}

/// Calls `handle_timeout` when the machine asks for it, looking again at least every
/// [`TIMER_RECHECK`] in case a deadline moved earlier.
async fn run_timers(shared: Arc<Shared>) {
    loop {
        let wake = {
            let mut st = shared.lock();
            let now = now();
            match st.server.poll_timeout() {
                Some(t) if t.at <= now => {
                    st.server.handle_timeout(now);
                    st.drain();
                    continue;
                }
                Some(t) => t.at.min(now + TIMER_RECHECK),
                None => now + TIMER_RECHECK,
            }
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
    }
}

/// One HTTP request, with its log line: written when the response is complete (for a
/// stream, at its end), or when the client goes away first.
async fn handle<A: App>(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    app: Arc<A>,
) -> Response<ResBody> {
    let mut log = LogLine {
        start: now(),
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        session: req
            .headers()
            .get(MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(short),
        status: None,
        gone: false,
    };
    let mut response = route(req, shared, app).await;
    if let Some(s) = response
        .headers()
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
    {
        log.session = Some(short(s));
    }
    log.status = Some(response.status());
    if let ResBody::Stream(a) = response.body_mut() {
        a.log = Some(log); // written at the stream's end
    }
    response
}

async fn route<A: App>(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    app: Arc<A>,
) -> Response<ResBody> {
    if req.uri().path() != ENDPOINT {
        return json_error(
            StatusCode::NOT_FOUND,
            &format!("not found: the MCP endpoint is {ENDPOINT}"),
        );
    }
    let (parts, body) = req.into_parts();

    // Refuse from the head when the machine can (413, 403, 405 ...): the body is not read.
    let limit = {
        let st = shared.lock();
        if let Some(reject) = st.server.check_head(&parts) {
            return full(reject.response);
        }
        st.server.max_body_bytes().saturating_add(1)
    };
    let body = if parts.method == Method::POST || body.size_hint().upper() != Some(0) {
        match read_body(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                return json_error(StatusCode::BAD_REQUEST, "could not read the request body");
            }
        }
    } else {
        Bytes::new()
    };

    let (outcome, rx, unrouted) = {
        let mut st = shared.lock();
        let mut outcome = st
            .server
            .handle_request(Request::from_parts(parts, body), now());
        let unrouted = match &mut outcome {
            Outcome::Accepted(a) => st.route_answers(a),
            _ => Vec::new(),
        };
        // The route must exist before the outputs are drained: the head may be queued.
        let rx = outcome.connection().map(|connection| {
            let (tx, rx) = mpsc::unbounded_channel();
            st.routes.insert(connection, tx);
            rx
        });
        st.drain();
        (outcome, rx, unrouted)
    };

    match outcome {
        Outcome::Reject(r) => full(r.response),
        Outcome::SessionDeleted(d) => full(d.response),
        Outcome::Accepted(a) => {
            if !unrouted.is_empty() {
                app.accepted(&unrouted, a.session.as_ref());
            }
            full(a.response)
        }
        Outcome::Dispatch(d) => {
            let attachment = Attachment::new(d.connection, shared.clone(), rx);
            for message in d.messages {
                if message.kind() != MessageKind::Request {
                    continue; // notifications batched with the requests
                }
                let replier = Replier {
                    stream: d.stream,
                    session: d.session.clone(),
                    shared: shared.clone(),
                };
                let request = AppRequest {
                    message,
                    session: d.session.clone(),
                    version: d.version,
                };
                tokio::spawn(run_handler(app.clone(), request, replier));
            }
            attachment.into_response().await
        }
        Outcome::StreamResumed(r) => {
            // The stream's head and replayed events are queued on the new route; live
            // events follow as the application sends them.
            eprintln!(
                "stream {} resumed: {} events replayed, {} missed",
                r.stream.as_u64(),
                r.replayed,
                r.missed
            );
            Attachment::new(r.connection, shared, rx)
                .into_response()
                .await
        }
        Outcome::StreamOpened(s) => {
            let attachment = Attachment::new(s.connection, shared.clone(), rx);
            app.standalone_opened(
                &s.session,
                Replier {
                    stream: s.stream,
                    session: Some(s.session.clone()),
                    shared,
                },
            );
            attachment.into_response().await
        }
    }
}

/// Runs the application on one request, and makes sure the request gets an answer.
async fn run_handler<A: App>(app: Arc<A>, request: AppRequest, replier: Replier) {
    /// Answers the request with an internal error if the handler did not (returned early,
    /// panicked, or was cancelled at shutdown).
    struct Guard {
        id: Option<RequestId>,
        replier: Replier,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            let Some(id) = &self.id else { return };
            let body = jsonrpc::error_body(
                Some(id),
                jsonrpc::INTERNAL_ERROR,
                "the server did not answer this request",
                None,
            );
            // `NotPending` / `StreamClosed`: answered already, or nobody left to answer.
            if self.replier.send(body).is_ok() {
                eprintln!("request {id} was left unanswered; sent an internal error");
            }
        }
    }
    let _guard = Guard {
        id: request.message.id().cloned(),
        replier: replier.clone(),
    };
    app.handle(request, replier).await;
}

async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, hyper::Error> {
    let hint = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut buf = Vec::with_capacity(hint.min(limit).min(64 * 1024));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = limit - buf.len();
            buf.extend_from_slice(&data[..data.len().min(room)]);
            if buf.len() >= limit {
                // Over the limit: the machine refuses it with 413; the rest is not read.
                break;
            }
        }
    }
    Ok(Bytes::from(buf))
}

// ----- responses -----

/// The body of every response: a complete body, or a stream's outputs.
pub enum ResBody {
    /// A complete body (taken when written).
    Full(Option<Bytes>),
    /// A stream's `Data` chunks until its `End`.
    Stream(Box<Attachment>),
}

fn full(response: Response<Bytes>) -> Response<ResBody> {
    response.map(|b| ResBody::Full(Some(b).filter(|b| !b.is_empty())))
}

/// A response the driver makes itself: only for what the machine does not see (a path
/// other than the endpoint, a body that could not be read).
fn json_error(status: StatusCode, message: &str) -> Response<ResBody> {
    let body = jsonrpc::error_body(None, jsonrpc::SERVER_ERROR, message, None);
    let mut r = Response::new(());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    full(r.map(|()| body))
}

impl Body for ResBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(a) => a.poll_data(cx).map(|d| d.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Stream(a) => a.finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Stream(_) => SizeHint::default(),
        }
    }
}

/// A connection attached to a stream: it receives the stream's outputs, and tells the
/// machine when the connection goes away before the stream's end.
pub struct Attachment {
    connection: ConnectionId,
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<StreamEvent>,
    finished: bool,
    /// An event read ahead of its turn (see `poll_data`).
    peeked: Option<StreamEvent>,
    /// The request's log line, written when the attachment ends.
    log: Option<LogLine>,
}

impl Attachment {
    fn new(
        connection: ConnectionId,
        shared: Arc<Shared>,
        rx: Option<mpsc::UnboundedReceiver<StreamEvent>>,
    ) -> Self {
        Self {
            connection,
            shared,
            rx: rx.expect("a route is registered for every outcome with a stream"),
            finished: false,
            peeked: None,
            log: None,
        }
    }

    /// Waits for the stream's head, then answers with it and a body that writes the rest.
    async fn into_response(mut self) -> Response<ResBody> {
        match self.rx.recv().await {
            Some(StreamEvent::Head(head)) => head.map(|()| ResBody::Stream(Box::new(self))),
            other => {
                // The machine always queues a head first (even for a stream cut short by
                // the end of its session); only a route dropped while the server shuts
                // down gets here.
                self.finished = !matches!(other, Some(StreamEvent::Data(_)));
                json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                )
            }
        }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let event = match self.peeked.take() {
                Some(event) => event,
                None => match self.rx.poll_recv(cx) {
                    Poll::Ready(Some(event)) => event,
                    Poll::Ready(None) => StreamEvent::End,
                    Poll::Pending => return Poll::Pending,
                },
            };
            match event {
                StreamEvent::Data(b) => {
                    // Look ahead for the end, so that the body reports its end with its
                    // last chunk: hyper stops polling a body once `Content-Length` bytes
                    // are written, and would otherwise drop it as if the client had gone.
                    match self.rx.try_recv() {
                        Ok(StreamEvent::End) | Err(TryRecvError::Disconnected) => {
                            self.finished = true;
                        }
                        Ok(next) => self.peeked = Some(next),
                        Err(TryRecvError::Empty) => {}
                    }
                    return Poll::Ready(Some(b));
                }
                StreamEvent::Head(_) => {} // never twice
                StreamEvent::End => self.finished = true,
            }
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.routes.remove(&self.connection);
        if !self.finished {
            // The client went away before the stream's end.
            if let Some(log) = &mut self.log {
                log.gone = true;
            }
            let now = now();
            if let Err(e) = st.server.handle_disconnect(self.connection, now) {
                eprintln!("disconnect of {}: {e}", self.connection);
            }
            st.drain();
        }
    }
}

// ----- logging -----

/// The one log line of a request: method, path, status, session, elapsed time. Written
/// when dropped: `status` is `-` when the client went away before the head, and
/// `(client gone)` follows when it went away before a stream's end.
struct LogLine {
    start: Instant,
    method: Method,
    path: String,
    session: Option<String>,
    status: Option<StatusCode>,
    gone: bool,
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let path: String = self.path.chars().take(80).collect();
        server_log::request_line(
            &self.method,
            &path,
            self.status,
            self.session.as_deref(),
            self.start,
            self.gone,
        );
    }
}
