//! An MCP client on `std::net` and threads, with no async runtime: [`McpClient`].
//!
//! ```no_run
//! use std::time::Duration;
//! use mcp_http_proto_blocking::client::{Incoming, McpClient, RpcError};
//! use serde_json::json;
//!
//! # fn run() -> Result<(), mcp_http_proto_blocking::client::Error> {
//! let client = McpClient::connect("http://127.0.0.1:8080/mcp")?;
//! for tool in client.list_tools()? {
//!     println!("{}", tool["name"]);
//! }
//! let result = client.call_tool("echo", json!({"text": "hello"}))?;
//! println!("{result}");
//!
//! // The server's notifications and requests, from any thread:
//! let messages = client.clone();
//! std::thread::spawn(move || {
//!     while let Ok(incoming) = messages.next_message(Duration::from_secs(60)) {
//!         if let Incoming::Request(request) = incoming {
//!             let answer = match request.method.as_str() {
//!                 "ping" => Ok(json!({})),
//!                 _ => Err(RpcError::new(-32601, "Method not found")),
//!             };
//!             let _ = messages.respond(&request.id, answer);
//!         }
//!     }
//! });
//! client.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! [`McpClient`] is a cheap handle (`Clone`, `Send`, `Sync`) on one thread that owns the
//! [`Client`](mcp_http_proto::Client) machine; calls reach it over a channel and wait
//! for their answer on a channel of their own. The thread holds no protocol logic: it
//! carries out what the machine decides.
//!
//! - Every [`Transmit`](mcp_http_proto::client::Transmit) becomes one HTTP/1.1 request on
//!   a `TcpStream` of its own (`TCP_NODELAY`), read by a thread of its own (std's
//!   blocking sockets can only run the standalone GET stream beside POSTs from several
//!   threads): threads are bounded by [`Options::max_connections`], plus the one that
//!   owns the machine. Each reports the response head, each body chunk as it arrives, and
//!   the end or the transport error; the machine gets them in that order.
//! - [`Client::poll_timeout`](mcp_http_proto::Client::poll_timeout) and the callers'
//!   deadlines bound the owner thread's wait on its channel (as str0m's run loop does).
//! - A 404 to a request that carried the session id: the machine re-initializes and
//!   re-sends the requests in flight, once (`CLI-SESS-8`, `INV-C4`). A lost SSE stream is
//!   resumed by GET + `Last-Event-ID` (`CLI-RES-4`, `INV-C12`, [`ReconnectPolicy`]); a lost
//!   connection never cancels a request (`INV-C16`). A 2024-11-05 HTTP+SSE server is used
//!   through that transport (`CLI-BC-4`).
//! - [`McpClient::close`] sends the DELETE (`CLI-SESS-9`) and shuts down every socket; the
//!   session id is never sent again (`INV-C5`). Dropping the last handle does the same.
//!
//! Server messages queue (up to [`Options::message_capacity`]) until
//! [`McpClient::next_message`] takes them; read them when the server may send requests.
//!
//! Only `http://` endpoints: there is no TLS here.
//!
//! # Driving the machine with another blocking HTTP client
//!
//! The machine must see **every** status: a 404 is how it learns that the session is gone
//! (and re-initializes, `CLI-SESS-8`), a 4xx to `initialize` is how it falls back to the
//! legacy transport (`CLI-BC-3`), a 405 on GET means no standalone stream (`INV-C17`).
//! Clients that turn 4xx/5xx into errors lose all three silently. With ureq 3, build the
//! agent with `http_status_as_error(false)`:
//!
//! ```text
//! let agent: ureq::Agent = ureq::Agent::config_builder()
//!     .http_status_as_error(false) // every status reaches the machine
//!     .max_redirects(0)            // a redirect is the machine's to see, not to follow
//!     .build()
//!     .into();
//! ```
//!
//! and give no global or body-read timeout that would cut a long SSE stream; read the body
//! incrementally (`response.body_mut().as_reader()`) and hand each read to
//! [`Client::handle_response_chunk`](mcp_http_proto::Client::handle_response_chunk), an
//! I/O error to `handle_transport_error`. Set `TCP_NODELAY` on its connections, and run
//! each exchange on its own thread: the standalone GET stream stays open while POSTs go.

mod exchange;
mod raw;

use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::ExchangeId;
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::RequestId;
use mcp_http_proto_driver::exchange::{self as core, Core, Output};
use serde_json::Value;

use exchange::{Input, run_exchange};

pub use mcp_http_proto::client::{ClientConfig, ClientMode, Era, ReconnectPolicy};
pub use mcp_http_proto_driver::exchange::{
    EraCache, Error, Incoming, Log, Notification, Options, RpcError, ServerRequest, SessionInfo,
    tool_text,
};
pub use raw::{BlockingClient, Elapsed};

