//! An MCP Streamable HTTP server on hyper 1 and tokio: a [`tower_service::Service`] that
//! axum (or any tower stack) mounts, and [`serve`] for a plain listener.
//!
//! ```no_run
//! use mcp_http_proto_tokio::server::{self, App, Call, Context, RpcError, ServerInfo};
//! use serde_json::{Value, json};
//!
//! struct Adder;
//!
//! impl App for Adder {
//!     fn info(&self) -> ServerInfo {
//!         ServerInfo::new("adder", "1").with_capabilities(json!({"tools": {}}))
//!     }
//!     async fn call(&self, call: Call, _cx: Context) -> Result<Value, RpcError> {
//!         match (call.method.as_str(), call.name()) {
//!             ("tools/list", _) => Ok(json!({"tools": [{"name": "add", "inputSchema": {"type": "object"}}]})),
//!             ("tools/call", Some("add")) => {
//!                 let (a, b) = (call.arguments()["a"].as_f64(), call.arguments()["b"].as_f64());
//!                 let sum = a.unwrap_or(0.0) + b.unwrap_or(0.0);
//!                 Ok(server::text_result(&sum.to_string()))
//!             }
//!             (m, _) => Err(RpcError::method_not_found(m)),
//!         }
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server::serve(listener, Adder).await;
//! # Ok(()) }
//! ```
//!
//! The driver carries bytes and time; every protocol decision is the machine's, reached
//! through the runtime-free [`Engine`] it shares with the blocking driver:
//!
//! - a request is refused from its head when it can be (a 413 goes out without reading
//!   the body), else its body is read up to the machine's limit + 1 bytes;
//! - `initialize` is answered from [`App::info`] with the version the machine negotiated
//!   (override [`App::initialize`] to change it);
//! - every other request goes to [`App::call`] in a task of its own, with a [`Context`]
//!   for its stream (progress, notifications, requests to the client, the client going
//!   away); what it returns is the answer. A handler that panics, or that is dropped,
//!   gets -32603 from the machine, and the server goes on;
//! - notifications (alone or batched with requests) go to [`App::notification`];
//! - a response body pulls its connection's output from the machine when hyper asks for
//!   more, so a client that does not read holds back nothing but its own connection; a
//!   quiet SSE connection gets a keep-alive comment every [`Options::keep_alive`];
//! - one `tracing` event per request (target `mcp_http_proto`), and one at shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{ConnectionId, StreamEvent, SubscriptionFilter, UsageError};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::Message;
use serde_json::Value;
use tokio::net::TcpListener;

use mcp_http_proto_driver::app::shape_answer;
pub use mcp_http_proto_driver::app::{
    Builtin, CacheScope, Call, CallContext, EndpointPaths, Handle, Options, RpcError, ServerInfo,
    text_result, tool_error,
};
use mcp_http_proto_driver::engine::{AppRequest, Engine, Replier, Reply, driver_error, now};
pub use mcp_http_proto_driver::engine::{ENDPOINT, REQUEST_TIMEOUT, RequestError};
use mcp_http_proto_driver::log::LogLine;

use crate::store::{self, SessionStore};

/// The application on top of the driver.
///
/// Implementations may write `async fn call`. Every request but `initialize` is handed to
/// [`call`](App::call) in a task of its own; the requests of a batch run concurrently.
pub trait App: Send + Sync + 'static {
    /// The server's name, version and capabilities: `initialize` is answered from them.
    fn info(&self) -> ServerInfo;

    /// Handles one request; what it returns is the answer.
    fn call(&self, call: Call, cx: Context)
    -> impl Future<Output = Result<Value, RpcError>> + Send;

    /// The `InitializeResult` for `call` (an `initialize` request), by default
    /// [`info`](App::info) with the version the machine negotiated (`LIFE-3`).
    fn initialize(&self, call: &Call) -> Result<Value, RpcError> {
        let version = call.negotiated.unwrap_or(call.version);
        Ok(self.info().initialize_result(version))
    }

    /// The `DiscoverResult` for `call` (a 2026-07-28 `server/discover`), by default
    /// [`info`](App::info) with every version the machine serves (`N26-14`).
    fn discover(&self, call: &Call, supported: &[ProtocolVersion]) -> Result<Value, RpcError> {
        let _ = call;
        Ok(self.info().discover_result(supported))
    }

    /// A notification of the client (`notifications/initialized`, `cancelled`, ...), or a
    /// client's answer that no waiting [`Context::request`] took.
    fn notification(&self, message: &Message, session: Option<&SessionId>) {
        let _ = (message, session);
    }

    /// A GET opened a session's standalone SSE stream; [`Handle::notify`] sends on it.
    fn standalone_opened(&self, session: &SessionId) {
        let _ = session;
    }
}

