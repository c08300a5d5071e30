//! The same MCP client as `examples/client.rs`, with no async runtime: on the blocking
//! client library (`mcp_http_proto_blocking::client::McpClient`, `std::net` + threads).
//! Same options, output and exit statuses.
//!
//! ```text
//! cargo run --example blocking_client -- URL [--mode auto|modern|session]
//!     [--expect-version V] [--call TOOL] [--arg KEY=VALUE ...]
//!     [--expect TEXT] [--timeout SECS] [--no-standalone] [--quiet] [--trace] [--pause SECS]
//! ```
//!
//! See `examples/client.rs` for what the options do.

mod support;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mcp_http_proto_blocking::client::{Error, McpClient};
use serde_json::Value;
use support::client_cli::{self, Options};

fn main() -> ExitCode {
    let opts = match client_cli::options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let client = match McpClient::connect_with(opts.library()) {
        Ok(c) => c,
        Err(e) => return client_cli::finish(Err(format!("connect: {e}")), Ok(()), &opts, 0),
    };
    let info = client.session_info();
    if let Err(e) = client_cli::print_connected(info.version, &info.result, &opts) {
        let closed = Ok(());
        return client_cli::finish(Err(e), closed, &opts, 0);
    }

    // Server messages, answered meanwhile; the thread ends once the client is closed.
    let progress = Arc::new(AtomicU32::new(0));
    let reader = std::thread::spawn({
        let (client, progress) = (client.clone(), progress.clone());
        move || loop {
            match client.next_message(Duration::from_secs(1)) {
                Ok(incoming) => {
                    if let Some((id, answer)) = client_cli::on_message(incoming, &progress) {
                        let _ = client.respond(&id, answer);
                    }
                }
                Err(Error::Timeout) => {}
                Err(_) => return,
            }
        }
    });

    let call = session(&client, &opts);
    let closed = client.close().map_err(|e| format!("close: {e}"));
    let _ = reader.join();
    client_cli::finish(call, closed, &opts, progress.load(Ordering::SeqCst))
}

fn session(client: &McpClient, opts: &Options) -> Result<Value, String> {
    let tools = client
        .list_tools()
        .map_err(|e| format!("tools/list: {e}"))?;
    client_cli::print_tools(&tools, opts)?;
    if let Some(pause) = opts.pause {
        eprintln!("client: pausing {pause:?}");
        std::thread::sleep(pause);
    }
    client
        .request("tools/call", opts.call_params())
        .map_err(|e| format!("tools/call: {e}"))
}
