//! The same MCP client as `examples/client.rs`, with no async runtime: the `Client` machine
//! driven by `std::net` and threads (`examples/support/blocking_client.rs`). Same options,
//! output and exit statuses; the session flow below is the async example's, blocking.
//!
//! ```text
//! cargo run --example blocking_client -- URL [--call TOOL] [--arg KEY=VALUE ...] [--timeout SECS]
//!                                   [--no-standalone] [--quiet] [--trace] [--pause SECS]
//! ```
//!
//! It connects to `URL` (an `http://` MCP endpoint), initializes a session (2025-11-25),
//! opens the standalone GET stream (unless `--no-standalone`; a 405 is fine; not on the
//! 2024-11-05 HTTP+SSE transport, which the machine falls back to on its own), lists the
//! tools (printed one per line), calls one tool, prints the text of its result, and closes
//! the session with a DELETE when there is one.
//!
//! - `--call TOOL`: the tool to call (default `echo`, with `text=hello` unless an `--arg`
//!   is given). With `echo` and a `text` argument, a result other than that text is an
//!   error.
//! - `--arg KEY=VALUE`: a tool argument; `VALUE` is taken as JSON when it parses as JSON
//!   (`steps=3` is a number, `text="3"` a string), else as a string (`text=hello`).
//! - `--timeout SECS`: the longest wait for each step (default 30).
//! - `--no-standalone`: do not open the standalone GET stream.
//! - `--quiet`: no exchange log on stderr.
//! - `--trace`: also log every response body chunk on stderr.
//! - `--pause SECS`: between `tools/list` and `tools/call`, keep driving the I/O for
//!   `SECS` seconds (for tests that restart the server meanwhile: the call then meets a
//!   404, and the machine re-initializes and re-sends it).
//!
//! The call carries a `progressToken`; progress notifications are printed as they come.
//! On success the last line is `client: OK result=TEXT` and the exit status 0; on any
//! error `client: FAIL <reason>` and exit status 1 (2 for bad usage).

mod support;

use std::process::ExitCode;
use std::time::Duration;

use http::Uri;
use mcp_http_proto::client::{ClientConfig, ClientEvent};
use mcp_http_proto::wire::jsonrpc::{Message, MessageKind, RequestId};
use serde_json::{Map, Value, json};
use support::blocking_client::{BlockingClient, now, short};

const USAGE: &str = "usage: client URL [--call TOOL] [--arg KEY=VALUE ...] [--timeout SECS] \
                     [--no-standalone] [--quiet] [--trace] [--pause SECS]";

/// How long the DELETE may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

