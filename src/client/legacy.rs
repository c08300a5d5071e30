//! The 2024-11-05 HTTP+SSE fallback (`CLI-BC-2..4`, `LEG-1..4`, `INV-C19`) and the
//! `initialize` error bodies that tell a modern server from a legacy one (`CLI-BC-26`).
//!
//! ```text
//!  initialize POST ──4xx allowed by legacy_fallback_on (never 401)──▶ GET endpoint
//!     │                 (unless the body is -32022 listing a version we speak:        │
//!     │                  then re-send initialize with that version)                    │
//!     ▼                                                                        `endpoint` event
//!  Streamable HTTP                                       (commit) ─▶ POST every message to it;
//!                                                        replies come as `message` events
//! ```

use http::Uri;
use serde::Deserialize;

use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::UNSUPPORTED_PROTOCOL_VERSION;

/// Resolves the data of an `endpoint` event against the MCP endpoint (`LEG-2`).
///
/// An absolute URI must keep the endpoint's scheme and authority, so a server cannot
/// send the client's messages (and its `Authorization` header) to another origin. A
/// path starting with `/` replaces the endpoint's path and query; any other relative
/// reference replaces the endpoint's last path segment.
pub(super) fn resolve_endpoint(base: &Uri, data: &str) -> Option<Uri> {
    let data = data.trim();
    if data.is_empty() || data.starts_with("//") {
        return None;
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Ok(uri) = data.parse::<Uri>() {
        if uri.scheme().is_some() {
            let same = uri.scheme_str() == Some(scheme)
                && uri.authority().map(|a| a.as_str()) == Some(authority);
            return same.then_some(uri);
        }
    }
    let path = if data.starts_with('/') {
        data.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{data}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
}

/// The code of a JSON-RPC error response `body`, and the `data.supported` versions it
/// lists when it lists any.
pub(super) fn error_code(body: &[u8]) -> Option<(i64, Option<Vec<String>>)> {
    #[derive(Deserialize)]
    struct Response {
        error: Error,
    }
    #[derive(Deserialize)]
    struct Error {
        code: i64,
        #[serde(default)]
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(default)]
        supported: Option<Vec<String>>,
    }
    let r: Response = serde_json::from_slice(body).ok()?;
    Some((r.error.code, r.error.data.and_then(|d| d.supported)))
}

/// The versions a `400` body lists as supported, when it is a JSON-RPC error with code
/// `-32022` (`UnsupportedProtocolVersion`, `VER-26`): such a body comes from a modern
/// server, which must not be mistaken for a legacy one (`CLI-BC-26`).
pub(super) fn supported_versions(body: &[u8]) -> Option<Vec<String>> {
    let (code, supported) = error_code(body)?;
    (code == i64::from(UNSUPPORTED_PROTOCOL_VERSION)).then(|| supported.unwrap_or_default())
}

/// The newest version in `supported` that the client can speak over Streamable HTTP and
/// that is older than `requested`.
pub(super) fn retry_version(
    supported: &[String],
    requested: ProtocolVersion,
) -> Option<ProtocolVersion> {
    supported
        .iter()
        .filter_map(|s| ProtocolVersion::from_wire(s))
        .filter(|v| v.is_streamable_http() && v.has_initialize() && *v < requested)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_resolution() {
        let base: Uri = "http://127.0.0.1:8080/mcp/sse".parse().unwrap();
        let r = |d| resolve_endpoint(&base, d).map(|u| u.to_string());
        assert_eq!(
            r("/messages?sessionId=1").as_deref(),
            Some("http://127.0.0.1:8080/messages?sessionId=1")
        );
        assert_eq!(
            r("messages?s=1").as_deref(),
            Some("http://127.0.0.1:8080/mcp/messages?s=1")
        );
        assert_eq!(
            r("http://127.0.0.1:8080/x").as_deref(),
            Some("http://127.0.0.1:8080/x")
        );
        assert_eq!(r("http://evil.example/x"), None);
        assert_eq!(r("//evil.example/x"), None);
        assert_eq!(r(""), None);
    }

    #[test]
    fn unsupported_version_bodies() {
        let body = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"no","data":{"supported":["2025-06-18","2030-01-01"]}}}"#;
        let s = supported_versions(body).unwrap();
        assert_eq!(
            retry_version(&s, ProtocolVersion::V2025_11_25),
            Some(ProtocolVersion::V2025_06_18)
        );
        assert_eq!(retry_version(&s, ProtocolVersion::V2025_06_18), None);
        assert_eq!(
            supported_versions(br#"{"error":{"code":-32600,"message":"x"}}"#),
            None
        );
        assert_eq!(supported_versions(b"not json"), None);
    }
}
