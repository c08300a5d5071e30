//! A connection's thread: HTTP/1.1 framing around the machine's decisions. It reads a
//! bounded head, refuses from it when the machine can, reads the body, hands the request
//! to the machine, and writes the connection's output as the machine gives it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use mcp_http_proto::server::{ConnectionId, StreamEvent};
use mcp_http_proto_driver::engine::{Engine, Reply, driver_error, now};
use mcp_http_proto_driver::log::LogLine;

use super::{App, MAX_CONNECTIONS, RECHECK, Shared, Slot, lock, spawn_handler};
use crate::http1::{self as h1, HeadError};

/// How long a kept-alive connection may stay idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request's body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write may block on a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The open connections, and which of them wait for a request (idle), so that a
/// shutdown closes those at once and lets the others finish their exchange.
#[derive(Default)]
pub(super) struct Registry {
    stopping: bool,
    next: u64,
    open: HashMap<u64, (TcpStream, bool)>,
}

/// Stops the connections: the idle ones are closed now, the others after their exchange.
pub(super) fn close_idle<A>(shared: &Shared<A>) {
    let mut r = lock(&shared.registry);
    r.stopping = true;
    for (tcp, idle) in r.open.values() {
        if *idle {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
}

/// Marks connection `id` idle (or busy); `false` when the server is stopping.
fn set_idle<A>(shared: &Shared<A>, id: u64, idle: bool) -> bool {
    let mut r = lock(&shared.registry);
    if let Some(entry) = r.open.get_mut(&id) {
        entry.1 = idle;
    }
    !r.stopping
}

/// Serves an accepted connection on a thread of its own, or refuses it (503) when there
/// are [`MAX_CONNECTIONS`] already.
pub(super) fn spawn<A: App>(shared: &Arc<Shared<A>>, tcp: TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(target: "mcp_http_proto", error = %e, "set TCP_NODELAY");
    }
    let Some(slot) = Slot::take(&shared.connections, MAX_CONNECTIONS) else {
        refuse_busy(tcp);
        return;
    };
    let Ok(watch) = tcp.try_clone() else {
        return; // out of file descriptors: the connection closes
    };
    let id = {
        let mut r = lock(&shared.registry);
        r.next += 1;
        let id = r.next;
        r.open.insert(id, (watch, true));
        id
    };
    let conn = Conn {
        shared: shared.clone(),
        id,
    };
    let spawned = thread::Builder::new()
        .name("mcp-conn".into())
        .spawn(move || {
            let _slot = slot;
            conn.serve(tcp);
        });
    if let Err(e) = spawned {
        tracing::warn!(target: "mcp_http_proto", error = %e, "spawn a connection thread");
        lock(&shared.registry).open.remove(&id);
    }
}

/// Too many connections: 503 and close, without reading the request.
fn refuse_busy(mut tcp: TcpStream) {
    let _ = tcp.set_write_timeout(Some(RECHECK));
    let r = driver_error(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    let _ = write_full(&mut tcp, r, false);
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Wakes a parked thread.
pub(super) struct Unpark(pub(super) Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// One connection's thread.
struct Conn<A> {
    shared: Arc<Shared<A>>,
    id: u64,
}

impl<A: App> Conn<A> {
    /// Serves requests on one connection until it closes, cannot be kept alive, or the
    /// server stops.
    fn serve(&self, mut tcp: TcpStream) {
        let _ = tcp.set_write_timeout(Some(WRITE_TIMEOUT));
        let mut buf = Vec::new();
        while set_idle(&self.shared, self.id, true) {
            let _ = tcp.set_read_timeout(Some(IDLE_TIMEOUT));
            let head = h1::read_request_head(&mut tcp, &mut buf);
            set_idle(&self.shared, self.id, false);
            let head = match head {
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
            if !self.exchange(&mut tcp, &mut buf, head, &mut log) {
                break;
            }
        }
        lock(&self.shared.registry).open.remove(&self.id);
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
        let engine = &self.shared.engine;
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
        if !self.shared.paths.serves(head.uri.path()) {
            return refuse(tcp, log, self.shared.paths.not_found());
        }
        // Refuse from the head when the machine can (413, 403, 405 ...): the body is not read.
        let limit = match engine.check_head(&head) {
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
        // A stopping server answers and closes.
        let keep_alive = !wants_close && length <= limit && !lock(&self.shared.registry).stopping;

        // This driver reaches no session store: a parked request gets a store's 503.
        let handled = engine.without_store(engine.handle(Request::from_parts(head, body)));
        log.refusal = handled.refusal;
        if let Some((replayed, missed)) = handled.resumed {
            tracing::info!(target: "mcp_http_proto", replayed, missed, "stream resumed");
        }
        for m in &handled.messages {
            self.shared.app.notification(m, handled.session.as_ref());
        }
        for (request, replier) in handled.requests {
            spawn_handler(&self.shared, request, replier);
        }
        if let (Some(_), Some(session)) = (handled.standalone, &handled.session) {
            self.shared.app.standalone_opened(session);
        }
        match handled.reply {
            Reply::Full(r) => {
                log.saw(&r);
                write_full(tcp, r, keep_alive).is_ok() && keep_alive
            }
            // `without_store` resolves every parked request; never reached.
            Reply::Park(_) => {
                let r = mcp_http_proto_driver::engine::driver_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a parked request was not resumed",
                );
                log.saw(&r);
                let _ = write_full(tcp, r, false);
                false
            }
            Reply::Stream(connection) => {
                let every = self.shared.keep_alive;
                match write_connection(tcp, engine, connection, keep_alive, every, log) {
                    Ok(()) => keep_alive,
                    Err(_) => {
                        log.gone = true;
                        engine.disconnect(connection);
                        false
                    }
                }
            }
        }
    }
}

/// Writes a connection's output as the machine gives it, until its end. What is queued is
/// written in one go (one `write` per burst, with `TCP_NODELAY`). A connection quiet for
/// `keep_alive` asks the machine for a keep-alive comment.
fn write_connection(
    tcp: &mut TcpStream,
    engine: &Engine,
    connection: ConnectionId,
    keep_alive: bool,
    every: Option<Duration>,
    log: &mut LogLine,
) -> io::Result<()> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut chunked = false;
    let mut out = Vec::new();
    let mut quiet_since = now();
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
            quiet_since = now();
        }
        if ended {
            return Ok(());
        }
        // Nothing to write: wait to be woken, and meanwhile watch for the peer leaving
        // and for the keep-alive interval to pass.
        let due = every.map(|d| quiet_since + d);
        let wait = due.map_or(RECHECK, |t| t.saturating_duration_since(now()).min(RECHECK));
        thread::park_timeout(wait);
        if peer_closed(tcp) {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        if due.is_some_and(|t| now() >= t) {
            // The machine decides whether a comment applies (an SSE stream's current
            // connection); either way the interval starts again.
            quiet_since = now();
            engine.keep_alive(connection);
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
