//! A runnable MCP client over Streamable HTTP, on the async client library
//! (`mcp_http_proto_tokio::client::McpClient`, hyper + tokio).
//!
//! ```text
//! cargo run --example client -- URL [--mode auto|modern|session] [--expect-version V]
//!     [--call TOOL] [--arg KEY=VALUE ...] [--expect TEXT]
//!     [--timeout SECS] [--no-standalone] [--quiet] [--trace] [--pause SECS]
//! ```
//!
//! It connects to `URL` (an `http://` MCP endpoint): in 2026-07-28 when the server speaks
//! it, else by initializing a session (2025-11-25; the library opens the standalone GET
//! stream, and falls back to the 2024-11-05 HTTP+SSE transport on its own), lists the tools (one per line), calls one, prints the text of its
//! result, and closes the session.
//!
//! - `--mode`: `auto` (the default) probes with `server/discover` and speaks 2026-07-28
//!   to a server that answers it, else falls back to `initialize` (and from there to the
//!   legacy transport); `modern` speaks only 2026-07-28; `session` only the session era.
//! - `--expect-version V`: fail unless version `V` is negotiated.
//! - `--call TOOL`: the tool to call (default `echo`, with `text=hello` unless an `--arg`
//!   is given).
//! - `--arg KEY=VALUE`: a tool argument; `VALUE` is JSON when it parses as JSON
//!   (`steps=3` is a number, `text="3"` a string), else a string (`text=hello`).
//! - `--expect TEXT`: fail unless the result's text is exactly `TEXT`.
//! - `--timeout SECS`: the request timeout (default 30).
//! - `--no-standalone`: no standalone GET stream.
//! - `--quiet`: no exchange log on stderr; `--trace`: also every response body chunk.
//! - `--pause SECS`: wait between `tools/list` and `tools/call` (for tests that restart
//!   the server meanwhile: the call meets a 404, and the machine re-initializes and
//!   re-sends it).
//!
//! The call carries a `progressToken`; progress notifications are printed as they come,
//! and server requests answered (`ping`; anything else gets method-not-found). The last
//! line is `client: OK result=TEXT` (exit 0) for a successful call whatever its text, or
//! `client: FAIL <reason>` (exit 1) for a JSON-RPC error, an `isError` result, a transport
//! failure or an `--expect` mismatch; 2 for bad usage.

mod support;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mcp_http_proto_tokio::client::McpClient;
use serde_json::Value;
use support::client_cli::{self, Options};

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match client_cli::options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let client = match McpClient::connect_with(opts.library()).await {
        Ok(c) => c,
        Err(e) => return client_cli::finish(Err(format!("connect: {e}")), Ok(()), &opts, 0),
    };
    let info = client.session_info();
    if let Err(e) = client_cli::print_connected(info.version, &info.result, &opts) {
        let closed = Ok(());
        return client_cli::finish(Err(e), closed, &opts, 0);
    }

    // Server messages, answered meanwhile; the task ends once the client is closed.
    let progress = Arc::new(AtomicU32::new(0));
    let reader = tokio::spawn({
        let (client, progress) = (client.clone(), progress.clone());
        async move {
            while let Some(incoming) = client.next_message().await {
                if let Some((id, answer)) = client_cli::on_message(incoming, &progress) {
                    let _ = client.respond(&id, answer).await;
                }
            }
        }
    });

    let call = session(&client, &opts).await;
    let closed = client.close().await.map_err(|e| format!("close: {e}"));
    let _ = tokio::time::timeout(opts.timeout, reader).await;
    client_cli::finish(call, closed, &opts, progress.load(Ordering::SeqCst))
}

async fn session(client: &McpClient, opts: &Options) -> Result<Value, String> {
    let tools = client
        .list_tools()
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    client_cli::print_tools(&tools, opts)?;
    if let Some(pause) = opts.pause {
        eprintln!("client: pausing {pause:?}");
        tokio::time::sleep(pause).await;
    }
    client
        .request("tools/call", opts.call_params())
        .await
        .map_err(|e| format!("tools/call: {e}"))
}
