//! The same MCP server as `examples/server.rs`, with no async runtime: the `Server` machine
//! driven by `std::net` and threads (`examples/support/blocking_server.rs`): a thread per
//! connection, a thread per request handler, a timer thread.
//!
//! ```text
//! cargo run --example blocking_server -- [--port N] [--stateless] [--json] [--no-resumable]
//! ```
//!
//! Same flags, output and tools as the async server; the tool handlers below are the async
//! example's, blocking (`thread::sleep` for the async sleeps).
//!
//! - `--port N`: the port on 127.0.0.1 (default 8080; 0 picks a free one). The server
//!   binds the loopback address only.
//! - `--stateless`: no sessions (GET and DELETE get 405).
//! - `--json`: answer request-bearing POSTs with `application/json` instead of SSE (then
//!   the `progress` tool cannot send its notifications).
//! - `--no-resumable`: no event ids, no priming, no replay. By default SSE streams are
//!   resumable: events carry ids, 2025-11-25 clients get a priming event first, and a GET
//!   with `Last-Event-ID` replays what a client missed.
//!
//! It prints `listening on http://127.0.0.1:PORT/mcp` on stdout, then one log line per
//! HTTP request on stderr.
//!
//! Methods: `initialize`, `ping`, `tools/list`, `tools/call` with the tools
//! - `echo {text}`: returns `text`;
//! - `progress {steps = 3, delay_ms = 50}`: sends `steps` `notifications/progress` on the
//!   request's stream (when the request carries `_meta.progressToken` and the reply is
//!   SSE), `delay_ms` apart, then returns `"done"`;
//! - `test_reconnection`: closes the connection of its own stream right after the priming
//!   event (2025-11-25 clients, resumable streams), waits 100 ms, then answers; the client
//!   gets the result by resuming with GET + `Last-Event-ID`.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use mcp_http_proto::UsageError;
use mcp_http_proto::server::{ReplyMode, ServerConfig};
use mcp_http_proto::wire::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND};
use serde_json::{Value, json};
use support::blocking_server::{self, App, AppRequest, Replier};

/// The most steps and the longest delay the `progress` tool accepts.
const MAX_STEPS: u64 = 1_000;
const MAX_DELAY_MS: u64 = 10_000;

const USAGE: &str = "usage: server [--port N] [--stateless] [--json] [--no-resumable]";

struct Options {
    port: u16,
    stateless: bool,
    json: bool,
    resumable: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        port: 8080,
        stateless: false,
        json: false,
        resumable: true,
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
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
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

    // Loopback only: this example is not meant to be reachable from other machines.
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", opts.port);
            return ExitCode::FAILURE;
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    // Tests read the port from this line.
    let _ = writeln!(
        stdout,
        "listening on http://127.0.0.1:{port}{}",
        blocking_server::ENDPOINT
    );
    let _ = stdout.flush();
    eprintln!(
        "mode: {}, replies: {}",
        if opts.stateless {
            "stateless"
        } else {
            "stateful"
        },
        if opts.json { "json" } else { "sse" }
    );

    blocking_server::serve(listener, config, ExampleApp);
    ExitCode::SUCCESS
}

/// The application: answers each request of a POST on its stream.
struct ExampleApp;

/// A JSON-RPC error: code and message.
type RpcError = (i32, String);

fn invalid_params(message: impl Into<String>) -> RpcError {
    (INVALID_PARAMS, message.into())
}

impl App for ExampleApp {
    fn handle(&self, request: AppRequest, replier: Replier) {
        let Some(id) = request.message.id().cloned() else {
            return; // not a request: nothing to answer
        };
        let method = request.message.method().unwrap_or_default().to_owned();
        // The machine checked that the message is JSON-RPC; read its params.
        let params = match serde_json::from_slice::<Value>(request.message.json()) {
            Ok(mut v) => v.get_mut("params").map(Value::take).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let result = match method.as_str() {
            "initialize" => initialize(&params, &replier),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(tools_list()),
            "tools/call" => tools_call(&params, &replier),
            other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"))),
        };
        let sent = match result {
            Ok(result) => replier.respond_ok(&id, result),
            Err((code, message)) => replier.respond_err(&id, code, &message),
        };
        match sent {
            // The session ended while the request ran: nobody is left to answer.
            Ok(()) | Err(UsageError::StreamClosed(_)) => {}
            Err(e) => eprintln!("answering {method} {id}: {e}"),
        }
    }
}

fn initialize(params: &Value, replier: &Replier) -> Result<Value, RpcError> {
    let requested = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params("initialize: params.protocolVersion must be a string"))?;
    let version = replier.with_server(|s| s.config().negotiate(requested));
    Ok(json!({
        "protocolVersion": version.as_str(),
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "mcp-http-proto-example", "version": env!("CARGO_PKG_VERSION")},
    }))
}

