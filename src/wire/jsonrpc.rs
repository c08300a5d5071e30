//! The JSON-RPC 2.0 envelope: classification of a body into messages, owned messages for
//! the application, and JSON-RPC error bodies.
//!
//! Bodies are read once, borrowing the buffer: `jsonrpc`, `id`, `method` and the presence
//! of `params`, `result` and `error` are read, and `params` and `result` stay unparsed raw
//! JSON. What comes out is owned [`Message`]s whose bytes are slices of the body (no copy);
//! [`Messages::parse`] reads a whole body (one message or a batch).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Error code: invalid JSON (`ERR-4`).
pub const PARSE_ERROR: i32 = -32700;
/// Error code: valid JSON but not a valid JSON-RPC message (`ERR-4`).
pub const INVALID_REQUEST: i32 = -32600;
/// Error code: the method does not exist (`ERR-4`).
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Error code: invalid method parameters (`ERR-4`).
pub const INVALID_PARAMS: i32 = -32602;
/// Error code: internal error (`ERR-4`).
pub const INTERNAL_ERROR: i32 = -32603;
/// Error code the SDKs use for transport-level errors without a better code (`ERR-SDK`).
pub const SERVER_ERROR: i32 = -32000;
/// Error code the TS SDK uses for an unknown or closed session (`ERR-SDK`).
pub const SESSION_NOT_FOUND: i32 = -32001;
/// 2026-07-28: a request header disagrees with the body (`N26-7`).
pub const HEADER_MISMATCH: i32 = -32020;
/// 2026-07-28: a required client capability is missing (`ERR-4`).
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i32 = -32021;
/// 2026-07-28: the protocol version is not supported; the data lists the supported ones
/// (`VER-26`).
pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;

/// The `_meta` key of a 2026-07-28 request's protocol version (`N26-13`).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key of a 2026-07-28 request's client capabilities (`N26-13`).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key of a 2026-07-28 request's client info (`N26-13`, SHOULD).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// A JSON-RPC request id. MCP allows a string or an integer; `null` is not a request id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(Box<str>),
}

impl RequestId {
    /// Reads an id from its raw JSON text: an integer that fits `i64` or a string.
    pub fn from_raw(raw: &RawValue) -> Option<Self> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'"' => {
                let s: Cow<'_, str> = serde_json::from_str(text).ok()?;
                Some(Self::String(s.into()))
            }
            b'-' | b'0'..=b'9' => text.parse::<i64>().ok().map(Self::Number),
            _ => None,
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        Self::String(s.into())
    }
}

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => serializer.serialize_i64(*n),
            Self::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        Self::from_raw(raw)
            .ok_or_else(|| serde::de::Error::custom("an id is a string or an integer"))
    }
}

/// What a JSON-RPC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A request: `method` and `id`.
    Request,
    /// A notification: `method`, no `id`.
    Notification,
    /// A successful response: `result` and `id`.
    Response,
    /// An error response: `error`, and an `id` that may be `null` or absent.
    Error,
}

impl MessageKind {
    /// Whether the message is a response, successful or not.
    pub fn is_response(self) -> bool {
        matches!(self, Self::Response | Self::Error)
    }
}

/// One classified message, borrowing the body it came from.
#[derive(Debug, Clone)]
pub(crate) struct Envelope<'a> {
    /// What the message is.
    pub(crate) kind: MessageKind,
    /// The id of a request or response; `None` for a notification or an error whose id is
    /// `null` or absent.
    pub(crate) id: Option<RequestId>,
    /// The method of a request or notification.
    pub(crate) method: Option<Cow<'a, str>>,
    /// `params`, unparsed.
    pub(crate) params: Option<&'a RawValue>,
    /// `result` of a successful response, unparsed.
    pub(crate) result: Option<&'a RawValue>,
    /// The whole message's text.
    pub(crate) raw: &'a str,
}

