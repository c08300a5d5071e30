//! A blocking driver for the [`Client`] machine on `std::net`: no async runtime.
//!
//! The driver carries out what the machine decides and holds no protocol logic of its own:
//!
//! - the [`BlockingClient`] owns the machine; nothing else touches it, so there is no lock;
//! - every [`Transmit`] becomes one HTTP/1.1 request on a `TcpStream` of its own (with
//!   `TCP_NODELAY`; head and body in one write), read by a thread of its own: the response
//!   head (`httparse`, bounded), then the body (`Content-Length`, chunked, or until the
//!   server closes). Exchanges run side by side (the standalone GET stream stays open while
//!   POSTs go), which std's blocking sockets can only do from several threads. The threads
//!   report the head, each body chunk as it arrives, and the end (or the transport error)
//!   over one channel, and the driver feeds them to [`Client::handle_response_head`],
//!   [`Client::handle_response_chunk`], [`Client::handle_response_end`] and
//!   [`Client::handle_transport_error`] in that order;
//! - after every input it drains [`Client::poll_transmit`] (a thread per request);
//!   [`BlockingClient::next_event`] hands out [`Client::poll_event`] one at a time;
//! - [`Client::poll_timeout`] is honoured as str0m's run loop honours it, by bounding the
//!   blocking read: the driver waits on the channel for at most `deadline - now`, then calls
//!   [`Client::handle_timeout`] (SSE reconnections);
//! - [`BlockingClient::close`] ends the session and shuts down the sockets of every earlier
//!   exchange (the machine ignores their inputs from then on).
//!
//! Only `http://` endpoints: there is no TLS here.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, StatusCode};
use mcp_http_proto::client::UsageError;
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId, Transmit};

use crate::http1::{self as h1, ChunkedDecoder};
use mcp_http_proto_driver::exchange::{self as client_exchange, ClientDriver};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver's clock. The library reads none; the driver is where time comes from.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// What an exchange thread reports about its response.
type Input = client_exchange::Input<TcpStream>;

/// [`BlockingClient::next_event`]'s deadline passed first.
#[derive(Debug)]
pub struct Elapsed;

/// The machine and the threads of its exchanges in flight.
pub struct BlockingClient {
    client: Client,
    tx: Sender<(ExchangeId, Input)>,
    rx: Receiver<(ExchangeId, Input)>,
    /// The exchanges in flight, with their socket once connected.
    exchanges: HashMap<ExchangeId, Option<TcpStream>>,
    /// Log every exchange on stderr.
    pub verbose: bool,
    /// Also log every body chunk on stderr.
    pub trace_bodies: bool,
}

