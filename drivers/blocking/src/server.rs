//! A blocking driver for the [`Server`](mcp_http_proto::Server) machine on `std::net`: no
//! async runtime.
//!
//! It carries bytes and time; every protocol decision is the machine's, reached through
//! the runtime-free [`Engine`] it shares with the async driver:
//!
//! - a thread per connection (at most [`MAX_CONNECTIONS`]; beyond that a connection gets
//!   503 and is closed) reads a bounded head with `httparse`, refuses from the head when the
//!   machine can ([`Engine::check_head`]), reads a `Content-Length` body (after a
//!   `100 Continue` when asked; a chunked request body gets 411: the machine's limit needs a
//!   declared length here), and hands the request to [`Engine::handle`];
//! - every request message of a POST goes to the [`App`] in a thread of its own, with a
//!   [`Replier`] for its stream;
//! - the connection thread pulls its connection's output from the machine
//!   ([`Engine::poll_connection`], woken by an unpark) and writes what is there in one
//!   write (`Content-Length` as the machine gives it; else chunked, or delimited by the
//!   close on a connection that is not kept alive), until `End`; connections are kept alive
//!   between requests;
//! - a failed write, or a peer that closed its end while a stream is quiet (checked every
//!   second), is [`Engine::disconnect`];
//! - a timer thread runs [`Engine::tick`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use mcp_http_proto::server::{ConnectionId, ServerConfig, StreamEvent};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::Message;

use crate::http1::{self as h1, HeadError};
pub use mcp_http_proto_driver::engine::{
    AppRequest, ENDPOINT, REQUEST_TIMEOUT, Replier, RequestError,
};
use mcp_http_proto_driver::engine::{Engine, Reply, driver_error, now};
use mcp_http_proto_driver::log::LogLine;

/// The most connection threads; more connections get 503.
pub const MAX_CONNECTIONS: usize = 256;
/// The most request handler threads at once; more requests get a JSON-RPC error.
pub const MAX_HANDLERS: usize = 1024;
/// How long a kept-alive connection may stay idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a quiet stream checks that its client is still there.
const RECHECK: Duration = Duration::from_secs(1);

/// The application on top of the driver. Every request message of a POST is handed to
/// [`handle`](App::handle) in a thread of its own, which may block (sleep, do I/O). The
/// handler answers its request once; one that returns (or panics) without answering gets a
/// JSON-RPC internal error from the machine, so that the stream ends.
pub trait App: Send + Sync + 'static {
    /// Handles one request message.
    fn handle(&self, request: AppRequest, replier: Replier);

    /// Notifications (alone, or batched with requests), and the client's answers that no
    /// waiting [`Replier::request`] took, in body order.
    fn notified(&self, messages: &[Message], session: Option<&SessionId>) {
        let _ = (messages, session);
    }

    /// A GET opened the session's standalone SSE stream.
    fn standalone_opened(&self, session: &SessionId, replier: Replier) {
        let _ = (session, replier);
    }
}

/// Waits for a server-to-client request's answer, for at most [`REQUEST_TIMEOUT`].
pub fn ask(
    replier: &Replier,
    method: &str,
    params: serde_json::Value,
) -> Result<Message, RequestError> {
    replier.request(method, params).wait(REQUEST_TIMEOUT)
}

