//! The HTTP requests the client machine builds. Each is complete: method, URI, `Accept`,
//! `Content-Type`, session and version headers, the configured extra headers, and the
//! body. The driver only adds what its HTTP stack owns (`Host`, `Content-Length`).

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};

use super::config::ClientConfig;
use crate::version::ProtocolVersion;
use crate::wire::media::{APPLICATION_JSON, TEXT_EVENT_STREAM};
use crate::wire::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, SessionId};

/// `Accept` on every POST: both types (`CLI-POST-2`, `INV-C6`).
const ACCEPT_POST: &str = "application/json, text/event-stream";

/// The session and version headers a request carries.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Context<'a> {
    /// The captured session id (`CLI-SESS-4`, `INV-C3`); never on `initialize` (`INV-C2`).
    pub session: Option<&'a SessionId>,
    /// The negotiated version, once initialized (`CLI-VER-1`, `INV-C8`).
    pub version: Option<ProtocolVersion>,
}

fn base(
    config: &ClientConfig,
    method: Method,
    uri: Uri,
    ctx: Context<'_>,
) -> http::request::Builder {
    let mut builder = Request::builder().method(method).uri(uri);
    let headers = builder.headers_mut().expect("a fresh builder has no error");
    // CLI-AUTH-1, INV-C18: the extra headers (Authorization ...) ride on every request.
    for (name, value) in &config.headers {
        headers.append(name, value.clone());
    }
    if let Some(s) = ctx.session {
        // INV-C3: exactly one session header, byte for byte the captured id.
        headers.insert(MCP_SESSION_ID, s.to_header_value());
    }
    if let Some(v) = ctx.version {
        headers.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_static(v.as_str()));
    }
    builder
}

/// A POST of one message or a batch to `uri` (`CLI-EP-1`, `CLI-POST-1`).
pub(super) fn post(
    config: &ClientConfig,
    uri: Uri,
    body: Bytes,
    ctx: Context<'_>,
) -> Request<Bytes> {
    base(config, Method::POST, uri, ctx)
        .header(ACCEPT, ACCEPT_POST)
        .header(CONTENT_TYPE, APPLICATION_JSON)
        .body(body)
        .expect("every part was checked")
}

/// A 2026-07-28 POST: no session, and the request metadata headers of `extra`
/// (`N26-6`), which replace any of the same name.
pub(super) fn post_modern(
    config: &ClientConfig,
    body: Bytes,
    extra: http::HeaderMap,
) -> Request<Bytes> {
    let mut req = post(config, config.endpoint.clone(), body, Context::default());
    for (name, value) in extra {
        if let Some(name) = name {
            req.headers_mut().insert(name, value);
        }
    }
    req
}

/// A GET for the standalone stream, or to resume a stream after `last_event_id`
/// (`CLI-GET-2`, `CLI-RES-4`, `INV-C12`).
pub(super) fn get(
    config: &ClientConfig,
    ctx: Context<'_>,
    last_event_id: Option<&HeaderValue>,
) -> Request<Bytes> {
    let mut builder =
        base(config, Method::GET, config.endpoint.clone(), ctx).header(ACCEPT, TEXT_EVENT_STREAM);
    if let Some(id) = last_event_id {
        builder = builder.header(LAST_EVENT_ID, id.clone());
    }
    builder.body(Bytes::new()).expect("every part was checked")
}

/// The DELETE that ends a session (`CLI-SESS-9`).
pub(super) fn delete(config: &ClientConfig, ctx: Context<'_>) -> Request<Bytes> {
    base(config, Method::DELETE, config.endpoint.clone(), ctx)
        .body(Bytes::new())
        .expect("every part was checked")
}
