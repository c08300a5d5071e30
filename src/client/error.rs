//! The client caller's misuse of the machine, and a configuration the machine refuses. A
//! server's misbehaviour is never one of these: it becomes a
//! [`ClientEvent`](super::ClientEvent).

use crate::handle::ExchangeId;
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{BodyError, RequestId};

/// The caller of [`Client`](super::Client) broke the driver contract. Each message says
/// what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The bytes given are not one JSON-RPC message or batch.
    #[error(
        "the message is not JSON-RPC ({0}); send one JSON-RPC object, or a batch where allowed"
    )]
    InvalidMessage(BodyError),
    /// A request other than `ping` before the `InitializeResult` arrived (`LIFE-6`,
    /// `INV-C9`), or opening the standalone stream before the session is ready.
    #[error(
        "the client is not initialized yet: until the InitializeResult arrives only ping may be sent, and no standalone stream opened"
    )]
    NotInitialized,
    /// No exchange with this handle was ever issued by this client machine.
    #[error("{0:?} was never issued by this client machine; use the handle a Transmit gave")]
    UnknownExchange(ExchangeId),
    /// Inputs for an exchange came out of order (a second head, or body bytes or an end
    /// before the head).
    #[error("{0:?}: give the response head once, before its body and end")]
    ExchangeOutOfOrder(ExchangeId),
    /// `initialize` was given something other than one `initialize` request.
    #[error("Client::initialize takes exactly one `initialize` request")]
    NotInitialize,
    /// `initialize` goes through `Client::initialize`, never `send` (nor in a batch,
    /// `CLI-POST-5`).
    #[error("send `initialize` with Client::initialize, not Client::send")]
    InitializeViaSend,
    /// A session is initialized or initializing; `close` it first.
    #[error("the client is initialized or initializing; close it before initializing again")]
    AlreadyInitialized,
    /// The machine sends `notifications/initialized` itself (`LIFE-5`, `INV-C9`).
    #[error("notifications/initialized is sent by the client machine; do not send it")]
    InitializedIsAutomatic,
    /// A batch where the negotiated version forbids it, or one that mixes requests and
    /// responses (`CLI-POST-3`, `CLI-POST-4`, `INV-C7`).
    #[error(
        "batches are allowed only with 2025-03-26, and never mix requests with responses; send the messages one by one"
    )]
    BatchNotAllowed,
    /// A request id that is already awaiting its response.
    #[error("request id {0:?} is already awaiting a response; use a fresh id")]
    DuplicateRequestId(RequestId),
    /// The server has no standalone GET stream for this session (it answered 405).
    #[error(
        "the server refused the standalone GET stream (405) for this session; use POST streams only"
    )]
    StandaloneStreamRefused,
    /// A JSON-RPC response sent in the 2026-07-28 era, where a client never sends one
    /// (`N26-2`): the server asks for input inside a result (`InputRequiredResult`).
    #[error(
        "2026-07-28 has no server-to-client requests: answer an InputRequiredResult by sending the request again with inputResponses"
    )]
    ResponseInModernEra,
    /// Something the 2026-07-28 era does not have (a session, the GET stream).
    #[error("the 2026-07-28 era has no {0}; subscribe with subscriptions/listen instead")]
    NotInModernEra(&'static str),
    /// A `tools/call` or `prompts/get` without a string `params.name`, or a
    /// `resources/read` without a string `params.uri`: its `Mcp-Name` header cannot be
    /// built (`N26-6`).
    #[error("{method} needs a string params.{field}, mirrored into the Mcp-Name header")]
    MissingName {
        /// The method.
        method: String,
        /// `name` or `uri`.
        field: &'static str,
    },
    /// A method name that cannot travel in the `Mcp-Method` header (it is never
    /// base64-encoded): visible ASCII only.
    #[error("method {0:?} cannot be sent in the Mcp-Method header: use visible ASCII")]
    MethodNotHeaderSafe(String),
    /// In the 2026-07-28 era, `params` (or `params._meta`) that is not a JSON object:
    /// the machine writes `_meta` into it (`N26-13`).
    #[error("params and params._meta must be JSON objects: the machine writes _meta into them")]
    ParamsNotAnObject,
    /// [`Client::cancel`](super::Client::cancel) of an id that awaits no response.
    #[error("request id {0:?} awaits no response: nothing to cancel")]
    UnknownRequest(RequestId),
}

/// A [`ClientConfig`](super::ClientConfig) the machine refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not an absolute `http` or `https` URI.
    #[error("the endpoint must be an absolute http:// or https:// URI")]
    InvalidEndpoint,
    /// The endpoint's query string holds an access token (`CLI-AUTH-2`).
    #[error(
        "access tokens never go in the URI query string; use an Authorization header in ClientConfig::headers"
    )]
    TokenInQuery,
    /// An extra header the machine sets itself.
    #[error("the client machine sets the {0} header itself; remove it from ClientConfig::headers")]
    ReservedHeader(http::HeaderName),
    /// A [`ClientConfig::well_known_paths`](super::ClientConfig::well_known_paths) entry
    /// that is not an absolute URI path.
    #[error("well-known path {0:?} must be an absolute path such as /mcp")]
    BadWellKnownPath(String),
    /// A version the client machine cannot initialize with (2024-11-05 is reached only by
    /// the legacy fallback; 2026-07-28 has no `initialize`).
    #[error("the client machine initializes with 2025-03-26, 2025-06-18 or 2025-11-25, not {0}")]
    UnsupportedClientVersion(ProtocolVersion),
}