/// Extra time a caller waits beyond the owner thread's own deadline, should that thread
/// be gone.
const GRACE: Duration = Duration::from_secs(5);

/// The driver's clock. The library reads none; the driver is where time comes from.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// How a caller is woken.
type Waiter = SyncSender<Result<Value, Error>>;

type Command = core::Command<Waiter>;

/// What the owner thread receives: calls, exchange inputs, and the news that every
/// handle is gone.
enum Msg {
    Command(Command),
    Input(ExchangeId, Input),
    HandlesGone,
}

impl From<(ExchangeId, Input)> for Msg {
    fn from((ex, input): (ExchangeId, Input)) -> Self {
        Msg::Input(ex, input)
    }
}

/// What the handles share; dropping the last one ends the session.
struct Shared {
    tx: Sender<Msg>,
    info: Arc<Mutex<SessionInfo>>,
    messages: Mutex<Receiver<Incoming>>,
    request_timeout: Duration,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::HandlesGone);
    }
}

/// An MCP client session over Streamable HTTP, blocking: a handle to clone into every
/// thread that uses it. See the [module docs](self).
#[derive(Clone)]
pub struct McpClient {
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
    /// initializes a session.
    pub fn connect(url: &str) -> Result<Self, Error> {
        let uri = url
            .parse()
            .map_err(|e| Error::Config(format!("{url:?}: {e}")))?;
        Self::connect_with(Options::new(uri))
    }

    /// Connects with `options` (or a [`ClientConfig`], with the library's defaults
    /// around it) and initializes a session.
    pub fn connect_with(options: impl Into<Options>) -> Result<Self, Error> {
        let options = options.into();
        let (connected, initialized) = mpsc::sync_channel(1);
        let core = Core::start(options.clone(), connected, now())?;
        let (tx, rx) = mpsc::channel();
        let (messages, messages_rx) = mpsc::sync_channel(core.message_capacity());
        let info = Arc::new(Mutex::new(SessionInfo {
            result: Value::Null,
            version: options.config.protocol_version,
            session: None,
        }));
        let owner = Owner {
            core,
            tx: tx.clone(),
            rx,
            sockets: Default::default(),
            messages,
            info: info.clone(),
        };
        thread::Builder::new()
            .name("mcp-client".into())
            .spawn(move || owner.run())
            .map_err(|e| Error::Transport(format!("spawn a thread: {e}")))?;
        let client = Self {
            shared: Arc::new(Shared {
                tx,
                info,
                messages: Mutex::new(messages_rx),
                request_timeout: options.request_timeout,
            }),
        };
        initialized
            .recv_timeout(options.request_timeout + GRACE)
            .map_err(|_| Error::Closed)??;
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
    pub fn request(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.request_within(method, params, None)
    }

    /// [`request`](Self::request) with its own timeout.
    pub fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        self.request_within(method, params, Some(timeout))
    }

    fn request_within(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let wait = timeout.unwrap_or(self.shared.request_timeout);
        self.call(wait, |reply| Command::Request {
            method: method.to_owned(),
            params,
            timeout,
            reply,
        })
    }

