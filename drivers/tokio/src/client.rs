//! An async driver for the [`Client`] machine on hyper 1 (HTTP/1.1) + tokio.
//!
//! The driver carries out what the machine decides and holds no protocol logic of its own:
//!
//! - the [`HyperClient`] owns the machine; nothing else touches it, so there is no lock;
//! - every [`Transmit`] becomes one HTTP/1.1 request on a connection of its own (TCP with
//!   `TCP_NODELAY`), run by a tokio task. The task reports the response head, each body
//!   chunk as it arrives, and the end (or the transport error) back over a channel, and
//!   the driver feeds them to [`Client::handle_response_head`],
//!   [`Client::handle_response_chunk`], [`Client::handle_response_end`] and
//!   [`Client::handle_transport_error`] in that order;
//! - after every input it drains [`Client::poll_transmit`] (spawning a task per request);
//!   [`HyperClient::next_event`] hands out [`Client::poll_event`] one at a time;
//! - a timer for [`Client::poll_timeout`] calls [`Client::handle_timeout`] (SSE
//!   reconnections);
//! - [`HyperClient::close`] ends the session and drops the connections of every earlier
//!   exchange (the machine ignores their inputs from then on).
//!
//! Only `http://` endpoints: there is no TLS here.

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use mcp_http_proto::client::UsageError;
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId, Transmit};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use mcp_http_proto_driver::exchange::{self as client_exchange, ClientDriver};
// Re-exported for the examples that import it from here.
#[allow(unused_imports)]
pub use mcp_http_proto_driver::exchange::short;

/// The driver's clock. The library reads none (`clippy.toml` forbids `Instant::now` in the
/// crate); the driver is where time comes from.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// What an exchange task reports about its response.
type Input = client_exchange::Input<std::convert::Infallible>;

/// The machine and the tasks of its exchanges in flight.
pub struct HyperClient {
    client: Client,
    tx: mpsc::UnboundedSender<(ExchangeId, Input)>,
    rx: mpsc::UnboundedReceiver<(ExchangeId, Input)>,
    tasks: HashMap<ExchangeId, JoinHandle<()>>,
    /// Log every exchange on stderr.
    pub verbose: bool,
    /// Also log every body chunk on stderr.
    pub trace_bodies: bool,
}

impl fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperClient")
            .field("client", &self.client)
            .field("in_flight", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Drop for HyperClient {
    fn drop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

impl HyperClient {
    /// A driver for a new machine. Must be called inside a tokio runtime.
    pub fn new(config: ClientConfig) -> Result<Self, String> {
        let client = client_exchange::new_machine(config)?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Self {
            client,
            tx,
            rx,
            tasks: HashMap::new(),
            verbose: true,
            trace_bodies: false,
        })
    }

    /// [`Client::close`]: the DELETE (when there is a session) goes out, and the
    /// connections of every earlier exchange are dropped.
    pub fn close(&mut self) -> Result<(), UsageError> {
        let earlier: Vec<ExchangeId> = self.tasks.keys().copied().collect();
        self.client.close()?;
        for ex in earlier {
            if let Some(task) = self.tasks.remove(&ex) {
                task.abort();
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
        self.tasks.len()
    }

    /// Drives the I/O until the machine has an event. `None` when none can come: no
    /// exchange in flight and no timer armed. Bound it with a timeout: an open SSE
    /// stream may stay silent for ever.
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        loop {
            self.flush();
            if let Some(event) = self.client.poll_event() {
                return Some(event);
            }
            let timeout = self.client.poll_timeout();
            if self.tasks.is_empty() && timeout.is_none() {
                return None;
            }
            let wake = timeout.map(|t| tokio::time::Instant::from_std(t.at));
            tokio::select! {
                input = self.rx.recv() => {
                    // The driver holds a sender, so the channel never closes.
                    let (ex, input) = input?;
                    self.feed(ex, input);
                }
                () = sleep_until(wake) => {
                    if self.verbose {
                        eprintln!("client: timer: {:?}", timeout.map(|t| t.reason));
                    }
                    self.client.handle_timeout(now());
                }
            }
        }
    }

    /// Spawns a task for every request the machine wants sent.
    fn flush(&mut self) {
        while let Some(Transmit { exchange, request }) = self.client.poll_transmit() {
            client_exchange::log_request(self.log(), exchange, &request);
            let tx = self.tx.clone();
            let task = tokio::spawn(async move {
                let input = match run_exchange(exchange, request, &tx).await {
                    Ok(()) => Input::End,
                    Err(e) => Input::Error(e),
                };
                let _ = tx.send((exchange, input));
            });
            self.tasks.insert(exchange, task);
        }
    }

    /// Hands one input to the machine.
    fn feed(&mut self, ex: ExchangeId, input: Input) {
        if !self.tasks.contains_key(&ex) {
            // An exchange dropped by `close`: its task was aborted, this is a leftover.
            return;
        }
        let log = self.log();
        if input.ends() {
            self.tasks.remove(&ex);
        }
        let _ = client_exchange::feed(&mut self.client, ex, input, log, now());
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One request on a fresh connection; reports the head and the chunks on `tx`. The
/// caller reports the end or the error.
async fn run_exchange(
    ex: ExchangeId,
    request: Request<Bytes>,
    tx: &mpsc::UnboundedSender<(ExchangeId, Input)>,
) -> Result<(), String> {
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(format!("{uri}: only http:// is supported by this driver"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{uri}: no authority"))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
    // The connection runs in its own task, aborted when this exchange ends or is dropped.
    let conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));

    // Origin-form request target, and the Host header from the URI.
    parts.uri = origin_form(&uri)?;
    if !parts.headers.contains_key(HOST) {
        parts.headers.insert(HOST, host_header(&authority)?);
    }
    let request = Request::from_parts(parts, Full::new(body));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (head, mut body) = response.into_parts();
    if tx.send((ex, Input::Head(head))).is_err() {
        return Ok(());
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("response body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() && tx.send((ex, Input::Chunk(data))).is_err() {
                return Ok(());
            }
        }
    }
    drop(conn);
    Ok(())
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn origin_form(uri: &Uri) -> Result<Uri, String> {
    let pq = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .path_and_query(pq)
        .build()
        .map_err(|e| format!("{uri}: {e}"))
}

fn host_header(authority: &Authority) -> Result<HeaderValue, String> {
    // The authority without userinfo.
    let host = authority.as_str().rsplit('@').next().unwrap_or_default();
    HeaderValue::from_str(host).map_err(|e| format!("Host {host:?}: {e}"))
}

impl ClientDriver for HyperClient {
    fn client(&self) -> &Client {
        &self.client
    }

    fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    fn flush(&mut self) {
        HyperClient::flush(self);
    }
}
