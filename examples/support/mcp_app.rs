//! The I/O-free part of the example MCP servers (`examples/server.rs` on hyper + tokio,
//! `examples/blocking_server.rs` on `std::net` + threads): option parsing, the server
//! configuration, the JSON of `initialize`, `tools/list` and the tool results, and argument
//! validation. What needs the driver (sending notifications, sleeping between progress
//! steps, closing a connection) stays in each example, fed by the values built here.

use std::io::Write;
use std::process::ExitCode;

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{NodeId, ReplyMode, ServerConfig, StoreConfig};
use mcp_http_proto::wire::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND, Message, RequestId};
use serde_json::{Value, json};

/// The most steps and the longest delay the `progress` tool accepts.
pub const MAX_STEPS: u64 = 1_000;
pub const MAX_DELAY_MS: u64 = 10_000;

/// How long `test_reconnection` waits after closing the connection.
pub const RECONNECTION_DELAY_MS: u64 = 100;

pub const USAGE: &str = "usage: server [--port N] [--stateless] [--json] [--no-resumable] \
                         [--session-era-only | --modern-only] \
                         [--redis URL --node-id ID] [--idle-timeout SECS] [--touch-interval SECS]";

/// Which revisions the server serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Eras {
    /// Both, chosen per request (the default).
    Both,
    /// 2025-03-26 to 2025-11-25 (and 2024-11-05 as a negotiated version) only.
    SessionOnly,
    /// 2026-07-28 only.
    ModernOnly,
}

pub struct Options {
    pub port: u16,
    pub stateless: bool,
    pub json: bool,
    pub resumable: bool,
    pub eras: Eras,
    /// Share sessions with other nodes through the Redis at this URL (`--redis`).
    pub redis: Option<String>,
    /// This node's name in the cluster (`--node-id`, needed with `--redis`).
    pub node_id: Option<NodeId>,
    /// The session idle timeout in seconds (`--idle-timeout`; default the machine's).
    pub idle_timeout: Option<u64>,
    /// How often a node refreshes a session's TTL in the store (`--touch-interval`).
    pub touch_interval: Option<u64>,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        port: 8080,
        stateless: false,
        json: false,
        resumable: true,
        eras: Eras::Both,
        redis: None,
        node_id: None,
        idle_timeout: None,
        touch_interval: None,
    };
    let secs = |name: &str, v: Option<String>| -> Result<u64, String> {
        let v = v.ok_or_else(|| format!("{name} needs a value"))?;
        v.parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name}: bad number of seconds {v:?}"))
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let v = args.next().ok_or("--port needs a value")?;
                opts.port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--stateless" => opts.stateless = true,
            "--json" => opts.json = true,
            "--no-resumable" => opts.resumable = false,
            "--resumable" => opts.resumable = true,
            "--session-era-only" => opts.eras = Eras::SessionOnly,
            "--modern-only" => opts.eras = Eras::ModernOnly,
            "--redis" => opts.redis = Some(args.next().ok_or("--redis needs a URL")?),
            "--node-id" => {
                let v = args.next().ok_or("--node-id needs a value")?;
                opts.node_id = Some(NodeId::new(&v).map_err(|e| format!("--node-id {v:?}: {e}"))?);
            }
            "--idle-timeout" => opts.idle_timeout = Some(secs("--idle-timeout", args.next())?),
            "--touch-interval" => {
                opts.touch_interval = Some(secs("--touch-interval", args.next())?);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if opts.redis.is_some() != opts.node_id.is_some() {
        return Err("--redis and --node-id go together".into());
    }
    if opts.redis.is_some() && opts.stateless {
        return Err("--redis shares sessions; a stateless server has none".into());
    }
    Ok(opts)
}

