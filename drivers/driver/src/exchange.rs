//! The I/O-free part of the client drivers (`mcp-http-proto-tokio` on hyper + tokio,
//! `mcp-http-proto-blocking` on `std::net` + threads): what an exchange reports, how it is
//! handed to the machine, the exchange log lines, and [`Core`], the whole client library
//! minus its sockets, clock and channels.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::uri::Scheme;
use http::{Request, StatusCode, Uri};
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::{
    Client, ClientConfig, ClientEvent, Era, ExchangeId, RequestFailure, Transmit, UsageError,
};
use mcp_http_proto::wire::jsonrpc::{Message, MessageKind, RequestId};
use mcp_http_proto::wire::{MCP_SESSION_ID, SessionId};
use serde_json::{Map, Value, json};

/// What an exchange reports about its response. `C` is a handle on the connection, for
/// drivers that need one to shut it down when the exchange is dropped (hyper's uses
/// [`std::convert::Infallible`]: it aborts the exchange's task instead).
#[derive(Debug)]
pub enum Input<C> {
    /// A handle on the socket, to shut it down when the exchange is dropped.
    Connected(C),
    /// The response head arrived.
    Head(http::response::Parts),
    /// Body bytes.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The connection failed; why.
    Error(String),
}

impl<C> Input<C> {
    /// Whether the input is the exchange's last.
    pub fn ends(&self) -> bool {
        matches!(self, Input::End | Input::Error(_))
    }
}

/// The machine of a new driver: an error for an endpoint other than `http://` (the
/// machine accepts https; the example drivers have no TLS).
pub fn new_machine(config: ClientConfig) -> Result<Client, String> {
    if config.endpoint.scheme() != Some(&Scheme::HTTP) {
        return Err(format!(
            "{}: only http:// endpoints are supported by this driver",
            config.endpoint
        ));
    }
    Client::new(config).map_err(|e| e.to_string())
}

/// What the driver logs on stderr.
#[derive(Clone, Copy, Debug, Default)]
pub struct Log {
    /// Every exchange.
    pub verbose: bool,
    /// Every response body chunk.
    pub trace_bodies: bool,
}

/// Logs the request of a new exchange (when verbose).
pub fn log_request(log: Log, exchange: ExchangeId, request: &Request<Bytes>) {
    if log.verbose {
        eprintln!(
            "client: > #{} {}",
            exchange.as_u64(),
            describe_request(request)
        );
    }
}

/// Hands one input of exchange `ex` to the machine, logging it; a `Connected` handle is
/// given back for the driver to keep.
pub fn feed<C>(
    client: &mut Client,
    ex: ExchangeId,
    input: Input<C>,
    log: Log,
    now: Instant,
) -> Option<C> {
    let result = match input {
        Input::Connected(c) => return Some(c),
        Input::Head(head) => {
            if log.verbose {
                eprintln!("client: < #{} {}", ex.as_u64(), describe_response(&head));
            }
            client.handle_response_head(ex, head)
        }
        Input::Chunk(chunk) => {
            if log.trace_bodies {
                eprintln!(
                    "client: < #{} body {:?}",
                    ex.as_u64(),
                    String::from_utf8_lossy(&chunk)
                );
            }
            client.handle_response_chunk(ex, chunk, now)
        }
        Input::End => {
            if log.verbose {
                eprintln!("client: < #{} end", ex.as_u64());
            }
            client.handle_response_end(ex, now)
        }
        Input::Error(e) => {
            if log.verbose {
                eprintln!("client: < #{} transport error: {e}", ex.as_u64());
            }
            client.handle_transport_error(ex, now)
        }
    };
    if let Err(e) = result {
        // The driver fed the machine out of order: a bug here, not the server's doing.
        eprintln!("client: driver bug: exchange #{}: {e}", ex.as_u64());
    }
    None
}

/// `POST /mcp initialize session=abcd…` for the log.
fn describe_request(request: &Request<Bytes>) -> String {
    let mut s = format!("{} {}", request.method(), request.uri().path());
    if !request.body().is_empty() {
        match serde_json::from_slice::<serde_json::Value>(request.body()) {
            Ok(serde_json::Value::Object(m)) => {
                let what = m
                    .get("method")
                    .and_then(|v| v.as_str())
                    .unwrap_or("response");
                s.push(' ');
                s.push_str(what);
            }
            Ok(serde_json::Value::Array(a)) => s.push_str(&format!(" batch of {}", a.len())),
            _ => s.push_str(" (body)"),
        }
    }
    for name in ["mcp-protocol-version", "last-event-id"] {
        if let Some(v) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
            s.push_str(&format!(" {name}={v}"));
        }
    }
    if let Some(v) = request
        .headers()
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
    {
        s.push_str(&format!(" session={}", short(v)));
    }
    s
}

/// `200 text/event-stream session=abcd…` for the log.
fn describe_response(head: &http::response::Parts) -> String {
    let mut s = head.status.as_u16().to_string();
    if let Some(ct) = head.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        s.push(' ');
        s.push_str(ct);
    }
    if let Some(v) = head
        .headers
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
    {
        s.push_str(&format!(" session={}", short(v)));
    }
    s
}

