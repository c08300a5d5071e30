//! The I/O-free part of the example MCP clients (`examples/client.rs` on hyper + tokio,
//! `examples/blocking_client.rs` on `std::net` + threads): option parsing, the messages
//! sent, what is made of the events (results, logging, answers to server requests) and
//! the printing. Waiting for events stays in each example; the driver's non-waiting calls
//! are reached through [`ClientDriver`].

use std::process::ExitCode;
use std::time::Duration;

use http::Uri;

use mcp_http_proto::client::ClientEvent;
use mcp_http_proto::wire::jsonrpc::{Message, MessageKind, RequestId};
use serde_json::{Map, Value, json};

pub use mcp_http_proto_driver::exchange::ClientDriver;
use mcp_http_proto_driver::exchange::short;

pub const USAGE: &str = "usage: client URL [--call TOOL] [--arg KEY=VALUE ...] [--timeout SECS] \
                     [--no-standalone] [--quiet] [--trace] [--pause SECS]";

/// How long the DELETE may take at the end.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Options {
    pub url: Uri,
    pub tool: String,
    pub args: Map<String, Value>,
    pub timeout: Duration,
    pub standalone: bool,
    pub quiet: bool,
    pub trace: bool,
    pub pause: Option<Duration>,
}

fn parse_args() -> Result<Options, String> {
    let mut url = None;
    let mut tool = None;
    let mut args = Map::new();
    let mut timeout = Duration::from_secs(30);
    let mut standalone = true;
    let mut quiet = false;
    let mut trace = false;
    let mut pause = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--call" => tool = Some(it.next().ok_or("--call needs a tool name")?),
            "--arg" => {
                let kv = it.next().ok_or("--arg needs KEY=VALUE")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--arg {kv:?}: expected KEY=VALUE"))?;
                let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
                args.insert(k.to_owned(), value);
            }
            "--timeout" => {
                let v = it.next().ok_or("--timeout needs a value")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad timeout {v:?}"))?;
                if !(secs > 0.0 && secs < 86_400.0) {
                    return Err(format!("bad timeout {v:?}"));
                }
                timeout = Duration::from_secs_f64(secs);
            }
            "--no-standalone" => standalone = false,
            "--quiet" => quiet = true,
            "--trace" => trace = true,
            "--pause" => {
                let v = it.next().ok_or("--pause needs a value")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad pause {v:?}"))?;
                if !(0.0..86_400.0).contains(&secs) {
                    return Err(format!("bad pause {v:?}"));
                }
                pause = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other => {
                if url.is_some() {
                    return Err(format!("unexpected argument {other:?}"));
                }
                url = Some(
                    other
                        .parse::<Uri>()
                        .map_err(|e| format!("bad URL {other:?}: {e}"))?,
                );
            }
        }
    }
    let url = url.ok_or("no URL given")?;
    let tool = tool.unwrap_or_else(|| "echo".to_owned());
    if tool == "echo" && args.is_empty() {
        args.insert("text".to_owned(), json!("hello"));
    }
    Ok(Options {
        url,
        tool,
        args,
        timeout,
        standalone,
        quiet,
        trace,
        pause,
    })
}

/// The options from the command line; on bad usage the message and [`USAGE`] are
/// printed on stderr, and the exit status is 2.
pub fn options() -> Result<Options, ExitCode> {
    parse_args().map_err(|e| {
        if !e.is_empty() {
            eprintln!("client: {e}");
        }
        eprintln!("{USAGE}");
        ExitCode::from(2)
    })
}