/// The options from the command line and the server configuration they make; on bad
/// usage the message and [`USAGE`] are printed on stderr, and the exit status is 2.
pub fn options() -> Result<(Options, ServerConfig), ExitCode> {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return Err(ExitCode::from(2));
        }
    };
    let mut config = if opts.stateless {
        ServerConfig::stateless()
    } else {
        ServerConfig::default()
    };
    if opts.json {
        config.reply_mode = ReplyMode::Json;
    }
    if !opts.resumable {
        config.replay = None;
    }
    if let Some(secs) = opts.idle_timeout {
        config.session_idle_timeout = Some(std::time::Duration::from_secs(secs));
    }
    if let Some(node) = &opts.node_id {
        let mut store = StoreConfig::new(node.clone());
        if let Some(secs) = opts.touch_interval {
            store.touch_interval = std::time::Duration::from_secs(secs);
        }
        config.store = Some(store);
    }
    let modern = |v: &ProtocolVersion| !v.has_initialize();
    match opts.eras {
        Eras::Both => {}
        Eras::SessionOnly => config.supported_versions.retain(|v| !modern(v)),
        Eras::ModernOnly => config.supported_versions.retain(modern),
    }
    Ok((opts, config))
}

/// The port a listener is bound to (from its `local_addr`), or the exit status after
/// logging the error.
pub fn bound_port(addr: std::io::Result<std::net::SocketAddr>) -> Result<u16, ExitCode> {
    match addr {
        Ok(a) => Ok(a.port()),
        Err(e) => {
            eprintln!("local address: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Logs a failed bind; the exit status.
pub fn bind_failed(opts: &Options, e: &std::io::Error) -> ExitCode {
    eprintln!("cannot listen on 127.0.0.1:{}: {e}", opts.port);
    ExitCode::FAILURE
}

/// Prints the `listening on` line (tests read the port from it) and the mode.
pub fn announce(opts: &Options, port: u16, endpoint: &str) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on http://127.0.0.1:{port}{endpoint}");
    let _ = stdout.flush();
    eprintln!(
        "mode: {}, replies: {}, eras: {}",
        if opts.stateless {
            "stateless"
        } else {
            "stateful"
        },
        if opts.json { "json" } else { "sse" },
        match opts.eras {
            Eras::Both => "session era and 2026-07-28",
            Eras::SessionOnly => "session era only",
            Eras::ModernOnly => "2026-07-28 only",
        }
    );
    if let (Some(url), Some(node)) = (&opts.redis, &opts.node_id) {
        eprintln!("node {node}: sessions shared through {url}");
    }
}

/// A JSON-RPC error: code and message.
pub type RpcError = (i32, String);

/// Who the example server is: `initialize` is answered from it by the driver.
pub fn server_info() -> mcp_http_proto_driver::app::ServerInfo {
    mcp_http_proto_driver::app::ServerInfo::new("mcp-http-proto-example", env!("CARGO_PKG_VERSION"))
        .with_capabilities(json!({"tools": {}}))
}

/// What the example's tools answer, as the driver's error type.
pub fn answer(
    result: Result<Value, RpcError>,
) -> Result<Value, mcp_http_proto_driver::app::RpcError> {
    result.map_err(|(code, message)| mcp_http_proto_driver::app::RpcError::new(code, message))
}

/// Logs to stderr through `tracing`, one line per event, without timestamps. Lines are
/// gathered and written in batches, one `write(2)` every few milliseconds at most,
/// instead of one per request ([`flush_logs`] writes what is left at exit).
/// `RUST_LOG=off` (or `warn`) turns the request lines off, and with them their cost.
pub fn init_logging() {
    let level = match std::env::var("RUST_LOG").as_deref() {
        Ok("off") => tracing_subscriber::filter::LevelFilter::OFF,
        Ok("error") => tracing_subscriber::filter::LevelFilter::ERROR,
        Ok("warn") => tracing_subscriber::filter::LevelFilter::WARN,
        Ok("debug") => tracing_subscriber::filter::LevelFilter::DEBUG,
        Ok("trace") => tracing_subscriber::filter::LevelFilter::TRACE,
        _ => tracing_subscriber::filter::LevelFilter::INFO,
    };
    std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(|| {
            loop {
                std::thread::sleep(LOG_FLUSH_EVERY);
                flush_logs();
            }
        })
        .expect("a thread for the log");
    let _ = tracing_subscriber::fmt()
        .with_writer(|| BatchedStderr)
        .with_max_level(level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
}

/// How long a log line may wait before it is written.
const LOG_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// A batch past this is written at once.
const LOG_BATCH: usize = 64 * 1024;

static LOG_BUFFER: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Writes the log lines gathered so far to stderr.
pub fn flush_logs() {
    let batch = {
        let mut buf = LOG_BUFFER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buf.is_empty() {
            return;
        }
        std::mem::take(&mut *buf)
    };
    let _ = std::io::stderr().write_all(&batch);
}

/// The log's writer: appends to the batch.
struct BatchedStderr;

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut buf = LOG_BUFFER
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            buf.extend_from_slice(bytes);
            buf.len() >= LOG_BATCH
        };
        if full {
            flush_logs();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn invalid_params(message: impl Into<String>) -> RpcError {
    (INVALID_PARAMS, message.into())
}

/// A request message's id, method and params (`None` for a message without an id:
/// nothing to answer).
pub fn read_request(message: &Message) -> Option<(RequestId, String, Value)> {
    let id = message.id().cloned()?;
    let method = message.method().unwrap_or_default().to_owned();
    // The machine checked that the message is JSON-RPC; read its params.
    let params = match serde_json::from_slice::<Value>(message.json()) {
        Ok(mut v) => v.get_mut("params").map(Value::take).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    Some((id, method, params))
}

/// What a request asks for: an answer ready now, or a tool that needs the driver.
pub enum Call {
    Done(Result<Value, RpcError>),
    Progress(Progress),
    TestReconnection,
    /// `ask {message}`: an elicitation request to the client; the answer is the result.
    Ask(String),
}

/// Answers `method` (`negotiated`: the version the machine negotiated for `initialize`),
/// or says which driver-bound tool to run.
pub fn dispatch(method: &str, params: &Value, negotiated: Option<ProtocolVersion>) -> Call {
    Call::Done(match method {
        "initialize" => initialize(negotiated),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools_list()),
        "tools/call" => return tools_call(params),
        other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"))),
    })
}

/// Logs a failure to answer, except for a session that ended while the request ran
/// (nobody is left to answer).
pub fn report_sent(method: &str, id: &RequestId, sent: Result<(), UsageError>) {
    match sent {
        Ok(()) | Err(UsageError::StreamClosed(_)) => {}
        Err(e) => eprintln!("answering {method} {id}: {e}"),
    }
}

/// The `InitializeResult`, naming the version the machine negotiated (`LIFE-3`).
pub fn initialize(negotiated: Option<ProtocolVersion>) -> Result<Value, RpcError> {
    let version = negotiated.ok_or_else(|| invalid_params("initialize: no version negotiated"))?;
    Ok(json!({
        "protocolVersion": version.as_str(),
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "mcp-http-proto-example", "version": env!("CARGO_PKG_VERSION")},
    }))
}

pub fn tools_list() -> Value {
    json!({
        "tools": [
            {
                "name": "echo",
                "description": "Returns `text` unchanged.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                },
            },
            {
                "name": "progress",
                "description": "Sends `steps` progress notifications, `delay_ms` apart, then returns \"done\".",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "steps": {"type": "integer", "minimum": 0, "maximum": MAX_STEPS, "default": 3},
                        "delay_ms": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS, "default": 50},
                    },
                },
            },
            {
                "name": "ask",
                "description": "Asks the client (elicitation/create) with `message`, and returns its answer.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"],
                },
            },
            {
                "name": "test_reconnection",
                "description": "Closes the connection after the priming event, then answers; the client gets the result by resuming the stream (SEP-1699).",
                "inputSchema": {"type": "object", "properties": {}},
            },
        ]
    })
}

