//! The 2026-07-28 era of the client: the request metadata every POST carries (`N26-6`,
//! `N26-13`, `N26-15`, `N26-16`), the `server/discover` probe and what its answer means
//! (`N26-20`), the tools whose `x-mcp-header` annotations are dropped (`N26-16`), and
//! the new ids of re-issued requests (`N26-19`). Pure functions;
//! [`Machine`](super::machine::Machine) carries out what they say.
//!
//! ```text
//!  request ─▶ _meta {protocolVersion, clientCapabilities, clientInfo} written into params
//!          ─▶ MCP-Protocol-Version, Mcp-Method, Mcp-Name (tools/call, prompts/get,
//!             resources/read; base64 when not header-safe), Mcp-Param-* (tools/call)
//!  discover answered ─┬─ result listing 2026-07-28 ───────────────────────────▶ Modern
//!                     ├─ result listing none (Auto) ──────────────────────────▶ Fallback
//!                     ├─ -32022 listing 2026-07-28 (first time) ──────────────▶ Retry
//!                     ├─ -32022 listing a session-era version we speak ───────▶ Fallback(v)
//!                     ├─ -32020 / -32021 / -32022 otherwise, 404 + -32601 ────▶ Failed (a modern server)
//!                     ├─ 400 / 404 / 405, or 2xx, with any other body ────────▶ Fallback
//!                     └─ any other status ────────────────────────────────────▶ Failed
//! ```

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::UsageError;
use super::legacy;
use crate::params::{ParamHeaderError, ParamHeaders, mirror};
use crate::version::ProtocolVersion;
use crate::wire::codec;
use crate::wire::jsonrpc::{
    HEADER_MISMATCH, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION,
    METHOD_NOT_FOUND, MISSING_REQUIRED_CLIENT_CAPABILITY, Message, RequestId,
    UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::wire::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION};

/// The modern revision the client speaks.
pub(super) const MODERN: ProtocolVersion = ProtocolVersion::V2026_07_28;

/// What the client says about itself in every modern request's `_meta`, taken from the
/// `initialize` request the application gave.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    capabilities: Value,
    info: Option<Value>,
}

impl Identity {
    /// `params.capabilities` (default `{}`) and `params.clientInfo` of `initialize`.
    pub fn from_initialize(json: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        let params = v.get("params");
        let capabilities = params
            .and_then(|p| p.get("capabilities"))
            .filter(|c| c.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        let info = params.and_then(|p| p.get("clientInfo")).cloned();
        Self { capabilities, info }
    }
}

/// A modern request: its body, with `_meta` written in, and its metadata headers.
#[derive(Debug)]
pub(super) struct Prepared {
    pub body: Bytes,
    pub headers: HeaderMap,
}

/// Checks what [`prepare`] needs of one request or notification `value`: an object
/// `params` when present, a header-safe method, and the source of `Mcp-Name`.
pub(super) fn validate(value: &Value) -> Result<(), UsageError> {
    let method = value.get("method").and_then(Value::as_str).unwrap_or("");
    if method.is_empty() || !method.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(UsageError::MethodNotHeaderSafe(method.to_owned()));
    }
    match value.get("params") {
        None | Some(Value::Object(_)) => {}
        Some(_) => return Err(UsageError::ParamsNotAnObject),
    }
    if let Some(field) = name_field(method) {
        let name = value.pointer(&format!("/params/{field}"));
        if !name.is_some_and(Value::is_string) {
            return Err(UsageError::MissingName {
                method: method.to_owned(),
                field,
            });
        }
    }
    if let Some(meta) = value.pointer("/params/_meta") {
        if !meta.is_object() {
            return Err(UsageError::ParamsNotAnObject);
        }
    }
    Ok(())
}

