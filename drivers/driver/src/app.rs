//! What an application on a driver gives and gets, whatever the runtime: its
//! [`ServerInfo`] (from which the driver answers `initialize`), each request as a
//! [`Call`], and a JSON-RPC [`RpcError`] when it fails.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{ServerConfig, SubscriptionFilter, UsageError};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{
    INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, Message, RequestId,
};
use serde_json::{Value, json};

use crate::engine::{AppRequest, ENDPOINT, Engine, Replier};

/// Who the server is and what it can do: the driver answers `initialize` from it, with
/// the version the machine negotiated (`LIFE-3`), and 2026-07-28's `server/discover`
/// with the versions the machine serves (`N26-14`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// `serverInfo.name`.
    pub name: String,
    /// `serverInfo.version`.
    pub version: String,
    /// The `capabilities` object (`{"tools": {}}` for a server with tools).
    pub capabilities: Value,
    /// `instructions`, if any.
    pub instructions: Option<String>,
    /// How long a client may cache a cacheable 2026-07-28 result (`ttlMs` of
    /// `server/discover`, the `*/list` methods and `resources/read`) that does not say
    /// itself; zero, the default, makes it stale at once.
    pub cache_ttl: Duration,
    /// Who may cache such a result (`cacheScope`), when it does not say itself.
    pub cache_scope: CacheScope,
}

/// The `cacheScope` of a cacheable 2026-07-28 result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheScope {
    /// Cached only within one authorization context: the safe default for a server whose
    /// answers may depend on who asks.
    #[default]
    Private,
    /// Cacheable by any client or intermediary: the result holds nothing user-specific.
    Public,
}

impl CacheScope {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
        }
    }
}

/// Whether a 2026-07-28 result of `method` is cacheable, so that it carries `ttlMs` and
/// `cacheScope` (the schema's `CacheableResult`).
pub fn is_cacheable(method: &str) -> bool {
    matches!(
        method,
        "server/discover"
            | "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
    )
}

/// The `_meta` key naming the server software on 2026-07-28 results (`N26-13`).
pub const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";

impl ServerInfo {
    /// A server with this name and version, and no capabilities yet.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            capabilities: json!({}),
            instructions: None,
            cache_ttl: Duration::ZERO,
            cache_scope: CacheScope::Private,
        }
    }

    /// With these capabilities.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Value) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// With these instructions.
    #[must_use]
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// With these default cache hints for cacheable 2026-07-28 results.
    #[must_use]
    pub fn with_cache_hints(mut self, ttl: Duration, scope: CacheScope) -> Self {
        self.cache_ttl = ttl;
        self.cache_scope = scope;
        self
    }

    /// The `DiscoverResult` (`N26-14`): every version in `supported` (both eras, so a
    /// client that only speaks the session era learns it may `initialize`), the
    /// capabilities and the instructions, completed by [`modern_result`]
    /// (Self::modern_result) with the cache hints, `resultType` and the server info.
    pub fn discover_result(&self, supported: &[ProtocolVersion]) -> Value {
        let mut v = json!({
            "supportedVersions": supported.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
            "capabilities": self.capabilities,
        });
        if let Some(i) = &self.instructions {
            v["instructions"] = json!(i);
        }
        self.modern_result("server/discover", v)
    }

    /// The result of a 2026-07-28 request of `method` as that revision wants it, each
    /// field added only when the application did not set it: `resultType` (`"complete"`;
    /// an application may answer `"input_required"`), `_meta` naming the server
    /// (`N26-13`), and for a cacheable result ([`is_cacheable`]) `ttlMs` and
    /// `cacheScope` from [`cache_ttl`](Self::cache_ttl) and
    /// [`cache_scope`](Self::cache_scope). A result that is not an object is left as it
    /// is.
    pub fn modern_result(&self, method: &str, mut result: Value) -> Value {
        let Some(obj) = result.as_object_mut() else {
            return result;
        };
        obj.entry("resultType").or_insert_with(|| json!("complete"));
        if is_cacheable(method) {
            let ttl_ms = u64::try_from(self.cache_ttl.as_millis()).unwrap_or(u64::MAX);
            obj.entry("ttlMs").or_insert_with(|| json!(ttl_ms));
            obj.entry("cacheScope")
                .or_insert_with(|| json!(self.cache_scope.as_str()));
        }
        let meta = obj.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry(SERVER_INFO_META)
                .or_insert_with(|| json!({"name": self.name, "version": self.version}));
        }
        result
    }

    /// What the server honours of a `subscriptions/listen` request's filter, by its
    /// capabilities: `tools.listChanged`, `prompts.listChanged`, `resources.listChanged`,
    /// and `resources.subscribe` for the asked resource URIs.
    pub fn listen_filter(&self, asked: &SubscriptionFilter) -> SubscriptionFilter {
        let c = &self.capabilities;
        let on = |path: &str| c.pointer(path).and_then(Value::as_bool).unwrap_or(false);
        asked.intersect(&SubscriptionFilter {
            tools_list_changed: on("/tools/listChanged"),
            prompts_list_changed: on("/prompts/listChanged"),
            resources_list_changed: on("/resources/listChanged"),
            resource_subscriptions: if on("/resources/subscribe") {
                asked.resource_subscriptions.clone()
            } else {
                Vec::new()
            },
        })
    }

    /// The `InitializeResult` for `version`.
    pub fn initialize_result(&self, version: ProtocolVersion) -> Value {
        let mut v = json!({
            "protocolVersion": version.as_str(),
            "capabilities": self.capabilities,
            "serverInfo": {"name": self.name, "version": self.version},
        });
        if let Some(i) = &self.instructions {
            v["instructions"] = json!(i);
        }
        v
    }
}

