//! A runnable MCP server over Streamable HTTP on the tokio driver (`mcp-http-proto-tokio`),
//! with three tools.
//!
//! ```text
//! cargo run --example server -- [--port N] [--stateless] [--json] [--no-resumable]
//!     [--session-era-only | --modern-only]
//!     [--redis URL --node-id ID] [--idle-timeout SECS] [--touch-interval SECS]
//! ```
//!
//! - `--port N`: the port on 127.0.0.1 (default 8080; 0 picks a free one). The server
//!   binds the loopback address only.
//! - `--stateless`: no sessions (GET and DELETE get 405).
//! - `--json`: answer request-bearing POSTs with `application/json` instead of SSE.
//! - `--no-resumable`: no event ids, no priming, no replay.
//! - `--session-era-only` / `--modern-only`: serve only the session era's versions
//!   (2024-11-05 to 2025-11-25) or only 2026-07-28; by default both, chosen per request.
//! - `--redis URL --node-id ID`: one node of a cluster: sessions live in the Redis at
//!   `URL` (`redis://127.0.0.1:6379/`), shared with every node that uses it, so that any
//!   request of a session may land on any node (see the README, "Several nodes").
//! - `--idle-timeout SECS`: the session idle timeout (default 30 minutes);
//!   `--touch-interval SECS`: how often a node refreshes a session's TTL in Redis.
//!
//! It prints `listening on http://127.0.0.1:PORT/mcp` on stdout, then one log line per
//! request on stderr (with the reason of a refusal). Tools: `echo {text}`;
//! `progress {steps = 3, delay_ms = 50}` (progress notifications, then "done");
//! `test_reconnection` (closes its stream's connection, then answers: the client resumes);
//! `ask {message}` (asks the client with `elicitation/create`, returns its answer).

mod support;

use std::process::ExitCode;
use std::time::Duration;

use mcp_http_proto_tokio::redis_store::RedisStore;
use mcp_http_proto_tokio::server::{self, App, Call, Context, RpcError, ServerInfo};
use serde_json::Value;
use support::mcp_app::{self, Progress};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    mcp_app::init_logging();
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
    let service = match (&opts.redis, &config.store) {
        (Some(url), Some(store)) => {
            let limits = config.replay.unwrap_or_default();
            match RedisStore::connect(url, store.node_id.clone(), limits).await {
                Ok(redis) => server::McpService::with_store(config, redis, ExampleApp),
                Err(e) => {
                    eprintln!("cannot reach Redis at {url}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => server::McpService::with_options(config, ExampleApp),
    };
    mcp_app::announce(&opts, port, server::ENDPOINT);
    server::serve_service(listener, service, server::shutdown_signal()).await;
    mcp_app::flush_logs();
    ExitCode::SUCCESS
}

struct ExampleApp;

impl App for ExampleApp {
    fn info(&self) -> ServerInfo {
        mcp_app::server_info()
    }

    async fn call(&self, call: Call, cx: Context) -> Result<Value, RpcError> {
        match mcp_app::dispatch(&call.method, &call.params, call.negotiated) {
            mcp_app::Call::Done(result) => mcp_app::answer(result),
            mcp_app::Call::Progress(p) => Ok(progress(p, &cx).await),
            mcp_app::Call::Ask(message) => {
                let answer = cx
                    .request("elicitation/create", mcp_app::ask_params(&message))
                    .await;
                Ok(mcp_app::ask_result(
                    answer
                        .as_ref()
                        .map(|m| m.json().as_ref())
                        .map_err(|e| e.to_string()),
                ))
            }
            mcp_app::Call::TestReconnection => {
                // `SRV-PSSE-10`: the client resumes with GET + Last-Event-ID to get this.
                let closed = mcp_app::reconnection_closed(cx.close_connection());
                tokio::time::sleep(Duration::from_millis(mcp_app::RECONNECTION_DELAY_MS)).await;
                Ok(mcp_app::reconnection_result(closed))
            }
        }
    }
}

async fn progress(mut p: Progress, cx: &Context) -> Value {
    for i in 1..=p.steps {
        if i > 1 && p.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(p.delay_ms)).await;
        }
        if let Some(early) = p.step(i, |m, params| cx.notify(m, params)) {
            return early;
        }
    }
    Progress::done()
}