// ----- the application's context -----

/// A request's handle on its stream: progress, notifications and early close (from
/// [`CallContext`], which it dereferences to), requests to the client, and whether the
/// client is still there.
#[derive(Clone, Debug)]
pub struct Context(CallContext);

impl std::ops::Deref for Context {
    type Target = CallContext;

    fn deref(&self) -> &CallContext {
        &self.0
    }
}

impl Context {
    /// Sends a request to the client (sampling, elicitation, roots ...) on the request's
    /// stream and waits up to [`REQUEST_TIMEOUT`] for its answer, which the machine pairs
    /// with it. A JSON-RPC error answer is `Ok` with the error message: read it.
    pub async fn request(&self, method: &str, params: Value) -> Result<Message, RequestError> {
        let pending = self.replier().request(method, params);
        match tokio::time::timeout(REQUEST_TIMEOUT, pending).await {
            Ok(answer) => answer,
            Err(_) => Err(RequestError::Timeout), // the dropped wait forgets the request
        }
    }

    /// Resolves when the client has no connection to the request's stream (it went away,
    /// or the server closed the connection). In the 2025 revisions that is not a
    /// cancellation (`SRV-PSSE-6`): the answer is still kept for a resume.
    pub async fn client_gone(&self) {
        self.replier().client_gone().await;
    }
}

// ----- the service -----

/// The MCP endpoint as a [`tower_service::Service`]: mount it with axum's
/// `Router::nest_service("/mcp", service)` or `route_service("/mcp", service)`, or hand
/// it to [`serve`]. Cheap to clone; every clone serves the same machine.
pub struct McpService<A> {
    inner: Arc<Inner<A>>,
}

struct Inner<A> {
    engine: Arc<Engine>,
    app: A,
    /// The store sessions are shared through, with a `ServerConfig::store`.
    store: Option<Arc<dyn SessionStore>>,
    keep_alive: Option<Duration>,
    paths: EndpointPaths,
    shutdown_grace: Duration,
    timers: OnceLock<()>,
}

impl<A> Clone for McpService<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<A: App> McpService<A> {
    /// A service for `app`, with the default [`Options`].
    pub fn new(app: A) -> Self {
        Self::with_options(Options::default(), app)
    }

    /// A service for `app` with `options` (an [`Options`], or just a [`ServerConfig`](mcp_http_proto::server::ServerConfig)).
    pub fn with_options(options: impl Into<Options>, app: A) -> Self {
        Self::build(options.into(), None, app)
    }

    /// A service whose sessions live in `store`, shared with the other nodes that use it:
    /// any request of a session may land on any node. `options.config.store` names this
    /// node ([`StoreConfig`](mcp_http_proto::server::StoreConfig)); without it the store
    /// is not used.
    pub fn with_store(options: impl Into<Options>, store: Arc<dyn SessionStore>, app: A) -> Self {
        Self::build(options.into(), Some(store), app)
    }

    fn build(options: Options, store: Option<Arc<dyn SessionStore>>, app: A) -> Self {
        let paths = EndpointPaths::of(&options);
        let store = store.filter(|_| options.config.store.is_some());
        let service = Self {
            inner: Arc::new(Inner {
                engine: Engine::new(options.config),
                app,
                store,
                keep_alive: options.keep_alive,
                paths,
                shutdown_grace: options.shutdown_grace,
                timers: OnceLock::new(),
            }),
        };
        // Inside a runtime the timers (and with a store, its writer and listener) start
        // now, so that a node hears the others before its first request; else with it.
        if tokio::runtime::Handle::try_current().is_ok() {
            service.start_timers();
        }
        service
    }

    /// A handle for server-initiated messages.
    pub fn handle(&self) -> Handle {
        Handle::new(self.inner.engine.clone())
    }

    /// Graceful shutdown of the machine's connections: see
    /// [`Server::shutdown`](mcp_http_proto::Server::shutdown).
    pub fn shutdown(&self) -> usize {
        self.inner.engine.shutdown()
    }

