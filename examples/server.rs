//! A runnable MCP server over Streamable HTTP: the `Server` machine driven by hyper + tokio
//! (`mcp-http-proto-tokio`, `drivers/tokio`), with two tools.
//!
//! ```text
//! cargo run --example server -- [--port N] [--stateless] [--json] [--no-resumable]
//! ```
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

use std::process::ExitCode;
use std::time::Duration;

use mcp_http_proto_tokio::server::{self as hyper_server, App, AppRequest, Replier};
use serde_json::Value;
use support::mcp_app::{self, Call, Progress};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let (opts, config) = match mcp_app::options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    // Loopback only: this example is not meant to be reachable from other machines.
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) => return mcp_app::bind_failed(&opts, &e),
    };
    let port = match mcp_app::bound_port(listener.local_addr()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    mcp_app::announce(&opts, port, hyper_server::ENDPOINT);

    hyper_server::serve(listener, config, ExampleApp).await;
    ExitCode::SUCCESS
}

/// The application: answers each request of a POST on its stream.
struct ExampleApp;

impl App for ExampleApp {
    async fn handle(&self, request: AppRequest, replier: Replier) {
        let Some((id, method, params)) = mcp_app::read_request(&request.message) else {
            return; // not a request: nothing to answer
        };
        let result = match mcp_app::dispatch(&method, &params, request.negotiated) {
            Call::Done(result) => result,
            Call::Progress(p) => Ok(progress(p, &replier).await),
            Call::TestReconnection => Ok(test_reconnection(&replier).await),
        };
        let sent = match result {
            Ok(result) => replier.respond_ok(&id, result),
            Err((code, message)) => replier.respond_err(&id, code, &message),
        };
        mcp_app::report_sent(&method, &id, sent);
    }
}

/// Closes the connection of the request's stream before the result exists, so the
/// client must resume (GET + `Last-Event-ID`) to get it (`SRV-PSSE-10`, `CLI-PSSE-11`).
async fn test_reconnection(replier: &Replier) -> Value {
    let closed = mcp_app::reconnection_closed(replier.close_connection());
    tokio::time::sleep(Duration::from_millis(mcp_app::RECONNECTION_DELAY_MS)).await;
    mcp_app::reconnection_result(closed)
}

async fn progress(mut p: Progress, replier: &Replier) -> Value {
    for i in 1..=p.steps {
        if i > 1 && p.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(p.delay_ms)).await;
        }
        if let Some(early) = p.step(i, |m, params| replier.notify(m, params)) {
            return early;
        }
    }
    Progress::done()
}