impl Envelope<'_> {
    /// Whether this is the `initialize` request.
    pub fn is_initialize(&self) -> bool {
        self.kind == MessageKind::Request && self.method.as_deref() == Some("initialize")
    }

    /// What a 2026-07-28 request's params say that its headers mirror: `params.name`
    /// (`tools/call`, `prompts/get`) or `params.uri` (`resources/read`), and its `_meta`
    /// protocol version and whether it carries the client capabilities (`N26-13`).
    pub(crate) fn modern_meta(&self) -> ModernMeta {
        #[derive(Deserialize, Default)]
        struct Params<'a> {
            #[serde(borrow, default, deserialize_with = "opt_cow")]
            name: Option<Cow<'a, str>>,
            #[serde(borrow, default, deserialize_with = "opt_cow")]
            uri: Option<Cow<'a, str>>,
            #[serde(rename = "_meta", borrow, default)]
            meta: Option<Meta<'a>>,
        }
        #[derive(Deserialize, Default)]
        struct Meta<'a> {
            #[serde(
                rename = "io.modelcontextprotocol/protocolVersion",
                borrow,
                default,
                deserialize_with = "opt_cow"
            )]
            version: Option<Cow<'a, str>>,
            #[serde(rename = "io.modelcontextprotocol/clientCapabilities", default)]
            capabilities: Option<&'a RawValue>,
        }
        let p: Params<'_> = self
            .params
            .filter(|p| p.get().starts_with('{'))
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or_default();
        let name = match self.method.as_deref() {
            Some("resources/read") => p.uri,
            _ => p.name,
        };
        let meta = p.meta.unwrap_or_default();
        ModernMeta {
            name: name.map(Cow::into_owned),
            protocol_version: meta.version.map(Cow::into_owned),
            client_capabilities: meta.capabilities.is_some_and(|c| c.get().starts_with('{')),
        }
    }

    /// For an `initialize` request, the `params.protocolVersion` the client asked for.
    pub(crate) fn initialize_request_version(&self) -> Option<Cow<'_, str>> {
        #[derive(Deserialize)]
        struct InitializeParams<'a> {
            #[serde(rename = "protocolVersion", borrow)]
            protocol_version: Cow<'a, str>,
        }
        let params = self.params?.get();
        if !params.starts_with('{') {
            return None;
        }
        serde_json::from_str::<InitializeParams<'_>>(params)
            .ok()
            .map(|p| p.protocol_version)
    }

    /// For a successful response, the `protocolVersion` of an `InitializeResult`, if the
    /// result has the shape of one (an object with a string `protocolVersion`).
    pub fn initialize_result_version(&self) -> Option<Cow<'_, str>> {
        #[derive(Deserialize)]
        struct InitializeResult<'a> {
            #[serde(rename = "protocolVersion", borrow)]
            protocol_version: Cow<'a, str>,
        }
        let result = self.result?;
        // Only an object is an InitializeResult (serde would read a struct from an array).
        if !result.get().starts_with('{') {
            return None;
        }
        serde_json::from_str::<InitializeResult<'_>>(result.get())
            .ok()
            .map(|r| r.protocol_version)
    }
}

/// What a 2026-07-28 request's params say that its metadata headers mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ModernMeta {
    /// `params.name`, or `params.uri` for `resources/read`.
    pub name: Option<String>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`.
    pub protocol_version: Option<String>,
    /// Whether `params._meta["io.modelcontextprotocol/clientCapabilities"]` is an object.
    pub client_capabilities: bool,
}

/// A body: one message or a batch (a JSON array of messages).
#[derive(Debug, Clone)]
pub(crate) enum Body<'a> {
    /// One message.
    Single(Envelope<'a>),
    /// A non-empty batch.
    Batch(Vec<Envelope<'a>>),
}

impl<'a> Body<'a> {
    /// The messages, in order.
    pub fn messages(&self) -> &[Envelope<'a>] {
        match self {
            Self::Single(m) => std::slice::from_ref(m),
            Self::Batch(ms) => ms,
        }
    }

    /// Whether the body is a batch.
    pub fn is_batch(&self) -> bool {
        matches!(self, Self::Batch(_))
    }
}

/// Why a body is not acceptable JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not JSON at all (or not UTF-8): JSON-RPC `-32700`.
    #[error("the body is not valid JSON: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 message: JSON-RPC `-32600`.
    #[error("the body is not a valid JSON-RPC 2.0 message: {0}")]
    Invalid(String),
}

impl BodyError {
    /// The JSON-RPC error code for this error.
    pub fn code(&self) -> i32 {
        match self {
            Self::Parse(_) => PARSE_ERROR,
            Self::Invalid(_) => INVALID_REQUEST,
        }
    }
}

/// The wire shape, borrowed. Presence of `id`, `result` and `error` is kept even when the
/// value is `null`.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// An optional string that borrows from the input when it can (no escapes in it).
///
/// `#[serde(borrow)]` makes a bare `Cow<'a, str>` borrow, but not an `Option<Cow<'a, str>>`:
/// serde's `Cow` impl always copies. A JSON `null` is `None`, as for `Option`. Use with
/// `#[serde(borrow, default, deserialize_with = "opt_cow")]`.
pub(crate) fn opt_cow<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Str;
    impl<'de> serde::de::Visitor<'de> for Str {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(Str)
        }
    }
    d.deserialize_option(Str)
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    #[allow(dead_code)]
    code: i64,
    #[serde(borrow)]
    #[allow(dead_code)]
    message: Cow<'a, str>,
}

