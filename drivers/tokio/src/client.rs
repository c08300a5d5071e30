//! An MCP client on hyper 1 (HTTP/1.1) + tokio: [`McpClient`].
//!
//! ```no_run
//! use mcp_http_proto_tokio::client::{Incoming, McpClient};
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), mcp_http_proto_tokio::client::Error> {
//! let client = McpClient::connect("http://127.0.0.1:8080/mcp").await?;
//! for tool in client.list_tools().await? {
//!     println!("{}", tool["name"]);
//! }
//! let result = client.call_tool("echo", json!({"text": "hello"})).await?;
//! println!("{result}");
//!
//! // The server's notifications and requests, from any task:
//! let messages = client.clone();
//! tokio::spawn(async move {
//!     while let Some(incoming) = messages.next_message().await {
//!         if let Incoming::Request(request) = incoming {
//!             let answer = match request.method.as_str() {
//!                 "ping" => Ok(json!({})),
//!                 _ => Err(mcp_http_proto_tokio::client::RpcError::new(-32601, "Method not found")),
//!             };
//!             let _ = messages.respond(&request.id, answer).await;
//!         }
//!     }
//! });
//! client.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! [`McpClient`] is a cheap handle (`Clone`, `Send`, `Sync`) on an actor task that owns
//! the [`Client`](mcp_http_proto::Client) machine; calls reach it over an mpsc channel
//! and are answered over oneshot channels, so no lock is ever held across an await. The
//! actor holds no protocol logic: it carries out what the machine decides.
//!
//! - Every [`Transmit`](mcp_http_proto::client::Transmit) becomes one HTTP/1.1 request on
//!   a connection of its own (TCP with `TCP_NODELAY`), run by a task that reports the
//!   response head, each body chunk as it arrives, and the end or the transport error;
//!   the actor feeds them to the machine in that order. At most
//!   [`Options::max_connections`] run at once.
//! - A 404 to a request that carried the session id: the machine re-initializes and
//!   re-sends the requests in flight, once (`CLI-SESS-8`, `INV-C4`); the caller only sees
//!   the response. A lost SSE stream is resumed by GET + `Last-Event-ID` when the
//!   machine's timer fires (`CLI-RES-4`, `INV-C12`, [`ReconnectPolicy`]); a lost
//!   connection never cancels a request (`INV-C16`). A server that only speaks the
//!   2024-11-05 HTTP+SSE transport is used through it (`CLI-BC-4`).
//! - [`McpClient::close`] sends the DELETE (`CLI-SESS-9`) and drops every connection; the
//!   session id is never sent again (`INV-C5`). Dropping the last handle does the same.
//! - [`Options::request_timeout`] bounds every call; a request that times out gets a
//!   `notifications/cancelled`.
//!
//! Server messages queue (up to [`Options::message_capacity`]) until
//! [`McpClient::next_message`] takes them; read them when the server may send requests
//! (`ping`, `roots/list`, `elicitation/create`): an unanswered request stays unanswered.
//! [`Options::new`] opens the standalone GET stream, where a server sends what belongs to
//! no request.
//!
//! Only `http://` endpoints: there is no TLS here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::ExchangeId;
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::RequestId;
use mcp_http_proto_driver::exchange::{self as core, Core, Output};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use mcp_http_proto::client::{ClientConfig, ClientMode, Era, ReconnectPolicy};
pub use mcp_http_proto_driver::exchange::{
    EraCache, Error, Incoming, Log, Notification, Options, RpcError, ServerRequest, SessionInfo,
    tool_text,
};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver's clock. The library reads none (`clippy.toml` forbids `Instant::now` in the
/// core crate); the driver is where time comes from.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// How a caller is woken.
type Waiter = oneshot::Sender<Result<Value, Error>>;

/// What an exchange task reports about its response.
type Input = core::Input<std::convert::Infallible>;

type Command = core::Command<Waiter>;

/// What the handles share.
struct Shared {
    info: Arc<StdMutex<SessionInfo>>,
    messages: Mutex<mpsc::Receiver<Incoming>>,
}

/// An MCP client session over Streamable HTTP, on tokio: a handle to clone into every
/// task that uses it. See the [module docs](self).
#[derive(Clone)]
pub struct McpClient {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("session", &self.session_info().session)
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// Connects to `url` (an `http://` MCP endpoint) with [`Options::new`], and
    /// initializes a session. Must be called inside a tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("{url:?}: {e}")))?;
        Self::connect_with(Options::new(uri)).await
    }

    /// Connects with `options` (or a [`ClientConfig`], with the library's defaults
    /// around it) and initializes a session.
    pub async fn connect_with(options: impl Into<Options>) -> Result<Self, Error> {
        let options = options.into();
        let (connected, initialized) = oneshot::channel();
        let core = Core::start(options.clone(), connected, now())?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (messages, messages_rx) = mpsc::channel(core.message_capacity());
        let (inputs, inputs_rx) = mpsc::unbounded_channel();
        let info = Arc::new(StdMutex::new(SessionInfo {
            result: Value::Null,
            version: options.config.protocol_version,
            session: None,
        }));
        let actor = Actor {
            core,
            commands: Some(commands_rx),
            inputs,
            inputs_rx,
            tasks: HashMap::new(),
            messages,
            info: info.clone(),
        };
        tokio::spawn(actor.run());
        let client = Self {
            commands,
            shared: Arc::new(Shared {
                info,
                messages: Mutex::new(messages_rx),
            }),
        };
        initialized.await.map_err(|_| Error::Closed)??;
        Ok(client)
    }

    /// The current session: the `InitializeResult`, the negotiated version, the session
    /// id. It changes after a re-initialization.
    pub fn session_info(&self) -> SessionInfo {
        self.shared.info.lock().expect("never poisoned").clone()
    }

    /// The negotiated version.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.shared.info.lock().expect("never poisoned").version
    }

    /// The session id, when the server gave one.
    pub fn session_id(&self) -> Option<SessionId> {
        self.shared
            .info
            .lock()
            .expect("never poisoned")
            .session
            .clone()
    }

    /// Sends request `method` with `params` (`Value::Null` for none) and waits for its
    /// `result`, within [`Options::request_timeout`].
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.request_within(method, params, None).await
    }

    /// [`request`](Self::request) with its own timeout.
    pub async fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        self.request_within(method, params, Some(timeout)).await
    }

    async fn request_within(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        self.call(|reply| Command::Request {
            method: method.to_owned(),
            params,
            timeout,
            reply,
        })
        .await
    }

    /// Every tool of `tools/list`, following `nextCursor`.
    pub async fn list_tools(&self) -> Result<Vec<Value>, Error> {
        let mut tools = Vec::new();
        let mut cursor = None;
        for _ in 0..core::MAX_TOOL_PAGES {
            let params = core::tools_params(cursor.as_deref());
            let (page, next) = core::tools_page(self.request("tools/list", params).await?)?;
            tools.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(tools)
    }

    /// Calls tool `name` with `arguments` (an object, or `Value::Null`): the
    /// `CallToolResult`. A tool that failed answers with `isError: true`, which is a
    /// result, not an `Err`.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, Error> {
        self.request("tools/call", core::call_params(name, arguments))
            .await
    }

    /// Sends notification `method` with `params` (`Value::Null` for none).
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), Error> {
        self.call(|reply| Command::Notify {
            method: method.to_owned(),
            params,
            reply,
        })
        .await
        .map(drop)
    }

    /// Answers the server's request `id` (from [`Incoming::Request`]) with a result or an
    /// error.
    pub async fn respond(
        &self,
        id: &RequestId,
        outcome: Result<Value, RpcError>,
    ) -> Result<(), Error> {
        self.call(|reply| Command::Respond {
            id: id.clone(),
            outcome,
            reply,
        })
        .await
        .map(drop)
    }

    /// The next notification or request from the server, in the order they arrived;
    /// `None` once the client is closed and every message was taken.
    pub async fn next_message(&self) -> Option<Incoming> {
        self.shared.messages.lock().await.recv().await
    }

    /// A message that is already there, if any (and no other task is reading).
    pub fn try_next_message(&self) -> Option<Incoming> {
        self.shared.messages.try_lock().ok()?.try_recv().ok()
    }

    /// Ends the session: a DELETE when there is a session id (`CLI-SESS-9`), answered
    /// within [`Options::request_timeout`]; every connection is dropped and every call
    /// waiting fails with [`Error::Closed`]. Calls on any handle fail from then on.
    pub async fn close(&self) -> Result<(), Error> {
        self.call(|reply| Command::Close { reply }).await.map(drop)
    }

    async fn call(&self, command: impl FnOnce(Waiter) -> Command) -> Result<Value, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