/// A JSON-RPC error an application answers a request with.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// `error.code`.
    pub code: i32,
    /// `error.message`.
    pub message: String,
    /// `error.data`, if any.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with this code and message.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// -32601: the method does not exist.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("method not found: {method}"))
    }

    /// -32602: invalid params.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// -32603: an internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(INTERNAL_ERROR, message)
    }

    /// With `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// One request of a client, as the application handles it.
#[derive(Debug, Clone)]
pub struct Call {
    /// Its id (the driver answers with it).
    pub id: RequestId,
    /// Its method (`tools/call`, `tools/list` ...).
    pub method: String,
    /// Its `params` (`Null` when absent).
    pub params: Value,
    /// Its session (none in stateless mode and for `initialize`).
    pub session: Option<SessionId>,
    /// The revision that governs it.
    pub version: ProtocolVersion,
    /// For `initialize`: the version the machine negotiated.
    pub negotiated: Option<ProtocolVersion>,
}

/// A request the driver answers itself unless the application overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `initialize` (the session era).
    Initialize,
    /// `server/discover` (2026-07-28, `N26-14`).
    Discover,
    /// `subscriptions/listen` (2026-07-28, `N26-18`): the driver holds the stream open.
    Listen,
}

impl Call {
    /// Whether the 2026-07-28 revision governs the call (no session, no `initialize`).
    pub fn is_modern(&self) -> bool {
        !self.version.has_initialize()
    }

    /// The built-in request this is, if any: `initialize` in the session era (the machine
    /// refuses it in 2026-07-28), `server/discover` in 2026-07-28 (in the session era it
    /// is a method like any other).
    pub fn builtin(&self) -> Option<Builtin> {
        match (self.method.as_str(), self.is_modern()) {
            ("initialize", false) => Some(Builtin::Initialize),
            ("server/discover", true) => Some(Builtin::Discover),
            ("subscriptions/listen", true) => Some(Builtin::Listen),
            _ => None,
        }
    }

    /// The call of an application request; `None` for a message without an id.
    pub fn of(request: &AppRequest) -> Option<Self> {
        Some(Self {
            id: request.message.id()?.clone(),
            method: request.message.method().unwrap_or_default().to_owned(),
            params: params_of(&request.message),
            session: request.session.clone(),
            version: request.version,
            negotiated: request.negotiated,
        })
    }

    /// `params.name`, for `tools/call` and `prompts/get`.
    pub fn name(&self) -> Option<&str> {
        self.params.get("name").and_then(Value::as_str)
    }

    /// `params.arguments` (`Null` when absent).
    pub fn arguments(&self) -> &Value {
        self.params.get("arguments").unwrap_or(&Value::Null)
    }

    /// `params._meta.progressToken`, when the client asked for progress.
    pub fn progress_token(&self) -> Option<&Value> {
        self.params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
    }
}

