//! The same MCP server as `examples/server.rs`, with no async runtime: the `Server` machine
//! driven by `std::net` and threads (`mcp-http-proto-blocking`, `drivers/blocking`): a thread per
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

use std::net::TcpListener;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use mcp_http_proto_blocking::server::{self as blocking_server, App, AppRequest, Replier};
use serde_json::Value;
use support::mcp_app::{self, Call, Progress};

fn main() -> ExitCode {
    let (opts, config) = match mcp_app::options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    // Loopback only: this example is not meant to be reachable from other machines.
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)) {
        Ok(l) => l,
        Err(e) => return mcp_app::bind_failed(&opts, &e),
    };
    let port = match mcp_app::bound_port(listener.local_addr()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    mcp_app::announce(&opts, port, blocking_server::ENDPOINT);

    blocking_server::serve(listener, config, ExampleApp);
    ExitCode::SUCCESS
}

/// The application: answers each request of a POST on its stream.
struct ExampleApp;

impl App for ExampleApp {
    fn handle(&self, request: AppRequest, replier: Replier) {
        let Some((id, method, params)) = mcp_app::read_request(&request.message) else {
            return; // not a request: nothing to answer
        };
        let result = match mcp_app::dispatch(&method, &params, request.negotiated) {
            Call::Done(result) => result,
            Call::Progress(p) => Ok(progress(p, &replier)),
            Call::TestReconnection => Ok(test_reconnection(&replier)),
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
fn test_reconnection(replier: &Replier) -> Value {
    let closed = mcp_app::reconnection_closed(replier.close_connection());
    thread::sleep(Duration::from_millis(mcp_app::RECONNECTION_DELAY_MS));
    mcp_app::reconnection_result(closed)
}

fn progress(mut p: Progress, replier: &Replier) -> Value {
    for i in 1..=p.steps {
        if i > 1 {
            thread::sleep(Duration::from_millis(p.delay_ms));
        }
        if let Some(early) = p.step(i, |m, params| replier.notify(m, params)) {
            return early;
        }
    }
    Progress::done()
}
