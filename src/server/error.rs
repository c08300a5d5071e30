//! The server caller's misuse of the machine. A client's misbehaviour is never one of
//! these: it becomes a complete HTTP error response.

use crate::handle::{ConnectionId, StreamId};
use crate::wire::jsonrpc::{BodyError, RequestId};

/// The caller of [`Server`](super::Server) broke the driver contract. Each message says
/// what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// No connection with this handle was ever opened by this machine.
    #[error("{0:?} was never opened by this server machine; use the handle an Outcome gave")]
    UnknownConnection(ConnectionId),
    /// No stream with this handle was ever opened by this machine.
    #[error("{0:?} was never opened by this server machine; use the handle an Outcome gave")]
    UnknownStream(StreamId),
    /// The stream has ended: all its responses were sent, or its session was terminated
    /// or expired. Drop what was meant for it.
    #[error(
        "{0:?} has ended (all responses sent, or its session is gone); drop what was meant for it"
    )]
    StreamClosed(StreamId),
    /// The bytes given are not one JSON-RPC message.
    #[error("the message is not one JSON-RPC message ({0}); send one JSON object")]
    InvalidMessage(BodyError),
    /// A response whose id is not an unanswered request of this stream; each request is
    /// answered once, on the stream it came on (`INV-S11`).
    #[error(
        "response id {0:?} is not an unanswered request on this stream; answer each request once, on its own stream"
    )]
    NotPending(Option<RequestId>),
    /// A response on a standalone GET stream (`SRV-GET-6`, `INV-S7`).
    #[error("a standalone GET stream never carries a response; answer on the request's stream")]
    ResponseOnStandaloneStream,
    /// A notification or request on a POST answered with `application/json`, which can
    /// carry only responses. Use `ReplyMode::Sse` to send related messages.
    #[error(
        "this POST is answered with application/json, which carries responses only; use ReplyMode::Sse to send notifications or requests"
    )]
    JsonReplyCarriesResponsesOnly,
    /// A server-to-client request other than `ping` before the client sent
    /// `notifications/initialized` (`LIFE-7`, `INV-S16`), or on the `initialize` stream.
    #[error(
        "the client has not sent notifications/initialized yet: until then only ping requests may go to it"
    )]
    NotInitialized,
    /// The `InitializeResult` (or a restored session record) names a protocol version the
    /// server is not configured to support, or one without sessions (2026-07-28). Answer with the version in [`Dispatch::negotiated`](super::Dispatch::negotiated).
    #[error(
        "the InitializeResult's protocolVersion {0:?} is not a supported version; answer with Dispatch::negotiated"
    )]
    UnsupportedNegotiatedVersion(String),
    /// A session with this id is already live.
    #[error("a session with this id is already live; restore a session only where it is not held")]
    DuplicateSession,
    /// The stream cannot have its connection closed early: it is not resumable (no
    /// session, JSON replies, or replay off), or its client's version is older than
    /// 2025-11-25 and does not expect it (`SRV-PSSE-4`), or its head has not gone yet.
    #[error(
        "{0:?} is not a resumable stream of a 2025-11-25 client with its head sent; its connection cannot be closed early"
    )]
    NotResumable(StreamId),
    /// A request sent with `Server::send` whose id is already awaiting its answer in this
    /// session; each outstanding server-to-client request needs its own id.
    #[error(
        "request id {0:?} is already awaiting the client's answer in this session; use a fresh id, or Server::request"
    )]
    DuplicateOutstandingRequest(RequestId),
    /// The session already has `ServerConfig::max_outstanding_requests` server-to-client
    /// requests awaiting their answer.
    #[error(
        "too many server-to-client requests awaiting an answer ({0}) in this session; wait for answers, or forget some with Server::forget_request"
    )]
    TooManyOutstandingRequests(usize),
    /// A server-to-client request on a 2026-07-28 stream: that revision has none; the
    /// server asks for input in its result instead (`N26-3`, MRTR).
    #[error(
        "2026-07-28 streams carry no server-to-client requests; return an InputRequiredResult instead"
    )]
    RequestOnModernStream,
    /// [`Server::listen`](super::Server::listen) on a stream that is not one 2026-07-28
    /// request answered as SSE, or [`Server::end_listen`](super::Server::end_listen) on a
    /// stream that is not listening.
    #[error(
        "{0:?} is not a subscriptions/listen stream: listen on the SSE stream of one 2026-07-28 request, once"
    )]
    NotAListenStream(StreamId),
    /// Restoring the session would exceed the session cap.
    #[error("the session cap is reached; end a session or raise ServerConfig::max_sessions")]
    SessionCapReached,
    /// A message given to [`Server::request`](super::Server::request) is not a request, or
    /// its method or params are not JSON the machine can write.
    #[error("a server-to-client request needs a method and params that are a JSON object or array")]
    InvalidRequest,
    /// The record given to [`Server::resume_fetched`](super::Server::resume_fetched)
    /// is of another session than the one the parked request names.
    #[error("the fetched record is of another session; give the record of FetchSession::session")]
    FetchedAnotherSession,
    /// [`Server::store_done`](super::Server::store_done) got a ticket this machine did
    /// not issue, or one already confirmed.
    #[error("no store write with this ticket awaits confirmation; confirm each ticket once")]
    UnknownTicket,
    /// The stream relays another node's stream (a resumption from the store): only
    /// [`Server::relay`](super::Server::relay) writes on it.
    #[error("{0:?} relays another node's stream; send on the stream the application owns")]
    RelayStream(StreamId),
    /// [`Server::relay`](super::Server::relay) on a stream that relays nothing.
    #[error("{0:?} relays no stream of another node; relay only a resumption's stream")]
    NotARelayStream(StreamId),
    /// [`Server::handle_forwarded`](super::Server::handle_forwarded) got bytes that are
    /// not a payload of a [`StoreAction::Forward`](super::StoreAction::Forward).
    #[error("not a forwarded payload; pass the payload of a StoreAction::Forward unchanged")]
    InvalidForward,
    /// [`Server::notify`](super::Server::notify) with a request for a standalone stream
    /// another node holds: that node could not pair the answer.
    #[error("a request cannot go to another node's stream; send it on a stream of this node")]
    RequestOnRemoteStream,
    /// The session is not held by this machine.
    #[error("the session is not held here; only a node that holds a session can notify it")]
    SessionNotHeld,
    /// [`Server::respond`](super::Server::respond) with a result that does not
    /// serialize as JSON (a map with non-string keys, a failing `Serialize` impl).
    #[error("the result does not serialize as JSON ({0}); give a value serde_json can write")]
    Unserializable(String),
}