/// The task that owns the machine.
struct Actor {
    core: Core<Waiter>,
    /// `None` once every handle is gone.
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    inputs: mpsc::UnboundedSender<(ExchangeId, Input)>,
    inputs_rx: mpsc::UnboundedReceiver<(ExchangeId, Input)>,
    tasks: HashMap<ExchangeId, AbortOnDrop>,
    messages: mpsc::Sender<Incoming>,
    info: Arc<StdMutex<SessionInfo>>,
}

impl Actor {
    async fn run(mut self) {
        loop {
            self.drain();
            if self.core.is_done() {
                return;
            }
            let wake = self.core.next_wake().map(tokio::time::Instant::from_std);
            tokio::select! {
                command = recv(&mut self.commands) => match command {
                    Some(command) => self.command(command),
                    None => {
                        // Every handle is gone: end the session.
                        self.commands = None;
                        let dropped = self.core.close(None, now());
                        self.drop_exchanges(dropped);
                    }
                },
                input = self.inputs_rx.recv() => {
                    // The actor holds a sender: the channel never closes.
                    if let Some((ex, input)) = input {
                        self.feed(ex, input);
                    }
                }
                () = sleep_until(wake) => self.core.handle_timeout(now()),
            }
        }
    }

    fn command(&mut self, command: Command) {
        let dropped = self.core.command(command, now());
        self.drop_exchanges(dropped);
    }