/// Classifies a body into one message or a batch, without parsing `params` or `result`.
///
/// An empty batch, a batch element that is not a message, and any object that is not a
/// JSON-RPC 2.0 request, notification, response or error are [`BodyError::Invalid`];
/// bytes that are not JSON are [`BodyError::Parse`].
pub(crate) fn classify(body: &[u8]) -> Result<Body<'_>, BodyError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> =
            serde_json::from_slice(body).map_err(|e| to_body_error(body, e))?;
        if items.is_empty() {
            return Err(BodyError::Invalid("an empty batch".into()));
        }
        let messages = items
            .into_iter()
            .map(envelope)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Body::Batch(messages))
    } else if first == Some(&b'{') {
        // One object: read in one pass, straight into its parts (the whole text checked
        // as UTF-8 once, by SIMD, since the message keeps it as text).
        let text = simdutf8::basic::from_utf8(body)
            .map_err(|_| BodyError::Parse("the body is not UTF-8".into()))?;
        let raw = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        let w: Wire<'_> = serde_json::from_str(raw).map_err(|e| to_body_error(body, e))?;
        from_wire(w, raw).map(Body::Single)
    } else {
        let raw: &RawValue = serde_json::from_slice(body).map_err(|e| to_body_error(body, e))?;
        envelope(raw).map(Body::Single)
    }
}

fn to_body_error(body: &[u8], e: serde_json::Error) -> BodyError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
            BodyError::Invalid(e.to_string())
        }
        _ => BodyError::Parse(e.to_string()),
    }
}

/// Classifies one message given as raw JSON.
pub(crate) fn envelope(raw: &RawValue) -> Result<Envelope<'_>, BodyError> {
    if !raw.get().starts_with('{') {
        return Err(BodyError::Invalid("a message must be a JSON object".into()));
    }
    let w: Wire<'_> =
        serde_json::from_str(raw.get()).map_err(|e| BodyError::Invalid(e.to_string()))?;
    from_wire(w, raw.get())
}

/// Classifies one message from its parts; `raw` is its whole text.
fn from_wire<'a>(w: Wire<'a>, raw: &'a str) -> Result<Envelope<'a>, BodyError> {
    if w.jsonrpc.as_deref() != Some("2.0") {
        return Err(BodyError::Invalid("\"jsonrpc\" must be \"2.0\"".into()));
    }
    let id =
        match w.id {
            None => None,
            Some(r) if r.get() == "null" => None,
            Some(r) => Some(RequestId::from_raw(r).ok_or_else(|| {
                BodyError::Invalid("\"id\" must be a string or an integer".into())
            })?),
        };
    let kind = match (&w.method, w.result, w.error) {
        (Some(_), None, None) => match (w.id, &id) {
            (None, _) => MessageKind::Notification,
            (Some(_), Some(_)) => MessageKind::Request,
            (Some(_), None) => {
                return Err(BodyError::Invalid("a request id must not be null".into()));
            }
        },
        (None, Some(_), None) => {
            if id.is_none() {
                return Err(BodyError::Invalid("a response needs an id".into()));
            }
            MessageKind::Response
        }
        (None, None, Some(err)) => {
            serde_json::from_str::<ErrorObject<'_>>(err.get()).map_err(|_| {
                BodyError::Invalid(
                    "\"error\" must be an object with an integer \"code\" and a string \"message\""
                        .into(),
                )
            })?;
            MessageKind::Error
        }
        _ => {
            return Err(BodyError::Invalid(
                "a message has exactly one of \"method\", \"result\" or \"error\"".into(),
            ));
        }
    };
    Ok(Envelope {
        kind,
        id,
        method: w.method,
        params: w.params,
        result: w.result,
        raw,
    })
}

/// An owned JSON-RPC message: its classification plus its bytes, shared with the body it
/// came from (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    kind: MessageKind,
    id: Option<RequestId>,
    method: Option<MethodName>,
    json: Bytes,
}

