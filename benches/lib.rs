//! Benchmarks of `mcp-http-proto` side by side with the crates Rust MCP users pick today.
//! The benches are the `[[bench]]` targets of this package (`cargo bench -p
//! mcp-http-proto-benches`); this library holds what several of them share.

use bytes::Bytes;
use http::Request;

/// A POST to `/mcp` as a client sends it (loopback `Host`, both `Accept` types, JSON), with
/// the session and version headers when `session` is given.
pub fn post(body: impl Into<Bytes>, session: Option<&str>) -> Request<Bytes> {
    let mut b = Request::post("/mcp")
        .header("host", "127.0.0.1:8080")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(s) = session {
        b = b
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    b.body(body.into()).expect("every part is valid")
}