/// The first 8 characters of a session id, for logs.
pub fn short(id: &str) -> String {
    let head: String = id.chars().take(8).collect();
    if head.len() < id.len() {
        format!("{head}…")
    } else {
        head
    }
}

/// What both client drivers offer that does not wait: an input to the machine, then
/// sending what it asks for.
pub trait ClientDriver {
    /// The machine, to read its state.
    fn client(&self) -> &Client;

    /// The machine, for an input.
    fn client_mut(&mut self) -> &mut Client;

    /// Sends every request the machine asks for.
    fn flush(&mut self);

    /// [`Client::initialize`], then send what the machine asks for.
    fn initialize(&mut self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        self.client_mut().initialize(json)?;
        self.flush();
        Ok(())
    }

    /// [`Client::send`], then send what the machine asks for.
    fn send(&mut self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        self.client_mut().send(json)?;
        self.flush();
        Ok(())
    }

    /// [`Client::open_standalone_stream`], then send what the machine asks for.
    fn open_standalone_stream(&mut self) -> Result<(), UsageError> {
        self.client_mut().open_standalone_stream()?;
        self.flush();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The client libraries' core: everything `McpClient` does that is not I/O.
// ---------------------------------------------------------------------------------------

/// What a client library is started with: the machine's [`ClientConfig`] (endpoint,
/// version, extra headers, re-initialization, legacy fallback, reconnection policy,
/// limits) and what the library adds on top.
#[derive(Debug, Clone)]
pub struct Options {
    /// The machine's configuration. [`Options::new`] turns on
    /// [`ClientConfig::standalone_stream`], so that the server's notifications and
    /// requests that belong to no client request reach [`Incoming`] (`CLI-GET-1`); the
    /// machine reopens it after every re-initialization.
    pub config: ClientConfig,
    /// The longest wait for a response (and for `initialize`, and the DELETE of
    /// `close`). When it passes, the call returns [`Error::Timeout`] and the library sends
    /// `notifications/cancelled` for the request. Default 60 seconds.
    pub request_timeout: Duration,
    /// `clientInfo.name` in `initialize`.
    pub client_name: String,
    /// `clientInfo.version` in `initialize`.
    pub client_version: String,
    /// `capabilities` in `initialize` (default `{}`): declare `roots`, `sampling` or
    /// `elicitation` here when the application answers those server requests.
    pub capabilities: Value,
    /// How many server messages may wait to be read. When full, a notification is dropped
    /// and a server request is answered with `-32603` at once. Default 1024.
    pub message_capacity: usize,
    /// How many HTTP exchanges (connections) may be open at once; the machine's further
    /// requests wait for one to end. Default 32.
    pub max_connections: usize,
    /// The exchange log on stderr (default off).
    pub log: Log,
    /// Where [`ClientMode::Auto`](mcp_http_proto::client::ClientMode::Auto) keeps the era
    /// each origin was found to speak (`N26-20`: "cache the era per origin"). Clones share
    /// one cache: give the same one to every client of an application, and a server
    /// found to speak only the session era is not probed again. Default: a cache of its
    /// own.
    pub era_cache: EraCache,
}

/// The era each origin (`scheme://authority` of an endpoint) was found to speak, shared
/// by the clients it is given to. Bounded: past [`EraCache::CAPACITY`] origins the
/// oldest entry is forgotten.
#[derive(Debug, Clone, Default)]
pub struct EraCache {
    inner: std::sync::Arc<std::sync::Mutex<VecDeque<(String, Era)>>>,
}

impl EraCache {
    /// The most origins kept.
    pub const CAPACITY: usize = 256;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `endpoint`'s origin was found to speak.
    pub fn get(&self, endpoint: &Uri) -> Option<Era> {
        let origin = origin_of(endpoint);
        let entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().find(|(o, _)| *o == origin).map(|(_, e)| *e)
    }

    /// Records what `endpoint`'s origin speaks.
    pub fn insert(&self, endpoint: &Uri, era: Era) {
        let origin = origin_of(endpoint);
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(o, _)| *o != origin);
        if entries.len() == Self::CAPACITY {
            entries.pop_front();
        }
        entries.push_back((origin, era));
    }
}

/// `scheme://authority` of `uri`, lowercase.
fn origin_of(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("");
    let authority = uri.authority().map_or("", |a| a.as_str());
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

impl Options {
    /// The defaults for `endpoint`, with the standalone GET stream on.
    pub fn new(endpoint: Uri) -> Self {
        let mut config = ClientConfig::new(endpoint);
        config.standalone_stream = true;
        Self::from(config)
    }
}

impl From<ClientConfig> for Options {
    /// The library's defaults around `config`, used as given (the standalone stream only
    /// when `config` asks for it).
    fn from(config: ClientConfig) -> Self {
        Self {
            config,
            request_timeout: Duration::from_secs(60),
            client_name: "mcp-http-proto".to_owned(),
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            capabilities: Value::Object(Map::new()),
            message_capacity: 1024,
            max_connections: 32,
            log: Log::default(),
            era_cache: EraCache::new(),
        }
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// `code`.
    pub code: i64,
    /// `message`.
    pub message: String,
    /// `data`, when present.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with no `data`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The `error` member of a JSON-RPC error response.
    fn from_response(v: &Value) -> Option<Self> {
        let e = v.get("error")?;
        Some(Self {
            code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            data: e.get("data").cloned(),
        })
    }

    fn to_json(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            e["data"] = data.clone();
        }
        e
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)?;
        if let Some(data) = &self.data {
            write!(f, " ({data})")?;
        }
        Ok(())
    }
}

/// Why a call of a client library failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a JSON-RPC error.
    Rpc(RpcError),
    /// The server answered the POST with this error status
    /// ([`RequestFailure::Http`]).
    Http(StatusCode),
    /// The server broke the protocol ([`RequestFailure::Protocol`], a response without a
    /// `result`, an unusable `InitializeResult` ...).
    Protocol(String),
    /// The connection failed: refused, lost before the response with no event id to
    /// resume from ([`RequestFailure::OutcomeUnknown`]: the server may or may not have
    /// processed the request, `INV-C16`), or every reconnection failed
    /// ([`RequestFailure::ReconnectExhausted`]).
    Transport(String),
    /// `initialize` failed: the server answered with an error status or a JSON-RPC error.
    Initialize {
        /// The HTTP status, when the server answered with an error status.
        status: Option<StatusCode>,
        /// The JSON-RPC error, when there was one.
        error: Option<RpcError>,
    },
    /// No MCP endpoint answered: every URI tried got 404 (never read as a session
    /// expiry: no session was attached, `CLI-SESS-8`).
    NoEndpoint {
        /// The URIs tried, the configured one first.
        tried: Vec<String>,
        /// The server's JSON-RPC error message, when its 404 had one.
        message: Option<String>,
    },
    /// The session expired and the request was not re-sent
    /// ([`ClientConfig::auto_reinitialize`] off, or the re-sent request met a 404 again).
    SessionExpired,
    /// No response within [`Options::request_timeout`].
    Timeout,
    /// The client is closed (by [`close`](Core::close), or every handle was dropped).
    Closed,
    /// The machine refused the message: see the [`UsageError`]'s message.
    Usage(UsageError),
    /// The configuration cannot be used.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rpc(e) => e.fmt(f),
            Self::Http(status) => write!(f, "the server answered with HTTP {status}"),
            Self::Protocol(why) => write!(f, "the server broke the protocol: {why}"),
            Self::Transport(why) => write!(f, "transport failure: {why}"),
            Self::Initialize { status, error } => {
                write!(f, "initialize failed")?;
                if let Some(status) = status {
                    write!(f, ": HTTP {status}")?;
                }
                if let Some(error) = error {
                    write!(f, ": {error}")?;
                }
                Ok(())
            }
            Self::NoEndpoint { tried, message } => {
                let first = tried.first().map_or("the URL", String::as_str);
                write!(f, "no MCP endpoint at {first}")?;
                if tried.len() > 1 {
                    write!(f, " (tried {})", tried.join(", "))?;
                }
                if let Some(m) = message {
                    write!(f, ": the server said {m:?}")?;
                }
                Ok(())
            }
            Self::SessionExpired => write!(f, "the session expired (404) and was not resumed"),
            Self::Timeout => write!(f, "no response within the request timeout"),
            Self::Closed => write!(f, "the client is closed"),
            Self::Usage(e) => e.fmt(f),
            Self::Config(why) => write!(f, "bad configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// A notification from the server.
#[derive(Debug, Clone)]
pub struct Notification {
    /// `method`.
    pub method: String,
    /// `params` (`null` when absent).
    pub params: Value,
    /// The message as it arrived.
    pub message: Message,
}

/// A request from the server (`ping`, `roots/list`, `sampling/createMessage`,
/// `elicitation/create` ...). Answer it with the handle's `respond`, with its [`id`](Self::id).
///
/// In the 2026-07-28 era these are the `inputRequests` of an `InputRequiredResult`
/// (multi round-trip requests, SEP-2322), with ids the library made up: once all of a
/// request's inputs are answered, the library sends that request again under a new id,
/// with `inputResponses` and the server's `requestState`, and the caller gets only the
/// final result.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// `id`: give it back to `respond`.
    pub id: RequestId,
    /// `method`.
    pub method: String,
    /// `params` (`null` when absent).
    pub params: Value,
    /// The message as it arrived.
    pub message: Message,
}

/// A message the server sent on its own: a notification or a server-to-client request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Incoming {
    /// A notification (`notifications/progress`, `notifications/message` ...).
    Notification(Notification),
    /// A request to answer.
    Request(ServerRequest),
}