/// A message's method: one of the protocol's own names without a copy, any other name
/// copied once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MethodName {
    Known(&'static str),
    Other(Box<str>),
}

/// The methods of the protocol's revisions in scope, and `ping`: a message naming one of
/// them keeps a `&'static str` instead of a copy.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/call",
    "tools/list",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "server/discover",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "notifications/prompts/list_changed",
    "notifications/elicitation/complete",
    "notifications/tasks/status",
];

impl MethodName {
    fn new(name: &str) -> Self {
        match KNOWN_METHODS.iter().find(|k| **k == name) {
            Some(k) => Self::Known(k),
            None => Self::Other(name.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Known(k) => k,
            Self::Other(o) => o,
        }
    }
}

impl Message {
    /// Builds an owned message from an envelope of `body`. `body` must be the buffer the
    /// envelope borrows from; the message's bytes are then a slice of it, not a copy.
    pub(crate) fn from_envelope(body: &Bytes, env: &Envelope<'_>) -> Self {
        let text = env.raw.as_bytes();
        let start = (text.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
        let json = if start <= body.len() && body.len() - start >= text.len() {
            body.slice(start..start + text.len())
        } else {
            Bytes::copy_from_slice(text)
        };
        Self {
            kind: env.kind,
            id: env.id.clone(),
            method: env.method.as_deref().map(MethodName::new),
            json,
        }
    }

    /// The error response to request `id`, written from its parts (see
    /// [`error_body`]): nothing is parsed back.
    pub(crate) fn error(
        id: &RequestId,
        code: i32,
        message: &str,
        data: Option<&serde_json::Value>,
    ) -> Self {
        Self {
            kind: MessageKind::Error,
            id: Some(id.clone()),
            method: None,
            json: error_body(Some(id), code, message, data),
        }
    }

    /// Parses and classifies one message from owned bytes.
    pub fn parse(json: Bytes) -> Result<Self, BodyError> {
        let env = match classify(&json)? {
            Body::Single(env) => env,
            Body::Batch(_) => {
                return Err(BodyError::Invalid(
                    "expected one message, got a batch".into(),
                ));
            }
        };
        Ok(Self::from_envelope(&json, &env))
    }

    /// What the message is.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The id of a request or response.
    pub fn id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        self.method.as_ref().map(MethodName::as_str)
    }

    /// The message's JSON text.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// Whether this is the `initialize` request.
    pub fn is_initialize(&self) -> bool {
        self.kind == MessageKind::Request && self.method() == Some("initialize")
    }

    /// Writes the response `{"jsonrpc":"2.0","id":ID,"result":RESULT}` into `out`
    /// (cleared first): valid JSON-RPC by construction.
    pub(crate) fn write_response(
        out: &mut Vec<u8>,
        id: &RequestId,
        result: &impl serde::Serialize,
    ) -> Result<(), serde_json::Error> {
        #[derive(serde::Serialize)]
        struct Response<'a, R> {
            jsonrpc: &'static str,
            id: &'a RequestId,
            result: &'a R,
        }
        out.clear();
        serde_json::to_writer(
            &mut *out,
            &Response {
                jsonrpc: "2.0",
                id,
                result,
            },
        )
    }

    /// Deserializes the whole message into `T` (for example a struct with `params`).
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
}

/// The `error.code` of an error message's JSON text.
pub(crate) fn error_code_of(json: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Error {
        error: Code,
    }
    #[derive(Deserialize)]
    struct Code {
        code: i64,
    }
    serde_json::from_slice::<Error>(json)
        .ok()
        .map(|e| e.error.code)
}

/// For the JSON text of a successful response shaped like an `InitializeResult`, its
/// `protocolVersion`.
pub(crate) fn initialize_result_version_of(json: &[u8]) -> Option<String> {
    match classify(json) {
        Ok(Body::Single(env)) => env.initialize_result_version().map(|v| v.into_owned()),
        _ => None,
    }
}

/// A whole body read as owned messages: one message, or a batch (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Messages {
    /// One message.
    One(Message),
    /// A non-empty batch, in order.
    Batch(Vec<Message>),
}

impl Messages {
    /// Parses and classifies a body. The messages share its bytes.
    pub fn parse(body: Bytes) -> Result<Self, BodyError> {
        Ok(Self::from_body(&body, &classify(&body)?))
    }

