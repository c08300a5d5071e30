//! What the server drivers log, through `tracing` (target `mcp_http_proto`): one event
//! per request (method, path, status, session, elapsed time, why it was refused, whether
//! the client left early), the machine's session events, and the JSON of what a replier
//! sends.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use mcp_http_proto::server::ServerEvent;
use mcp_http_proto::wire::MCP_SESSION_ID;

/// A notification `{"jsonrpc":"2.0","method":..,"params":..}`.
pub fn notification(method: &str, params: serde_json::Value) -> Bytes {
    #[derive(serde::Serialize)]
    struct Notification<'a> {
        jsonrpc: &'static str,
        method: &'a str,
        params: serde_json::Value,
    }
    to_json(&Notification {
        jsonrpc: "2.0",
        method,
        params,
    })
}

/// A message written straight from its fields (no intermediate `Value` map).
fn to_json(message: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(message).expect("a JSON-RPC message always serializes"))
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
/// `(client gone)` when the client went away before a stream's end. Nothing is
/// allocated for it, and nothing is done at all when `info` events of the target
/// `mcp_http_proto` are off.
pub struct LogLine {
    /// Whether the line is written at all (read once, when the head arrives).
    on: bool,
    start: Instant,
    method: Method,
    uri: http::Uri,
    /// The session (shortened), once known.
    pub session: Option<Short>,
    /// The response status, once the head went out.
    pub status: Option<StatusCode>,
    /// Why the machine refused the request.
    pub refusal: Option<Box<str>>,
    /// The client went away before the end.
    pub gone: bool,
}

impl LogLine {
    /// The line of a request whose head just arrived (the clock read by the driver).
    pub fn new(head: &http::request::Parts, start: Instant) -> Self {
        let on = tracing::enabled!(target: "mcp_http_proto", tracing::Level::INFO);
        Self {
            on,
            start,
            method: head.method.clone(),
            uri: if on {
                head.uri.clone()
            } else {
                http::Uri::default()
            },
            session: head
                .headers
                .get(MCP_SESSION_ID)
                .filter(|_| on)
                .and_then(|v| v.to_str().ok())
                .map(Short::of),
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
            .filter(|_| self.on)
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(Short::of(s));
        }
    }
}

/// A status, or `-` when none went out.
struct Status(Option<StatusCode>);

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(s) => write!(f, "{}", s.as_u16()),
            None => f.write_str("-"),
        }
    }
}

/// A request path for the log: its first 80 characters, escaped as Rust would.
struct Path<'a>(&'a str);

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars().take(80) {
            write!(f, "{}", c.escape_debug())?;
        }
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.on {
            return;
        }
        let status = Status(self.status);
        let gone = self.gone || self.status.is_none();
        let ms = self.start.elapsed().as_millis();
        let session = self.session.as_ref().map_or("-", Short::as_str);
        let path = Path(self.uri.path());
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

/// A session id shortened for the logs (its first 8 characters and `..`, or `?` when
/// not printable), kept inline.
#[derive(Clone, Copy)]
pub struct Short {
    bytes: [u8; 10],
    len: u8,
}

impl Short {
    /// The shortened form of `id`.
    pub fn of(id: &str) -> Self {
        let mut bytes = [0u8; 10];
        let text: &[u8] = if !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            b"?"
        } else if id.len() > 8 {
            bytes[8..].copy_from_slice(b"..");
            &id.as_bytes()[..8]
        } else {
            id.as_bytes()
        };
        bytes[..text.len()].copy_from_slice(text);
        let len = if id.len() > 8 && text.len() == 8 {
            10
        } else {
            text.len()
        };
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("printable ASCII")
    }
}

/// A session id for the logs: its first 8 characters, if it is printable.
pub fn short(id: &str) -> String {
    Short::of(id).as_str().to_owned()
}

#[cfg(test)]
mod short_tests {
    use super::Short;

    #[test]
    fn ids_are_shortened_inline() {
        assert_eq!(Short::of("0123456789abcdef").as_str(), "01234567..");
        assert_eq!(Short::of("01234567").as_str(), "01234567");
        assert_eq!(Short::of("abc").as_str(), "abc");
        assert_eq!(Short::of("a b").as_str(), "?");
        assert_eq!(Short::of("").as_str(), "");
    }
}
