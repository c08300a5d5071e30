//! The MCP server of `examples/server.rs` with no async runtime: an [`App`] on the
//! blocking driver (`mcp-http-proto-blocking`: a thread per connection and per request).
//!
//! ```text
//! cargo run --example blocking_server -- [--port N] [--stateless] [--json] [--no-resumable]
//!     [--session-era-only | --modern-only]
//! ```
//!
//! - `--port N`: the port on 127.0.0.1 (default 8080; 0 picks a free one); loopback only.
//! - `--stateless`: no sessions (GET and DELETE get 405).
//! - `--json`: JSON replies instead of SSE (then `progress` sends no notifications).
//! - `--no-resumable`: no event ids, no priming, no replay.
//! - `--session-era-only` / `--modern-only`: serve only the session era's versions
//!   (2024-11-05 to 2025-11-25) or only 2026-07-28; by default both, chosen per request.
//!
//! It prints `listening on http://127.0.0.1:PORT/mcp` on stdout, then one log line per
//! HTTP request on stderr. Tools: `echo {text}`; `progress {steps = 3, delay_ms = 50}`
//! (`steps` progress notifications, then `"done"`); `test_reconnection` (closes its
//! stream's connection after the priming event, then answers: the client resumes).

mod support;

use std::net::TcpListener;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use mcp_http_proto::server::UsageError;
use mcp_http_proto_blocking::server::{
    self, App, Call, Context, RpcError, ServerInfo, text_result, tool_error,
};
use serde_json::{Value, json};
use support::mcp_app::{self, MAX_DELAY_MS, MAX_STEPS};

fn main() -> ExitCode {
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .init();
    let (opts, config) = match mcp_app::options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    if opts.redis.is_some() {
        eprintln!("--redis: the blocking driver reaches no session store; use the server example");
        return ExitCode::from(2);
    }
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)) {
        Ok(l) => l,
        Err(e) => return mcp_app::bind_failed(&opts, &e),
    };
    let port = match mcp_app::bound_port(listener.local_addr()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    mcp_app::announce(&opts, port, server::ENDPOINT);
    server::serve(listener, config, Tools);
    ExitCode::SUCCESS
}

struct Tools;

impl App for Tools {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("mcp-http-proto-example", env!("CARGO_PKG_VERSION"))
            .with_capabilities(json!({"tools": {}}))
    }

    fn call(&self, call: Call, cx: Context) -> Result<Value, RpcError> {
        match (call.method.as_str(), call.name()) {
            ("ping", _) => Ok(json!({})),
            ("tools/list", _) => Ok(mcp_app::tools_list()),
            ("tools/call", Some("echo")) => Ok(match call.arguments()["text"].as_str() {
                Some(text) => text_result(text),
                None => tool_error("echo: missing string argument `text`"),
            }),
            ("tools/call", Some("progress")) => {
                Ok(progress(call.arguments(), &cx).unwrap_or_else(|e| tool_error(&e)))
            }
            ("tools/call", Some("test_reconnection")) => {
                // `SRV-PSSE-10`: the client must resume (GET + `Last-Event-ID`) for it.
                let closed = mcp_app::reconnection_closed(cx.close_connection());
                thread::sleep(Duration::from_millis(mcp_app::RECONNECTION_DELAY_MS));
                Ok(mcp_app::reconnection_result(closed))
            }
            ("tools/call", name) => Err(RpcError::invalid_params(format!(
                "unknown tool: {}",
                name.unwrap_or("(params.name is not a string)")
            ))),
            (method, _) => Err(RpcError::method_not_found(method)),
        }
    }
}

/// `steps` progress notifications, `delay_ms` apart, then "done"; `Err` for bad arguments.
fn progress(args: &Value, cx: &Context) -> Result<Value, String> {
    let steps = mcp_app::int_arg(args, "steps", 3, MAX_STEPS)?;
    let delay = Duration::from_millis(mcp_app::int_arg(args, "delay_ms", 50, MAX_DELAY_MS)?);
    for i in 1..=steps {
        if i > 1 {
            thread::sleep(delay);
        }
        let message = format!("step {i}/{steps}");
        // A JSON reply carries no notifications: that error is only skipped.
        if let Err(UsageError::StreamClosed(_)) = cx.progress(i, Some(steps), Some(&message)) {
            return Ok(tool_error("cancelled")); // the session ended
        }
    }
    Ok(text_result("done"))
}