    /// The messages, in body order.
    pub fn as_slice(&self) -> &[Message] {
        match self {
            Self::One(m) => std::slice::from_ref(m),
            Self::Batch(ms) => ms,
        }
    }

    /// Whether the body was a batch.
    pub fn is_batch(&self) -> bool {
        matches!(self, Self::Batch(_))
    }

    /// The messages of `body` (a buffer the envelopes borrow from), owned: a single
    /// message costs no allocation beyond the message itself.
    pub(crate) fn from_body(body: &Bytes, parsed: &Body<'_>) -> Self {
        match parsed {
            Body::Single(env) => Self::One(Message::from_envelope(body, env)),
            Body::Batch(envs) => Self::Batch(
                envs.iter()
                    .map(|e| Message::from_envelope(body, e))
                    .collect(),
            ),
        }
    }
}

/// The messages read as a slice: `len`, indexing, `iter` and the rest.
impl std::ops::Deref for Messages {
    type Target = [Message];
    fn deref(&self) -> &[Message] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Messages {
    type Item = &'a Message;
    type IntoIter = std::slice::Iter<'a, Message>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl IntoIterator for Messages {
    type Item = Message;
    type IntoIter = MessagesIntoIter;
    fn into_iter(self) -> MessagesIntoIter {
        MessagesIntoIter(match self {
            Self::One(m) => OneOrMany::One(Some(m)),
            Self::Batch(ms) => OneOrMany::Many(ms.into_iter()),
        })
    }
}

/// The owned messages of a [`Messages`], in body order.
#[derive(Debug)]
pub struct MessagesIntoIter(OneOrMany);

#[derive(Debug)]
enum OneOrMany {
    One(Option<Message>),
    Many(std::vec::IntoIter<Message>),
}

impl Iterator for MessagesIntoIter {
    type Item = Message;
    fn next(&mut self) -> Option<Message> {
        match &mut self.0 {
            OneOrMany::One(m) => m.take(),
            OneOrMany::Many(ms) => ms.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            OneOrMany::One(m) => (usize::from(m.is_some()), Some(usize::from(m.is_some()))),
            OneOrMany::Many(ms) => ms.size_hint(),
        }
    }
}

impl ExactSizeIterator for MessagesIntoIter {}

/// Builds a JSON-RPC error response body: `{"jsonrpc":"2.0","id":..,"error":{..}}`.
///
/// `id` is `None` for an error not tied to a readable request: it is written as `null`,
/// as the SDKs do (`ERR-3`, ambiguity 2).
pub fn error_body(
    id: Option<&RequestId>,
    code: i32,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Bytes {
    #[derive(serde::Serialize)]
    struct ErrorResponse<'a> {
        jsonrpc: &'static str,
        id: Option<&'a RequestId>,
        error: ErrorBody<'a>,
    }
    #[derive(serde::Serialize)]
    struct ErrorBody<'a> {
        code: i32,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a serde_json::Value>,
    }
    let value = ErrorResponse {
        jsonrpc: "2.0",
        id,
        error: ErrorBody {
            code,
            message,
            data,
        },
    };
    Bytes::from(serde_json::to_vec(&value).expect("an error body always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(body: &str) -> Result<MessageKind, i32> {
        match classify(body.as_bytes()) {
            Ok(Body::Single(e)) => Ok(e.kind),
            Ok(Body::Batch(_)) => panic!("batch"),
            Err(e) => Err(e.code()),
        }
    }

    #[test]
    fn strings_borrow_from_the_body_unless_escaped() {
        let Ok(Body::Single(e)) = classify(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#)
        else {
            panic!("one message")
        };
        assert!(matches!(e.method, Some(Cow::Borrowed("tools/call"))));
        // An escaped method is read (and copied), the same method.
        let Ok(Body::Single(e)) =
            classify(br#"{"jsonrpc":"2\u002e0","id":1,"method":"tools\/call"}"#)
        else {
            panic!("one message")
        };
        assert!(matches!(&e.method, Some(Cow::Owned(m)) if m == "tools/call"));
        // `null` and non-string values are what they were with `Option<Cow>`.
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"method":null}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":2,"id":1,"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":null,"id":1,"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
    }

    #[test]
    fn a_known_method_and_any_other_read_back_the_same() {
        for method in [
            "tools/call",
            "notifications/initialized",
            "x/custom",
            "tools/cal",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}"}}"#);
            let m = Message::parse(Bytes::from(body)).expect("a request");
            assert_eq!(m.method(), Some(method));
            let known = matches!(m.method, Some(MethodName::Known(_)));
            assert_eq!(known, KNOWN_METHODS.contains(&method), "{method}");
        }
    }

    #[test]
    fn messages_read_as_a_slice_and_iterate_owned() {
        let one =
            Messages::parse(Bytes::from_static(br#"{"jsonrpc":"2.0","method":"a"}"#)).expect("one");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].method(), Some("a"));
        let batch = Messages::parse(Bytes::from_static(
            br#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#,
        ))
        .expect("a batch");
        assert!(batch.is_batch());
        let by_ref: Vec<_> = (&batch).into_iter().map(|m| m.method()).collect();
        assert_eq!(by_ref, [Some("a"), Some("b")]);
        let it = batch.clone().into_iter();
        assert_eq!(it.len(), 2);
        let owned: Vec<_> = it.map(|m| m.method().map(str::to_owned)).collect();
        assert_eq!(owned, [Some("a".to_owned()), Some("b".to_owned())]);
        let mut it = one.into_iter();
        assert_eq!(it.len(), 1);
        assert!(it.next().is_some());
        assert_eq!(it.len(), 0);
        assert!(it.next().is_none());
    }

    #[test]
    fn classifies_the_four_kinds() {
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(MessageKind::Request)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(MessageKind::Notification)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(MessageKind::Response)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"a","result":null}"#),
            Ok(MessageKind::Response)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}"#),
            Ok(MessageKind::Error)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","error":{"code":-1,"message":"x"}}"#),
            Ok(MessageKind::Error)
        );
    }