    /// Carries out the core's outputs and sends what the machine asks for, until neither
    /// has more.
    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(output) = self.core.poll_output() {
                progress = true;
                match output {
                    Output::Reply(waiter, outcome) => {
                        let _ = waiter.send(outcome);
                    }
                    Output::Initialized(info) => {
                        *self.info.lock().expect("never poisoned") = info;
                    }
                    Output::Incoming(incoming) => self.deliver(incoming),
                    Output::Abort(exchange) => self.drop_exchanges(vec![exchange]),
                }
            }
            while let Some(t) = self.core.poll_transmit() {
                progress = true;
                let inputs = self.inputs.clone();
                let exchange = t.exchange;
                let task = tokio::spawn(async move {
                    let input = match run_exchange(exchange, t.request, &inputs).await {
                        Ok(()) => Input::End,
                        Err(e) => Input::Error(e),
                    };
                    let _ = inputs.send((exchange, input));
                });
                self.tasks.insert(exchange, AbortOnDrop(task));
            }
            if !progress {
                return;
            }
        }
    }

    /// Queues a server message for the application; when the queue is full a request is
    /// answered with an error at once, and a notification is dropped.
    fn deliver(&mut self, incoming: Incoming) {
        if let Err(mpsc::error::TrySendError::Full(Incoming::Request(r))) =
            self.messages.try_send(incoming)
        {
            let _ = self.core.respond(&r.id, Err(core::overloaded()));
        }
    }

    fn feed(&mut self, ex: ExchangeId, input: Input) {
        if !self.core.is_live(ex) {
            // An exchange dropped by `close`: its task was aborted, this is a leftover.
            self.tasks.remove(&ex);
            return;
        }
        if input.ends() {
            self.tasks.remove(&ex);
        }
        let _ = self.core.feed(ex, input, now());
    }

    fn drop_exchanges(&mut self, dropped: Vec<ExchangeId>) {
        for ex in dropped {
            self.tasks.remove(&ex);
        }
    }
}

async fn recv<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
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
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("connect {authority}: timed out"))?
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

    // Origin-form request target, and the Host header from the URI: the only headers the
    // driver adds (hyper adds the framing).
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

/// A task aborted when dropped.
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
