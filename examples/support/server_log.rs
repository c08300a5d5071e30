//! The I/O-free part of the example server drivers (`hyper_server.rs` on hyper + tokio,
//! `blocking_server.rs` on `std::net` + threads): the JSON of what a replier sends, and
//! the log lines.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use mcp_http_proto::server::ServerEvent;
use mcp_http_proto::wire::jsonrpc::RequestId;

/// A notification `{"jsonrpc":"2.0","method":..,"params":..}`.
pub fn notification(method: &str, params: serde_json::Value) -> Bytes {
    to_bytes(&serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}))
}

/// The answer to request `id` with a result.
pub fn result(id: &RequestId, result: serde_json::Value) -> Bytes {
    to_bytes(&serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

pub fn to_bytes(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("a serde_json::Value always serializes"))
}

/// Logs a session event of the machine.
pub fn session_event(event: &ServerEvent) {
    match event {
        ServerEvent::SessionCreated { id, version } => {
            eprintln!("session {} created ({version})", short(id.as_str()));
        }
        ServerEvent::SessionClosed { id, reason } => {
            eprintln!("session {} closed ({reason:?})", short(id.as_str()));
        }
        other => eprintln!("server event {other:?}"),
    }
}

/// The one log line of a request: method, path, status (`-` when the client went away
/// before the head), session, elapsed time, and `(client gone)` when it went away before
/// a stream's end.
pub fn request_line(
    method: &Method,
    path: &str,
    status: Option<StatusCode>,
    session: Option<&str>,
    start: Instant,
    gone: bool,
) {
    let status_text = status.map_or_else(|| "-".to_owned(), |s| s.as_u16().to_string());
    eprintln!(
        "{} {} {} sess={} {}ms{}",
        method,
        path.escape_debug(),
        status_text,
        session.unwrap_or("-"),
        start.elapsed().as_millis(),
        if gone || status.is_none() {
            " (client gone)"
        } else {
            ""
        }
    );
}

/// A session id for the logs: its first 8 characters, if it is printable.
pub fn short(id: &str) -> String {
    if !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return "?".to_owned();
    }
    match id.get(..8) {
        Some(head) if id.len() > 8 => format!("{head}.."),
        _ => id.to_owned(),
    }
}