    #[test]
    fn rejects_what_is_not_json_rpc_with_the_right_code() {
        assert_eq!(kind("{"), Err(PARSE_ERROR));
        assert_eq!(kind("nope"), Err(PARSE_ERROR));
        assert_eq!(kind(""), Err(PARSE_ERROR));
        assert_eq!(kind(r#"{"jsonrpc": 5, "#), Err(PARSE_ERROR));
        assert_eq!(kind("42"), Err(INVALID_REQUEST));
        assert_eq!(kind(r#"{"id":1,"method":"ping"}"#), Err(INVALID_REQUEST));
        assert_eq!(
            kind(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":5}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","result":{}}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":""}}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"error":"bad"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#),
            Err(INVALID_REQUEST)
        );
    }

    #[test]
    fn batches_are_arrays_of_messages() {
        let body = br#" [{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#;
        let Body::Batch(ms) = classify(body).unwrap() else {
            panic!()
        };
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].method.as_deref(), Some("a"));
        assert!(matches!(classify(b"[]"), Err(BodyError::Invalid(_))));
        assert!(matches!(classify(b"[1]"), Err(BodyError::Invalid(_))));
        assert!(matches!(classify(b"[{}"), Err(BodyError::Parse(_))));
    }

    #[test]
    fn params_stay_raw_and_messages_share_the_body() {
        let body = Bytes::from_static(
            br#"[{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo"}}]"#,
        );
        let Body::Batch(ms) = classify(&body).unwrap() else {
            panic!()
        };
        assert_eq!(ms[0].params.unwrap().get(), r#"{"name":"echo"}"#);
        let m = Message::from_envelope(&body, &ms[0]);
        assert_eq!(m.json().as_ptr(), body[1..].as_ptr());
        assert_eq!(m.id(), Some(&RequestId::from("x")));
        assert_eq!(m.method(), Some("tools/call"));
    }

    #[test]
    fn reads_the_initialize_result_version() {
        let body = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{}}}"#;
        let Body::Single(e) = classify(body).unwrap() else {
            panic!()
        };
        assert_eq!(e.initialize_result_version().as_deref(), Some("2025-06-18"));
        let body = br#"{"jsonrpc":"2.0","id":0,"result":{}}"#;
        let Body::Single(e) = classify(body).unwrap() else {
            panic!()
        };
        assert_eq!(e.initialize_result_version(), None);
    }

    #[test]
    fn error_bodies_have_a_null_id() {
        let b = error_body(None, -32600, "bad", None);
        assert_eq!(
            &b[..],
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}"#
        );
        let data = serde_json::json!({"supported":["2025-06-18"]});
        let b = error_body(Some(&RequestId::Number(3)), -32022, "v", Some(&data));
        assert!(Message::parse(b).unwrap().kind() == MessageKind::Error);
    }
}
