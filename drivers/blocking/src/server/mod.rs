//! An MCP Streamable HTTP server on `std::net` and threads, with no async runtime: the
//! same application shape as the tokio driver's, minus `async`.
//!
//! ```no_run
//! use std::net::TcpListener;
//!
//! use mcp_http_proto_blocking::server::{self, App, Call, Context, Options, RpcError, ServerInfo};
//! use serde_json::{Value, json};
//!
//! struct Adder;
//!
//! impl App for Adder {
//!     fn info(&self) -> ServerInfo {
//!         ServerInfo::new("adder", "1").with_capabilities(json!({"tools": {}}))
//!     }
//!     fn call(&self, call: Call, _cx: Context) -> Result<Value, RpcError> {
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
//! # fn run() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:8080")?;
//! server::serve(listener, Options::default(), Adder);
//! # Ok(()) }
//! ```
//!
//! The driver carries bytes and time; every protocol decision is the machine's, reached
//! through the runtime-free [`Engine`] it shares with the tokio driver:
//!
//! - a thread per connection (at most [`MAX_CONNECTIONS`]; beyond that a connection gets
//!   503 and is closed) reads a bounded head with `httparse` and refuses from it when the
//!   machine can ([`Engine::check_head`]: a 413 goes out without reading the body); else it
//!   reads a `Content-Length` body (after a `100 Continue` when asked; a chunked request
//!   body gets 411: the machine's limit needs a declared length here), up to the machine's
//!   limit + 1 bytes. Connections are kept alive between requests; every accepted
//!   connection gets `TCP_NODELAY`;
//! - `initialize` is answered from [`App::info`] with the version the machine negotiated
//!   (override [`App::initialize`] to change it);
//! - every other request goes to [`App::call`] in a thread of its own (at most
//!   [`MAX_HANDLERS`] at once), with a [`Context`] for its stream (progress,
//!   notifications, requests to the client, the client going away); what it returns is
//!   the answer. A handler that panics, or that finds no thread, gets -32603 from the
//!   machine, and the server goes on;
//! - notifications (alone or batched with requests) go to [`App::notification`], on the
//!   connection's thread;
//! - the connection thread pulls its connection's output from the machine
//!   ([`Engine::poll_connection`], woken by an unpark) and writes what is there in one
//!   write, until the end; a connection quiet for [`Options::keep_alive`] gets a
//!   keep-alive comment when the machine says it applies ([`Engine::keep_alive`]); a
//!   failed write, or a peer that closed its end while the stream is quiet (checked every
//!   second), is [`Engine::disconnect`];
//! - a timer thread runs [`Engine::tick`];
//! - one `tracing` event per request (target `mcp_http_proto`), and one at shutdown.
//!
//! [`serve_with_shutdown`] stops when its [`Shutdown`] is triggered: it stops accepting,
//! closes the idle kept-alive connections, ends every stream's connection cleanly
//! ([`Engine::shutdown`]) and waits up to [`Options::shutdown_grace`] for the connection
//! and handler threads. [`serve`] runs until the process ends: there is no signal
//! handling without a signal crate; an application that wants SIGTERM or Ctrl-C to shut
//! down gracefully calls [`Shutdown::trigger`] from its own handler (`ctrlc`,
//! `signal-hook`).

mod conn;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Waker};
use std::thread;
use std::time::{Duration, Instant};

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{SubscriptionFilter, UsageError};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::Message;
use serde_json::Value;

use mcp_http_proto_driver::app::shape_answer;
pub use mcp_http_proto_driver::app::{
    Builtin, CacheScope, Call, CallContext, EndpointPaths, Handle, Options, RpcError, ServerInfo,
    text_result, tool_error,
};
use mcp_http_proto_driver::engine::{AppRequest, Engine, Replier, now};
pub use mcp_http_proto_driver::engine::{ENDPOINT, REQUEST_TIMEOUT, RequestError};

/// The most connection threads; more connections get 503.
pub const MAX_CONNECTIONS: usize = 256;
/// The most request handler threads at once; more requests get -32603 from the machine.
pub const MAX_HANDLERS: usize = 1024;
/// How often a quiet stream checks that its client is still there, and how often
/// [`Context::client_gone`] looks again.
const RECHECK: Duration = Duration::from_secs(1);

/// The application on top of the driver.
///
/// Every request but `initialize` is handed to [`call`](App::call) in a thread of its
/// own, which may block (sleep, do I/O); the requests of a batch run concurrently.
pub trait App: Send + Sync + 'static {
    /// The server's name, version and capabilities: `initialize` is answered from them.
    fn info(&self) -> ServerInfo;

    /// Handles one request; what it returns is the answer.
    fn call(&self, call: Call, cx: Context) -> Result<Value, RpcError>;

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
    /// client's answer that no waiting [`Context::request`] took. It runs on the
    /// connection's thread, before the response is written: keep it short.
    fn notification(&self, message: &Message, session: Option<&SessionId>) {
        let _ = (message, session);
    }

    /// A GET opened a session's standalone SSE stream; [`Handle::notify`] sends on it.
    /// It runs on the connection's thread, before the stream's head is written.
    fn standalone_opened(&self, session: &SessionId) {
        let _ = session;
    }
}