/// What the machine said about the current session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The `result` of the `InitializeResult` (`serverInfo`, `capabilities`,
    /// `instructions` ...).
    pub result: Value,
    /// The negotiated version.
    pub version: ProtocolVersion,
    /// The session id, when the server gave one.
    pub session: Option<SessionId>,
}

/// What [`Core::poll_output`] hands the driver.
#[derive(Debug)]
pub enum Output<W> {
    /// Wake a caller with its outcome.
    Reply(W, Result<Value, Error>),
    /// A server message for the application.
    Incoming(Incoming),
    /// A session was initialized (again, after a re-initialization), or a 2026-07-28
    /// server's `server/discover` answered.
    Initialized(SessionInfo),
    /// Close this exchange's connection: the machine no longer reads it. In the
    /// 2026-07-28 era this is how a request is cancelled (`N26-19`).
    Abort(ExchangeId),
}

/// The client library without its I/O: the machine, the request ids, the callers waiting
/// for a response (`W`: how the driver wakes one), their deadlines, and the exchanges in
/// flight. The driver moves bytes between its sockets and [`feed`](Self::feed) /
/// [`poll_transmit`](Self::poll_transmit), calls [`handle_timeout`](Self::handle_timeout)
/// at [`next_wake`](Self::next_wake), and carries out [`poll_output`](Self::poll_output).
///
/// Every protocol decision is the machine's: re-initialization after a 404 (`CLI-SESS-8`,
/// `INV-C4`), resumption of a lost SSE stream (`CLI-RES-4`, `INV-C12`), the legacy fallback
/// (`CLI-BC-4`), the DELETE of `close` (`CLI-SESS-9`, `INV-C5`). The core only pairs the
/// machine's events with the callers that wait for them.
pub struct Core<W> {
    client: Client,
    options: Options,
    next_id: i64,
    waiting: HashMap<RequestId, Pending<W>>,
    /// Requests whose server asked for input (2026-07-28 multi round-trip requests,
    /// SEP-2322), by the id they went out with, and which call each input request id
    /// belongs to.
    rounds: HashMap<RequestId, InputRound<W>>,
    inputs: HashMap<RequestId, (RequestId, String)>,
    connecting: Option<(W, Instant)>,
    closing: Option<(Option<W>, Instant)>,
    in_flight: HashSet<ExchangeId>,
    /// The last transport error and protocol error seen, for the error of a failure.
    last_transport: Option<String>,
    last_protocol: Option<String>,
    out: VecDeque<Output<W>>,
    done: bool,
}

