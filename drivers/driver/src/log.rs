//! What the server drivers log, through `tracing` (target `mcp_http_proto`): one event
//! per request (method, path, status, session, elapsed time, why it was refused, whether
//! the client left early), the machine's session events, and the JSON of what a replier
//! sends.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use mcp_http_proto::server::ServerEvent;
use mcp_http_proto::wire::MCP_SESSION_ID;
use mcp_http_proto::wire::jsonrpc::RequestId;

/// A notification `{"jsonrpc":"2.0","method":..,"params":..}`.
pub fn notification(method: &str, params: serde_json::Value) -> Bytes {
    to_bytes(&serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}))
}

/// The answer to request `id` with a result.
pub fn result(id: &RequestId, result: serde_json::Value) -> Bytes {
    to_bytes(&serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// A JSON value as bytes.
pub fn to_bytes(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("a serde_json::Value always serializes"))
}

/// Logs a session event of the machine.
pub fn session_event(event: &ServerEvent) {
    match event {
        ServerEvent::SessionCreated { id, version } => {
            tracing::info!(target: "mcp_http_proto", session = %short(id.as_str()), %version, "session created");
        }
        ServerEvent::SessionClosed { id, reason } => {
            tracing::info!(target: "mcp_http_proto", session = %short(id.as_str()), ?reason, "session closed");
        }
        ServerEvent::SessionUpdated { record } => {
            tracing::debug!(target: "mcp_http_proto", session = %short(record.id.as_str()), initialized = record.initialized, "session updated");
        }
        ServerEvent::RequestAbandoned {
            request, reason, ..
        } => {
            tracing::debug!(target: "mcp_http_proto", id = %request.id, method = %request.method, ?reason, "server request abandoned");
        }
        other => tracing::debug!(target: "mcp_http_proto", event = ?other, "server event"),
    }
}

/// The one log line of a request, written when dropped: method, path, status (`-` when
/// the client went away before the head), session, elapsed time, why it was refused, and
/// `(client gone)` when the client went away before a stream's end.
pub struct LogLine {
    start: Instant,
    method: Method,
    path: String,
    /// The session (shortened), once known.
    pub session: Option<String>,
    /// The status, once the head went out.
    pub status: Option<StatusCode>,
    /// Why the machine refused the request.
    pub refusal: Option<Box<str>>,
    /// The client went away before the end.
    pub gone: bool,
}

impl LogLine {
    /// The line of a request whose head just arrived (the clock read by the driver).
    pub fn new(head: &http::request::Parts, start: Instant) -> Self {
        Self {
            start,
            method: head.method.clone(),
            path: head.uri.path().chars().take(80).collect(),
            session: head
                .headers
                .get(MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
                .map(short),
            status: None,
            refusal: None,
            gone: false,
        }
    }

    /// The response head went out: its status, and the session id it carries.
    pub fn saw<B>(&mut self, head: &http::Response<B>) {
        self.status = Some(head.status());
        if let Some(s) = head
            .headers()
            .get(MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(short(s));
        }
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let status = self
            .status
            .map_or_else(|| "-".to_owned(), |s| s.as_u16().to_string());
        let gone = self.gone || self.status.is_none();
        let ms = self.start.elapsed().as_millis();
        let session = self.session.as_deref().unwrap_or("-");
        let path = self.path.escape_debug().to_string();
        match (&self.refusal, gone) {
            (Some(why), _) => tracing::info!(
                target: "mcp_http_proto",
                method = %self.method, %path, %status, %session, ms, refused = %why,
                "request"
            ),
            (None, true) => tracing::info!(
                target: "mcp_http_proto",
                method = %self.method, %path, %status, %session, ms, client_gone = true,
                "request"
            ),
            (None, false) => tracing::info!(
                target: "mcp_http_proto",
                method = %self.method, %path, %status, %session, ms,
                "request"
            ),
        }
    }
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