    /// Answers one request.
    pub async fn respond<B>(&self, request: Request<B>) -> Response<ResBody>
    where
        B: Body + Send,
        B::Data: Send,
    {
        self.start_timers();
        let inner = &self.inner;
        let (parts, body) = request.into_parts();
        let mut log = LogLine::new(&parts, now());
        // Refuse from the head when the machine can (413, 403, 405 ...): the body is not read.
        let limit = match inner.engine.check_head(&parts) {
            Ok(limit) => limit,
            Err((response, why)) => {
                log.refusal = Some(why);
                log.saw(&response);
                return full(response);
            }
        };
        let body = if parts.method == Method::POST || body.size_hint().upper() != Some(0) {
            match read_body(body, limit).await {
                Some(b) => b,
                None => {
                    let r =
                        driver_error(StatusCode::BAD_REQUEST, "could not read the request body");
                    log.saw(&r);
                    return full(r);
                }
            }
        } else {
            Bytes::new()
        };
        if inner.store.is_some() {
            // A store slower than the requests: wait for room rather than queue more.
            std::future::poll_fn(|cx| inner.engine.poll_store_room(cx.waker())).await;
        }
        let handled = inner.engine.handle(Request::from_parts(parts, body));
        // With a store: what a parked request waits for is read, then the request goes on.
        let mut handled = store::unpark(&inner.engine, inner.store.as_ref(), handled).await;
        log.refusal = handled.refusal.take();
        // A reply that waits for store writes goes once they are done (a 503 instead
        // when one failed).
        for ticket in std::mem::take(&mut handled.waits) {
            let replacement =
                std::future::poll_fn(|cx| inner.engine.poll_ticket(ticket, cx.waker())).await;
            if let Some(r) = replacement {
                handled.reply = Reply::Full(r);
            }
        }
        if let (Some(stream), Some(store), Some(session)) =
            (handled.relay, &inner.store, &handled.session)
        {
            tokio::spawn(store::relay(
                Arc::downgrade(&inner.engine),
                store.clone(),
                session.clone(),
                stream,
            ));
        }
        for m in &handled.messages {
            inner.app.notification(m, handled.session.as_ref());
        }
        for (request, replier) in handled.requests {
            start_handler(run_handler(self.inner.clone(), request, replier));
        }
        if let (Some(_), Some(session)) = (handled.standalone, &handled.session) {
            inner.app.standalone_opened(session);
        }
        match handled.reply {
            Reply::Full(r) => {
                log.saw(&r);
                full(r)
            }
            // `unpark` resolves every parked request; never reached.
            Reply::Park(_) => {
                let r = driver_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a parked request was not resumed",
                );
                log.saw(&r);
                full(r)
            }
            Reply::Stream(connection) => {
                let body = ConnectionBody {
                    connection,
                    engine: inner.engine.clone(),
                    finished: false,
                    peeked: None,
                    keep_alive: inner
                        .keep_alive
                        .map(|d| (d, Box::pin(tokio::time::sleep(d)))),
                    log: Some(log),
                };
                body.into_response().await
            }
        }
    }

    /// The timer task, started with the first request (inside the runtime), ended when
    /// the last clone of the service is dropped.
    fn start_timers(&self) {
        self.inner.timers.get_or_init(|| {
            let engine: Weak<Engine> = Arc::downgrade(&self.inner.engine);
            if let Some(store) = &self.inner.store {
                tokio::spawn(store::write_all(engine.clone(), store.clone()));
                tokio::spawn(store.clone().listen(engine.clone()));
            }
            tokio::spawn(async move {
                loop {
                    let Some(engine) = engine.upgrade() else {
                        return;
                    };
                    let wake = engine.tick();
                    drop(engine);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
                }
            });
        });
    }
}

impl<A: App, B> tower_service::Service<Request<B>> for McpService<A>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.respond(request).await) })
    }
}

