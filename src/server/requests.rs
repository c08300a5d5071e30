//! Server-to-client requests and the routing of their answers.
//!
//! ```text
//!  Server::send(stream, request)  ── remembered for the stream's session (id → stream,
//!     (SRV-PSSE-2 on a POST stream,   method), at most max_outstanding_requests each
//!      SRV-GET-4 on the standalone
//!      stream)
//!  POST of responses (202) ── each response/error whose id is outstanding for the POST's
//!     session is matched and forgotten: Accepted::answers names the request it answers;
//!     any other is handed over unmatched
//!  forgotten, too: Server::forget_request, the end of the session; in stateless mode,
//!     the end of the stream it went on
//! ```
//!
//! In stateless mode there is no session to tell clients apart: requests and answers
//! share one table, so ids must be unique across the server's clients (the application
//! chooses them).

use std::collections::HashMap;

use super::error::UsageError;
use super::{Server, StreamId};
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Message, MessageKind, RequestId};

/// A request the server sent to the client, awaiting its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// Its id.
    pub id: RequestId,
    /// Its method (`sampling/createMessage`, `elicitation/create`, `roots/list`, `ping`
    /// ...).
    pub method: Box<str>,
    /// The stream it went out on.
    pub stream: StreamId,
}

/// One response or error of an accepted POST (see [`Accepted::answers`](super::Accepted)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The response or error, as the client sent it.
    pub message: Message,
    /// The server-to-client request it answers, now no longer outstanding; `None` when
    /// its id is not that of a request outstanding in this session (an unknown or
    /// repeated id, a request forgotten or timed out, an error with a `null` id).
    pub request: Option<PendingRequest>,
}

impl Answered {
    /// Whether the answer matched an outstanding request.
    pub fn is_matched(&self) -> bool {
        self.request.is_some()
    }
}

/// The outstanding requests, per session (`None`: the stateless table).
#[derive(Debug, Default)]
pub(super) struct Outstanding {
    by_session: HashMap<Option<SessionId>, HashMap<RequestId, PendingRequest>>,
}

impl Outstanding {
    pub fn count(&self, session: Option<&SessionId>) -> usize {
        self.by_session
            .get(&session.cloned())
            .map_or(0, HashMap::len)
    }

    pub fn get(&self, session: Option<&SessionId>, id: &RequestId) -> Option<&PendingRequest> {
        self.by_session.get(&session.cloned())?.get(id)
    }

    fn take(&mut self, session: Option<&SessionId>, id: &RequestId) -> Option<PendingRequest> {
        let key = session.cloned();
        let table = self.by_session.get_mut(&key)?;
        let found = table.remove(id);
        if table.is_empty() {
            self.by_session.remove(&key);
        }
        found
    }

    /// Forgets every request of an ended session.
    pub fn drop_session(&mut self, session: &SessionId) {
        self.by_session.remove(&Some(session.clone()));
    }

    /// Forgets the session-less requests sent on a stream that ended.
    pub fn drop_stateless_stream(&mut self, stream: StreamId) {
        if let Some(table) = self.by_session.get_mut(&None) {
            table.retain(|_, p| p.stream != stream);
            if table.is_empty() {
                self.by_session.remove(&None);
            }
        }
    }
}

impl Server {
    /// Checks that a request about to go out on `stream` can be remembered: a fresh id,
    /// room under the cap. Changes nothing.
    pub(super) fn check_outgoing_request(
        &self,
        session: Option<&SessionId>,
        message: &Message,
    ) -> Result<(), UsageError> {
        let id = message.id().expect("a request has an id");
        if self.outstanding.get(session, id).is_some() {
            return Err(UsageError::DuplicateOutstandingRequest(id.clone()));
        }
        let max = self.config.max_outstanding_requests;
        if self.outstanding.count(session) >= max {
            return Err(UsageError::TooManyOutstandingRequests(max));
        }
        Ok(())
    }

    /// Remembers a request that went out on `stream`.
    pub(super) fn remember_request(
        &mut self,
        session: Option<SessionId>,
        stream: StreamId,
        message: &Message,
    ) {
        let id = message.id().expect("a request has an id").clone();
        let pending = PendingRequest {
            id: id.clone(),
            method: message.method().unwrap_or_default().into(),
            stream,
        };
        self.outstanding
            .by_session
            .entry(session)
            .or_default()
            .insert(id, pending);
    }

    /// Matches the responses and errors of an accepted POST with the requests they
    /// answer, in body order.
    pub(super) fn match_answers(
        &mut self,
        session: Option<&SessionId>,
        messages: &[Message],
    ) -> Vec<Answered> {
        messages
            .iter()
            .filter(|m| matches!(m.kind(), MessageKind::Response | MessageKind::Error))
            .map(|m| Answered {
                message: m.clone(),
                request: m.id().and_then(|id| self.outstanding.take(session, id)),
            })
            .collect()
    }

    /// The server-to-client requests of a session (`None`: the stateless table) still
    /// awaiting their answer, in no particular order.
    pub fn pending_requests(
        &self,
        session: Option<&SessionId>,
    ) -> impl Iterator<Item = &PendingRequest> {
        self.outstanding
            .by_session
            .get(&session.cloned())
            .into_iter()
            .flat_map(HashMap::values)
    }

    /// Gives up on a server-to-client request (a timeout, a cancellation): a later answer
    /// with its id is handed over unmatched. Returns the request, if it was outstanding.
    pub fn forget_request(
        &mut self,
        session: Option<&SessionId>,
        id: &RequestId,
    ) -> Option<PendingRequest> {
        self.outstanding.take(session, id)
    }
}
