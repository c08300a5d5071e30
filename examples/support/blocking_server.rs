//! A blocking driver for the [`Server`] machine on `std::net`: no async runtime.
//!
//! The driver carries out what the machine decides and holds no protocol logic of its own:
//!
//! - one `Arc<Shared>` holds the machine and a route (a `std::sync::mpsc` channel) per
//!   open stream, behind a `Mutex`;
//! - after **every** machine input it drains [`Server::poll_output`] (routing each output to
//!   its stream's channel) and [`Server::poll_event`] (logging sessions created and closed);
//! - a thread per connection (at most [`MAX_CONNECTIONS`]; beyond that a connection gets
//!   503 and is closed) reads a bounded head with `httparse`, refuses from the head when the
//!   machine can ([`Server::check_head`]), reads a `Content-Length` body (after a
//!   `100 Continue` when asked; a chunked request body gets 411: the machine's limit needs a
//!   declared length here), and hands the request to [`Server::handle_request`];
//! - every request message of a POST goes to the [`App`] in a thread of its own, with a
//!   [`Replier`] for its stream; the connection thread writes the stream's `Head`, then its
//!   `Data` (with a `Content-Length` as the machine gives it; else chunked, or delimited by
//!   the close on a connection that is not kept alive), batching what is queued into one
//!   write, until `End`; connections are kept alive between requests;
//! - a failed write, or a peer that closed its end while a stream is quiet (checked every
//!   second), is [`Server::handle_disconnect`];
//! - a timer thread calls [`Server::handle_timeout`] when [`Server::poll_timeout`] says so,
//!   looking again at least every second.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{ConnectionId, Outcome, ServerConfig, StreamEvent, StreamId};
use mcp_http_proto::wire::jsonrpc::{self, Message, MessageKind, RequestId};
use mcp_http_proto::wire::{MCP_SESSION_ID, SessionId};
use mcp_http_proto::{ProtocolVersion, Server};

use super::server_log::{self, short};

use super::blocking_http::{self as h1, HeadError};

/// The path of the MCP endpoint; every other path gets 404.
pub const ENDPOINT: &str = "/mcp";
/// The most connection threads; more connections get 503.
pub const MAX_CONNECTIONS: usize = 256;
/// The most request handler threads at once; more requests get a JSON-RPC error.
pub const MAX_HANDLERS: usize = 1024;
/// How long a kept-alive connection may stay idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a quiet stream checks that its client is still there, and the longest the
/// timer thread sleeps before it looks at [`Server::poll_timeout`] again.
const RECHECK: Duration = Duration::from_secs(1);

// ----- the application side -----

/// One request message of a POST, as handed to [`App::handle`].
#[derive(Debug)]
pub struct AppRequest {
    /// The request (it has an id and a method).
    pub message: Message,
    /// The session, in stateful mode (none for `initialize`).
    pub session: Option<SessionId>,
    /// The revision that governs the request.
    pub version: ProtocolVersion,
}

/// The application on top of the driver. Every request message of a POST is handed to
/// [`handle`](App::handle) in a thread of its own, which may block (sleep, do I/O). The
/// handler answers its request once; one that returns (or panics) without answering gets a
/// JSON-RPC internal error sent in its place, so that the stream ends.
pub trait App: Send + Sync + 'static {
    /// Handles one request message.
    fn handle(&self, request: AppRequest, replier: Replier);

    /// The notifications and responses of a POST that was answered 202, in body order.
    fn accepted(&self, messages: &[Message], session: Option<&SessionId>) {
        let _ = (messages, session);
    }

    /// A GET opened the session's standalone SSE stream.
    fn standalone_opened(&self, session: &SessionId, replier: Replier) {
        let _ = (session, replier);
    }
}

/// A handle on one stream, to send JSON-RPC messages on it. Each call locks the machine,
/// passes the message to [`Server::send`] and drains the outputs.
#[derive(Clone)]
pub struct Replier {
    stream: StreamId,
    shared: Arc<Shared>,
}

