//! An axum 0.8 app with the MCP endpoint beside its own routes, and one tool, `add {a, b}`:
//! `cargo run --example axum -- [PORT]` serves http://127.0.0.1:PORT/mcp (default 8081).

use axum::serve::ListenerExt;
use mcp_http_proto_tokio::server::text_result;
use mcp_http_proto_tokio::server::{App, Call, Context, McpService, RpcError, ServerInfo};
use serde_json::{Value, json};

struct Adder;

impl App for Adder {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("adder", "1").with_capabilities(json!({"tools": {}}))
    }

    async fn call(&self, call: Call, _: Context) -> Result<Value, RpcError> {
        let arg = |k: &str| call.arguments()[k].as_f64().unwrap_or(0.0);
        let number = json!({"type": "number"});
        let schema = json!({"type": "object", "properties": {"a": number, "b": number}});
        match (call.method.as_str(), call.name()) {
            ("tools/list", _) => Ok(json!({"tools": [{"name": "add", "inputSchema": schema}]})),
            ("tools/call", Some("add")) => Ok(text_result(&(arg("a") + arg("b")).to_string())),
            (method, _) => Err(RpcError::method_not_found(method)),
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8081".into());
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route_service("/mcp", McpService::new(Adder));
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}/mcp", listener.local_addr()?);
    // TCP_NODELAY: without it every SSE reply waits ~40 ms on the client's delayed ACK.
    let listener = listener.tap_io(|tcp| drop(tcp.set_nodelay(true)));
    axum::serve(listener, app).await
}