impl Drop for BlockingClient {
    fn drop(&mut self) {
        for (_, tcp) in self.exchanges.drain() {
            if let Some(tcp) = tcp {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
    }
}

impl BlockingClient {
    /// A driver for a new machine.
    pub fn new(config: ClientConfig) -> Result<Self, String> {
        let client = client_exchange::new_machine(config)?;
        let (tx, rx) = mpsc::channel();
        Ok(Self {
            client,
            tx,
            rx,
            exchanges: HashMap::new(),
            verbose: true,
            trace_bodies: false,
        })
    }

    /// [`Client::close`]: the DELETE (when there is a session) goes out, and the sockets
    /// of every earlier exchange are shut down.
    pub fn close(&mut self) -> Result<(), UsageError> {
        self.client.close()?;
        for (_, tcp) in self.exchanges.drain() {
            if let Some(tcp) = tcp {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
        self.flush();
        Ok(())
    }

    /// What to log.
    fn log(&self) -> client_exchange::Log {
        client_exchange::Log {
            verbose: self.verbose,
            trace_bodies: self.trace_bodies,
        }
    }

    /// How many exchanges are in flight.
    pub fn in_flight(&self) -> usize {
        self.exchanges.len()
    }

    /// Drives the I/O until the machine has an event, or `until` passes (`Err`). `Ok(None)`
    /// when none can come: no exchange in flight and no timer armed.
    pub fn next_event(&mut self, until: Instant) -> Result<Option<ClientEvent>, Elapsed> {
        loop {
            self.flush();
            if let Some(event) = self.client.poll_event() {
                return Ok(Some(event));
            }
            let timeout = self.client.poll_timeout();
            if self.exchanges.is_empty() && timeout.is_none() {
                return Ok(None);
            }
            let now = now();
            if let Some(t) = timeout.filter(|t| t.at <= now) {
                if self.verbose {
                    eprintln!("client: timer: {:?}", t.reason);
                }
                self.client.handle_timeout(now);
                continue;
            }
            if now >= until {
                return Err(Elapsed);
            }
            let wake = timeout.map_or(until, |t| t.at.min(until));
            match self.rx.recv_timeout(wake - now) {
                Ok((ex, input)) => self.feed(ex, input),
                // The deadline (the machine's or the caller's) is looked at above.
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the driver holds a sender"),
            }
        }
    }

    /// Starts a thread for every request the machine wants sent.
    fn flush(&mut self) {
        while let Some(Transmit { exchange, request }) = self.client.poll_transmit() {
            client_exchange::log_request(self.log(), exchange, &request);
            let tx = self.tx.clone();
            let spawned = thread::Builder::new()
                .name("mcp-exchange".into())
                .spawn(move || {
                    let input = match run_exchange(exchange, request, &tx) {
                        Ok(()) => Input::End,
                        Err(e) => Input::Error(e),
                    };
                    let _ = tx.send((exchange, input));
                });
            self.exchanges.insert(exchange, None);
            if let Err(e) = spawned {
                let _ = self
                    .tx
                    .send((exchange, Input::Error(format!("spawn a thread: {e}"))));
            }
        }
    }

    /// Hands one input to the machine.
    fn feed(&mut self, ex: ExchangeId, input: Input) {
        if !self.exchanges.contains_key(&ex) {
            // An exchange dropped by `close`: its socket was shut down, this is a leftover.
            if let Input::Connected(tcp) = input {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            return;
        }
        let log = self.log();
        if input.ends() {
            self.exchanges.remove(&ex);
        }
        if let Some(tcp) = client_exchange::feed(&mut self.client, ex, input, log, now()) {
            self.exchanges.insert(ex, Some(tcp));
        }
    }
}

/// One request on a fresh connection; reports the head and the chunks on `tx`. The
/// caller reports the end or the error.
fn run_exchange(
    ex: ExchangeId,
    request: Request<Bytes>,
    tx: &Sender<(ExchangeId, Input)>,
) -> Result<(), String> {
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{uri}: no authority"))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {authority}: {e}"))?
        .collect();
    let mut tcp = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).ok())
        .ok_or_else(|| format!("connect {authority}: no address answered"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
    if let Ok(clone) = tcp.try_clone() {
        if tx.send((ex, Input::Connected(clone))).is_err() {
            return Ok(());
        }
    }

    // Host and framing: the only headers the driver adds.
    if !parts.headers.contains_key(HOST) {
        let host = authority.as_str().rsplit('@').next().unwrap_or_default();
        let value = HeaderValue::from_str(host).map_err(|e| format!("Host {host:?}: {e}"))?;
        parts.headers.insert(HOST, value);
    }
    if !body.is_empty() || parts.method == Method::POST {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = Vec::with_capacity(512 + body.len());
    h1::write_request_head(&mut out, &parts.method, target, &parts.headers);
    out.extend_from_slice(&body);
    tcp.write_all(&out).map_err(|e| format!("write: {e}"))?;

    let mut buf = Vec::new();
    let head = h1::read_response_head(&mut tcp, &mut buf).map_err(|e| format!("response: {e}"))?;
    let status = head.status;
    let chunked = head
        .headers
        .get(TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if tx.send((ex, Input::Head(head))).is_err() {
        return Ok(());
    }
    let no_body = parts.method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if no_body {
        return Ok(());
    }
    let mut framing = if chunked {
        Framing::Chunked(ChunkedDecoder::default())
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    // What came with the head, then the socket.
    let mut pending = std::mem::take(&mut buf);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if !pending.is_empty() {
            let data = framing.decode(&pending)?;
            pending.clear();
            if !data.is_empty() && tx.send((ex, Input::Chunk(Bytes::from(data)))).is_err() {
                return Ok(());
            }
        }
        if framing.is_done() {
            return Ok(());
        }
        match tcp.read(&mut chunk) {
            Ok(0) if matches!(framing, Framing::UntilClose) => return Ok(()),
            Ok(0) => return Err("the server closed the connection mid-body".into()),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("response body: {e}")),
        }
    }
}

/// How a response body ends.
enum Framing {
    /// This many bytes left.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl Framing {
    fn decode(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::Length(left) => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *left -= n as u64;
                Ok(input[..n].to_vec())
            }
            Self::Chunked(d) => {
                let mut out = Vec::with_capacity(input.len());
                d.feed(input, &mut out)?;
                Ok(out)
            }
            Self::UntilClose => Ok(input.to_vec()),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Length(left) => *left == 0,
            Self::Chunked(d) => d.is_done(),
            Self::UntilClose => false,
        }
    }
}

impl ClientDriver for BlockingClient {
    fn client(&self) -> &Client {
        &self.client
    }

    fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    fn flush(&mut self) {
        BlockingClient::flush(self);
    }
}
