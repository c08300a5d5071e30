//! What the server machine hands out: outcomes of requests, stream outputs, session
//! events and timers.

use std::time::Instant;

use bytes::Bytes;
use http::Response;

use super::outstanding::{Answered, PendingRequest};
use super::refusal::Reject;
use super::sessions::SessionRecord;
use super::store::{FetchSession, FetchStream, NodeId, StreamKey};
use crate::handle::{ConnectionId, StreamId};
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Message, MessageKind, Messages, RequestId};

/// What became of a request. Every variant that ends the exchange carries the complete
/// response to send; every variant that opens a stream names the connection whose output
/// the driver then pulls.
#[derive(Debug)]
#[must_use = "an outcome says what to send and what to hand to the application"]
pub enum Outcome {
    /// A check refused the request. Send the response; nothing changed.
    Reject(Reject),
    /// A POST of notifications and/or responses only: send the 202 (`SRV-POST-7`,
    /// `INV-S4`), and hand the messages to the application.
    Accepted(Accepted),
    /// A POST holding requests: hand the messages to the application, which answers each
    /// request with [`Server::send`](super::Server::send); the reply is the output of
    /// [`Dispatch::connection`].
    Dispatch(Dispatch),
    /// A GET opened the session's standalone SSE stream; its head is already queued on
    /// [`StreamOpened::connection`].
    StreamOpened(StreamOpened),
    /// A DELETE ended the session: send the response. The session's streams end and a
    /// [`ServerEvent::SessionClosed`] is queued.
    SessionDeleted(SessionDeleted),
    /// A GET with `Last-Event-ID` attached a new connection to a stream: its head and the
    /// replayed events are queued on it; the stream goes on live (or ends, if it had
    /// finished).
    StreamResumed(StreamResumed),
    /// With a shared store: the request names a session this node does not hold. Read
    /// its record from the store and give it back with
    /// [`Server::resume_fetched`](super::Server::resume_fetched), which returns the
    /// request's real outcome. Nothing changed yet.
    FetchSession(FetchSession),
    /// With a shared store: a GET's `Last-Event-ID` names a stream this node does not
    /// hold. Read the store's copy of it and give it back with
    /// [`Server::resume_stream`](super::Server::resume_stream). Nothing changed yet.
    FetchStream(FetchStream),
}

impl Outcome {
    /// The response to send now, for outcomes that end the exchange.
    pub fn response(&self) -> Option<&Response<Bytes>> {
        match self {
            Self::Reject(r) => Some(&r.response),
            Self::Accepted(a) => Some(&a.response),
            Self::SessionDeleted(d) => Some(&d.response),
            Self::Dispatch(_)
            | Self::StreamOpened(_)
            | Self::StreamResumed(_)
            | Self::FetchSession(_)
            | Self::FetchStream(_) => None,
        }
    }

    /// The stream the exchange continues on, for outcomes that open one.
    pub fn stream(&self) -> Option<StreamId> {
        match self {
            Self::Dispatch(d) => Some(d.stream),
            Self::StreamOpened(s) => Some(s.stream),
            Self::StreamResumed(s) => Some(s.stream),
            _ => None,
        }
    }

    /// The connection whose output answers this request, for outcomes that open one:
    /// pull it with [`Server::poll_connection`](super::Server::poll_connection).
    pub fn connection(&self) -> Option<ConnectionId> {
        match self {
            Self::Dispatch(d) => Some(d.connection),
            Self::StreamOpened(s) => Some(s.connection),
            Self::StreamResumed(s) => Some(s.connection),
            _ => None,
        }
    }
}

/// A POST whose messages were all notifications or responses.
#[derive(Debug)]
pub struct Accepted {
    /// `202 Accepted` with an empty body.
    pub response: Response<Bytes>,
    /// The session, in stateful mode.
    pub session: Option<SessionId>,
    /// The messages, in body order (a body holds notifications or responses, never
    /// both, `CLI-POST-3`).
    pub messages: Messages,
    /// The responses and errors of `messages`, in body order, each paired by the machine with the
    /// server-to-client request it answers (`SRV-PSSE-2`, `SRV-GET-4`): an answer whose
    /// id is outstanding in this session names its request ([`Answered::request`]), which
    /// is then no longer outstanding; any other is unpaired (`request: None`).
    pub answers: Vec<Answered>,
}

impl Accepted {
    /// The notifications, in body order.
    pub fn notifications(&self) -> impl Iterator<Item = &Message> {
        self.messages
            .iter()
            .filter(|m| m.kind() == MessageKind::Notification)
    }
}

/// A POST holding at least one request.
#[derive(Debug)]
pub struct Dispatch {
    /// The reply stream: answer every request of `messages` on it.
    pub stream: StreamId,
    /// The connection the reply is written to.
    pub connection: ConnectionId,
    /// The session, in stateful mode (none for `initialize`: it has no session yet).
    pub session: Option<SessionId>,
    /// The revision that governs this request (the session's, else the header's, else
    /// 2025-03-26).
    pub version: ProtocolVersion,
    /// For `initialize`: the version the machine negotiated from the client's
    /// `params.protocolVersion` (`LIFE-3`): the client's when supported, else the newest
    /// supported one. The application answers with an `InitializeResult` that names it.
    pub negotiated: Option<ProtocolVersion>,
    /// The messages, in body order: requests and any notifications batched with them.
    pub messages: Messages,
}

impl Dispatch {
    /// The requests, in body order: each needs one answer on [`stream`](Self::stream).
    pub fn requests(&self) -> impl Iterator<Item = &Message> {
        self.messages
            .iter()
            .filter(|m| m.kind() == MessageKind::Request)
    }

