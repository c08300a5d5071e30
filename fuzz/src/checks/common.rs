//! Checks and builders the server-side targets share.

use bytes::Bytes;
use http::Response;
use mcp_http_proto::server::{Refusal, Reject};

/// The host every request names unless a case changes it.
pub const HOST: &str = "127.0.0.1:8080";

/// An `initialize` request body.
pub fn initialize_body(id: &str, version: &str) -> String {
    let version = serde_json::to_string(version).expect("a string serialises");
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":{version},"capabilities":{{}},"clientInfo":{{"name":"fuzz","version":"1"}}}}}}"#
    )
}

/// A successful `InitializeResult` answering request `id` (its JSON text).
pub fn initialize_result(id: &str, version: &str) -> String {
    let version = serde_json::to_string(version).expect("a string serialises");
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":{version},"capabilities":{{}},"serverInfo":{{"name":"fuzz","version":"1"}}}}}}"#
    )
}

/// A header of a response as text, if present and visible ASCII.
pub fn header<B>(response: &Response<B>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A refusal's response is complete: the refusal's default status (4xx/5xx),
/// `Content-Type: application/json`, a matching `Content-Length`, no session id, a
/// JSON-RPC error object with the refusal's code and the reason as message, and the
/// `Allow` / `Retry-After` headers where they belong.
pub fn check_reject(reject: &Reject) {
    let r = &reject.response;
    let refusal = reject.refusal;
    let answer = refusal.default_answer();
    let status = r.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{refusal:?}: status {status} is an error status"
    );
    assert_eq!(status, answer.status, "{refusal:?}: the default status");
    assert_eq!(
        header(r, "content-type").as_deref(),
        Some("application/json"),
        "{refusal:?}: content-type"
    );
    assert_eq!(
        header(r, "content-length"),
        Some(r.body().len().to_string()),
        "{refusal:?}: content-length"
    );
    assert!(
        r.headers().get("mcp-session-id").is_none(),
        "{refusal:?}: a refusal never carries a session id"
    );
    let body = error_body(r.body()).unwrap_or_else(|why| panic!("{refusal:?}: {why}"));
    assert_eq!(
        body.code,
        i64::from(answer.code),
        "{refusal:?}: the default code"
    );
    assert_eq!(
        body.message, &*reject.reason,
        "{refusal:?}: message is the reason"
    );
    match refusal {
        Refusal::MethodNotAllowed | Refusal::StandaloneStreamDisabled => {
            assert!(r.headers().contains_key("allow"), "{refusal:?}: Allow")
        }
        Refusal::SessionCap | Refusal::TooManyStreams | Refusal::StoreUnavailable => {
            assert!(
                r.headers().contains_key("retry-after"),
                "{refusal:?}: Retry-After"
            )
        }
        _ => {}
    }
}

/// The parts of a JSON-RPC error body.
pub struct ErrorBody {
    pub code: i64,
    pub message: String,
    pub id: serde_json::Value,
}

/// Reads a JSON-RPC error object: `jsonrpc` 2.0, an `id` (null, a string or an integer),
/// `error.code` an integer and `error.message` a string.
pub fn error_body(body: &Bytes) -> Result<ErrorBody, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the error body is not JSON: {e}"))?;
    if v.get("jsonrpc") != Some(&serde_json::Value::from("2.0")) {
        return Err(format!("jsonrpc is not 2.0: {v}"));
    }
    let id = v.get("id").ok_or_else(|| format!("no id: {v}"))?.clone();
    if !(id.is_null() || id.is_string() || id.is_i64() || id.is_u64()) {
        return Err(format!("bad id: {v}"));
    }
    let code = v["error"]["code"]
        .as_i64()
        .ok_or_else(|| format!("error.code is not an integer: {v}"))?;
    let message = v["error"]["message"]
        .as_str()
        .ok_or_else(|| format!("error.message is not a string: {v}"))?
        .to_owned();
    Ok(ErrorBody { code, message, id })
}

/// HTTP optional whitespace trimmed from both ends.
pub fn trim_ows(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Whether every byte is visible ASCII (0x21-0x7E).
pub fn visible(b: &[u8]) -> bool {
    b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// The loopback policy, written from its documentation: an authority is allowed when it
/// is `localhost`, `127.0.0.1` or `[::1]` (any case), alone or followed by `:` and
/// digits.
pub fn loopback_authority(a: &str) -> bool {
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|name| {
        let Some(head) = a.get(..name.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(name) {
            return false;
        }
        let rest = &a[name.len()..];
        rest.is_empty()
            || rest
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// An `Origin` value the loopback policy allows: `http` or `https` (any case), `://`,
/// then an allowed authority with no path, query, fragment or user info.
pub fn loopback_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && !rest.is_empty()
        && !rest.contains(['/', '@', '?', '#'])
        && loopback_authority(rest)
}