/// A request waiting for its response: who to wake, when to give up, and what it was,
/// to send it again after an input round.
struct Pending<W> {
    waiter: W,
    deadline: Instant,
    method: String,
    params: Value,
    /// Input rounds it went through.
    rounds: u32,
}

/// A request whose server asked for input: the answers collected so far.
struct InputRound<W> {
    call: Pending<W>,
    request_state: Option<Value>,
    answers: Map<String, Value>,
    awaited: usize,
}

/// The most input rounds one request may go through before the call fails.
pub const MAX_INPUT_ROUNDS: u32 = 16;

/// A call of a client handle, carried to the task or thread that owns the machine; `W`
/// is how the caller is woken with the outcome (see [`Output::Reply`]).
#[derive(Debug)]
pub enum Command<W> {
    /// A request; the outcome is its result.
    Request {
        /// Its method.
        method: String,
        /// Its params.
        params: Value,
        /// How long to wait for its response, beside the options' request timeout.
        timeout: Option<std::time::Duration>,
        /// The caller.
        reply: W,
    },
    /// A notification; the outcome is `Null` once it is handed to the machine.
    Notify {
        /// Its method.
        method: String,
        /// Its params.
        params: Value,
        /// The caller.
        reply: W,
    },
    /// The answer to a server-to-client request.
    Respond {
        /// The request's id.
        id: RequestId,
        /// The result, or the JSON-RPC error.
        outcome: Result<Value, RpcError>,
        /// The caller.
        reply: W,
    },
    /// Close the session.
    Close {
        /// The caller, woken once the session is closed.
        reply: W,
    },
}