// ----- the application's context -----

/// A request's handle on its stream: progress, notifications and early close (from
/// [`CallContext`], which it dereferences to), requests to the client, and whether the
/// client is still there. Every method may be called from any thread.
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
    /// stream and blocks up to [`REQUEST_TIMEOUT`] for its answer, which the machine pairs
    /// with it. A JSON-RPC error answer is `Ok` with the error message: read it.
    pub fn request(&self, method: &str, params: Value) -> Result<Message, RequestError> {
        self.replier().request(method, params).wait(REQUEST_TIMEOUT)
    }

    /// Blocks until the client has no connection to the request's stream (it went away,
    /// or the server closed the connection early), or until `timeout`; returns whether
    /// it is gone. `client_gone(Duration::ZERO)` only looks. A handler that works in
    /// steps can use it as its pause between steps, to see the client leave at once.
    ///
    /// In the 2025 revisions that is not a cancellation (`SRV-PSSE-6`): the answer is
    /// still kept for a resume. A departure is seen within a second (the connection
    /// thread's check of a quiet socket, and this wait's own recheck).
    pub fn client_gone(&self, timeout: Duration) -> bool {
        let deadline = now() + timeout;
        let waker = Waker::from(Arc::new(conn::Unpark(thread::current())));
        let mut cx = TaskContext::from_waker(&waker);
        let mut gone = self.replier().client_gone();
        loop {
            if std::future::Future::poll(Pin::new(&mut gone), &mut cx).is_ready() {
                return true;
            }
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                return false;
            }
            // Woken when the driver sees the client leave; the recheck also catches a
            // connection the machine ended itself, which wakes nobody.
            thread::park_timeout(left.min(RECHECK));
        }
    }
}

// ----- shutdown -----

/// The trigger of a graceful shutdown, for [`serve_with_shutdown`]: cheap to clone; every
/// clone triggers the same shutdown.
#[derive(Clone, Default)]
pub struct Shutdown(Arc<ShutdownState>);

#[derive(Default)]
struct ShutdownState {
    triggered: AtomicBool,
    /// The address of the listener being served, to wake its blocking `accept`.
    listening: Mutex<Option<SocketAddr>>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// A shutdown not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the graceful shutdown (once; later calls do nothing more). It returns at
    /// once; the serving call returns when the shutdown is over.
    pub fn trigger(&self) {
        self.0.triggered.store(true, Ordering::SeqCst);
        let listening = *lock(&self.0.listening);
        if let Some(addr) = listening {
            // `accept` blocks: a connection of our own wakes it to see the flag.
            let _ = TcpStream::connect_timeout(&reachable(addr), RECHECK);
        }
    }

    /// Whether [`trigger`](Self::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::SeqCst)
    }

    fn listen(&self, addr: Option<SocketAddr>) {
        *lock(&self.0.listening) = addr;
    }
}

/// The address to connect to for a listener bound to `addr` (an unspecified address is
/// reached through the loopback).
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ----- serving -----

/// Serves `app` on `listener` until the process ends (see the module docs for signals).
pub fn serve<A: App>(listener: TcpListener, options: impl Into<Options>, app: A) {
    McpServer::new(options, app).serve(listener, Shutdown::new());
}

/// Serves `app` on `listener` until `shutdown` is triggered: then it stops accepting,
/// ends every stream's connection cleanly ([`Engine::shutdown`]), and waits up to
/// [`Options::shutdown_grace`] for the connection and handler threads to finish.
pub fn serve_with_shutdown<A: App>(
    listener: TcpListener,
    options: impl Into<Options>,
    app: A,
    shutdown: Shutdown,
) {
    McpServer::new(options, app).serve(listener, shutdown);
}

/// A server not yet serving: for a [`Handle`] before [`serve`](Self::serve).
pub struct McpServer<A> {
    shared: Arc<Shared<A>>,
    grace: Duration,
}

/// What the connection and handler threads share.
struct Shared<A> {
    engine: Arc<Engine>,
    app: A,
    keep_alive: Option<Duration>,
    paths: EndpointPaths,
    connections: Arc<Counter>,
    handlers: Arc<Counter>,
    /// The connections, for the shutdown to close those that are idle.
    registry: Mutex<conn::Registry>,
}

impl<A: App> McpServer<A> {
    /// A server for `app`.
    pub fn new(options: impl Into<Options>, app: A) -> Self {
        let options = options.into();
        let paths = EndpointPaths::of(&options);
        Self {
            shared: Arc::new(Shared {
                engine: Engine::new(options.config),
                app,
                keep_alive: options.keep_alive,
                paths,
                connections: Arc::default(),
                handlers: Arc::default(),
                registry: Mutex::default(),
            }),
            grace: options.shutdown_grace,
        }
    }