pub fn text_result(text: &str, is_error: bool) -> Value {
    let mut v = json!({"content": [{"type": "text", "text": text}]});
    if is_error {
        v["isError"] = json!(true);
    }
    v
}

fn tools_call(params: &Value) -> Call {
    let name = match params.get("name").and_then(Value::as_str) {
        Some(name) => name,
        None => {
            return Call::Done(Err(invalid_params(
                "tools/call: params.name must be a string",
            )));
        }
    };
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &Value::Null,
        Some(a @ Value::Object(_)) => a,
        Some(_) => {
            return Call::Done(Err(invalid_params(
                "tools/call: params.arguments must be an object",
            )));
        }
    };
    match name {
        "echo" => Call::Done(Ok(match args.get("text").and_then(Value::as_str) {
            Some(text) => text_result(text, false),
            None => text_result("echo: missing string argument `text`", true),
        })),
        "progress" => {
            let token = params
                .get("_meta")
                .and_then(|m| m.get("progressToken"))
                .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
                .cloned();
            match Progress::new(args, token) {
                Ok(p) => Call::Progress(p),
                Err(e) => Call::Done(Ok(text_result(&e, true))),
            }
        }
        "test_reconnection" => Call::TestReconnection,
        "ask" => match args.get("message").and_then(Value::as_str) {
            Some(m) => Call::Ask(m.to_owned()),
            None => Call::Done(Ok(text_result(
                "ask: missing string argument `message`",
                true,
            ))),
        },
        other => Call::Done(Err(invalid_params(format!("unknown tool: {other}")))),
    }
}

