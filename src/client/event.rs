//! What the client machine hands out: requests to send, events for the application,
//! timers.

use std::time::Instant;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};

use super::config::Era;
use crate::handle::ExchangeId;
use crate::params::ParamHeaderError;
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{BodyError, Message, RequestId};
use crate::wire::{HeaderError, SessionId};

/// A request to send. Tie its response to `exchange`.
#[derive(Debug)]
pub struct Transmit {
    /// The exchange.
    pub exchange: ExchangeId,
    /// The complete request; the driver adds only `Host` and framing headers.
    pub request: Request<Bytes>,
}

/// Why a request will get no response through the machine. Each request id resolves at
/// most once, by a [`ClientEvent::Response`] or by this (`INV-C11`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// The server answered the POST with this error status.
    Http(StatusCode),
    /// The server broke the protocol for this request (see the [`ClientEvent::ProtocolError`]
    /// before it).
    Protocol,
    /// The connection was lost before the response, and no event id was seen, so the
    /// stream cannot be resumed: the server may or may not have processed the request
    /// (ambiguity 16). This is not a cancellation (`INV-C16`).
    OutcomeUnknown,
    /// Every reconnection allowed by [`ReconnectPolicy::max_attempts`](super::ReconnectPolicy::max_attempts) failed.
    ReconnectExhausted,
    /// The session expired and the request was not (or no longer) re-sent.
    SessionExpired,
    /// The application closed the client.
    Closed,
    /// The application cancelled it ([`Client::cancel`](super::Client::cancel)).
    Cancelled,
}

/// How the server broke the protocol. The machine stays usable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolErrorKind {
    /// A 2xx to a request-bearing POST (or a GET) whose `Content-Type` is neither
    /// `application/json` nor `text/event-stream` (`INV-C10`).
    UnexpectedContentType,
    /// A 202 to a POST that holds requests (`INV-C10`).
    AcceptedWithRequests,
    /// The session header on the `InitializeResult` response is repeated, comma-joined or
    /// not visible ASCII: no session was started (`SRV-SESS-3`).
    BadSessionHeader(HeaderError),
    /// The answer to `initialize` is not an `InitializeResult`.
    InvalidInitializeResult,
    /// The `InitializeResult` names a version the client does not speak (`LIFE-4`).
    UnsupportedVersion(String),
    /// A body or SSE event that is not JSON-RPC.
    InvalidMessage(BodyError),
    /// A JSON body or SSE event larger than [`ClientConfig::max_event_bytes`](super::ClientConfig::max_event_bytes). Drop the
    /// connection.
    TooLarge,
    /// A JSON answer lacks the response to one of the POST's requests.
    MissingResponse,
    /// The legacy `endpoint` event names no usable URI (or another origin).
    InvalidLegacyEndpoint,
    /// The `InitializeResult` response carries a session id this client already ended
    /// (DELETE) or saw expire (404). A server never revives an id (`SRV-SESS-7`,
    /// `INV-S2`); the client refuses it so that it never sends it again (`INV-C5`).
    EndedSessionId,
    /// The answer to `server/discover` is not a `DiscoverResult` (no
    /// `supportedVersions` list), or, in [`ClientMode::Modern`](super::ClientMode::Modern),
    /// lists no version the client speaks.
    InvalidDiscoverResult,
}

/// What the application learns from the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A session is initialized (again, after [`ClientEvent::SessionExpired`]), or, in
    /// the 2026-07-28 era, `server/discover` was answered: requests go out from now on.
    Initialized {
        /// The session id from the `InitializeResult` response, if the server sent one
        /// (never in the 2026-07-28 era).
        session: Option<SessionId>,
        /// The negotiated version.
        version: ProtocolVersion,
        /// The `initialize` response, or the `server/discover` one (its `result` holds
        /// `supportedVersions`, `capabilities`, and the server's info).
        result: Message,
    },
    /// `initialize` failed; the machine is back to uninitialized.
    InitializeFailed {
        /// The HTTP status, when the server answered with an error status.
        status: Option<StatusCode>,
        /// The JSON-RPC error, when there was one.
        error: Option<Message>,
    },
    /// A server request or notification (answer requests with [`Client::send`](super::Client::send)), or an
    /// error response with no id.
    Message(Message),
    /// The response to a request, delivered once.
    Response {
        /// The request id.
        id: RequestId,
        /// The response (a result or an error).
        message: Message,
    },
    /// A request will get no response.
    RequestFailed {
        /// The request id.
        id: RequestId,
        /// Why.
        reason: RequestFailure,
    },
    /// A 404 to a request that carried the session id: the session is gone
    /// (`CLI-SESS-8`). With `reinitializing`, the machine re-sends the saved `initialize`.
    SessionExpired {
        /// Whether the machine re-initializes on its own.
        reinitializing: bool,
    },
    /// The server has no standalone GET stream (405): the session is intact (`INV-C17`).
    StandaloneStreamUnavailable,
    /// The standalone GET stream ended and cannot be resumed; open it again if needed.
    StandaloneStreamEnded,
    /// `initialize` is re-sent with an older version the server listed (`CLI-BC-26`).
    VersionRetry {
        /// The version now asked for.
        version: ProtocolVersion,
    },
    /// The client committed to the 2024-11-05 HTTP+SSE transport (`CLI-BC-4`).
    LegacyFallback {
        /// The URI every message is POSTed to from now on.
        endpoint: Uri,
    },
    /// The legacy GET stream closed: the legacy session is over; initialize again.
    LegacyStreamClosed,
    /// The server answered an exchange with an error status.
    HttpError {
        /// The exchange.
        exchange: ExchangeId,
        /// The status.
        status: StatusCode,
        /// The JSON-RPC error of the body, if it had one.
        error: Option<Message>,
    },
    /// The server broke the protocol on an exchange.
    ProtocolError {
        /// The exchange.
        exchange: ExchangeId,
        /// How.
        kind: ProtocolErrorKind,
    },
    /// The DELETE that ended the session was answered (`CLI-SESS-9`).
    SessionClosed {
        /// The status (2xx, 404 and 405 all leave no session, `INV-C5`).
        status: StatusCode,
    },
    /// The endpoint URI had no path and the server answered 404: the first request goes
    /// again to `endpoint` (the path the 404 named, or a well-known one).
    EndpointRetry {
        /// The URI tried now.
        endpoint: Uri,
    },
    /// [`ClientMode::Auto`](super::ClientMode::Auto) found the era the server speaks
    /// (`N26-20`): keep it per origin, and give it back in
    /// [`ClientConfig::era_hint`](super::ClientConfig::era_hint) next time.
    EraDetected {
        /// The era.
        era: Era,
    },
    /// A tool of a `tools/list` result was dropped from it: its `x-mcp-header`
    /// annotations break the rules (`N26-16`). The other tools are kept.
    ToolRejected {
        /// The tool's name.
        tool: String,
        /// Why.
        error: ParamHeaderError,
    },
    /// A 2026-07-28 request whose connection broke before its response was sent again
    /// under a new id (`N26-19`, `SRV-RES-9`); its response still comes as a
    /// [`ClientEvent::Response`] with the application's id.
    RequestReissued {
        /// The application's id.
        id: RequestId,
        /// The id it went out with this time.
        wire_id: RequestId,
    },
}

/// Why the machine wants [`Client::handle_timeout`](super::Client::handle_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// A lost SSE stream is due to be resumed.
    Reconnect,
}

/// When the machine next needs [`Client::handle_timeout`](super::Client::handle_timeout), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The instant.
    pub at: Instant,
    /// The reason.
    pub reason: TimeoutReason,
}