/// A message's `params` (`Null` when absent or unreadable).
pub fn params_of(message: &Message) -> Value {
    /// Only `params` is read into a value; the other members are skipped.
    #[derive(serde::Deserialize)]
    struct Params {
        #[serde(default)]
        params: Value,
    }
    serde_json::from_slice::<Params>(message.json()).map_or(Value::Null, |p| p.params)
}

/// The answer to `call` as it goes on the wire: a 2026-07-28 result is completed by
/// [`ServerInfo::modern_result`] (`info` is asked only then); other answers pass as they
/// are.
pub fn shape_answer(
    call: &Call,
    answer: Result<Value, RpcError>,
    info: impl FnOnce() -> ServerInfo,
) -> Result<Value, RpcError> {
    match answer {
        Ok(v) if call.is_modern() => Ok(info().modern_result(&call.method, v)),
        other => other,
    }
}

/// A `tools/call` result with one text content.
pub fn text_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}]})
}

/// A `tools/call` result that reports a tool error (`isError`), with one text content.
pub fn tool_error(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// What a server driver is configured with, beside the machine's [`ServerConfig`]; the
/// same for every driver.
#[derive(Debug, Clone)]
pub struct Options {
    /// The machine's configuration.
    pub config: ServerConfig,
    /// How long an SSE connection may stay quiet before a keep-alive comment goes out
    /// (default 15 seconds, as the TypeScript SDK and rmcp; `None`: never).
    pub keep_alive: Option<Duration>,
    /// How long a graceful shutdown waits for open connections (and, in the blocking
    /// driver, handler threads) to finish (default 10 s).
    pub shutdown_grace: Duration,
    /// The path a listener is served on (default `/mcp`). Every path not in it or in
    /// [`also_at`](Self::also_at) gets 404 with a JSON-RPC error naming it.
    pub path: String,
    /// More paths the same endpoint answers at, with the same sessions behind all of
    /// them (for example `/mcp/v1/messages` for clients configured with an old URL).
    /// Default none.
    pub also_at: Vec<String>,
}

/// The paths an endpoint is served at, and the answer to every other path.
#[derive(Debug, Clone)]
pub struct EndpointPaths {
    path: String,
    also_at: Vec<String>,
}

impl EndpointPaths {
    /// The paths of `options`.
    pub fn of(options: &Options) -> Self {
        Self {
            path: options.path.clone(),
            also_at: options.also_at.clone(),
        }
    }

    /// The main path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether requests to `path` reach the endpoint.
    pub fn serves(&self, path: &str) -> bool {
        path == self.path || self.also_at.iter().any(|p| p == path)
    }

    /// The answer to a request for any other path: 404 with a JSON-RPC error whose
    /// message and `data.endpoint` name the endpoint path, so that a user (or a client,
    /// when given a URL without the path) can find it. Its code (-32000) is no modern
    /// error: a dual-era client does not take the 404 for a modern server's.
    pub fn not_found(&self) -> Response<Bytes> {
        let message = format!("not found: the MCP endpoint is {}", self.path);
        let data = serde_json::json!({ "endpoint": self.path });
        let body = mcp_http_proto::wire::jsonrpc::error_body(
            None,
            mcp_http_proto::wire::jsonrpc::SERVER_ERROR,
            &message,
            Some(&data),
        );
        let len = body.len();
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::NOT_FOUND;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        r
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: ServerConfig::default(),
            keep_alive: Some(Duration::from_secs(15)),
            shutdown_grace: Duration::from_secs(10),
            path: ENDPOINT.to_owned(),
            also_at: Vec::new(),
        }
    }
}

impl From<ServerConfig> for Options {
    fn from(config: ServerConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }
}

/// What every driver's request context offers that does not wait: a request's handle on
/// its stream, for progress and notifications before its answer. The drivers' `Context`
/// types dereference to it and add the waiting calls in their own style.
#[derive(Clone, Debug)]
pub struct CallContext {
    replier: Replier,
    progress_token: Option<Value>,
}

impl CallContext {
    /// The context of `call`, answered on `replier`'s stream.
    pub fn new(replier: Replier, call: &Call) -> Self {
        Self {
            replier,
            progress_token: call.progress_token().cloned(),
        }
    }

