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
    /// Its method.
    method: String,
    /// Whether it was already re-sent once.
    resent: bool,
    /// The id it went out with last, when it was re-issued under a new one (2026-07-28,
    /// `N26-19`); only that id's response resolves it.
    wire: Option<RequestId>,
    /// How many times it was re-issued.
    reissued: u32,
    /// The logical stream its answer is expected on. Stream keys are never reused, so
    /// the key of a dropped stream names nothing.
    stream: Option<StreamKey>,
}

/// The awaited requests, by the application's id, and the ids re-issued requests went
/// out with.
#[derive(Debug, Default)]
pub(super) struct Requests {
    table: BTreeMap<RequestId, Pending>,
    /// Wire id → the application's id, for re-issued requests.
    aliases: BTreeMap<RequestId, RequestId>,
    next_alias: u64,
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
    pub fn insert(&mut self, id: RequestId, json: Bytes, method: &str) {
        let pending = Pending {
            json,
            method: method.to_owned(),
            resent: false,
            wire: None,
            reissued: 0,
            stream: None,
        };
        self.table.insert(id, pending);
    }

    /// The id the awaited request `id` last went out with.
    pub fn wire_id(&self, id: &RequestId) -> RequestId {
        self.table
            .get(id)
            .and_then(|p| p.wire.clone())
            .unwrap_or_else(|| id.clone())
    }

    /// The method of the awaited request `id`.
    pub fn method(&self, id: &RequestId) -> Option<&str> {
        self.table.get(id).map(|p| p.method.as_str())
    }

    /// The application's id of the awaited request a response with `wire` answers: its
    /// own id, or the new id it was re-issued under (`N26-19`).
    pub fn app_id(&self, wire: &RequestId) -> Option<RequestId> {
        if let Some(app) = self.aliases.get(wire) {
            return Some(app.clone());
        }
        self.table
            .get(wire)
            .filter(|p| p.wire.is_none())
            .map(|_| wire.clone())
    }

    /// Re-issues `id` under a new id, while it was re-issued fewer than `limit` times
    /// (`N26-19`, `SRV-RES-9`): the new id, and the request carrying it.
    pub fn reissue(&mut self, id: &RequestId, limit: u32) -> Option<(RequestId, Bytes)> {
        let p = self.table.get(id)?;
        if p.reissued >= limit {
            return None;
        }
        let mut v: serde_json::Value = serde_json::from_slice(&p.json).ok()?;
        let wire = loop {
            self.next_alias += 1;
            let w = RequestId::String(format!("{id}~reissue-{}", self.next_alias).into());
            if !self.table.contains_key(&w) && !self.aliases.contains_key(&w) {
                break w;
            }
        };
        v.as_object_mut()?
            .insert("id".into(), serde_json::json!(wire));
        let json = Bytes::from(serde_json::to_vec(&v).ok()?);
        let p = self.table.get_mut(id).expect("present");
        if let Some(old) = p.wire.replace(wire.clone()) {
            self.aliases.remove(&old);
        }
        p.reissued += 1;
        self.aliases.insert(wire.clone(), id.clone());
        Some((wire, json))
    }

    /// The request alone, for a re-send.
    pub fn json(&self, id: &RequestId) -> Option<Bytes> {
        self.table.get(id).map(|p| p.json.clone())
    }

    /// The response to `id` arrived: whether it was awaited (`INV-C11`).
    pub fn resolve(&mut self, id: &RequestId) -> bool {
        match self.table.remove(id) {
            Some(p) => {
                if let Some(w) = p.wire {
                    self.aliases.remove(&w);
                }
                true
            }
            None => false,
        }
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