    /// Every tool of `tools/list`, following `nextCursor`.
    pub fn list_tools(&self) -> Result<Vec<Value>, Error> {
        let mut tools = Vec::new();
        let mut cursor = None;
        for _ in 0..core::MAX_TOOL_PAGES {
            let params = core::tools_params(cursor.as_deref());
            let (page, next) = core::tools_page(self.request("tools/list", params)?)?;
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
    pub fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, Error> {
        self.request("tools/call", core::call_params(name, arguments))
    }

    /// Sends notification `method` with `params` (`Value::Null` for none).
    pub fn notify(&self, method: &str, params: Value) -> Result<(), Error> {
        self.call(Duration::ZERO, |reply| Command::Notify {
            method: method.to_owned(),
            params,
            reply,
        })
        .map(drop)
    }

    /// Answers the server's request `id` (from [`Incoming::Request`]) with a result or an
    /// error.
    pub fn respond(&self, id: &RequestId, outcome: Result<Value, RpcError>) -> Result<(), Error> {
        self.call(Duration::ZERO, |reply| Command::Respond {
            id: id.clone(),
            outcome,
            reply,
        })
        .map(drop)
    }

    /// The next notification or request from the server, in the order they arrived,
    /// within `timeout`: [`Error::Timeout`] when none came, [`Error::Closed`] once the
    /// client is closed and every message was taken.
    pub fn next_message(&self, timeout: Duration) -> Result<Incoming, Error> {
        let messages = self.shared.messages.lock().expect("never poisoned");
        match messages.recv_timeout(timeout) {
            Ok(m) => Ok(m),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// A message that is already there, if any (and no other thread is reading).
    pub fn try_next_message(&self) -> Option<Incoming> {
        self.shared.messages.try_lock().ok()?.try_recv().ok()
    }

    /// Ends the session: a DELETE when there is a session id (`CLI-SESS-9`), answered
    /// within [`Options::request_timeout`]; every socket is shut down and every call
    /// waiting fails with [`Error::Closed`]. Calls on any handle fail from then on.
    pub fn close(&self) -> Result<(), Error> {
        let wait = self.shared.request_timeout;
        self.call(wait, |reply| Command::Close { reply }).map(drop)
    }

    /// Sends a command and waits for its answer: the owner thread answers within `wait`
    /// (its own deadline), so the extra [`GRACE`] only matters should it be gone.
    fn call(
        &self,
        wait: Duration,
        command: impl FnOnce(Waiter) -> Command,
    ) -> Result<Value, Error> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.shared
            .tx
            .send(Msg::Command(command(reply)))
            .map_err(|_| Error::Closed)?;
        match answer.recv_timeout(wait + GRACE) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }
}

/// The thread that owns the machine.
struct Owner {
    core: Core<Waiter>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    /// The sockets of the exchanges in flight, once connected.
    sockets: std::collections::HashMap<ExchangeId, TcpStream>,
    messages: SyncSender<Incoming>,
    info: Arc<Mutex<SessionInfo>>,
}

impl Owner {
    fn run(mut self) {
        loop {
            self.drain();
            if self.core.is_done() {
                break;
            }
            let now = now();
            let msg = match self.core.next_wake() {
                Some(at) if at <= now => {
                    self.core.handle_timeout(now);
                    continue;
                }
                Some(at) => match self.rx.recv_timeout(at - now) {
                    Ok(msg) => msg,
                    Err(_) => continue,
                },
                // The owner holds a sender: the channel never disconnects.
                None => match self.rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            match msg {
                Msg::Command(c) => self.command(c),
                Msg::Input(ex, input) => self.feed(ex, input),
                Msg::HandlesGone => {
                    let dropped = self.core.close(None, now);
                    self.shut_down(dropped);
                }
            }
        }
        for (_, tcp) in self.sockets.drain() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }

    fn command(&mut self, command: Command) {
        let dropped = self.core.command(command, now());
        self.shut_down(dropped);
    }

    /// Carries out the core's outputs and starts what the machine asks for, until neither
    /// has more.
    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(output) = self.core.poll_output() {
                progress = true;
                match output {
                    // A caller that gave up (the handle's own bound) is gone: ignore.
                    Output::Reply(waiter, outcome) => {
                        let _ = waiter.send(outcome);
                    }
                    Output::Initialized(info) => {
                        *self.info.lock().expect("never poisoned") = info;
                    }
                    Output::Incoming(incoming) => self.deliver(incoming),
                    Output::Abort(exchange) => self.shut_down(vec![exchange]),
                }
            }
            while let Some(t) = self.core.poll_transmit() {
                progress = true;
                let tx = self.tx.clone();
                let exchange = t.exchange;
                let spawned = thread::Builder::new()
                    .name("mcp-exchange".into())
                    .spawn(move || {
                        let input = match run_exchange(exchange, t.request, &tx) {
                            Ok(()) => Input::End,
                            Err(e) => Input::Error(e),
                        };
                        let _ = tx.send(Msg::Input(exchange, input));
                    });
                if let Err(e) = spawned {
                    let input = Input::Error(format!("spawn a thread: {e}"));
                    let _ = self.tx.send(Msg::Input(exchange, input));
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Queues a server message for the application; when the queue is full a request is
    /// answered with an error at once, and a notification is dropped.
    fn deliver(&mut self, incoming: Incoming) {
        if let Err(TrySendError::Full(Incoming::Request(r))) = self.messages.try_send(incoming) {
            let _ = self.core.respond(&r.id, Err(core::overloaded()));
        }
    }

    fn feed(&mut self, ex: ExchangeId, input: Input) {
        if !self.core.is_live(ex) {
            // An exchange dropped by `close`: shut its socket if it comes now.
            if let Input::Connected(tcp) = input {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            self.sockets.remove(&ex);
            return;
        }
        if input.ends() {
            self.sockets.remove(&ex);
        }
        if let Some(tcp) = self.core.feed(ex, input, now()) {
            self.sockets.insert(ex, tcp);
        }
    }

    fn shut_down(&mut self, dropped: Vec<ExchangeId>) {
        for ex in dropped {
            if let Some(tcp) = self.sockets.remove(&ex) {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
    }
}