struct Options {
    url: Uri,
    tool: String,
    args: Map<String, Value>,
    timeout: Duration,
    standalone: bool,
    quiet: bool,
    trace: bool,
    pause: Option<Duration>,
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

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("client: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
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

/// What the session has seen besides the responses it waits for.
#[derive(Default)]
struct Seen {
    progress: u32,
    /// Reopen the standalone GET stream after a re-initialization.
    standalone: bool,
}

fn run(opts: &Options) -> Result<String, String> {
    let config = ClientConfig::new(opts.url.clone());
    let mut driver = BlockingClient::new(config)?;
    driver.verbose = !opts.quiet;
    driver.trace_bodies = opts.trace;
    let mut seen = Seen::default();

    let outcome = session(&mut driver, opts, &mut seen);

    // Close the session whatever happened (a DELETE when there is a session id).
    let closed = close(&mut driver);
    match (outcome, closed) {
        (Ok(text), Ok(())) => Ok(text),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
    }
}

fn session(driver: &mut BlockingClient, opts: &Options, seen: &mut Seen) -> Result<String, String> {
    // 1. initialize (the machine sends notifications/initialized itself).
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
    driver
        .initialize(to_vec(&init))
        .map_err(|e| format!("initialize: {e}"))?;
    let server_info = loop {
        match next(driver, opts.timeout, "the initialize response")? {
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
                break info;
            }
            ClientEvent::InitializeFailed { status, error } => {
                return Err(format!(
                    "initialize failed: status {}, error {}",
                    status.map_or("-".to_owned(), |s| s.to_string()),
                    error.as_ref().map_or("-".to_owned(), json_text)
                ));
            }
            other => other_event(driver, other, seen)?,
        }
    };
    let _ = server_info;

    // 2. the standalone GET stream, for server-initiated messages (405 is fine).
    if opts.standalone && !driver.client().is_legacy() {
        driver
            .open_standalone_stream()
            .map_err(|e| format!("open the standalone stream: {e}"))?;
        seen.standalone = true;
    }

    // 3. tools/list.
    let list = request(driver, opts, seen, 1, "tools/list", json!({}))?;
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

    if let Some(pause) = opts.pause {
        eprintln!("client: pausing {pause:?}");
        let until = now() + pause;
        while let Ok(event) = driver.next_event(until) {
            match event {
                Some(event) => other_event(driver, event, seen)?,
                None => {
                    std::thread::sleep(until.saturating_duration_since(now()));
                    break;
                }
            }
        }
    }

    // 4. tools/call, with a progress token.
    let params = json!({
        "name": opts.tool,
        "arguments": Value::Object(opts.args.clone()),
        "_meta": {"progressToken": "client-progress-1"},
    });
    let result = request(driver, opts, seen, 2, "tools/call", params)?;
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

/// Sends request `id` and waits for its result.
fn request(
    driver: &mut BlockingClient,
    opts: &Options,
    seen: &mut Seen,
    id: i64,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    driver
        .send(to_vec(&msg))
        .map_err(|e| format!("{method}: {e}"))?;
    let want = RequestId::Number(id);
    let what = format!("the {method} response");
    loop {
        match next(driver, opts.timeout, &what)? {
            ClientEvent::Response { id, message } if id == want => {
                let v = value_of(&message);
                if let Some(err) = v.get("error") {
                    return Err(format!("{method} failed: {err}"));
                }
                return v
                    .get("result")
                    .cloned()
                    .ok_or_else(|| format!("{method}: response without result: {v}"));
            }
            ClientEvent::RequestFailed { id, reason } if id == want => {
                return Err(format!("{method} failed: {reason:?}"));
            }
            other => other_event(driver, other, seen)?,
        }
    }
}

/// Ends the session: a DELETE when there is a session id, answered within
/// [`CLOSE_TIMEOUT`].
fn close(driver: &mut BlockingClient) -> Result<(), String> {
    let had_session = driver.client().session().is_some();
    driver.close().map_err(|e| format!("close: {e}"))?;
    if !had_session {
        return Ok(());
    }
    let mut seen = Seen::default();
    loop {
        match next(driver, CLOSE_TIMEOUT, "the DELETE response")? {
            ClientEvent::SessionClosed { status } => {
                eprintln!("client: session closed (DELETE -> {status})");
                return Ok(());
            }
            other => other_event(driver, other, &mut seen)?,
        }
    }
}

/// The next event within `timeout`.
fn next(driver: &mut BlockingClient, timeout: Duration, what: &str) -> Result<ClientEvent, String> {
    match driver.next_event(now() + timeout) {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err(format!("nothing in flight while waiting for {what}")),
        Err(_) => Err(format!("timed out after {timeout:?} waiting for {what}")),
    }
}

/// Events other than the one being waited for: logged, server requests answered.
fn other_event(
    driver: &mut BlockingClient,
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
fn server_message(
    driver: &mut BlockingClient,
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

fn value_of(message: &Message) -> Value {
    serde_json::from_slice(message.json()).unwrap_or(Value::Null)
}

fn json_text(message: &Message) -> String {
    String::from_utf8_lossy(message.json()).into_owned()
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a serde_json::Value always serializes")
}