/// Prints the outcome of the run (its last line) and gives the exit status.
pub fn finish(outcome: Result<String, String>) -> ExitCode {
    match outcome {
        Ok(text) => {
            println!("client: OK result={text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("client: FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

/// The outcome of the session and of closing it.
pub fn outcome(
    session: Result<String, String>,
    closed: Result<(), String>,
) -> Result<String, String> {
    match (session, closed) {
        (Ok(text), Ok(())) => Ok(text),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
    }
}

/// What the session has seen besides the responses it waits for.
#[derive(Default)]
pub struct Seen {
    pub progress: u32,
    /// Reopen the standalone GET stream after a re-initialization.
    pub standalone: bool,
}

/// The `initialize` request (the machine sends notifications/initialized itself).
pub fn initialize_request() -> Vec<u8> {
    let init = json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "mcp-http-proto-example-client", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    to_vec(&init)
}

/// An event while waiting for the initialize response: `Some(serverInfo)` once
/// initialized.
pub fn initialize_event(
    driver: &mut impl ClientDriver,
    event: ClientEvent,
    seen: &mut Seen,
) -> Result<Option<Value>, String> {
    match event {
        ClientEvent::Initialized {
            session,
            version,
            result,
        } => {
            let info = value_of(&result)
                .pointer("/result/serverInfo")
                .cloned()
                .unwrap_or(Value::Null);
            eprintln!(
                "client: initialized: version {version}, session {}, server {info}",
                session
                    .as_ref()
                    .map_or("none".to_owned(), |s| short(s.as_str()))
            );
            Ok(Some(info))
        }
        ClientEvent::InitializeFailed { status, error } => Err(format!(
            "initialize failed: status {}, error {}",
            status.map_or("-".to_owned(), |s| s.to_string()),
            error.as_ref().map_or("-".to_owned(), json_text)
        )),
        other => other_event(driver, other, seen).map(|()| None),
    }
}

/// After initialization: the standalone GET stream, for server-initiated messages (405
/// is fine).
pub fn open_standalone(
    driver: &mut impl ClientDriver,
    opts: &Options,
    seen: &mut Seen,
) -> Result<(), String> {
    if opts.standalone && !driver.client().is_legacy() {
        driver
            .open_standalone_stream()
            .map_err(|e| format!("open the standalone stream: {e}"))?;
        seen.standalone = true;
    }
    Ok(())
}

/// Sends request `id`.
pub fn send_request(
    driver: &mut impl ClientDriver,
    id: i64,
    method: &str,
    params: Value,
) -> Result<(), String> {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    driver
        .send(to_vec(&msg))
        .map_err(|e| format!("{method}: {e}"))
}

/// An event while waiting for the response to request `id`: `Some(result)` once it is
/// there.
pub fn request_event(
    driver: &mut impl ClientDriver,
    event: ClientEvent,
    seen: &mut Seen,
    id: i64,
    method: &str,
) -> Result<Option<Value>, String> {
    let want = RequestId::Number(id);
    match event {
        ClientEvent::Response { id, message } if id == want => {
            let v = value_of(&message);
            if let Some(err) = v.get("error") {
                return Err(format!("{method} failed: {err}"));
            }
            v.get("result")
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("{method}: response without result: {v}"))
        }
        ClientEvent::RequestFailed { id, reason } if id == want => {
            Err(format!("{method} failed: {reason:?}"))
        }
        other => other_event(driver, other, seen).map(|()| None),
    }
}

/// Prints the tools of a `tools/list` result, one per line; an error when the tool to
/// call is not among them.
pub fn print_tools(list: &Value, opts: &Options) -> Result<(), String> {
    let tools = list
        .get("tools")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("tools/list result has no tools array: {list}"))?;
    for tool in tools {
        println!(
            "tool: {} - {}",
            tool.get("name").and_then(Value::as_str).unwrap_or("?"),
            tool.get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
    }
    if !tools
        .iter()
        .any(|t| t.get("name").and_then(Value::as_str) == Some(opts.tool.as_str()))
    {
        return Err(format!("tool {:?} is not listed by tools/list", opts.tool));
    }
    Ok(())
}

/// The params of the `tools/call`, with a progress token.
pub fn call_params(opts: &Options) -> Value {
    json!({
        "name": opts.tool,
        "arguments": Value::Object(opts.args.clone()),
        "_meta": {"progressToken": "client-progress-1"},
    })
}

/// The text of a `tools/call` result (an error for `isError`, no text, or an echo that
/// differs from its `text` argument).
pub fn call_text(result: &Value, opts: &Options, seen: &Seen) -> Result<String, String> {
    let texts: Vec<&str> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|item| item.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let text = texts.join("\n");
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        return Err(format!("tool {} returned isError: {text}", opts.tool));
    }
    if texts.is_empty() {
        return Err(format!(
            "tool {} returned no text content: {result}",
            opts.tool
        ));
    }
    if opts.tool == "echo" {
        if let Some(want) = opts.args.get("text").and_then(Value::as_str) {
            if text != want {
                return Err(format!("echo returned {text:?}, expected {want:?}"));
            }
        }
    }
    eprintln!(
        "client: {} progress notification(s) for the call",
        seen.progress
    );
    Ok(text)
}

/// An event while waiting for the DELETE response: `true` once the session is closed.
pub fn close_event(
    driver: &mut impl ClientDriver,
    event: ClientEvent,
    seen: &mut Seen,
) -> Result<bool, String> {
    match event {
        ClientEvent::SessionClosed { status } => {
            eprintln!("client: session closed (DELETE -> {status})");
            Ok(true)
        }
        other => other_event(driver, other, seen).map(|()| false),
    }
}

/// The error for nothing in flight while waiting for `what`.
pub fn nothing_in_flight(what: &str) -> String {
    format!("nothing in flight while waiting for {what}")
}

/// The error for no event within `timeout` while waiting for `what`.
pub fn timed_out(timeout: Duration, what: &str) -> String {
    format!("timed out after {timeout:?} waiting for {what}")
}

/// Events other than the one being waited for: logged, server requests answered.
pub fn other_event(
    driver: &mut impl ClientDriver,
    event: ClientEvent,
    seen: &mut Seen,
) -> Result<(), String> {
    match event {
        ClientEvent::Message(message) => server_message(driver, &message, seen),
        ClientEvent::Response { id, message } => {
            eprintln!(
                "client: unexpected response to {id}: {}",
                json_text(&message)
            );
            Ok(())
        }
        ClientEvent::RequestFailed { id, reason } => {
            eprintln!("client: request {id} failed: {reason:?}");
            Ok(())
        }
        ClientEvent::Initialized {
            session, version, ..
        } => {
            // A re-initialization after a 404 (the first one is awaited in `session`).
            eprintln!(
                "client: re-initialized: version {version}, session {}",
                session
                    .as_ref()
                    .map_or("none".to_owned(), |s| short(s.as_str()))
            );
            if seen.standalone && !driver.client().is_legacy() {
                driver
                    .open_standalone_stream()
                    .map_err(|e| format!("reopen the standalone stream: {e}"))?;
            }
            Ok(())
        }
        ClientEvent::SessionExpired { reinitializing } => {
            eprintln!("client: session expired (re-initializing: {reinitializing})");
            Ok(())
        }
        ClientEvent::StandaloneStreamUnavailable => {
            eprintln!("client: the server has no standalone GET stream (405)");
            Ok(())
        }
        ClientEvent::StandaloneStreamEnded => {
            eprintln!("client: the standalone GET stream ended");
            Ok(())
        }
        ClientEvent::HttpError {
            exchange,
            status,
            error,
        } => {
            eprintln!(
                "client: exchange #{} got HTTP {status}{}",
                exchange.as_u64(),
                error
                    .map(|m| format!(": {}", json_text(&m)))
                    .unwrap_or_default()
            );
            Ok(())
        }
        ClientEvent::ProtocolError { exchange, kind } => {
            eprintln!(
                "client: exchange #{}: protocol error {kind:?}",
                exchange.as_u64()
            );
            Ok(())
        }
        other => {
            eprintln!("client: event {other:?}");
            Ok(())
        }
    }
}

/// A server request (answered: `ping` with `{}`, anything else with method-not-found) or
/// notification (logged; progress counted).
pub fn server_message(
    driver: &mut impl ClientDriver,
    message: &Message,
    seen: &mut Seen,
) -> Result<(), String> {
    let v = value_of(message);
    match message.kind() {
        MessageKind::Request => {
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            let method = message.method().unwrap_or("");
            eprintln!("client: server request {method} (id {id})");
            let reply = if method == "ping" {
                json!({"jsonrpc": "2.0", "id": id, "result": {}})
            } else {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})
            };
            driver
                .send(to_vec(&reply))
                .map_err(|e| format!("answer the server's {method}: {e}"))
        }
        MessageKind::Notification => {
            if message.method() == Some("notifications/progress") {
                seen.progress += 1;
                let p = v.get("params").cloned().unwrap_or(Value::Null);
                eprintln!(
                    "client: progress {}/{} {}",
                    p.get("progress").unwrap_or(&Value::Null),
                    p.get("total").unwrap_or(&Value::Null),
                    p.get("message").and_then(Value::as_str).unwrap_or("")
                );
            } else {
                eprintln!("client: notification {}", json_text(message));
            }
            Ok(())
        }
        _ => {
            eprintln!("client: message {}", json_text(message));
            Ok(())
        }
    }
}

pub fn value_of(message: &Message) -> Value {
    serde_json::from_slice(message.json()).unwrap_or(Value::Null)
}

pub fn json_text(message: &Message) -> String {
    String::from_utf8_lossy(message.json()).into_owned()
}

pub fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a serde_json::Value always serializes")
}