impl<W> fmt::Debug for Core<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("client", &self.client)
            .field("waiting", &self.waiting.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl<W> Core<W> {
    /// A machine for `options`, with `initialize` sent; `connected` is woken with the
    /// `InitializeResult`'s `result`, or the error.
    pub fn start(options: Options, connected: W, now: Instant) -> Result<Self, Error> {
        let mut config = options.config.clone();
        if config.era_hint.is_none() {
            config.era_hint = options.era_cache.get(&config.endpoint);
        }
        let client = new_machine(config).map_err(Error::Config)?;
        let mut core = Self {
            client,
            next_id: 1,
            waiting: HashMap::new(),
            rounds: HashMap::new(),
            inputs: HashMap::new(),
            connecting: Some((connected, now + options.request_timeout)),
            closing: None,
            in_flight: HashSet::new(),
            last_transport: None,
            last_protocol: None,
            out: VecDeque::new(),
            done: false,
            options,
        };
        // The machine writes `protocolVersion` (LIFE-2) and keeps the request to
        // re-initialize with after a 404 (CLI-SESS-8); it sends notifications/initialized
        // itself (LIFE-5).
        let init = json!({
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": core.options.config.protocol_version.as_str(),
                "capabilities": core.options.capabilities,
                "clientInfo": {"name": core.options.client_name, "version": core.options.client_version},
            },
        });
        core.client
            .initialize(to_bytes(&init))
            .map_err(Error::Usage)?;
        Ok(core)
    }

    /// The log settings.
    pub fn log(&self) -> Log {
        self.options.log
    }

    /// The message capacity of [`Options`].
    pub fn message_capacity(&self) -> usize {
        self.options.message_capacity.max(1)
    }

    /// Sends a request; `waiter` is woken with its `result` or the error, within
    /// `timeout` (default [`Options::request_timeout`]).
    pub fn request(
        &mut self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
        waiter: W,
        now: Instant,
    ) {
        if self.closing.is_some() || self.done {
            return self
                .out
                .push_back(Output::Reply(waiter, Err(Error::Closed)));
        }
        let id = RequestId::Number(self.next_id);
        self.next_id += 1;
        let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            msg["params"] = params;
        }
        match self.client.send(to_bytes(&msg)) {
            Ok(()) => {
                let deadline = now + timeout.unwrap_or(self.options.request_timeout);
                let pending = Pending {
                    waiter,
                    deadline,
                    method: method.to_owned(),
                    params: msg
                        .get_mut("params")
                        .map(Value::take)
                        .unwrap_or(Value::Null),
                    rounds: 0,
                };
                self.waiting.insert(id, pending);
            }
            Err(e) => self
                .out
                .push_back(Output::Reply(waiter, Err(Error::Usage(e)))),
        }
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) -> Result<(), Error> {
        if self.closing.is_some() || self.done {
            return Err(Error::Closed);
        }
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            msg["params"] = params;
        }
        self.client.send(to_bytes(&msg)).map_err(Error::Usage)
    }

    /// Answers the server's request `id` with a result or an error.
    pub fn respond(
        &mut self,
        id: &RequestId,
        outcome: Result<Value, RpcError>,
    ) -> Result<(), Error> {
        if self.closing.is_some() || self.done {
            return Err(Error::Closed);
        }
        if let Some((call, key)) = self.inputs.remove(id) {
            self.answer_input(call, key, outcome);
            return Ok(());
        }
        let msg = match outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()}),
        };
        self.client.send(to_bytes(&msg)).map_err(Error::Usage)
    }

    /// Carries out one call of a handle; its outcome comes out as an [`Output::Reply`].
    /// Returns the exchanges a close dropped, whose connections the driver ends.
    pub fn command(&mut self, command: Command<W>, now: Instant) -> Vec<ExchangeId> {
        match command {
            Command::Request {
                method,
                params,
                timeout,
                reply,
            } => self.request(&method, params, timeout, reply, now),
            Command::Notify {
                method,
                params,
                reply,
            } => {
                let outcome = self.notify(&method, params).map(|()| Value::Null);
                self.out.push_back(Output::Reply(reply, outcome));
            }
            Command::Respond { id, outcome, reply } => {
                let outcome = self.respond(&id, outcome).map(|()| Value::Null);
                self.out.push_back(Output::Reply(reply, outcome));
            }
            Command::Close { reply } => return self.close(Some(reply), now),
        }
        Vec::new()
    }

    /// Ends the session ([`Client::close`]: a DELETE when there is a session id,
    /// `CLI-SESS-9`); `waiter` is woken once it is answered (or at once when there is
    /// nothing to DELETE). Every waiting request fails with [`Error::Closed`]. Returns the
    /// exchanges the machine dropped: close their connections.
    pub fn close(&mut self, waiter: Option<W>, now: Instant) -> Vec<ExchangeId> {
        if self.closing.is_some() || self.done {
            if let Some(w) = waiter {
                self.out.push_back(Output::Reply(w, Ok(Value::Null)));
            }
            return Vec::new();
        }
        // The machine emits `SessionClosed` only for a DELETE, and sends one only when it
        // holds a session id: whether to wait for it is read from the machine.
        let deletes = self.client.session().is_some();
        if let Some((w, _)) = self.connecting.take() {
            self.out.push_back(Output::Reply(w, Err(Error::Closed)));
        }
        let _ = self.client.close();
        let stalled: Vec<RequestId> = self.rounds.keys().cloned().collect();
        for id in stalled {
            self.end_round(&id, Err(Error::Closed));
        }
        let dropped: Vec<ExchangeId> = self.in_flight.drain().collect();
        if deletes {
            self.closing = Some((waiter, now + self.options.request_timeout));
        } else {
            if let Some(w) = waiter {
                self.out.push_back(Output::Reply(w, Ok(Value::Null)));
            }
            self.done = true;
        }
        dropped
    }

    /// Whether the client is over: `initialize` failed, or `close` completed. The driver
    /// delivers [`poll_output`](Self::poll_output) and stops.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether `exchange` is one the driver should still feed (not dropped by `close`).
    pub fn is_live(&self, exchange: ExchangeId) -> bool {
        self.in_flight.contains(&exchange)
    }

    /// The next request to send, while fewer than [`Options::max_connections`] exchanges
    /// are in flight.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.in_flight.len() >= self.options.max_connections.max(1) {
            return None;
        }
        let t = self.client.poll_transmit()?;
        log_request(self.options.log, t.exchange, &t.request);
        self.in_flight.insert(t.exchange);
        Some(t)
    }

    /// Hands one input of a live exchange to the machine; a `Connected` handle is given
    /// back for the driver to keep.
    pub fn feed<C>(&mut self, exchange: ExchangeId, input: Input<C>, now: Instant) -> Option<C> {
        if input.ends() {
            self.in_flight.remove(&exchange);
        }
        if let Input::Error(e) = &input {
            self.last_transport = Some(e.clone());
        }
        feed(&mut self.client, exchange, input, self.options.log, now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due: the machine's timer
    /// (`poll_timeout`) or a caller's deadline.
    pub fn next_wake(&self) -> Option<Instant> {
        let machine = self.client.poll_timeout().map(|t| t.at);
        let callers = self.waiting.values().map(|p| p.deadline);
        let rounds = self.rounds.values().map(|r| r.call.deadline);
        let others = self.connecting.iter().map(|(_, at)| *at);
        let closing = self.closing.iter().map(|(_, at)| *at);
        machine
            .into_iter()
            .chain(callers)
            .chain(rounds)
            .chain(others)
            .chain(closing)
            .min()
    }

    /// The machine's timer, and the callers whose deadline passed: they get
    /// [`Error::Timeout`], and the machine cancels each request ([`Client::cancel`]: a
    /// `notifications/cancelled` in the session era, the stream closed in the 2026-07-28
    /// era, `N26-19`).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.client.poll_timeout().filter(|t| t.at <= now) {
            if self.options.log.verbose {
                eprintln!("client: timer: {:?}", t.reason);
            }
            self.client.handle_timeout(now);
        }
        let expired: Vec<RequestId> = self
            .waiting
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(Pending { waiter: w, .. }) = self.waiting.remove(&id) {
                self.out.push_back(Output::Reply(w, Err(Error::Timeout)));
                // The machine decides how; a late response is dropped.
                if let Ok(Some(ex)) = self.client.cancel(&id, Some("the request timed out")) {
                    self.in_flight.remove(&ex);
                    self.out.push_back(Output::Abort(ex));
                }
            }
        }
        let stalled: Vec<RequestId> = self
            .rounds
            .iter()
            .filter(|(_, r)| r.call.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stalled {
            self.end_round(&id, Err(Error::Timeout));
        }
        if self.connecting.as_ref().is_some_and(|(_, at)| *at <= now) {
            if let Some((w, _)) = self.connecting.take() {
                self.out.push_back(Output::Reply(w, Err(Error::Timeout)));
            }
            let _ = self.client.close();
            self.in_flight.clear();
            self.done = true;
        }
        if self.closing.as_ref().is_some_and(|(_, at)| *at <= now) {
            if let Some((Some(w), _)) = self.closing.take() {
                self.out.push_back(Output::Reply(w, Err(Error::Timeout)));
            }
            self.done = true;
        }
    }

    /// The next thing to carry out, from the machine's events.
    pub fn poll_output(&mut self) -> Option<Output<W>> {
        loop {
            if let Some(out) = self.out.pop_front() {
                return Some(out);
            }
            let event = self.client.poll_event()?;
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: ClientEvent) {
        let verbose = self.options.log.verbose;
        match event {
            ClientEvent::Initialized {
                session,
                version,
                result,
            } => {
                let result = value_of(&result)
                    .get_mut("result")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                if verbose {
                    eprintln!(
                        "client: initialized: version {version}, session {}",
                        session
                            .as_ref()
                            .map_or("none".to_owned(), |s| short(s.as_str()))
                    );
                }
                // The session first, so that the caller woken by the reply reads it.
                self.out.push_back(Output::Initialized(SessionInfo {
                    result: result.clone(),
                    version,
                    session,
                }));
                if let Some((w, _)) = self.connecting.take() {
                    self.out.push_back(Output::Reply(w, Ok(result)));
                }
            }
            ClientEvent::InitializeFailed { status, error } => {
                let error = error.map(|m| {
                    RpcError::from_response(&value_of(&m))
                        .unwrap_or_else(|| RpcError::new(0, json_text(&m)))
                });
                let err = match (status, error) {
                    (None, None) => match &self.last_transport {
                        Some(why) => Error::Transport(why.clone()),
                        None => Error::Protocol(
                            self.last_protocol
                                .clone()
                                .unwrap_or_else(|| "no usable InitializeResult".to_owned()),
                        ),
                    },
                    (Some(StatusCode::NOT_FOUND), error) => Error::NoEndpoint {
                        tried: self
                            .client
                            .endpoints_tried()
                            .iter()
                            .map(ToString::to_string)
                            .collect(),
                        message: error.map(|e| e.message),
                    },
                    (status, error) => Error::Initialize { status, error },
                };
                if verbose {
                    eprintln!("client: initialize failed: {err}");
                }
                // After a re-initialization that failed, nothing waits here: the machine
                // failed the awaited requests, and later calls get its NotInitialized.
                if let Some((w, _)) = self.connecting.take() {
                    self.out.push_back(Output::Reply(w, Err(err)));
                    self.done = true;
                }
            }
            ClientEvent::Message(message) => self.on_message(message),
            ClientEvent::Response { id, message } => {
                let Some(pending) = self.waiting.remove(&id) else {
                    // Timed out here already.
                    return;
                };
                let mut v = value_of(&message);
                let input_required = v.pointer("/result/resultType").and_then(Value::as_str)
                    == Some("input_required");
                if input_required && self.client.is_modern() {
                    return self.input_required(id, pending, &v);
                }
                let w = pending.waiter;
                let outcome = match RpcError::from_response(&v) {
                    Some(e) => Err(Error::Rpc(e)),
                    None => match v.get_mut("result") {
                        Some(r) => Ok(r.take()),
                        None => Err(Error::Protocol(format!("a response without result: {v}"))),
                    },
                };
                self.out.push_back(Output::Reply(w, outcome));
            }
            ClientEvent::RequestFailed { id, reason } => {
                if verbose {
                    eprintln!("client: request {id} failed: {reason:?}");
                }
                if let Some(Pending { waiter: w, .. }) = self.waiting.remove(&id) {
                    let err = self.failure(reason);
                    self.out.push_back(Output::Reply(w, Err(err)));
                }
            }
            ClientEvent::SessionClosed { status } => {
                if verbose {
                    eprintln!("client: session closed (DELETE -> {status})");
                }
                if let Some((w, _)) = self.closing.take() {
                    if let Some(w) = w {
                        self.out.push_back(Output::Reply(w, Ok(Value::Null)));
                    }
                    self.done = true;
                }
            }
            ClientEvent::ProtocolError { exchange, kind } => {
                if verbose {
                    eprintln!(
                        "client: exchange #{}: protocol error {kind:?}",
                        exchange.as_u64()
                    );
                }
                self.last_protocol = Some(format!("{kind:?}"));
            }
            ClientEvent::HttpError {
                exchange,
                status,
                error,
            } => {
                if verbose {
                    eprintln!(
                        "client: exchange #{} got HTTP {status}{}",
                        exchange.as_u64(),
                        error
                            .map(|m| format!(": {}", json_text(&m)))
                            .unwrap_or_default()
                    );
                }
            }
            ClientEvent::EraDetected { era } => {
                if verbose {
                    eprintln!("client: the server speaks the {era:?} era");
                }
                let endpoint = &self.options.config.endpoint;
                self.options.era_cache.insert(endpoint, era);
            }
            ClientEvent::EndpointRetry { endpoint } => {
                if verbose {
                    eprintln!("client: no MCP endpoint there (404): trying {endpoint}");
                }
            }
            ClientEvent::ToolRejected { tool, error } => {
                // N26-16: "Clients SHOULD log a warning when rejecting a tool definition".
                eprintln!("client: warning: tool {tool:?} dropped from tools/list: {error}");
            }
            other => {
                if verbose {
                    eprintln!("client: {other:?}");
                }
            }
        }
    }

    fn on_message(&mut self, message: Message) {
        let mut v = value_of(&message);
        let method = message.method().unwrap_or_default().to_owned();
        let params = v.get_mut("params").map(Value::take).unwrap_or(Value::Null);
        let incoming = match (message.kind(), message.id().cloned()) {
            (MessageKind::Request, Some(id)) => Incoming::Request(ServerRequest {
                id,
                method,
                params,
                message,
            }),
            (MessageKind::Notification, _) => Incoming::Notification(Notification {
                method,
                params,
                message,
            }),
            _ => {
                // An error response with no id: nothing waits for it.
                if self.options.log.verbose {
                    eprintln!("client: message {}", json_text(&message));
                }
                return;
            }
        };
        self.out.push_back(Output::Incoming(incoming));
    }

    /// The server answered `id` with an `InputRequiredResult` (2026-07-28, SEP-2322):
    /// each of its `inputRequests` goes to the application as an [`Incoming::Request`]
    /// (answer it with `respond`); once all are answered the request goes again under a
    /// new id with `inputResponses`, and `requestState` exactly as the server sent it.
    fn input_required(&mut self, id: RequestId, call: Pending<W>, response: &Value) {
        let result = &response["result"];
        let requests = result.get("inputRequests").and_then(Value::as_object);
        let requests = match requests {
            Some(r) if !r.is_empty() && call.rounds < MAX_INPUT_ROUNDS => r,
            _ => {
                let why = format!(
                    "an InputRequiredResult without inputRequests, or after {MAX_INPUT_ROUNDS} rounds"
                );
                return self
                    .out
                    .push_back(Output::Reply(call.waiter, Err(Error::Protocol(why))));
            }
        };
        let mut round = InputRound {
            call,
            request_state: result.get("requestState").cloned(),
            answers: Map::new(),
            awaited: 0,
        };
        for (key, request) in requests {
            let input_id = RequestId::String(format!("{id}/input/{key}").into());
            let method = request
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let params = request.get("params").cloned().unwrap_or(Value::Null);
            let json =
                json!({"jsonrpc": "2.0", "id": input_id, "method": method, "params": params});
            let Ok(message) = Message::parse(to_bytes(&json)) else {
                continue;
            };
            round.awaited += 1;
            self.inputs
                .insert(input_id.clone(), (id.clone(), key.clone()));
            self.out
                .push_back(Output::Incoming(Incoming::Request(ServerRequest {
                    id: input_id,
                    method: method.to_owned(),
                    params,
                    message,
                })));
        }
        self.rounds.insert(id, round);
    }

    /// The application answered input request `key` of the call that went out as `call`.
    fn answer_input(&mut self, call: RequestId, key: String, outcome: Result<Value, RpcError>) {
        let Some(round) = self.rounds.get_mut(&call) else {
            return;
        };
        match outcome {
            Ok(result) => {
                round.answers.insert(key, result);
                round.awaited -= 1;
                if round.awaited > 0 {
                    return;
                }
            }
            // An input the application cannot give ends the call with its error.
            Err(e) => return self.end_round(&call, Err(Error::Rpc(e))),
        }
        let round = self.rounds.remove(&call).expect("present");
        let mut pending = round.call;
        let mut params = match pending.params.clone() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        params.insert("inputResponses".into(), Value::Object(round.answers));
        match round.request_state {
            Some(state) => params.insert("requestState".into(), state),
            None => params.remove("requestState"),
        };
        let id = RequestId::Number(self.next_id);
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": pending.method, "params": params});
        match self.client.send(to_bytes(&msg)) {
            Ok(()) => {
                pending.rounds += 1;
                self.waiting.insert(id, pending);
            }
            Err(e) => self
                .out
                .push_back(Output::Reply(pending.waiter, Err(Error::Usage(e)))),
        }
    }

    /// Ends the input round of `call` with `outcome`; its unanswered input requests are
    /// forgotten.
    fn end_round(&mut self, call: &RequestId, outcome: Result<Value, Error>) {
        if let Some(round) = self.rounds.remove(call) {
            self.inputs.retain(|_, (c, _)| c != call);
            self.out
                .push_back(Output::Reply(round.call.waiter, outcome));
        }
    }

    /// The error for a request the machine resolved without a response.
    fn failure(&self, reason: RequestFailure) -> Error {
        let last = |what: &str| match &self.last_transport {
            Some(e) => format!("{what} ({e})"),
            None => what.to_owned(),
        };
        match reason {
            RequestFailure::Http(status) => Error::Http(status),
            RequestFailure::Protocol => Error::Protocol(
                self.last_protocol
                    .clone()
                    .unwrap_or_else(|| "a bad response".to_owned()),
            ),
            RequestFailure::OutcomeUnknown => Error::Transport(last(
                "the connection was lost before the response; the server may or may not have processed the request",
            )),
            RequestFailure::ReconnectExhausted => {
                Error::Transport(last("every reconnection of the stream failed"))
            }
            RequestFailure::SessionExpired => Error::SessionExpired,
            RequestFailure::Closed => Error::Closed,
            other => Error::Protocol(format!("{other:?}")),
        }
    }
}

