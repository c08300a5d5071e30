//! What the example MCP clients share (`examples/client.rs` on `mcp-http-proto-tokio`,
//! `examples/blocking_client.rs` on `mcp-http-proto-blocking`): the options, the library
//! options made of them, the answers to server messages, and the printing of the outcome.
//! The calls themselves are in each example.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::Uri;
use mcp_http_proto::client::ClientMode;
use mcp_http_proto::wire::jsonrpc::{METHOD_NOT_FOUND, RequestId};
use mcp_http_proto_driver::exchange::{Incoming, Log, Options as LibOptions, RpcError, tool_text};
use serde_json::{Map, Value, json};

pub const USAGE: &str = "usage: client URL [--mode auto|modern|session] [--expect-version V] \
                     [--call TOOL] [--arg KEY=VALUE ...] [--expect TEXT] \
                     [--timeout SECS] [--no-standalone] [--quiet] [--trace] [--pause SECS]";

pub struct Options {
    pub url: Uri,
    /// `--mode`: which era to speak (default `auto`: probe with `server/discover`, fall
    /// back to `initialize`).
    pub mode: ClientMode,
    /// `--expect-version`: fail unless this version is negotiated.
    pub expect_version: Option<String>,
    pub tool: String,
    pub args: Map<String, Value>,
    pub expect: Option<String>,
    pub timeout: Duration,
    pub standalone: bool,
    pub quiet: bool,
    pub trace: bool,
    pub pause: Option<Duration>,
}

