//! Errors for the caller's misuse of a machine. A peer's misbehaviour is never one of
//! these: it becomes a response (server) or an event (client).

use crate::server::StreamId;
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
    /// A server-to-client request other than `ping` before the client sent
    /// `notifications/initialized` (`LIFE-7`, `INV-S16`).
    #[error("the session is not initialized yet; only ping requests may be sent")]
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
    /// Restoring the session would exceed the session cap.
    #[error("the session cap is reached")]
    SessionCapReached,
}
