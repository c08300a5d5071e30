//! Server-to-client requests awaiting the client's answer, and the pairing of answers
//! with them.
//!
//! ```text
//!  Server::request(stream, method, params)  ── the machine mints the id; remembered
//!  Server::send(stream, request)               in the stream's session (or, without a
//!     (SRV-PSSE-2 on a POST stream,            session, in the server's session-less
//!      SRV-GET-4 on the standalone stream)     table), at most max_outstanding_requests
//!  POST of responses (202) ── each response/error whose id is outstanding in the POST's
//!     session is paired with its request and forgotten: Accepted::answers names it;
//!     any other is handed over unpaired
//!  forgotten, too: Server::forget_request; the end of the session or (session-less) of
//!     the stream it went on, each with a ServerEvent::RequestAbandoned
//! ```
//!
//! Without a session (stateless mode, or the `initialize` stream) there is nothing to
//! tell clients apart: requests and answers share one table, so their ids must be unique
//! across the server's clients. Ids minted by [`Server::request`](super::Server::request)
//! are.

use std::collections::BTreeMap;

use super::UsageError;
use crate::handle::StreamId;
use crate::wire::jsonrpc::{Message, RequestId};

/// The JSON text of a server-to-client request.
pub(super) fn request_json(
    id: &RequestId,
    method: &str,
    params: Option<&serde_json::Value>,
) -> Result<Vec<u8>, UsageError> {
    if params.is_some_and(|p| !(p.is_object() || p.is_array())) {
        return Err(UsageError::InvalidRequest);
    }
    let mut msg = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(p) = params {
        msg["params"] = p.clone();
    }
    serde_json::to_vec(&msg).map_err(|_| UsageError::InvalidRequest)
}

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
    /// With a shared store: the answer is to a request another node sent, and went to
    /// that node (a [`StoreAction::Forward`](super::StoreAction::Forward)); leave it to
    /// that node.
    pub forwarded_to: Option<super::NodeId>,
}

impl Answered {
    /// Whether the answer matched an outstanding request.
    pub fn is_matched(&self) -> bool {
        self.request.is_some()
    }
}

/// The outstanding requests of one session (or of the session-less table). A
/// `BTreeMap`: every live session holds one, and an empty one allocates nothing and
/// takes 24 bytes.
#[derive(Debug, Default)]
pub(super) struct Outstanding {
    by_id: BTreeMap<RequestId, PendingRequest>,
}

impl Outstanding {
    pub fn iter(&self) -> impl Iterator<Item = &PendingRequest> {
        self.by_id.values()
    }

    /// Remembers a request about to go out on `stream`: a fresh id, and room under the
    /// cap of `max`, or nothing changes.
    pub fn remember(
        &mut self,
        message: &Message,
        stream: StreamId,
        max: usize,
    ) -> Result<(), UsageError> {
        let id = message.id().expect("a request has an id");
        if self.by_id.contains_key(id) {
            return Err(UsageError::DuplicateOutstandingRequest(id.clone()));
        }
        if self.by_id.len() >= max {
            return Err(UsageError::TooManyOutstandingRequests(max));
        }
        self.by_id.insert(
            id.clone(),
            PendingRequest {
                id: id.clone(),
                method: message.method().unwrap_or_default().into(),
                stream,
            },
        );
        Ok(())
    }

    /// Pairs the responses and errors of `messages`, in body order, with the requests
    /// they answer; each paired request is no longer outstanding.
    pub fn pair_all(&mut self, messages: &[Message]) -> Vec<Answered> {
        messages
            .iter()
            .filter(|m| m.kind().is_response())
            .map(|m| Answered {
                message: m.clone(),
                request: self.pair(m),
                forwarded_to: None,
            })
            .collect()
    }

    pub fn take(&mut self, id: &RequestId) -> Option<PendingRequest> {
        self.by_id.remove(id)
    }

    /// Pairs a message with the request it answers, if it is a response or error whose
    /// id is outstanding.
    pub fn pair(&mut self, message: &Message) -> Option<PendingRequest> {
        if !message.kind().is_response() {
            return None;
        }
        message.id().and_then(|id| self.take(id))
    }

    /// Forgets every request, in id order (for a deterministic event order).
    pub fn drain(&mut self) -> Vec<PendingRequest> {
        std::mem::take(&mut self.by_id).into_values().collect()
    }

    /// Forgets the requests sent on a stream that ended, in id order.
    pub fn drain_stream(&mut self, stream: StreamId) -> Vec<PendingRequest> {
        // Most streams end with nothing outstanding (and the table empty).
        if self.by_id.is_empty() {
            return Vec::new();
        }
        let ids: Vec<RequestId> = self
            .by_id
            .values()
            .filter(|p| p.stream == stream)
            .map(|p| p.id.clone())
            .collect();
        let mut gone: Vec<_> = ids.iter().filter_map(|id| self.take(id)).collect();
        gone.sort_by(|a, b| a.id.cmp(&b.id));
        gone
    }
}