/// The `elicitation/create` params of `ask`: a message and an empty form.
pub fn ask_params(message: &str) -> Value {
    json!({"message": message, "requestedSchema": {"type": "object", "properties": {}}})
}

/// What `ask` returns: the client's answer (its `result`), or why there is none.
pub fn ask_result(answer: Result<&[u8], String>) -> Value {
    match answer {
        Ok(json) => {
            let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
            match v.get("result") {
                Some(r) => text_result(&format!("answered: {r}"), false),
                None => text_result(&format!("the client refused: {}", v["error"]), true),
            }
        }
        Err(e) => text_result(&format!("no answer: {e}"), true),
    }
}

/// Reads an optional integer argument within `0..=max`.
pub fn int_arg(args: &Value, name: &str, default: u64, max: u64) -> Result<u64, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("progress: `{name}` must be an integer from 0 to {max}")),
    }
}

/// A run of the `progress` tool: `steps` notifications, `delay_ms` apart (the driver
/// sleeps between them), then `"done"`.
pub struct Progress {
    pub steps: u64,
    pub delay_ms: u64,
    /// A progress notification names the token the request asked for; without one, none
    /// is sent.
    token: Option<Value>,
}

impl Progress {
    fn new(args: &Value, token: Option<Value>) -> Result<Self, String> {
        let steps = int_arg(args, "steps", 3, MAX_STEPS)?;
        let delay_ms = int_arg(args, "delay_ms", 50, MAX_DELAY_MS)?;
        Ok(Progress {
            steps,
            delay_ms,
            token,
        })
    }

    /// Step `i` (from 1): sends its notification with `notify` (method, params) when
    /// there is a token. `Some(result)` ends the tool early.
    pub fn step(
        &mut self,
        i: u64,
        notify: impl FnOnce(&str, Value) -> Result<(), UsageError>,
    ) -> Option<Value> {
        let t = self.token.as_ref()?;
        let params = json!({
            "progressToken": t,
            "progress": i,
            "total": self.steps,
            "message": format!("step {i}/{}", self.steps),
        });
        match notify("notifications/progress", params) {
            Ok(()) => {}
            // A JSON reply carries the response only: no notifications on it.
            Err(UsageError::JsonReplyCarriesResponsesOnly) => self.token = None,
            // The session ended: the answer will find no stream either.
            Err(UsageError::StreamClosed(_)) => return Some(text_result("cancelled", true)),
            Err(e) => {
                eprintln!("progress notification: {e}");
                self.token = None;
            }
        }
        None
    }

    /// The result after the last step.
    pub fn done() -> Value {
        text_result("done", false)
    }
}

/// `test_reconnection`, given what closing the connection of its stream gave: whether the
/// connection was closed. A client older than 2025-11-25, or a server without
/// resumability, gets the result on the open stream instead.
pub fn reconnection_closed(closed: Result<(), UsageError>) -> bool {
    match closed {
        Ok(()) => true,
        Err(UsageError::NotResumable(_)) => false,
        Err(e) => {
            eprintln!("test_reconnection: {e}");
            false
        }
    }
}

/// The result of `test_reconnection`, after the wait.
pub fn reconnection_result(closed: bool) -> Value {
    let text = if closed {
        "Reconnection test completed: the connection was closed and the client resumed the stream to get this result."
    } else {
        "Reconnection test completed without closing the connection (the stream is not resumable for this client)."
    };
    text_result(text, false)
}