/// Runs the application on one request. When it is done (or panics, or is cancelled at
/// shutdown) the machine answers a request it left unanswered with -32603.
/// Runs a handler's first step here, in the request's task, and spawns it only if it
/// has to wait. A handler that answers at once (most do) then costs no task and no
/// wake-up of another worker thread, and its answer is queued before the response body
/// is first polled: over loopback, stateful SSE served 15-34 % more requests at 12-25 %
/// less CPU per request than with a task per handler (three A/B rounds, `wrk -t2 -c16`).
/// A handler that waits (for the client's answer to a server-to-client request, for a
/// timer) goes on as a task, so that the response goes out meanwhile; the runtime polls
/// it again at once, with the task's own waker. A panic in that first step ends the
/// handler as it would end its task: dropping it answers the request with an internal
/// error (`Replier::finish_on_drop`), and the connection goes on.
fn start_handler(handler: impl Future<Output = ()> + Send + 'static) {
    let mut handler = Box::pin(handler);
    let mut cx = TaskContext::from_waker(std::task::Waker::noop());
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.as_mut().poll(&mut cx)
    }));
    match first {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            tokio::spawn(handler);
        }
        Err(_) => {
            tracing::warn!(target: "mcp_http_proto", "a request handler panicked");
            drop(handler);
        }
    }
}

async fn run_handler<A: App>(inner: Arc<Inner<A>>, request: AppRequest, replier: Replier) {
    let Some(call) = Call::of(&request) else {
        return;
    };
    let _finish = replier.finish_on_drop(call.id.clone());
    let answer = match call.builtin() {
        Some(Builtin::Initialize) => inner.app.initialize(&call),
        Some(Builtin::Discover) => inner.app.discover(&call, inner.engine.supported_versions()),
        Some(Builtin::Listen) => {
            // `N26-18`: the machine acknowledges what the app's capabilities honour; the
            // stream stays open until the client closes it or the server shuts down.
            let asked = SubscriptionFilter::from_params(&call.params);
            if replier
                .listen(inner.app.info().listen_filter(&asked))
                .is_ok()
            {
                replier.client_gone().await;
                return;
            }
            Err(RpcError::method_not_found(&call.method))
        }
        None => {
            let cx = Context(CallContext::new(replier.clone(), &call));
            inner.app.call(call.clone(), cx).await
        }
    };
    let answer = shape_answer(&call, answer, || inner.app.info());
    match replier.answer(&call.id, answer) {
        Ok(()) | Err(UsageError::StreamClosed(_)) => {}
        Err(e) => tracing::warn!(target: "mcp_http_proto", id = %call.id, error = %e, "answering"),
    }
}

async fn read_body<B: Body>(body: B, limit: usize) -> Option<Bytes> {
    let mut body = std::pin::pin!(body);
    let hint = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut buf = Vec::with_capacity(hint.min(limit).min(64 * 1024));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            let mut data = data;
            let room = limit - buf.len();
            let take = data.remaining().min(room);
            buf.extend_from_slice(&data.copy_to_bytes(take));
            if buf.len() >= limit {
                // Over the limit: the machine refuses it with 413; the rest is not read.
                break;
            }
        }
    }
    Some(Bytes::from(buf))
}

use bytes::Buf as _;

// ----- serving a listener -----

/// Serves `app` on `listener` with the default [`Options`] until Ctrl-C or SIGTERM, then
/// shuts down gracefully.
pub async fn serve<A: App>(listener: TcpListener, app: A) {
    serve_with(listener, Options::default(), app).await;
}

/// [`serve`] with `options` (an [`Options`], or just a [`ServerConfig`](mcp_http_proto::server::ServerConfig)).
pub async fn serve_with<A: App>(listener: TcpListener, options: impl Into<Options>, app: A) {
    serve_with_shutdown(listener, options, app, shutdown_signal()).await;
}

/// Ctrl-C, or SIGTERM where there are signals.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(target: "mcp_http_proto", "Ctrl-C: shutting down"),
        () = term => tracing::info!(target: "mcp_http_proto", "SIGTERM: shutting down"),
    }
}

/// Serves `app` on `listener` until `shutdown` completes: then it stops accepting, ends
/// every stream's connection cleanly ([`McpService::shutdown`]), and waits up to
/// [`Options::shutdown_grace`] for the connections to finish. Every accepted connection
/// gets `TCP_NODELAY`.
pub async fn serve_with_shutdown<A: App>(
    listener: TcpListener,
    options: impl Into<Options>,
    app: A,
    shutdown: impl Future<Output = ()>,
) {
    serve_service(listener, McpService::with_options(options, app), shutdown).await;
}

