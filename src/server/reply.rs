//! Complete HTTP responses the server machine emits: error responses, 202, the heads of
//! JSON and SSE replies.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use super::config::Answer;
use crate::wire::jsonrpc::RequestId;
use crate::wire::{MCP_SESSION_ID, SessionId, X_ACCEL_BUFFERING, jsonrpc};

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// An error response: the answer's status, a JSON-RPC error body with a null id
/// (`SRV-POST-9`, `SRV-SEC-3`, `INV-S17`).
pub(super) fn error(
    answer: Answer,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Response<Bytes> {
    error_to(None, answer, message, data)
}

/// A complete JSON-RPC error response to request `id` (`null` when `None`).
pub(super) fn error_to(
    id: Option<&RequestId>,
    answer: Answer,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Response<Bytes> {
    let body = jsonrpc::error_body(id, answer.code, message, data);
    json(answer.status, body, None)
}

/// A complete `application/json` response.
pub(super) fn json(
    status: StatusCode,
    body: Bytes,
    session: Option<&SessionId>,
) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, JSON);
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    if let Some(s) = session {
        h.insert(MCP_SESSION_ID, s.to_header_value());
    }
    *r.body_mut() = body;
    r
}

/// An empty response (202 for notifications, 200 for DELETE) with `Content-Length: 0`,
/// but for the statuses that must not carry one (1xx and 204, RFC 9110 §8.6).
pub(super) fn empty(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    if !(status.is_informational() || status == StatusCode::NO_CONTENT) {
        r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(0));
    }
    r
}

/// The head of a JSON reply whose body follows as one `Data` event.
pub(super) fn json_head(len: usize, session: Option<&SessionId>) -> Response<()> {
    let mut r = Response::new(());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, JSON);
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(s) = session {
        h.insert(MCP_SESSION_ID, s.to_header_value());
    }
    r
}

/// The head of an SSE reply (`SRV-POST-10`, `SRV-GET-3`, `SRV-PSSE-14`).
///
/// The three fixed headers are built once and cloned: a clone copies the map's two
/// buffers, where three inserts hash each name and grow the map.
pub(super) fn sse_head(session: Option<&SessionId>) -> Response<()> {
    static FIXED: std::sync::OnceLock<http::HeaderMap> = std::sync::OnceLock::new();
    let fixed = FIXED.get_or_init(|| {
        let mut h = http::HeaderMap::with_capacity(4);
        h.insert(CONTENT_TYPE, EVENT_STREAM);
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
        h
    });
    let mut r = Response::new(());
    *r.headers_mut() = fixed.clone();
    if let Some(s) = session {
        r.headers_mut().insert(MCP_SESSION_ID, s.to_header_value());
    }
    r
}