/// The answer a driver gives for a server request it cannot queue
/// ([`Options::message_capacity`] reached).
pub fn overloaded() -> RpcError {
    RpcError::new(
        i64::from(mcp_http_proto::wire::jsonrpc::INTERNAL_ERROR),
        "the client's message queue is full",
    )
}

/// The text items of a `CallToolResult`, joined by newlines.
pub fn tool_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|item| item.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The `tools` of a `tools/list` result, and its `nextCursor`.
pub fn tools_page(result: Value) -> Result<(Vec<Value>, Option<String>), Error> {
    let cursor = result
        .get("nextCursor")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match result {
        Value::Object(mut m) => match m.remove("tools") {
            Some(Value::Array(tools)) => Ok((tools, cursor)),
            _ => Err(Error::Protocol(
                "a tools/list result without a tools array".into(),
            )),
        },
        other => Err(Error::Protocol(format!(
            "a tools/list result that is not an object: {other}"
        ))),
    }
}

/// The most pages `list_tools` follows.
pub const MAX_TOOL_PAGES: usize = 100;

/// The params of `tools/list` for `cursor`.
pub fn tools_params(cursor: Option<&str>) -> Value {
    match cursor {
        Some(c) => json!({"cursor": c}),
        None => Value::Null,
    }
}