/// The params field `Mcp-Name` mirrors for `method` (`N26-6`).
fn name_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// `value` (one request or notification that passed [`validate`]) as a modern POST:
/// `_meta` carries the version (always this machine's), and the client's capabilities
/// and info unless the application wrote its own; the headers mirror the method, the
/// name and the annotated arguments of `tools` (`N26-6`, `N26-13`, `N26-15`, `N26-16`).
pub(super) fn prepare(mut value: Value, identity: &Identity, tools: &ParamHeaders) -> Prepared {
    let mut headers = HeaderMap::new();
    headers.insert(
        MCP_PROTOCOL_VERSION,
        HeaderValue::from_static(MODERN.as_str()),
    );
    let method = value
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Ok(v) = HeaderValue::from_str(&method) {
        headers.insert(MCP_METHOD, v);
    }
    if let Some(obj) = value.as_object_mut() {
        let params = obj
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(params) = params.as_object_mut() {
            let meta = params
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(META_PROTOCOL_VERSION.into(), MODERN.as_str().into());
                meta.entry(META_CLIENT_CAPABILITIES)
                    .or_insert_with(|| identity.capabilities.clone());
                if let Some(info) = &identity.info {
                    meta.entry(META_CLIENT_INFO).or_insert_with(|| info.clone());
                }
            }
        }
    }
    if let Some(field) = name_field(&method) {
        let name = value
            .pointer(&format!("/params/{field}"))
            .and_then(Value::as_str);
        if let Some(v) = name.and_then(|n| HeaderValue::from_str(&codec::encode(n)).ok()) {
            headers.insert(MCP_NAME, v);
        }
    }
    if method == "tools/call" {
        let tool = value.pointer("/params/name").and_then(Value::as_str);
        let declared = tool.map_or(&[][..], |t| tools.of(t));
        let arguments = value.pointer("/params/arguments");
        for (name, v) in mirror(declared, arguments) {
            headers.insert(name, v);
        }
    }
    let body = serde_json::to_vec(&value)
        .expect("a Value serializes")
        .into();
    Prepared { body, headers }
}

/// The `server/discover` request with id `id` (`N26-14`).
pub(super) fn discover(id: &RequestId, identity: &Identity) -> Prepared {
    let value = json!({"jsonrpc": "2.0", "id": id, "method": "server/discover"});
    prepare(value, identity, &ParamHeaders::new())
}

/// What the answer to `server/discover` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Discovered {
    /// The server speaks 2026-07-28.
    Modern,
    /// The server refused the version with -32022 but lists 2026-07-28 as supported:
    /// send `server/discover` again, once (`N26-20`: "retry with a version from
    /// `supported`").
    Retry,
    /// Not modern evidence: `initialize`, at this version when the server named one the
    /// client speaks.
    Fallback(Option<ProtocolVersion>),
    /// A modern server that refused, or a status that allows no fallback.
    Failed,
}

/// The newest session-era version in `listed` the client speaks, not newer than
/// `requested`.
fn session_version<'a>(
    listed: impl IntoIterator<Item = &'a str>,
    requested: ProtocolVersion,
) -> Option<ProtocolVersion> {
    listed
        .into_iter()
        .filter_map(ProtocolVersion::from_wire)
        .filter(|v| v.is_streamable_http() && v.has_initialize() && *v <= requested)
        .max()
}

/// What a `DiscoverResult` (the `result` of `msg`) means; `None` when it is not one.
pub(super) fn discovered(msg: &Message, requested: ProtocolVersion) -> Option<Discovered> {
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        result: DiscoverResult<'a>,
    }
    #[derive(Deserialize)]
    struct DiscoverResult<'a> {
        #[serde(rename = "supportedVersions", borrow)]
        supported: Vec<&'a str>,
    }
    let r: Response<'_> = serde_json::from_slice(msg.json()).ok()?;
    if r.result.supported.contains(&MODERN.as_str()) {
        return Some(Discovered::Modern);
    }
    Some(Discovered::Fallback(session_version(
        r.result.supported,
        requested,
    )))
}