fn tools_list() -> Value {
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
                "name": "test_reconnection",
                "description": "Closes the connection after the priming event, then answers; the client gets the result by resuming the stream (SEP-1699).",
                "inputSchema": {"type": "object", "properties": {}},
            },
        ]
    })
}

fn text_result(text: &str, is_error: bool) -> Value {
    let mut v = json!({"content": [{"type": "text", "text": text}]});
    if is_error {
        v["isError"] = json!(true);
    }
    v
}

fn tools_call(params: &Value, replier: &Replier) -> Result<Value, RpcError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params("tools/call: params.name must be a string"))?;
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &Value::Null,
        Some(a @ Value::Object(_)) => a,
        Some(_) => {
            return Err(invalid_params(
                "tools/call: params.arguments must be an object",
            ));
        }
    };
    match name {
        "echo" => Ok(match args.get("text").and_then(Value::as_str) {
            Some(text) => text_result(text, false),
            None => text_result("echo: missing string argument `text`", true),
        }),
        "progress" => {
            let token = params
                .get("_meta")
                .and_then(|m| m.get("progressToken"))
                .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
                .cloned();
            Ok(progress(args, token, replier))
        }
        "test_reconnection" => Ok(test_reconnection(replier)),
        other => Err(invalid_params(format!("unknown tool: {other}"))),
    }
}

/// Closes the connection of the request's stream before the result exists, so the
/// client must resume (GET + `Last-Event-ID`) to get it (`SRV-PSSE-10`, `CLI-PSSE-11`).
/// A client older than 2025-11-25, or a server without resumability, gets the result on
/// the open stream instead.
fn test_reconnection(replier: &Replier) -> Value {
    let closed = match replier.close_connection() {
        Ok(()) => true,
        Err(UsageError::NotResumable(_)) => false,
        Err(e) => {
            eprintln!("test_reconnection: {e}");
            false
        }
    };
    thread::sleep(Duration::from_millis(100));
    let text = if closed {
        "Reconnection test completed: the connection was closed and the client resumed the stream to get this result."
    } else {
        "Reconnection test completed without closing the connection (the stream is not resumable for this client)."
    };
    text_result(text, false)
}

/// Reads an optional integer argument within `0..=max`.
fn int_arg(args: &Value, name: &str, default: u64, max: u64) -> Result<u64, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("progress: `{name}` must be an integer from 0 to {max}")),
    }
}

fn progress(args: &Value, token: Option<Value>, replier: &Replier) -> Value {
    let (steps, delay_ms) = match (
        int_arg(args, "steps", 3, MAX_STEPS),
        int_arg(args, "delay_ms", 50, MAX_DELAY_MS),
    ) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return text_result(&e, true),
    };
    // A progress notification names the token the request asked for; without one, none
    // is sent.
    let mut token = token;
    for i in 1..=steps {
        if i > 1 {
            thread::sleep(Duration::from_millis(delay_ms));
        }
        let Some(t) = &token else { continue };
        let params = json!({
            "progressToken": t,
            "progress": i,
            "total": steps,
            "message": format!("step {i}/{steps}"),
        });
        match replier.notify("notifications/progress", params) {
            Ok(()) => {}
            // A JSON reply carries the response only: no notifications on it.
            Err(UsageError::JsonReplyCarriesResponsesOnly) => token = None,
            // The session ended: the answer will find no stream either.
            Err(UsageError::StreamClosed(_)) => return text_result("cancelled", true),
            Err(e) => {
                eprintln!("progress notification: {e}");
                token = None;
            }
        }
    }
    text_result("done", false)
}