/// The params of `tools/call`.
pub fn call_params(name: &str, arguments: Value) -> Value {
    let mut params = json!({"name": name});
    if !arguments.is_null() {
        params["arguments"] = arguments;
    }
    params
}

fn value_of(message: &Message) -> Value {
    serde_json::from_slice(message.json()).unwrap_or(Value::Null)
}

fn json_text(message: &Message) -> String {
    String::from_utf8_lossy(message.json()).into_owned()
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("a serde_json::Value always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_method(options: Options) -> String {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut core = Core::start(options, (), now).unwrap();
        let t = core.poll_transmit().unwrap();
        let v: Value = serde_json::from_slice(t.request.body()).unwrap();
        v["method"].as_str().unwrap().to_owned()
    }

    /// `N26-20`: the era found for an origin is kept, per origin, across clients that
    /// share the cache; a session-era origin is not probed again.
    #[test]
    fn era_cache_skips_the_probe_per_origin() {
        let cache = EraCache::new();
        let options = |url: &str| {
            let mut o = Options::new(url.parse().unwrap());
            o.config.mode = mcp_http_proto::client::ClientMode::Auto;
            o.era_cache = cache.clone();
            o
        };
        assert_eq!(
            first_method(options("http://a.test/mcp")),
            "server/discover"
        );
        cache.insert(&"http://A.test/other".parse().unwrap(), Era::Session);
        assert_eq!(first_method(options("http://a.test/mcp")), "initialize");
        assert_eq!(
            first_method(options("http://b.test/mcp")),
            "server/discover"
        );
        cache.insert(&"http://a.test/mcp".parse().unwrap(), Era::Modern);
        assert_eq!(
            first_method(options("http://a.test/mcp")),
            "server/discover"
        );
        for i in 0..EraCache::CAPACITY {
            cache.insert(&format!("http://h{i}.test/").parse().unwrap(), Era::Session);
        }
        assert_eq!(
            cache.get(&"http://a.test/mcp".parse().unwrap()),
            None,
            "bounded"
        );
    }
}
