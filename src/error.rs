//! Errors for the caller's misuse of a machine. A peer's misbehaviour is never one of
//! these: it becomes a response (server) or an event (client).

use crate::client::ExchangeId;
use crate::server::StreamId;
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{BodyError, RequestId};

/// The caller broke the driver contract. Each message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// No stream with this handle was ever opened by this machine.
    #[error("{0:?} was never opened by this server machine")]
    UnknownStream(StreamId),
    /// The stream has ended: all its responses were sent, or its session was terminated
    /// or expired. Drop what was meant for it.
    #[error("{0:?} has ended (all responses sent, or its session is gone)")]
    StreamClosed(StreamId),
    /// The bytes given are not one JSON-RPC message.
    #[error("the message is not one JSON-RPC message: {0}")]
    InvalidMessage(BodyError),
    /// A response whose id is not an unanswered request of this stream; each request is
    /// answered once, on the stream it came on (`INV-S11`).
    #[error("response id {0:?} is not an unanswered request on this stream")]
    NotPending(Option<RequestId>),
    /// A response on a standalone GET stream (`SRV-GET-6`, `INV-S7`).
    #[error("a standalone GET stream never carries a response; answer on the request's stream")]
    ResponseOnStandaloneStream,
    /// A notification or request on a POST answered with `application/json`, which can
    /// carry only responses. Use `ReplyMode::Sse` to send related messages.
    #[error("this POST is answered with application/json, which carries responses only")]
    JsonReplyCarriesResponsesOnly,
    /// Something that needs an initialized session, asked for before it is one. Server:
    /// a server-to-client request other than `ping` before the client sent
    /// `notifications/initialized` (`LIFE-7`, `INV-S16`). Client: a request other than
    /// `ping` before the `InitializeResult` arrived (`LIFE-6`, `INV-C9`), or opening the
    /// standalone stream before the session is ready.
    #[error(
        "the session is not initialized yet: until it is, only ping requests may be sent and no standalone stream opened"
    )]
    NotInitialized,
    /// The `InitializeResult` names a protocol version the server is not configured to
    /// support. Pick one with `ServerConfig::negotiate`.
    #[error("the InitializeResult's protocolVersion {0:?} is not a supported version")]
    UnsupportedNegotiatedVersion(String),
    /// A session with this id is already live.
    #[error("a session with this id is already live")]
    DuplicateSession,
    /// The stream cannot have its connection closed early: it is not resumable (no
    /// session, JSON replies, or replay off), or its client's version is older than
    /// 2025-11-25 and does not expect it (`SRV-PSSE-4`), or its head has not gone yet.
    #[error(
        "{0:?} is not a resumable stream of a 2025-11-25 client; its connection cannot be closed early"
    )]
    NotResumable(StreamId),
    /// Server: a request sent with `Server::send` whose id is already awaiting its answer
    /// in this session; each outstanding server-to-client request needs its own id.
    #[error("request id {0:?} is already awaiting the client's answer in this session")]
    DuplicateOutstandingRequest(RequestId),
    /// Server: the session already has `ServerConfig::max_outstanding_requests`
    /// server-to-client requests awaiting their answer. Wait for answers, or give up on
    /// some with `Server::forget_request`.
    #[error("too many server-to-client requests awaiting an answer ({0}) in this session")]
    TooManyOutstandingRequests(usize),
    /// Restoring the session would exceed the session cap.
    #[error("the session cap is reached")]
    SessionCapReached,
    /// Client: no exchange with this handle was ever issued by this client machine.
    #[error("{0:?} was never issued by this client machine")]
    UnknownExchange(ExchangeId),
    /// Client: inputs for an exchange came out of order (a second head, or body bytes or
    /// an end before the head). Call `handle_response_head` once, first.
    #[error("{0:?}: give the response head once, before its body and end")]
    ExchangeOutOfOrder(ExchangeId),
    /// Client: `initialize` was given something other than one `initialize` request.
    #[error("Client::initialize takes exactly one `initialize` request")]
    NotInitialize,
    /// Client: `initialize` goes through `Client::initialize`, never `send` (nor in a
    /// batch, `CLI-POST-5`).
    #[error("send `initialize` with Client::initialize, not Client::send")]
    InitializeViaSend,
    /// Client: a session is initialized or initializing; `close` it first.
    #[error("the client is initialized or initializing; close it before initializing again")]
    AlreadyInitialized,
    /// Client: the machine sends `notifications/initialized` itself (`LIFE-5`, `INV-C9`).
    #[error("notifications/initialized is sent by the client machine; do not send it")]
    InitializedIsAutomatic,
    /// Client: a batch where the negotiated version forbids it, or one that mixes
    /// requests and responses (`CLI-POST-3`, `CLI-POST-4`, `INV-C7`).
    #[error("batches are allowed only with 2025-03-26, and never mix requests with responses")]
    BatchNotAllowed,
    /// Client: a request id that is already awaiting its response.
    #[error("request id {0:?} is already awaiting a response; use a fresh id")]
    DuplicateRequestId(RequestId),
    /// Client: the server has no standalone GET stream for this session (it answered 405).
    #[error("the server refused the standalone GET stream (405) for this session")]
    StandaloneStreamRefused,
    /// Client config: the endpoint is not an absolute `http` or `https` URI.
    #[error("the endpoint must be an absolute http:// or https:// URI")]
    InvalidEndpoint,
    /// Client config: the endpoint's query string holds an access token (`CLI-AUTH-2`).
    #[error("access tokens never go in the URI query string; use an Authorization header")]
    TokenInQuery,
    /// Client config: an extra header the machine sets itself.
    #[error("the client machine sets the {0} header itself; remove it from ClientConfig::headers")]
    ReservedHeader(http::HeaderName),
    /// Client config: a version the client machine cannot initialize with (2024-11-05 is
    /// reached only by the legacy fallback; 2026-07-28 has no `initialize`).
    #[error("the client machine initializes with 2025-03-26, 2025-06-18 or 2025-11-25, not {0}")]
    UnsupportedClientVersion(ProtocolVersion),
}