impl Replier {
    /// The stream this replier sends on.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// Sends one JSON-RPC message (its JSON text) on the stream (see [`Server::send`]).
    pub fn send(&self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        let mut st = self.shared.lock();
        let result = st.server.send(self.stream, json.into(), now());
        st.drain();
        result
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

    /// Closes the stream's connection without ending the stream (see
    /// [`Server::close_connection`]).
    pub fn close_connection(&self) -> Result<(), UsageError> {
        let mut st = self.shared.lock();
        let result = st.server.close_connection(self.stream, now());
        st.drain();
        result
    }

    /// Reads the machine under the lock. `f` must not use a replier: the lock is not
    /// reentrant.
    pub fn with_server<R>(&self, f: impl FnOnce(&Server) -> R) -> R {
        f(&self.shared.lock().server)
    }
}

/// The driver's clock, read under the machine's lock so that `now` never goes backwards.
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
    routes: HashMap<ConnectionId, Sender<StreamEvent>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Drains the machine's outputs to their streams and logs its session events.
    fn drain(&mut self) {
        while let Some(out) = self.server.poll_output() {
            let end = matches!(out.event, StreamEvent::End);
            if let Some(tx) = self.routes.get(&out.connection) {
                let _ = tx.send(out.event);
            }
            if end {
                self.routes.remove(&out.connection);
            }
        }
        while let Some(event) = self.server.poll_event() {
            server_log::session_event(&event);
        }
    }
}

// ----- serving -----

