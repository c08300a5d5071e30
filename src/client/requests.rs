//! The requests awaiting their response: each resolves at most once, by a response or a
//! failure (`INV-C11`), and is re-sent at most once after a 404 (`INV-C4`).
//!
//! ```text
//!   send ──▶ awaiting ──response──▶ resolved (ClientEvent::Response)
//!               │  └──failure─────▶ resolved (ClientEvent::RequestFailed)
//!               └──404, auto_reinitialize, not yet re-sent──▶ awaiting (re-sent once)
//! ```
//!
//! The logical SSE stream a request waits on is recorded here, and only here: a stream's
//! waiting requests are the awaited ones that name it.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::event::{ClientEvent, RequestFailure};
use super::reconnect::StreamKey;
use crate::wire::jsonrpc::RequestId;

/// A message the application asked to send, with the ids of its requests.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub body: Bytes,
    pub requests: Vec<RequestId>,
}

/// A request awaiting its response.
#[derive(Debug)]
struct Pending {
    /// The request alone, for a re-send after re-initialization.
    json: Bytes,
    /// Whether it was already re-sent once.
    resent: bool,
    /// The logical stream its answer is expected on. Stream keys are never reused, so
    /// the key of a dropped stream names nothing.
    stream: Option<StreamKey>,
}

/// The awaited requests, by id.
#[derive(Debug, Default)]
pub(super) struct Requests {
    table: BTreeMap<RequestId, Pending>,
}

impl Requests {
    /// How many requests await their response.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether `id` awaits its response.
    pub fn contains(&self, id: &RequestId) -> bool {
        self.table.contains_key(id)
    }

    /// Awaits the response to `id`, whose request alone is `json`.
    pub fn insert(&mut self, id: RequestId, json: Bytes) {
        let pending = Pending {
            json,
            resent: false,
            stream: None,
        };
        self.table.insert(id, pending);
    }

    /// The request alone, for a re-send.
    pub fn json(&self, id: &RequestId) -> Option<Bytes> {
        self.table.get(id).map(|p| p.json.clone())
    }

    /// The response to `id` arrived: whether it was awaited (`INV-C11`).
    pub fn resolve(&mut self, id: &RequestId) -> bool {
        self.table.remove(id).is_some()
    }

    /// Resolves `id` with a failure, at most once.
    pub fn fail(
        &mut self,
        id: &RequestId,
        reason: RequestFailure,
        events: &mut VecDeque<ClientEvent>,
    ) {
        if self.resolve(id) {
            events.push_back(ClientEvent::RequestFailed {
                id: id.clone(),
                reason,
            });
        }
    }

    /// Fails each of `ids` still awaited.
    pub fn fail_each(
        &mut self,
        ids: &[RequestId],
        reason: &RequestFailure,
        events: &mut VecDeque<ClientEvent>,
    ) {
        for id in ids {
            self.fail(id, reason.clone(), events);
        }
    }

    /// Fails every awaited request, in id order.
    pub fn fail_all(&mut self, reason: &RequestFailure, events: &mut VecDeque<ClientEvent>) {
        let ids: Vec<RequestId> = self.table.keys().cloned().collect();
        self.fail_each(&ids, reason, events);
    }

    /// The ones of `ids` still awaited.
    pub fn awaited(&self, ids: &[RequestId]) -> Vec<RequestId> {
        ids.iter().filter(|id| self.contains(id)).cloned().collect()
    }

    /// The ones of `ids` still awaited now wait on the logical stream `key`.
    pub fn wait_on(&mut self, ids: &[RequestId], key: StreamKey) {
        for id in ids {
            if let Some(p) = self.table.get_mut(id) {
                p.stream = Some(key);
            }
        }
    }

    /// Whether a request still waits on the logical stream `key` (`INV-C15`).
    pub fn waiting_on(&self, key: StreamKey) -> bool {
        self.table.values().any(|p| p.stream == Some(key))
    }

    /// Fails, in id order, every request waiting on the logical stream `key`.
    pub fn fail_stream(
        &mut self,
        key: StreamKey,
        reason: &RequestFailure,
        events: &mut VecDeque<ClientEvent>,
    ) {
        let ids: Vec<RequestId> = self
            .table
            .iter()
            .filter(|(_, p)| p.stream == Some(key))
            .map(|(id, _)| id.clone())
            .collect();
        self.fail_each(&ids, reason, events);
    }

    /// After a 404 (`INV-C4`): the requests that were sent (all but those in `held`) go
    /// again once; one that was already re-sent fails with
    /// [`RequestFailure::SessionExpired`]. Returns the ones to re-send, in id order.
    pub fn resend(
        &mut self,
        held: &[RequestId],
        events: &mut VecDeque<ClientEvent>,
    ) -> Vec<RequestId> {
        let ids: Vec<RequestId> = self
            .table
            .keys()
            .filter(|id| !held.contains(id))
            .cloned()
            .collect();
        let mut again = Vec::new();
        for id in ids {
            let p = self.table.get_mut(&id).expect("listed");
            if p.resent {
                self.fail(&id, RequestFailure::SessionExpired, events);
            } else {
                p.resent = true;
                again.push(id);
            }
        }
        again
    }
}