    /// The stream's replier.
    pub fn replier(&self) -> &Replier {
        &self.replier
    }

    /// The request's session (none in stateless mode).
    pub fn session(&self) -> Option<&SessionId> {
        self.replier.session()
    }

    /// Publishes a change notification to the server's 2026-07-28 listen streams that
    /// asked for it ([`Handle::publish`]); how many took it.
    pub fn publish(&self, method: &str, params: Option<&Value>) -> usize {
        self.replier().publish(method, params)
    }

    /// Sends a notification on the request's stream, before its answer (`SRV-PSSE-2`).
    pub fn notify(&self, method: &str, params: Value) -> Result<(), UsageError> {
        self.replier.notify(method, params)
    }

    /// Sends `notifications/progress` when the client asked for progress (a
    /// `_meta.progressToken`); does nothing otherwise.
    pub fn progress(
        &self,
        progress: u64,
        total: Option<u64>,
        message: Option<&str>,
    ) -> Result<(), UsageError> {
        match &self.progress_token {
            Some(token) => self.replier.progress(token, progress, total, message),
            None => Ok(()),
        }
    }

    /// Closes the connection of the request's stream without ending the stream
    /// (`SRV-PSSE-10`); the client resumes with GET + `Last-Event-ID`. Only for resumable
    /// streams of 2025-11-25 clients.
    pub fn close_connection(&self) -> Result<(), UsageError> {
        self.replier.close_connection()
    }
}

/// A handle on a server for messages that relate to no request: notifications on a
/// session's standalone stream (`SRV-GET-4`).
#[derive(Clone)]
pub struct Handle {
    engine: Arc<Engine>,
}

impl Handle {
    /// A handle on `engine`'s server.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// Sends a notification on `session`'s standalone stream; `Ok(false)` when the
    /// session has none open.
    pub fn notify(
        &self,
        session: &SessionId,
        method: &str,
        params: Value,
    ) -> Result<bool, UsageError> {
        self.engine.notify_session(session, method, params)
    }

    /// The live sessions.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.engine.sessions()
    }

    /// Publishes a change notification (`notifications/tools/list_changed` ...) to the
    /// 2026-07-28 `subscriptions/listen` streams that asked for it; how many took it.
    pub fn publish(&self, method: &str, params: Option<&Value>) -> usize {
        self.engine.publish(method, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `N26-13`, `N26-14`: a modern result gets what the application left out, and keeps
    /// what it set; only cacheable results get cache hints.
    #[test]
    fn modern_results_are_completed_without_overwriting() {
        let info =
            ServerInfo::new("s", "1").with_cache_hints(Duration::from_secs(60), CacheScope::Public);
        let list = info.modern_result("tools/list", json!({"tools": []}));
        assert_eq!(list["resultType"], "complete");
        assert_eq!(list["ttlMs"], 60_000);
        assert_eq!(list["cacheScope"], "public");
        assert_eq!(
            list["_meta"][SERVER_INFO_META],
            json!({"name": "s", "version": "1"})
        );
        let call = info.modern_result(
            "tools/call",
            json!({"resultType": "input_required", "_meta": {"k": 1}, "content": []}),
        );
        assert_eq!(call["resultType"], "input_required");
        assert_eq!(call["_meta"]["k"], 1);
        assert_eq!(call["_meta"][SERVER_INFO_META]["name"], "s");
        assert!(call.get("ttlMs").is_none() && call.get("cacheScope").is_none());
        let own = info.modern_result("resources/read", json!({"ttlMs": 5, "contents": []}));
        assert_eq!(own["ttlMs"], 5);
        assert_eq!(own["cacheScope"], "public");
        assert_eq!(info.modern_result("ping", json!(null)), json!(null));
    }

    #[test]
    fn discover_names_every_served_version() {
        let d = ServerInfo::new("s", "1")
            .with_instructions("be kind")
            .discover_result(&[ProtocolVersion::V2025_11_25, ProtocolVersion::V2026_07_28]);
        assert_eq!(d["supportedVersions"], json!(["2025-11-25", "2026-07-28"]));
        assert_eq!(d["instructions"], "be kind");
        assert_eq!(d["ttlMs"], 0);
        assert_eq!(d["cacheScope"], "private");
        assert_eq!(d["resultType"], "complete");
    }
}