/// Serves `app` on `listener` for ever.
pub fn serve<A: App>(listener: TcpListener, config: ServerConfig, app: A) {
    let engine = Engine::new(config);
    let app = Arc::new(app);
    {
        let engine = engine.clone();
        thread::spawn(move || {
            loop {
                let wake = engine.tick();
                thread::sleep(wake.saturating_duration_since(now()));
            }
        });
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
            engine: engine.clone(),
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
    let r = driver_error(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    let _ = write_full(&mut tcp, r, false);
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Wakes a parked connection thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// What a connection thread needs.
struct Conn<A> {
    engine: Arc<Engine>,
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
                    let r = driver_error(status, &format!("bad request head: {e}"));
                    let _ = write_full(&mut tcp, r, false);
                    break;
                }
            };
            let mut log = LogLine::new(&head, now());
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
        let refuse = |tcp: &mut TcpStream, log: &mut LogLine, r: Response<Bytes>| {
            log.saw(&r);
            let _ = write_full(tcp, r, false);
            false
        };
        if head.uri.path() != ENDPOINT {
            let msg = format!("not found: the MCP endpoint is {ENDPOINT}");
            return refuse(tcp, log, driver_error(StatusCode::NOT_FOUND, &msg));
        }
        // Refuse from the head when the machine can (413, 403, 405 ...): the body is not read.
        let limit = match self.engine.check_head(&head) {
            Ok(limit) => limit,
            Err((response, why)) => {
                log.refusal = Some(why);
                return refuse(tcp, log, response);
            }
        };
        if head.headers.contains_key(TRANSFER_ENCODING) {
            let msg = "chunked request bodies are not supported: send Content-Length";
            return refuse(tcp, log, driver_error(StatusCode::LENGTH_REQUIRED, msg));
        }
        let length = match head.headers.get(CONTENT_LENGTH) {
            None => 0,
            // The machine checked it against its limit (step 3).
            Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()) {
                Some(n) => n,
                None => {
                    let r = driver_error(StatusCode::BAD_REQUEST, "bad Content-Length");
                    return refuse(tcp, log, r);
                }
            },
        };
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
        let Ok(body) = read_body(tcp, buf, length.min(limit)) else {
            return false;
        };
        let keep_alive = !wants_close && length <= limit;

        let handled = self.engine.handle(Request::from_parts(head, body));
        log.refusal = handled.refusal;
        if let Some((replayed, missed)) = handled.resumed {
            eprintln!("stream resumed: {replayed} events replayed, {missed} missed");
        }
        if !handled.messages.is_empty() {
            self.app
                .notified(&handled.messages, handled.session.as_ref());
        }
        for (request, replier) in handled.requests {
            self.run_handler(request, replier);
        }
        if let (Some(replier), Some(session)) = (handled.standalone, &handled.session) {
            self.app.standalone_opened(session, replier);
        }
        match handled.reply {
            Reply::Full(r) => {
                log.saw(&r);
                write_full(tcp, r, keep_alive).is_ok() && keep_alive
            }
            Reply::Stream(connection) => {
                match write_connection(tcp, &self.engine, connection, keep_alive, log) {
                    Ok(()) => keep_alive,
                    Err(_) => {
                        log.gone = true;
                        self.engine.disconnect(connection);
                        false
                    }
                }
            }
        }
    }

    /// Runs the application on one request in a thread of its own; when it is done (or
    /// panics, or cannot start) the machine answers a request it left unanswered.
    fn run_handler(&self, request: AppRequest, replier: Replier) {
        let finish = request
            .message
            .id()
            .cloned()
            .map(|id| replier.finish_on_drop(id));
        let Some(slot) = Slot::take(&self.handlers, MAX_HANDLERS) else {
            eprintln!("too many handlers: the request is answered with an internal error");
            return; // `finish` answers it
        };
        let app = self.app.clone();
        // A failed spawn drops the closure, and with it the guard that answers.
        let _ = thread::Builder::new()
            .name("mcp-handler".into())
            .spawn(move || {
                let _slot = slot;
                let _finish = finish;
                app.handle(request, replier);
            });
    }
}

/// Writes a connection's output as the machine gives it, until its end. What is queued is
/// written in one go (one `write` per burst, with `TCP_NODELAY`).
fn write_connection(
    tcp: &mut TcpStream,
    engine: &Engine,
    connection: ConnectionId,
    keep_alive: bool,
    log: &mut LogLine,
) -> io::Result<()> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut chunked = false;
    let mut out = Vec::new();
    loop {
        let mut ended = false;
        while let Poll::Ready(event) = engine.poll_connection(connection, &waker) {
            match event {
                StreamEvent::Head(head) => {
                    log.saw(&head);
                    let (mut parts, ()) = head.into_parts();
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
                }
                StreamEvent::Data(data) if chunked => h1::write_chunk(&mut out, &data),
                StreamEvent::Data(data) => out.extend_from_slice(&data),
                StreamEvent::End => {
                    if chunked {
                        out.extend_from_slice(h1::LAST_CHUNK);
                    }
                    ended = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            tcp.write_all(&out)?;
            out.clear();
        }
        if ended {
            return Ok(());
        }
        // Nothing to write: wait to be woken, and meanwhile watch for the peer leaving.
        thread::park_timeout(RECHECK);
        if peer_closed(tcp) {
            return Err(io::ErrorKind::ConnectionAborted.into());
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
fn write_full(tcp: &mut TcpStream, response: Response<Bytes>, keep_alive: bool) -> io::Result<()> {
    let (mut head, body) = response.into_parts();
    if !head.headers.contains_key(CONTENT_LENGTH) {
        head.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    connection_header(&mut head.headers, keep_alive);
    let mut out = Vec::with_capacity(256 + body.len());
    h1::write_response_head(&mut out, head.status, &head.headers);
    out.extend_from_slice(&body);
    tcp.write_all(&out)
}