    /// A handle for server-initiated messages.
    pub fn handle(&self) -> Handle {
        Handle::new(self.shared.engine.clone())
    }

    /// Serves on `listener` until `shutdown` is triggered (see [`serve_with_shutdown`]).
    pub fn serve(self, listener: TcpListener, shutdown: Shutdown) {
        let shared = self.shared;
        let stop_timer = Arc::new(Counter::default());
        let timer = {
            let (engine, stop) = (shared.engine.clone(), stop_timer.clone());
            thread::Builder::new()
                .name("mcp-timer".into())
                .spawn(move || while !stop.wait_nonzero(engine.tick()) {})
        };
        shutdown.listen(listener.local_addr().ok());
        while !shutdown.is_triggered() {
            let tcp = match listener.accept() {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(target: "mcp_http_proto", error = %e, "accept");
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if shutdown.is_triggered() {
                break; // the wake-up connection, or one that came with it
            }
            conn::spawn(&shared, tcp);
        }
        drop(listener);
        shutdown.listen(None);

        conn::close_idle(&shared);
        let ended = shared.engine.shutdown();
        tracing::info!(target: "mcp_http_proto", streams = ended, "shutting down: streams ended");
        let deadline = now() + self.grace;
        if !(shared.connections.wait_zero(deadline) && shared.handlers.wait_zero(deadline)) {
            tracing::info!(target: "mcp_http_proto", "shutdown grace period over");
        }
        stop_timer.add(1);
        if let Ok(timer) = timer {
            let _ = timer.join();
        }
    }
}

/// Runs the application on one request in a thread of its own. When it is done (or
/// panics, or finds no thread) the machine answers a request it left unanswered with
/// -32603.
fn spawn_handler<A: App>(shared: &Arc<Shared<A>>, request: AppRequest, replier: Replier) {
    let Some(call) = Call::of(&request) else {
        return; // not a request: nothing to answer
    };
    let finish = replier.finish_on_drop(call.id.clone());
    let Some(slot) = Slot::take(&shared.handlers, MAX_HANDLERS) else {
        tracing::warn!(target: "mcp_http_proto", id = %call.id, "too many handlers: -32603");
        return; // `finish` answers it
    };
    let shared = shared.clone();
    // A failed spawn drops the closure, and with it the guard that answers.
    let spawned = thread::Builder::new()
        .name("mcp-handler".into())
        .spawn(move || {
            let _slot = slot;
            let _finish = finish;
            let answer = match call.builtin() {
                Some(Builtin::Initialize) => shared.app.initialize(&call),
                Some(Builtin::Discover) => {
                    shared.app.discover(&call, shared.engine.supported_versions())
                }
                Some(Builtin::Listen) => {
                    // `N26-18`: held open until the client closes it or the server ends it.
                    let asked = SubscriptionFilter::from_params(&call.params);
                    if replier.listen(shared.app.info().listen_filter(&asked)).is_ok() {
                        let cx = Context(CallContext::new(replier.clone(), &call));
                        // Gone also when the machine ended the stream (`end_listen`, shutdown).
                        while !cx.client_gone(RECHECK) {}
                        return;
                    }
                    Err(RpcError::method_not_found(&call.method))
                }
                None => {
                    let cx = Context(CallContext::new(replier.clone(), &call));
                    shared.app.call(call.clone(), cx)
                }
            };
            let answer = shape_answer(&call, answer, || shared.app.info());
            match replier.answer(&call.id, answer) {
                Ok(()) | Err(UsageError::StreamClosed(_)) => {}
                Err(e) => {
                    tracing::warn!(target: "mcp_http_proto", id = %call.id, error = %e, "answering");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(target: "mcp_http_proto", error = %e, "spawn a handler thread");
    }
}

/// A count of threads that a shutdown waits for.
#[derive(Default)]
struct Counter {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Counter {
    fn add(&self, n: usize) {
        *lock(&self.count) += n;
        self.changed.notify_all();
    }

    /// Waits until the count is zero, or `deadline`; returns whether it is zero.
    fn wait_zero(&self, deadline: Instant) -> bool {
        self.wait(deadline, |n| n == 0)
    }

    /// Waits until the count is not zero, or `deadline`; returns whether it is not.
    fn wait_nonzero(&self, deadline: Instant) -> bool {
        self.wait(deadline, |n| n != 0)
    }

    fn wait(&self, deadline: Instant, done: impl Fn(usize) -> bool) -> bool {
        let mut n = lock(&self.count);
        loop {
            if done(*n) {
                return true;
            }
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                return false;
            }
            n = self
                .changed
                .wait_timeout(n, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A counted place among at most `max`; given back when dropped.
struct Slot(Arc<Counter>);

impl Slot {
    fn take(counter: &Arc<Counter>, max: usize) -> Option<Self> {
        let mut n = lock(&counter.count);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self(counter.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *lock(&self.0.count) -= 1;
        self.0.changed.notify_all();
    }
}
