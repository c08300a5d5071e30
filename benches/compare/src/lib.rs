//! What the comparison binaries share: the three modes, the requests both sides get, the
//! `echo` application of each side, and small helpers.
//!
//! - [`ours`]: our machine ([`mcp_http_proto::server::Server`]) with a minimal application
//!   that answers `tools/call echo` through `respond`;
//! - [`theirs`]: rmcp 3.11.0's `StreamableHttpService` with the same tool, on rmcp's
//!   `ServerHandler`.

use bytes::Bytes;
use http::Request;

pub mod ours;
pub mod theirs;

/// The text every `echo` call sends, and every answer must carry back.
pub const ECHO_TEXT: &str = "hello-from-the-bench";

/// The `tools/call` body, with request id 2.
pub const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello-from-the-bench"}}}"#;

/// The `initialize` body.
pub const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

/// The `notifications/initialized` body.
pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The protocol version every in-session and stateless request names.
pub const VERSION: &str = "2025-11-25";

/// The three transport modes compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Sessions (`Mcp-Session-Id`), SSE replies.
    StatefulSse,
    /// No sessions, SSE replies.
    StatelessSse,
    /// No sessions, `application/json` replies.
    StatelessJson,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 3] = [Mode::StatefulSse, Mode::StatelessSse, Mode::StatelessJson];

    /// The mode's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::StatefulSse => "stateful-sse",
            Mode::StatelessSse => "stateless-sse",
            Mode::StatelessJson => "stateless-json",
        }
    }

    /// The mode named `s`.
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether the mode has sessions.
    pub fn stateful(self) -> bool {
        self == Mode::StatefulSse
    }

    /// Whether answers are `application/json`.
    pub fn json(self) -> bool {
        self == Mode::StatelessJson
    }
}

/// A POST to `/mcp` as a client sends it: loopback `Host`, both `Accept` types, JSON;
/// `MCP-Protocol-Version` unless it is `initialize` (`with_version` false), and the session
/// id when given.
pub fn post(body: &'static str, session: Option<&str>, with_version: bool) -> Request<Bytes> {
    let mut b = Request::post("http://127.0.0.1:8080/mcp")
        .header("host", "127.0.0.1:8080")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("content-length", body.len());
    if with_version {
        b = b.header("mcp-protocol-version", VERSION);
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(Bytes::from_static(body.as_bytes()))
        .expect("every part is valid")
}

/// The `tools/call` request of `mode` (in `session` when stateful).
pub fn call_request(session: Option<&str>) -> Request<Bytes> {
    post(CALL, session, true)
}

/// What a side answered to one request: the status, the `Content-Type`, the number of
/// body bytes, and the last data chunk (where the response is).
#[derive(Debug, Default)]
pub struct Answered {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<http::HeaderValue>,
    /// Body bytes seen.
    pub bytes: usize,
    /// The last non-empty data chunk.
    pub last: Bytes,
}

impl Answered {
    /// Checks the answer to the `echo` call in `mode`: 200, the mode's media type, and the
    /// echoed text inside a JSON-RPC result for id 2. Panics with what differed.
    pub fn check(&self, mode: Mode, side: &str) {
        assert_eq!(self.status, 200, "{side} {}: status", mode.name());
        let ct = self
            .content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let want = if mode.json() {
            "application/json"
        } else {
            "text/event-stream"
        };
        assert!(
            ct.starts_with(want),
            "{side} {}: content-type {ct:?}",
            mode.name()
        );
        let text = String::from_utf8_lossy(&self.last);
        let json = if mode.json() {
            text.trim().to_owned()
        } else {
            let data = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .find(|d| !d.is_empty())
                .unwrap_or_else(|| panic!("{side} {}: no data in {text:?}", mode.name()));
            data.to_owned()
        };
        let v: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{side} {}: {e}: {json:?}", mode.name()));
        assert_eq!(v["id"], 2, "{side} {}: {v}", mode.name());
        assert_eq!(
            v["result"]["content"][0]["text"],
            ECHO_TEXT,
            "{side} {}: {v}",
            mode.name()
        );
    }
}

/// This process's CPU time (user + system) so far, in microseconds, from
/// `/proc/self/stat` (clock ticks of 10 ms on Linux's usual `CLK_TCK` of 100).
pub fn cpu_micros() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are 11 and 12 after the state field.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000)
}