/// Serves an [`McpService`] built beforehand (so that its [`Handle`] can be kept) on
/// `listener` at its [`Options::path`] until `shutdown` completes; see
/// [`serve_with_shutdown`].
pub async fn serve_service<A: App>(
    listener: TcpListener,
    service: McpService<A>,
    shutdown: impl Future<Output = ()>,
) {
    let (paths, grace) = (service.inner.paths.clone(), service.inner.shutdown_grace);
    let graceful = GracefulShutdown::new();
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
                tracing::warn!(target: "mcp_http_proto", error = %e, "accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(target: "mcp_http_proto", error = %e, "set TCP_NODELAY");
        }
        let service = service.clone();
        let paths = paths.clone();
        let conn = http1::Builder::new().serve_connection(
            TokioIo::new(tcp),
            service_fn(move |req: Request<hyper::body::Incoming>| {
                let service = service.clone();
                let refusal = (!paths.serves(req.uri().path())).then(|| paths.not_found());
                async move {
                    if let Some(r) = refusal {
                        return Ok::<_, Infallible>(full(r));
                    }
                    Ok(service.respond(req).await)
                }
            }),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the peer's doing (reset, garbage, gone mid-body).
            let _ = conn.await;
        });
    }
    let ended = service.shutdown();
    tracing::info!(target: "mcp_http_proto", streams = ended, "shutting down: streams ended");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(target: "mcp_http_proto", "shutdown grace period over");
    }
}

// ----- responses -----

/// The body of every response: a complete body, or a connection's output.
pub enum ResBody {
    /// A complete body (taken when written).
    Full(Option<Bytes>),
    /// A connection's `Data` chunks until its `End`.
    Stream(Box<ConnectionBody>),
}

fn full(response: Response<Bytes>) -> Response<ResBody> {
    response.map(|b| ResBody::Full(Some(b).filter(|b| !b.is_empty())))
}

impl Body for ResBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(c) => c.poll_data(cx).map(|d| d.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Stream(c) => c.finished,
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

/// The response body of one connection: it pulls the connection's output from the
/// machine, keeps a quiet SSE connection alive, and tells the machine when the client
/// goes away before the end.
pub struct ConnectionBody {
    connection: ConnectionId,
    engine: Arc<Engine>,
    finished: bool,
    /// An output read ahead of its turn (see `poll_data`).
    peeked: Option<StreamEvent>,
    /// The keep-alive interval and its timer.
    keep_alive: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
    /// The request's log line, written when the body ends.
    log: Option<LogLine>,
}

impl ConnectionBody {
    /// Waits for the connection's head, then answers with it and a body that writes the
    /// rest.
    async fn into_response(mut self) -> Response<ResBody> {
        let first =
            std::future::poll_fn(|cx| self.engine.poll_connection(self.connection, cx.waker()))
                .await;
        match first {
            StreamEvent::Head(head) => {
                if let Some(log) = &mut self.log {
                    log.saw(&head);
                }
                head.map(|()| ResBody::Stream(Box::new(self)))
            }
            // The machine always queues a head first.
            other => unreachable!("a connection's first output is its head, not {other:?}"),
        }
    }

    fn poll_data(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Bytes>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let event = match self.peeked.take() {
                Some(event) => event,
                None => match self.engine.poll_connection(self.connection, cx.waker()) {
                    Poll::Ready(event) => event,
                    Poll::Pending => {
                        // Quiet: a keep-alive comment when the interval passes.
                        let Some((every, timer)) = &mut self.keep_alive else {
                            return Poll::Pending;
                        };
                        if timer.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        let every = *every;
                        timer.as_mut().reset(tokio::time::Instant::now() + every);
                        if !self.engine.keep_alive(self.connection) {
                            return Poll::Pending;
                        }
                        continue;
                    }
                },
            };
            match event {
                StreamEvent::Data(b) => {
                    if let Some((every, timer)) = &mut self.keep_alive {
                        timer.as_mut().reset(tokio::time::Instant::now() + *every);
                    }
                    // Look ahead for the end, so that the body reports its end with its
                    // last chunk: hyper stops polling a body once `Content-Length` bytes
                    // are written, and would otherwise drop it as if the client had gone.
                    match self.engine.poll_connection(self.connection, cx.waker()) {
                        Poll::Ready(StreamEvent::End) => self.finished = true,
                        Poll::Ready(next) => self.peeked = Some(next),
                        Poll::Pending => {}
                    }
                    return Poll::Ready(Some(b));
                }
                StreamEvent::Head(_) => {} // never twice
                StreamEvent::End => self.finished = true,
            }
        }
    }
}

impl Drop for ConnectionBody {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away before the connection's end.
            if let Some(log) = &mut self.log {
                log.gone = true;
            }
            self.engine.disconnect(self.connection);
        }
    }
}