/// Serves `app` on `listener` for ever.
pub fn serve<A: App>(listener: TcpListener, config: ServerConfig, app: A) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            server: Server::new(config),
            routes: HashMap::new(),
        }),
    });
    let app = Arc::new(app);
    {
        let shared = shared.clone();
        thread::spawn(move || run_timers(&shared));
    }
    let connections = Arc::new(AtomicUsize::new(0));
    let handlers = Arc::new(AtomicUsize::new(0));
    for tcp in listener.incoming() {
        let tcp = match tcp {
            Ok(t) => t,
            Err(e) => {
                // Out of file descriptors and the like: back off a little.
                eprintln!("accept: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("set TCP_NODELAY: {e}");
        }
        let Some(slot) = Slot::take(&connections, MAX_CONNECTIONS) else {
            refuse_busy(tcp);
            continue;
        };
        let conn = Conn {
            shared: shared.clone(),
            app: app.clone(),
            handlers: handlers.clone(),
        };
        let spawned = thread::Builder::new()
            .name("mcp-conn".into())
            .spawn(move || {
                let _slot = slot;
                conn.serve(tcp);
            });
        if let Err(e) = spawned {
            eprintln!("spawn a connection thread: {e}");
        }
    }
}

/// A counted place among at most `max`; given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        if count.fetch_add(1, Ordering::SeqCst) >= max {
            count.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(count.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Too many connections: 503 and close, without reading the request.
fn refuse_busy(mut tcp: TcpStream) {
    let _ = tcp.set_write_timeout(Some(RECHECK));
    let (head, body) = json_error(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    let _ = write_full(&mut tcp, head, &body, false);
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Calls `handle_timeout` when the machine asks for it, looking again at least every
/// [`RECHECK`] in case a deadline moved earlier.
fn run_timers(shared: &Shared) {
    loop {
        let wait = {
            let mut st = shared.lock();
            let now = now();
            match st.server.poll_timeout() {
                Some(t) if t.at <= now => {
                    st.server.handle_timeout(now);
                    st.drain();
                    continue;
                }
                Some(t) => (t.at - now).min(RECHECK),
                None => RECHECK,
            }
        };
        thread::sleep(wait);
    }
}

/// What a connection thread needs.
struct Conn<A> {
    shared: Arc<Shared>,
    app: Arc<A>,
    handlers: Arc<AtomicUsize>,
}

impl<A: App> Conn<A> {
    /// Serves requests on one connection until it closes or cannot be kept alive.
    fn serve(&self, mut tcp: TcpStream) {
        let mut buf = Vec::new();
        loop {
            let _ = tcp.set_read_timeout(Some(IDLE_TIMEOUT));
            let head = match h1::read_request_head(&mut tcp, &mut buf) {
                Ok(head) => head,
                Err(HeadError::Closed | HeadError::Io(_)) => break,
                Err(e) => {
                    let status = match e {
                        HeadError::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    let (head, body) = json_error(status, &format!("bad request head: {e}"));
                    let _ = write_full(&mut tcp, head, &body, false);
                    break;
                }
            };
            let mut log = LogLine::new(&head);
            let keep_alive = self.exchange(&mut tcp, &mut buf, head, &mut log);
            drop(log);
            if !keep_alive {
                break;
            }
        }
        let _ = tcp.shutdown(Shutdown::Both);
    }

    /// One request and its response. Returns whether the connection may carry another.
    fn exchange(
        &self,
        tcp: &mut TcpStream,
        buf: &mut Vec<u8>,
        head: http::request::Parts,
        log: &mut LogLine,
    ) -> bool {
        let wants_close = head.version == http::Version::HTTP_10
            || head
                .headers
                .get_all(CONNECTION)
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if head.uri.path() != ENDPOINT {
            return refuse(
                tcp,
                log,
                StatusCode::NOT_FOUND,
                &format!("not found: the MCP endpoint is {ENDPOINT}"),
            );
        }
        // Refuse from the head when the machine can (413, 403, 405 ...): the body is not read.
        let reject = self.shared.lock().server.check_head(&head);
        if let Some(reject) = reject {
            let (parts, body) = reject.response.into_parts();
            log.status = Some(parts.status);
            let _ = write_full(tcp, parts, &body, false);
            return false;
        }
        if head.headers.contains_key(TRANSFER_ENCODING) {
            return refuse(
                tcp,
                log,
                StatusCode::LENGTH_REQUIRED,
                "chunked request bodies are not supported: send Content-Length",
            );
        }
        let length = match head.headers.get(CONTENT_LENGTH) {
            None => 0,
            // The machine checked it against its limit (step 3).
            Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()) {
                Some(n) => n,
                None => return refuse(tcp, log, StatusCode::BAD_REQUEST, "bad Content-Length"),
            },
        };
        let limit = self.shared.lock().server.max_body_bytes().saturating_add(1);
        let expects_continue = head
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if expects_continue
            && length > 0
            && tcp.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return false;
        }
        let body = match read_body(tcp, buf, length.min(limit)) {
            Ok(b) => b,
            Err(_) => return false,
        };
        let keep_alive = !wants_close && length <= limit;

        let (outcome, rx) = {
            let mut st = self.shared.lock();
            let outcome = st
                .server
                .handle_request(Request::from_parts(head, body), now());
            // The route must exist before the outputs are drained: the head may be queued.
            let rx = outcome.connection().map(|connection| {
                let (tx, rx) = mpsc::channel();
                st.routes.insert(connection, tx);
                rx
            });
            st.drain();
            (outcome, rx)
        };
        let respond = |tcp: &mut TcpStream, log: &mut LogLine, response: Response<Bytes>| {
            let (parts, body) = response.into_parts();
            log.saw(&parts);
            write_full(tcp, parts, &body, keep_alive).is_ok() && keep_alive
        };
        let connection = outcome.connection();
        let rx = match (outcome, rx) {
            (Outcome::Reject(r), _) => return respond(tcp, log, r.response),
            (Outcome::SessionDeleted(d), _) => return respond(tcp, log, d.response),
            (Outcome::Accepted(a), _) => {
                self.app.accepted(&a.messages, a.session.as_ref());
                return respond(tcp, log, a.response);
            }
            (Outcome::Dispatch(d), Some(rx)) => {
                for message in d.messages {
                    if message.kind() == MessageKind::Request {
                        let request = AppRequest {
                            message,
                            session: d.session.clone(),
                            version: d.version,
                        };
                        self.run_handler(request, self.replier(d.stream));
                    }
                }
                rx
            }
            (Outcome::StreamResumed(r), Some(rx)) => {
                eprintln!(
                    "stream {} resumed: {} events replayed, {} missed",
                    r.stream.as_u64(),
                    r.replayed,
                    r.missed
                );
                rx
            }
            (Outcome::StreamOpened(s), Some(rx)) => {
                self.app
                    .standalone_opened(&s.session, self.replier(s.stream));
                rx
            }
            _ => unreachable!("a route is registered for every outcome with a stream"),
        };
        match write_stream(tcp, &rx, keep_alive, log) {
            Ok(()) => keep_alive,
            Err(_) => {
                log.gone = true;
                self.disconnect(connection.expect("a stream outcome names its connection"));
                false
            }
        }
    }

    fn replier(&self, stream: StreamId) -> Replier {
        Replier {
            stream,
            shared: self.shared.clone(),
        }
    }

    /// Runs the application on one request in a thread of its own, and makes sure the
    /// request gets an answer.
    fn run_handler(&self, request: AppRequest, replier: Replier) {
        /// Answers the request with an internal error if the handler did not.
        struct Guard {
            id: Option<RequestId>,
            replier: Replier,
            message: &'static str,
            _slot: Option<Slot>,
        }
        impl Drop for Guard {
            fn drop(&mut self) {
                let Some(id) = &self.id else { return };
                let body =
                    jsonrpc::error_body(Some(id), jsonrpc::INTERNAL_ERROR, self.message, None);
                // `NotPending` / `StreamClosed`: answered already, or nobody left to answer.
                if self.replier.send(body).is_ok() {
                    eprintln!("request {id}: {}", self.message);
                }
            }
        }
        let id = request.message.id().cloned();
        let Some(slot) = Slot::take(&self.handlers, MAX_HANDLERS) else {
            drop(Guard {
                id,
                replier,
                message: "the server is busy",
                _slot: None,
            });
            return;
        };
        let guard = Guard {
            id,
            replier: replier.clone(),
            message: "the server did not answer this request",
            _slot: Some(slot),
        };
        let app = self.app.clone();
        // A failed spawn drops the closure, and with it the guard that answers.
        let _ = thread::Builder::new()
            .name("mcp-handler".into())
            .spawn(move || {
                let _guard = guard;
                app.handle(request, replier);
            });
    }

    /// The connection went away: tell the machine (a connection that has ended, or that
    /// a resumption replaced, changes nothing there).
    fn disconnect(&self, connection: ConnectionId) {
        let mut st = self.shared.lock();
        st.routes.remove(&connection);
        if let Err(e) = st.server.handle_disconnect(connection, now()) {
            eprintln!("disconnect of {connection}: {e}");
        }
        st.drain();
    }
}

/// Writes a stream's outputs as they come, until its end. What is queued is written
/// in one go (one `write` per burst, with `TCP_NODELAY`).
fn write_stream(
    tcp: &mut TcpStream,
    rx: &Receiver<StreamEvent>,
    keep_alive: bool,
    log: &mut LogLine,
) -> io::Result<()> {
    let mut chunked = false;
    let mut head_sent = false;
    let mut out = Vec::new();
    loop {
        let first = match rx.recv_timeout(RECHECK) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => {
                if peer_closed(tcp) {
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
                continue;
            }
            // The route went away without an end: only when the server is stopping.
            Err(RecvTimeoutError::Disconnected) => StreamEvent::End,
        };
        let mut next = Some(first);
        let mut ended = false;
        while let Some(event) = next.take() {
            match event {
                StreamEvent::Head(head) => {
                    let (mut parts, ()) = head.into_parts();
                    log.saw(&parts);
                    // Without a length: chunked on a kept-alive connection, else
                    // delimited by the close that follows the end.
                    chunked = !parts.headers.contains_key(CONTENT_LENGTH) && keep_alive;
                    if chunked {
                        parts
                            .headers
                            .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
                    }
                    connection_header(&mut parts.headers, keep_alive);
                    h1::write_response_head(&mut out, parts.status, &parts.headers);
                    head_sent = true;
                }
                StreamEvent::Data(data) if chunked => h1::write_chunk(&mut out, &data),
                StreamEvent::Data(data) => out.extend_from_slice(&data),
                StreamEvent::End => {
                    if !head_sent {
                        let (head, body) = json_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the server is shutting down",
                        );
                        log.saw(&head);
                        write_full(tcp, head, &body, false)?;
                        return Err(io::ErrorKind::ConnectionAborted.into());
                    }
                    if chunked {
                        out.extend_from_slice(h1::LAST_CHUNK);
                    }
                    ended = true;
                    break;
                }
            }
            next = match rx.try_recv() {
                Ok(event) => Some(event),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(StreamEvent::End),
            };
        }
        if !out.is_empty() {
            tcp.write_all(&out)?;
            out.clear();
        }
        if ended {
            return Ok(());
        }
    }
}

/// Whether the peer closed its end (or reset), without blocking.
fn peer_closed(tcp: &TcpStream) -> bool {
    if tcp.set_nonblocking(true).is_err() {
        return true;
    }
    let r = tcp.peek(&mut [0u8; 1]);
    let _ = tcp.set_nonblocking(false);
    match r {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ),
    }
}

/// A response the driver makes itself, after which the connection closes (the body, if
/// any, was not read).
fn refuse(tcp: &mut TcpStream, log: &mut LogLine, status: StatusCode, message: &str) -> bool {
    let (head, body) = json_error(status, message);
    log.status = Some(status);
    let _ = write_full(tcp, head, &body, false);
    false
}

/// Reads `length` body bytes: what `buf` already holds first, then the socket.
fn read_body(tcp: &mut TcpStream, buf: &mut Vec<u8>, length: usize) -> io::Result<Bytes> {
    let _ = tcp.set_read_timeout(Some(BODY_TIMEOUT));
    let have = buf.len().min(length);
    let mut body: Vec<u8> = buf.drain(..have).collect();
    if body.len() < length {
        let start = body.len();
        body.resize(length, 0);
        tcp.read_exact(&mut body[start..])?;
    }
    Ok(Bytes::from(body))
}

fn connection_header(headers: &mut HeaderMap, keep_alive: bool) {
    headers.insert(
        CONNECTION,
        HeaderValue::from_static(if keep_alive { "keep-alive" } else { "close" }),
    );
}

/// Writes a complete response (head and body) in one write.
fn write_full(
    tcp: &mut TcpStream,
    mut head: http::response::Parts,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    if !head.headers.contains_key(CONTENT_LENGTH) {
        head.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    connection_header(&mut head.headers, keep_alive);
    let mut out = Vec::with_capacity(256 + body.len());
    h1::write_response_head(&mut out, head.status, &head.headers);
    out.extend_from_slice(body);
    tcp.write_all(&out)
}

/// A response the driver makes itself: only for what the machine does not see (a path
/// other than the endpoint, a head that does not parse, a body it cannot frame, a full
/// server).
fn json_error(status: StatusCode, message: &str) -> (http::response::Parts, Bytes) {
    let body = jsonrpc::error_body(None, jsonrpc::SERVER_ERROR, message, None);
    let mut r = Response::new(());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (r.into_parts().0, body)
}

// ----- logging -----

/// The one log line of a request, written when dropped: method, path, status, session,
/// elapsed time, and `(client gone)` when the client left before the end.
struct LogLine {
    start: Instant,
    method: http::Method,
    path: String,
    session: Option<String>,
    status: Option<StatusCode>,
    gone: bool,
}

impl LogLine {
    fn new(head: &http::request::Parts) -> Self {
        Self {
            start: now(),
            method: head.method.clone(),
            path: head.uri.path().chars().take(80).collect(),
            session: head
                .headers
                .get(MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
                .map(short),
            status: None,
            gone: false,
        }
    }

    fn saw(&mut self, head: &http::response::Parts) {
        self.status = Some(head.status);
        if let Some(s) = head
            .headers
            .get(MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(short(s));
        }
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        server_log::request_line(
            &self.method,
            &self.path,
            self.status,
            self.session.as_deref(),
            self.start,
            self.gone,
        );
    }
}