/// What an error answer to `server/discover` means: `status` and the (start of the)
/// body, a JSON-RPC error response or not (`N26-20`, `N26-9`).
pub(super) fn discover_refused(
    status: StatusCode,
    body: &[u8],
    requested: ProtocolVersion,
) -> Discovered {
    let fallback_status = status.is_success()
        || matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        );
    let (code, supported) = match legacy::error_code(body) {
        Some((code, supported)) => (Some(code), supported),
        None => (None, None),
    };
    if code == Some(i64::from(UNSUPPORTED_PROTOCOL_VERSION)) {
        // "retry using the advertised supported versions": the modern one again when it
        // is listed, else the session era's.
        if supported.iter().flatten().any(|v| v == MODERN.as_str()) {
            return Discovered::Retry;
        }
        let listed = supported.iter().flatten().map(String::as_str);
        return session_version(listed, requested)
            .map_or(Discovered::Failed, |v| Discovered::Fallback(Some(v)));
    }
    let modern = code.is_some_and(|c| {
        c == i64::from(HEADER_MISMATCH)
            || c == i64::from(MISSING_REQUIRED_CLIENT_CAPABILITY)
            || (c == i64::from(METHOD_NOT_FOUND) && status == StatusCode::NOT_FOUND)
    });
    if modern || !fallback_status {
        Discovered::Failed
    } else {
        Discovered::Fallback(None)
    }
}

/// The tools of a `tools/list` result `msg` whose annotations break the rules are
/// dropped from it; the others' annotations are learned into `tools` (`N26-16`).
/// Returns the message to deliver (a new one when a tool was dropped) and each dropped
/// tool's name with the reason.
pub(super) fn filter_tools(
    msg: Message,
    tools: &mut ParamHeaders,
) -> (Message, Vec<(String, ParamHeaderError)>) {
    let Ok(mut v) = serde_json::from_slice::<Value>(msg.json()) else {
        return (msg, Vec::new());
    };
    let Some(list) = v.pointer_mut("/result/tools").and_then(Value::as_array_mut) else {
        return (msg, Vec::new());
    };
    let invalid = tools.learn(list);
    if invalid.is_empty() {
        return (msg, Vec::new());
    }
    let mut dropped = Vec::new();
    for (i, error) in invalid.into_iter().rev() {
        let tool = list.remove(i);
        let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
        dropped.push((name.to_owned(), error));
    }
    dropped.reverse();
    (reserialize(&v).unwrap_or(msg), dropped)
}

/// `msg` with its `id` replaced by `id`: a re-issued request's response, given back
/// under the application's id.
pub(super) fn with_id(msg: Message, id: &RequestId) -> Message {
    let Ok(mut v) = serde_json::from_slice::<Value>(msg.json()) else {
        return msg;
    };
    if let Some(obj) = v.as_object_mut() {
        obj.insert("id".into(), json!(id));
    }
    reserialize(&v).unwrap_or(msg)
}