fn secs(flag: &str, v: Option<String>, min_exclusive: bool) -> Result<Duration, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    let s: f64 = v.parse().map_err(|_| format!("bad {flag} {v:?}"))?;
    let low_ok = if min_exclusive { s > 0.0 } else { s >= 0.0 };
    if !(low_ok && s < 86_400.0) {
        return Err(format!("bad {flag} {v:?}"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn parse_args() -> Result<Options, String> {
    let mut url = None;
    let mut opts = Options {
        url: Uri::default(),
        mode: ClientMode::Auto,
        expect_version: None,
        tool: "echo".to_owned(),
        args: Map::new(),
        expect: None,
        timeout: Duration::from_secs(30),
        standalone: true,
        quiet: false,
        trace: false,
        pause: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--mode" => {
                opts.mode = match it.next().as_deref() {
                    Some("auto") => ClientMode::Auto,
                    Some("modern") => ClientMode::Modern,
                    Some("session") => ClientMode::SessionEra,
                    other => return Err(format!("bad --mode {other:?}: auto, modern or session")),
                }
            }
            "--expect-version" => {
                opts.expect_version = Some(it.next().ok_or("--expect-version needs a version")?);
            }
            "--call" => opts.tool = it.next().ok_or("--call needs a tool name")?,
            "--arg" => {
                let kv = it.next().ok_or("--arg needs KEY=VALUE")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--arg {kv:?}: expected KEY=VALUE"))?;
                let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
                opts.args.insert(k.to_owned(), value);
            }
            "--expect" => opts.expect = Some(it.next().ok_or("--expect needs a text")?),
            "--timeout" => opts.timeout = secs("--timeout", it.next(), true)?,
            "--pause" => opts.pause = Some(secs("--pause", it.next(), false)?),
            "--no-standalone" => opts.standalone = false,
            "--quiet" => opts.quiet = true,
            "--trace" => opts.trace = true,
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other if url.is_some() => return Err(format!("unexpected argument {other:?}")),
            other => {
                url = Some(
                    other
                        .parse()
                        .map_err(|e| format!("bad URL {other:?}: {e}"))?,
                );
            }
        }
    }
    opts.url = url.ok_or("no URL given")?;
    if opts.tool == "echo" && opts.args.is_empty() {
        opts.args.insert("text".to_owned(), json!("hello"));
    }
    Ok(opts)
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

impl Options {
    /// The client library's options.
    pub fn library(&self) -> LibOptions {
        let mut o = LibOptions::new(self.url.clone());
        o.config.mode = self.mode;
        o.config.standalone_stream = self.standalone;
        o.request_timeout = self.timeout;
        o.client_name = "mcp-http-proto-example-client".to_owned();
        o.log = Log {
            verbose: !self.quiet,
            trace_bodies: self.trace,
        };
        o
    }

    /// The params of the `tools/call`, with a progress token.
    pub fn call_params(&self) -> Value {
        json!({
            "name": self.tool,
            "arguments": Value::Object(self.args.clone()),
            "_meta": {"progressToken": "client-progress-1"},
        })
    }
}

/// Prints the server of the `InitializeResult` (or of the `DiscoverResult`, in its
/// `_meta`); an error when `--expect-version` names another version.
pub fn print_connected(
    version: impl std::fmt::Display,
    result: &Value,
    opts: &Options,
) -> Result<(), String> {
    let server = result
        .get("serverInfo")
        .or_else(|| result.pointer("/_meta/io.modelcontextprotocol~1serverInfo"))
        .unwrap_or(&Value::Null);
    let version = version.to_string();
    eprintln!("client: connected: version {version}, server {server}");
    match &opts.expect_version {
        Some(want) if *want != version => {
            Err(format!("negotiated version {version}, expected {want}"))
        }
        _ => Ok(()),
    }
}

/// Prints the tools, one per line; an error when the tool to call is not among them.
pub fn print_tools(tools: &[Value], opts: &Options) -> Result<(), String> {
    let name = |t: &Value| t.get("name").and_then(Value::as_str).map(str::to_owned);
    for tool in tools {
        let description = tool.get("description").and_then(Value::as_str);
        println!(
            "tool: {} - {}",
            name(tool).unwrap_or_else(|| "?".into()),
            description.unwrap_or("")
        );
    }
    if !tools
        .iter()
        .any(|t| name(t).as_deref() == Some(opts.tool.as_str()))
    {
        return Err(format!("tool {:?} is not listed by tools/list", opts.tool));
    }
    Ok(())
}

/// A server message: a notification is logged (progress counted), a request gets its
/// answer (`ping`: `{}`, anything else: method not found).
pub fn on_message(
    incoming: Incoming,
    progress: &AtomicU32,
) -> Option<(RequestId, Result<Value, RpcError>)> {
    match incoming {
        Incoming::Notification(n) if n.method == "notifications/progress" => {
            progress.fetch_add(1, Ordering::SeqCst);
            let p = &n.params;
            eprintln!(
                "client: progress {}/{} {}",
                p.get("progress").unwrap_or(&Value::Null),
                p.get("total").unwrap_or(&Value::Null),
                p.get("message").and_then(Value::as_str).unwrap_or("")
            );
            None
        }
        Incoming::Notification(n) => {
            eprintln!("client: notification {} {}", n.method, n.params);
            None
        }
        Incoming::Request(r) => {
            eprintln!("client: server request {} (id {})", r.method, r.id);
            let answer = match r.method.as_str() {
                "ping" => Ok(json!({})),
                _ => Err(RpcError::new(METHOD_NOT_FOUND.into(), "Method not found")),
            };
            Some((r.id, answer))
        }
        other => {
            eprintln!("client: message {other:?}");
            None
        }
    }
}

/// Prints the outcome (its last line) and gives the exit status: 0 for a successful call
/// (whatever its text, unless `--expect` differs), 1 for a JSON-RPC error, an `isError`
/// result, a transport failure or a failed close.
pub fn finish(
    call: Result<Value, String>,
    closed: Result<(), String>,
    opts: &Options,
    progress: u32,
) -> ExitCode {
    let outcome = call.and_then(|result| {
        eprintln!("client: {progress} progress notification(s) for the call");
        let text = tool_text(&result);
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(format!("tool {} returned isError: {text}", opts.tool));
        }
        if let Some(want) = opts.expect.as_deref().filter(|w| *w != text) {
            return Err(format!(
                "{} returned {text:?}, expected {want:?}",
                opts.tool
            ));
        }
        closed.map(|()| text)
    });
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