    /// The notifications batched with the requests (2025-03-26), in body order.
    pub fn notifications(&self) -> impl Iterator<Item = &Message> {
        self.messages
            .iter()
            .filter(|m| m.kind() == MessageKind::Notification)
    }
}

/// A GET that opened the standalone stream.
#[derive(Debug)]
pub struct StreamOpened {
    /// The stream; send server-initiated notifications and requests on it.
    pub stream: StreamId,
    /// The connection it is written to.
    pub connection: ConnectionId,
    /// Its session.
    pub session: SessionId,
}

/// A GET that resumed a stream after `Last-Event-ID` (`SRV-RES-5`).
#[derive(Debug)]
pub struct StreamResumed {
    /// The stream, the same handle it had before.
    pub stream: StreamId,
    /// The new connection its outputs now go to. The connection it had before is over:
    /// a late disconnect of it changes nothing.
    pub connection: ConnectionId,
    /// Its session.
    pub session: SessionId,
    /// How many events were replayed.
    pub replayed: usize,
    /// How many events after `Last-Event-ID` were no longer kept (the replay limits
    /// dropped them); the client does not see them.
    pub missed: u64,
    /// With a shared store: the stream is another node's, replayed from the store's
    /// copy. While it has not ended, read what the store gets after
    /// [`Server::relay_next`](super::Server::relay_next) and hand it to
    /// [`Server::relay`](super::Server::relay).
    pub relayed_from: Option<StreamKey>,
}

/// Where [`Server::notify`](super::Server::notify) delivered a server-initiated message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// On this node's standalone stream of the session.
    Sent(StreamId),
    /// To the node that holds the session's standalone stream (a
    /// [`StoreAction::Forward`](super::StoreAction::Forward)).
    Forwarded(NodeId),
    /// The session has no standalone stream open: nothing was sent.
    NoStream,
}

/// A DELETE that ended a session.
#[derive(Debug)]
pub struct SessionDeleted {
    /// The response (200 with an empty body by default).
    pub response: Response<Bytes>,
    /// The session that ended.
    pub session: SessionId,
}

/// One step of a connection's output, in the order the driver must write them.
#[derive(Debug)]
pub enum StreamEvent {
    /// The response head: status and every header. Comes first, once.
    Head(Response<()>),
    /// Body bytes: the JSON body, or SSE frames.
    Data(Bytes),
    /// The connection's body is over: finish it and release the connection. Always
    /// preceded by a `Head`: a stream cut short before its reply began (its session
    /// ended) gets a complete 404 error response first.
    End,
}

/// An output of one connection, as [`Server::poll_output`](super::Server::poll_output)
/// hands it out.
#[derive(Debug)]
pub struct Output {
    /// The connection to write it to.
    pub connection: ConnectionId,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// What to write.
    pub event: StreamEvent,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DELETE.
    Deleted,
    /// The session was idle for the configured timeout.
    Expired,
    /// The application ended it with [`Server::terminate_session`](super::Server::terminate_session).
    Terminated,
    /// With a shared store: it ended on another node (the driver called
    /// [`Server::forget_session`](super::Server::forget_session)).
    EndedElsewhere,
    /// With a shared store: its record could not be written when it was minted, so the
    /// client got 503 instead of the `initialize` reply.
    StoreFailed,
}

/// Why a server-to-client request will get no answer through the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbandonReason {
    /// Its session ended.
    SessionClosed,
    /// It had no session, and the stream it went on ended.
    StreamEnded,
    /// With a shared store: its session left this node's memory
    /// ([`ServerEvent::SessionEvicted`]).
    Evicted,
}

/// Events for the application and for a session store: every change to a session's
/// [`SessionRecord`] is one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A session was minted on a successful `InitializeResult`.
    SessionCreated {
        /// Its id.
        id: SessionId,
        /// The negotiated version.
        version: ProtocolVersion,
    },
    /// A session's record changed (`notifications/initialized` arrived): here is the
    /// whole new record, for a store to write through.
    SessionUpdated {
        /// The record as it now is.
        record: SessionRecord,
    },
    /// A session ended; its id gets 404 from now on.
    SessionClosed {
        /// Its id.
        id: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// With a shared store: an idle session left this node's memory (it was cached
    /// longer than [`StoreConfig::cache_for`](super::StoreConfig::cache_for), or the
    /// table was full). It did not end: it stays in the store, and the next request
    /// that names it fetches it again, here or on any node.
    SessionEvicted {
        /// Its id.
        id: SessionId,
    },
    /// The client closed a 2026-07-28 response stream: the request is cancelled
    /// (`N26-4`). Stop its work; nothing more is sent for it (a later answer is
    /// [`UsageError::StreamClosed`](super::UsageError::StreamClosed)).
    RequestCancelled {
        /// The stream it was answered on.
        stream: StreamId,
        /// The request.
        request: RequestId,
    },
    /// A server-to-client request will never be answered through the machine: a task
    /// waiting for its answer can stop waiting.
    RequestAbandoned {
        /// The session it belonged to, if any.
        session: Option<SessionId>,
        /// The request.
        request: PendingRequest,
        /// Why.
        reason: AbandonReason,
    },
}

/// Why the machine wants [`Server::handle_timeout`](super::Server::handle_timeout) called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// A session reaches its idle timeout (with a shared store: its time in this node's
    /// memory).
    SessionIdle,
    /// A finished stream's replay window closes.
    ReplayExpiry,
    /// With a shared store: a session busy here is due to refresh its TTL in the store
    /// (a [`StoreAction::Touch`](super::StoreAction::Touch)).
    StoreTouch,
}

/// When the machine next needs [`Server::handle_timeout`](super::Server::handle_timeout), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The instant.
    pub at: Instant,
    /// The reason.
    pub reason: TimeoutReason,
}