fn reserialize(v: &Value) -> Option<Message> {
    let bytes = serde_json::to_vec(v).ok()?;
    Message::parse(Bytes::from(bytes)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity::from_initialize(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{"elicitation":{}},"clientInfo":{"name":"c","version":"1"}}}"#,
        )
    }

    /// `N26-6`, `N26-13`, `N26-15`: the headers and `_meta` of a `tools/call`.
    #[test]
    fn n26_6_request_metadata() {
        let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "get wëather", "arguments": {}}});
        validate(&call).unwrap();
        let p = prepare(call, &identity(), &ParamHeaders::new());
        assert_eq!(p.headers["mcp-protocol-version"], "2026-07-28");
        assert_eq!(p.headers["mcp-method"], "tools/call");
        assert_eq!(p.headers["mcp-name"], codec::encode("get wëather").as_ref());
        assert!(
            p.headers["mcp-name"]
                .to_str()
                .unwrap()
                .starts_with("=?base64?")
        );
        let body: Value = serde_json::from_slice(&p.body).unwrap();
        let meta = &body["params"]["_meta"];
        assert_eq!(meta[META_PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(meta[META_CLIENT_CAPABILITIES], json!({"elicitation": {}}));
        assert_eq!(meta[META_CLIENT_INFO]["name"], "c");
        let read = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read",
            "params": {"uri": "file:///a b"}});
        let p = prepare(read, &identity(), &ParamHeaders::new());
        assert_eq!(p.headers["mcp-name"], "file:///a b");
        // A request without params gets one, holding _meta.
        let p = prepare(
            json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}),
            &identity(),
            &ParamHeaders::new(),
        );
        let body: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(body["params"]["_meta"].is_object());
        assert!(!p.headers.contains_key("mcp-name"));
    }

    /// `N26-6`: what cannot be mirrored is the caller's mistake.
    #[test]
    fn n26_6_unmirrorable_requests_are_refused() {
        let bad = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": 3}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tööls/list"}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": 1}}),
        ];
        for b in bad {
            assert!(validate(&b).is_err(), "{b}");
        }
    }

    /// `N26-20`: which discover answers are modern evidence.
    #[test]
    fn n26_20_discover_answers() {
        let v = ProtocolVersion::V2025_11_25;
        let err = |code: i32, data: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":0,"error":{{"code":{code},"message":"m"{data}}}}}"#)
        };
        let s400 = StatusCode::BAD_REQUEST;
        // A session-era server refusing a request without a session: fall back.
        assert_eq!(
            discover_refused(s400, err(-32000, "").as_bytes(), v),
            Discovered::Fallback(None)
        );
        assert_eq!(discover_refused(s400, b"", v), Discovered::Fallback(None));
        assert_eq!(
            discover_refused(StatusCode::METHOD_NOT_ALLOWED, b"nope", v),
            Discovered::Fallback(None)
        );
        // A session-era-only server naming its versions: fall back at one of them.
        let listed = err(
            -32022,
            r#","data":{"supported":["2025-03-26","2025-06-18"],"requested":"2026-07-28"}"#,
        );
        assert_eq!(
            discover_refused(s400, listed.as_bytes(), v),
            Discovered::Fallback(Some(ProtocolVersion::V2025_06_18))
        );
        // -32022 listing the version asked for: ask again.
        let same = err(-32022, r#","data":{"supported":["2026-07-28"]}"#);
        assert_eq!(
            discover_refused(s400, same.as_bytes(), v),
            Discovered::Retry
        );
        // A modern server refusing: no fallback.
        let modern_only = err(-32022, r#","data":{"supported":["2030-01-01"]}"#);
        assert_eq!(
            discover_refused(s400, modern_only.as_bytes(), v),
            Discovered::Failed
        );
        for code in [-32020, -32021] {
            assert_eq!(
                discover_refused(s400, err(code, "").as_bytes(), v),
                Discovered::Failed
            );
        }
        assert_eq!(
            discover_refused(StatusCode::NOT_FOUND, err(-32601, "").as_bytes(), v),
            Discovered::Failed
        );
        // Never on 401 or 5xx.
        assert_eq!(
            discover_refused(StatusCode::UNAUTHORIZED, b"", v),
            Discovered::Failed
        );
        let ok = |versions: &str| {
            Message::parse(Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","id":0,"result":{{"supportedVersions":{versions},"capabilities":{{}}}}}}"#
            )))
            .unwrap()
        };
        assert_eq!(
            discovered(&ok(r#"["2025-11-25","2026-07-28"]"#), v),
            Some(Discovered::Modern)
        );
        assert_eq!(
            discovered(&ok(r#"["2025-11-25"]"#), v),
            Some(Discovered::Fallback(Some(v)))
        );
        let not_one = Message::parse(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":0,"result":{}}"#,
        ))
        .unwrap();
        assert_eq!(discovered(&not_one, v), None);
    }
}
