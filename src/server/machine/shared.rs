//! The store seam's wiring (see `store.rs`): parked requests resumed with the record the
//! driver read, writes through to the store, and what other nodes tell this one.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use http::Response;

use super::{Machine, Unconfirmed};
use crate::handle::StreamId;
use crate::server::replay;
use crate::server::sessions::RecordChange;
use crate::server::store::{
    FetchSession, FetchStream, Forwarded, StoreAction, StoreOp, StoreUnavailable, StoredEvents,
    StoredStream, StreamKey, Ticket,
};
use crate::server::streams::{Spill, StreamKind};
use crate::server::{
    AbandonReason, Answered, CloseReason, Delivery, Outcome, ReplyMode, ServerEvent, SessionRecord,
    StreamResumed, UsageError, pipeline,
};
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Message, MessageKind, RequestId};

impl Machine {
    /// A request was accepted for the session at `now`: its idle clock restarts and,
    /// with a store, its TTL is refreshed when a touch interval has passed.
    pub(super) fn activity(&mut self, id: &SessionId, now: Instant) {
        self.sessions.touch(id, now);
        if let Some(ttl) = self.sessions.refresh_due(id, now) {
            self.push_store(
                None,
                StoreAction::Touch {
                    id: id.clone(),
                    ttl,
                },
            );
        }
    }

    /// Queues a write for the driver (with a store; without one, nothing is written),
    /// after the stream events spilled before it.
    pub(super) fn push_store(&mut self, waits: Option<Unconfirmed>, action: StoreAction) {
        if self.config.store.is_none() {
            return;
        }
        self.sync_spills();
        let ticket = waits.map(|w| {
            self.tickets += 1;
            let t = Ticket(self.tickets);
            self.unconfirmed.insert(t, w);
            t
        });
        self.store_ops.push_back(StoreOp { ticket, action });
    }

    fn ttl(&self) -> Option<std::time::Duration> {
        let store = self.config.store.as_ref()?;
        self.config
            .session_idle_timeout?
            .checked_add(store.touch_interval)
    }

    /// A session was minted: its record is written, and the reply on `stream`'s
    /// connection (which carries the id) is held until the write is confirmed.
    pub(super) fn write_through_created(
        &mut self,
        record: SessionRecord,
        stream: StreamId,
        now: Instant,
    ) {
        if self.config.store.is_none() {
            return;
        }
        let connection = self.streams.get(stream).and_then(|s| s.connection());
        if let Some(c) = connection {
            self.connections.hold(c);
        }
        self.sessions.written(&record.id, now);
        self.make_room();
        let ttl = self.ttl();
        let id = record.id.clone();
        self.push_store(
            Some(Unconfirmed::Created { id, connection }),
            StoreAction::Put { record, ttl },
        );
    }

    /// A session's record changed: the change is written through. `initialized` is
    /// confirmed (the 202 waits for it); a standalone stream's key is not (it only
    /// routes messages). The write carries the TTL, so a touch of the same input is not
    /// needed.
    pub(super) fn write_through_change(&mut self, id: &SessionId, change: RecordChange) {
        if self.config.store.is_none() {
            return;
        }
        self.sync_spills();
        let touch_of_it = matches!(
            self.store_ops.back(),
            Some(StoreOp { action: StoreAction::Touch { id: t, .. }, .. }) if t == id
        );
        if touch_of_it {
            self.store_ops.pop_back();
        }
        let waits = match change {
            RecordChange::Initialized => Some(Unconfirmed::Initialized { id: id.clone() }),
            _ => None,
        };
        let ttl = self.ttl();
        self.push_store(
            waits,
            StoreAction::Update {
                id: id.clone(),
                change,
                ttl,
            },
        );
    }

    /// A session ended here (DELETE, the application): its record is deleted.
    pub(super) fn write_through_delete(&mut self, id: &SessionId) {
        self.push_store(
            Some(Unconfirmed::Deleted { id: id.clone() }),
            StoreAction::Delete { id: id.clone() },
        );
    }

    /// Takes a session out of this node's memory without ending it: it stays in the
    /// store, and a later request fetches it again.
    pub(super) fn evict_session(&mut self, id: &SessionId) {
        if self.teardown(id, AbandonReason::Evicted) {
            self.events_out
                .push_back(ServerEvent::SessionEvicted { id: id.clone() });
        }
    }

    /// Evicts every idle session (no open stream here): a driver that may have missed
    /// other nodes' changes (its subscription to them dropped) starts over from the store.
    pub(in crate::server) fn evict_idle_sessions(&mut self) -> usize {
        if self.config.store.is_none() {
            return 0; // the only copy: nothing to evict to
        }
        let mut n = 0;
        while let Some(id) = self.sessions.longest_idle().cloned() {
            self.evict_session(&id);
            n += 1;
        }
        n
    }

    /// Brings a table over its cap back to it by evicting the sessions idle the longest,
    /// as far as there are idle ones (busy sessions count against the cap at step 11).
    pub(super) fn make_room(&mut self) {
        let Some(cap) = self.config.max_sessions else {
            return;
        };
        while self.sessions.len() > cap {
            let Some(id) = self.sessions.longest_idle().cloned() else {
                return;
            };
            self.evict_session(&id);
        }
    }

    /// Moves the events and ends the streams spilled into the queue of writes.
    fn sync_spills(&mut self) {
        self.sync_spills_but(None);
    }

    /// [`sync_spills`](Self::sync_spills), leaving out what session `skip` spilled (its
    /// record and streams are gone from the store already).
    fn sync_spills_but(&mut self, skip: Option<&SessionId>) {
        for spill in self.streams.take_spilled() {
            let of = match &spill {
                Spill::Event { session, .. } | Spill::End { session, .. } => session,
            };
            if Some(of) == skip {
                continue;
            }
            let action = match spill {
                Spill::Event {
                    session,
                    stream,
                    seq,
                    frame,
                } => StoreAction::Append {
                    session,
                    stream,
                    seq,
                    frame,
                },
                Spill::End { session, stream } => StoreAction::EndStream { session, stream },
            };
            self.store_ops.push_back(StoreOp {
                ticket: None,
                action,
            });
        }
    }

    pub(in crate::server) fn poll_store(&mut self) -> Option<StoreOp> {
        self.sync_spills();
        self.store_ops.pop_front()
    }

    pub(in crate::server) fn resume_fetched(
        &mut self,
        fetch: FetchSession,
        record: Result<Option<SessionRecord>, StoreUnavailable>,
        now: Instant,
    ) -> Result<Outcome, UsageError> {
        let FetchSession { session, request } = fetch;
        let (head, body) = request.into_parts();
        let record = match record {
            Err(StoreUnavailable) => {
                return Ok(Outcome::Reject(pipeline::store_unavailable(&self.config)));
            }
            Ok(record) => record,
        };
        if let Some(r) = &record {
            if r.id != session {
                return Err(UsageError::FetchedAnotherSession);
            }
            let v = r.protocol_version;
            if !(v.has_initialize() && self.config.supports(v)) {
                return Err(UsageError::UnsupportedNegotiatedVersion(v.to_string()));
            }
        }
        // Another request of the session restored it meanwhile: it is served as held.
        if self.sessions.is_live(&session, Some(now)) {
            return Ok(self.check_and_accept(head, body, None, now));
        }
        // A copy past its time here is stale: the store's record replaces it.
        if self.sessions.contains(&session) {
            self.evict_session(&session);
        }
        let Some(record) = record else {
            // `SRV-SESS-7`: no node holds it; the answer step 8 gives an unknown id.
            return Ok(Outcome::Reject(pipeline::unknown_session(&self.config)));
        };
        if pipeline::session_cap_reached(self.view()) {
            return Ok(Outcome::Reject(pipeline::session_cap(&self.config)));
        }
        self.sessions.insert(record, None, now);
        let outcome = self.check_and_accept(head, body, Some(&session), now);
        if !matches!(outcome, Outcome::Reject(_)) {
            self.make_room();
        }
        self.settle_overflow(now);
        Ok(outcome)
    }

    pub(in crate::server) fn store_done(
        &mut self,
        ticket: Ticket,
        result: Result<(), StoreUnavailable>,
    ) -> Result<Option<Response<Bytes>>, UsageError> {
        let waiting = self
            .unconfirmed
            .remove(&ticket)
            .ok_or(UsageError::UnknownTicket)?;
        let failed = || pipeline::store_unavailable(&self.config).response;
        Ok(match (waiting, result) {
            (Unconfirmed::Created { connection, .. }, Ok(())) => {
                if let Some(c) = connection {
                    self.connections.release(c);
                }
                None
            }
            (Unconfirmed::Created { id, connection }, Err(StoreUnavailable)) => {
                // Nothing of the session got out: the held reply becomes a 503 and the
                // session is gone here too.
                if let Some(c) = connection {
                    let response = failed();
                    self.connections.replace(c, response);
                }
                if self.teardown(&id, AbandonReason::SessionClosed) {
                    self.events_out.push_back(ServerEvent::SessionClosed {
                        id,
                        reason: CloseReason::StoreFailed,
                    });
                }
                None
            }
            (Unconfirmed::Initialized { .. }, Ok(())) => None,
            (Unconfirmed::Initialized { id }, Err(StoreUnavailable)) => {
                self.sessions.unmark_initialized(&id);
                Some(failed())
            }
            (Unconfirmed::Deleted { id }, Ok(())) => {
                // A request that landed meanwhile may have fetched the record back
                // before the delete reached the store: that copy goes too.
                if self.teardown(&id, AbandonReason::SessionClosed) {
                    self.events_out.push_back(ServerEvent::SessionClosed {
                        id,
                        reason: CloseReason::Deleted,
                    });
                }
                None
            }
            // The record is still in the store: the session lives on (fetched again by
            // the next request), and the client is told to retry its DELETE.
            (Unconfirmed::Deleted { .. }, Err(StoreUnavailable)) => Some(failed()),
        })
    }

    pub(in crate::server) fn forget_session(&mut self, id: &SessionId) -> bool {
        self.sync_spills();
        if !self.teardown(id, AbandonReason::SessionClosed) {
            return false;
        }
        // The ends of its streams: the store deleted them with the session.
        self.sync_spills_but(Some(id));
        self.events_out.push_back(ServerEvent::SessionClosed {
            id: id.clone(),
            reason: CloseReason::EndedElsewhere,
        });
        true
    }

    pub(in crate::server) fn refresh_session(
        &mut self,
        id: &SessionId,
        change: &RecordChange,
        now: Instant,
    ) -> bool {
        let Some(record) = self.sessions.change(id, change) else {
            return false;
        };
        // A standalone stream opened on another node: the one here is superseded (one
        // per session, the newest wins, as a reconnecting client expects).
        let theirs = record.standalone.clone();
        let mine = self.sessions.get(id).and_then(|e| e.standalone());
        if let (Some(theirs), Some(mine)) = (theirs, mine) {
            if theirs != self.events.stream_key(mine.0) {
                self.close_stream(mine, Some(now));
            }
        }
        true
    }

    /// Answers in an accepted POST to requests another node sent go to that node.
    pub(super) fn forward_answers(
        &mut self,
        session: Option<&SessionId>,
        answers: &mut [Answered],
    ) {
        let (Some(store), Some(session)) = (&self.config.store, session) else {
            return;
        };
        let me = store.node_id.clone();
        for answer in answers.iter_mut().filter(|a| a.request.is_none()) {
            let Some(RequestId::String(id)) = answer.message.id() else {
                continue;
            };
            let Some(node) = replay::request_node(id, self.events.prefix()) else {
                continue;
            };
            if node == me {
                continue; // an earlier run of this node: the request is gone
            }
            let payload = forward_payload(session, "answer", None, answer.message.json());
            answer.forwarded_to = Some(node.clone());
            self.push_store(
                None,
                StoreAction::Forward {
                    session: session.clone(),
                    node,
                    payload,
                },
            );
        }
    }

    pub(in crate::server) fn handle_forwarded(
        &mut self,
        payload: &[u8],
        now: Instant,
    ) -> Result<Forwarded, UsageError> {
        let f: Forward<'_> =
            serde_json::from_slice(payload).map_err(|_| UsageError::InvalidForward)?;
        let session = SessionId::new(&f.session).map_err(|_| UsageError::InvalidForward)?;
        let message = Message::parse(Bytes::copy_from_slice(f.message.get().as_bytes()))
            .map_err(|_| UsageError::InvalidForward)?;
        match (f.kind.as_ref(), f.stream.as_deref()) {
            ("answer", None) => {
                if !message.kind().is_response() {
                    return Err(UsageError::InvalidForward);
                }
                let Some(table) = self.sessions.outstanding_mut(&session) else {
                    return Ok(Forwarded::Undeliverable);
                };
                let request = table.pair(&message);
                Ok(Forwarded::Answer(Answered {
                    message,
                    request,
                    forwarded_to: None,
                }))
            }
            ("message", Some(key)) => {
                let mine = self.sessions.get(&session).and_then(|e| e.standalone());
                match mine.filter(|s| self.events.stream_key(s.0).as_str() == key) {
                    Some(stream) => match self.send(stream, message.json().clone(), now) {
                        Ok(()) => Ok(Forwarded::Delivered(stream)),
                        Err(_) => Ok(Forwarded::Undeliverable),
                    },
                    None => Ok(Forwarded::Undeliverable),
                }
            }
            _ => Err(UsageError::InvalidForward),
        }
    }

    pub(in crate::server) fn notify(
        &mut self,
        session: &SessionId,
        message: Bytes,
        now: Instant,
    ) -> Result<Delivery, UsageError> {
        let Some(entry) = self.sessions.get(session) else {
            return Err(UsageError::SessionNotHeld);
        };
        if let Some(stream) = entry.standalone() {
            self.send(stream, message, now)?;
            return Ok(Delivery::Sent(stream));
        }
        let elsewhere = entry
            .record()
            .standalone
            .clone()
            .filter(|_| self.config.store.is_some());
        let Some(key) = elsewhere else {
            return Ok(Delivery::NoStream);
        };
        let Some(node) = key.node() else {
            return Ok(Delivery::NoStream);
        };
        // Only a message that the stream could carry is forwarded.
        let parsed = Message::parse(message).map_err(UsageError::InvalidMessage)?;
        if parsed.kind().is_response() {
            return Err(UsageError::ResponseOnStandaloneStream);
        }
        if parsed.kind() == MessageKind::Request {
            // The remote node would have to remember it: send requests on a stream here.
            return Err(UsageError::RequestOnRemoteStream);
        }
        let payload = forward_payload(session, "message", Some(key.as_str()), parsed.json());
        self.push_store(
            None,
            StoreAction::Forward {
                session: session.clone(),
                node: node.clone(),
                payload,
            },
        );
        Ok(Delivery::Forwarded(node))
    }

    pub(in crate::server) fn resume_stream(
        &mut self,
        fetch: FetchStream,
        stored: Result<Option<StoredStream>, StoreUnavailable>,
        now: Instant,
    ) -> Result<Outcome, UsageError> {
        let FetchStream {
            session,
            stream: key,
            after,
            request,
        } = fetch;
        let stored = match stored {
            Err(StoreUnavailable) => {
                return Ok(Outcome::Reject(pipeline::store_unavailable(&self.config)));
            }
            Ok(stored) => stored,
        };
        if !self.sessions.is_live(&session, Some(now)) {
            // The session left meanwhile: the request goes through the checks again.
            let (head, body) = request.into_parts();
            return Ok(self.check_and_accept(head, body, None, now));
        }
        // `SRV-RES-6`: only a stream of this very session, at a position it reached.
        let Some(stored) = stored.filter(|s| s.session == session && after < s.next_seq) else {
            return Ok(Outcome::Reject(pipeline::unknown_event_id(&self.config)));
        };
        if let Some(cap) = self.config.max_streams_per_session {
            if self.sessions.open_streams(&session) >= cap {
                return Ok(Outcome::Reject(pipeline::too_many(&self.config, cap)));
            }
        }
        self.activity(&session, now);
        let (stream, connection) = self.streams.open(
            Some(session.clone()),
            ReplyMode::Sse,
            StreamKind::Relay {
                key: key.clone(),
                next_seq: after + 1,
            },
            &mut self.connections,
        );
        self.sessions.stream_busy(&session, stream);
        self.streams.emit_head(stream, &mut self.connections);
        // What the store no longer keeps of what followed `after`.
        let first = stored
            .events
            .first()
            .map_or(stored.next_seq, |(seq, _)| *seq);
        let missed = first.saturating_sub(after + 1);
        let replayed =
            self.streams
                .relay(stream, &stored.events, stored.ended, &mut self.connections);
        if stored.ended {
            self.close_stream(stream, Some(now));
        }
        self.settle_overflow(now);
        Ok(Outcome::StreamResumed(StreamResumed {
            stream,
            connection,
            session,
            replayed,
            missed,
            relayed_from: (!stored.ended).then_some(key),
        }))
    }

    pub(in crate::server) fn relay(
        &mut self,
        stream: StreamId,
        more: StoredEvents,
        now: Instant,
    ) -> Result<usize, UsageError> {
        let s = self.stream_ref(stream)?;
        if !s.is_relay() {
            return Err(UsageError::NotARelayStream(stream));
        }
        let sent = self
            .streams
            .relay(stream, &more.events, more.ended, &mut self.connections);
        if more.ended {
            self.close_stream(stream, Some(now));
        }
        self.settle_overflow(now);
        Ok(sent)
    }

    pub(in crate::server) fn relay_next(&self, stream: StreamId) -> Option<(&StreamKey, u64)> {
        match self.streams.get(stream)?.kind() {
            StreamKind::Relay { key, next_seq } => Some((key, *next_seq)),
            _ => None,
        }
    }
}

/// A forwarded payload as written: `{"session":..,"kind":..,"stream":..,"message":..}`.
fn forward_payload(session: &SessionId, kind: &str, stream: Option<&str>, message: &[u8]) -> Bytes {
    // The message is one the machine parsed or built: valid JSON.
    let message: &serde_json::value::RawValue =
        serde_json::from_slice(message).expect("a forwarded message is JSON");
    let payload = Forward {
        session: Cow::Borrowed(session.as_str()),
        kind: Cow::Borrowed(kind),
        stream: stream.map(Cow::Borrowed),
        message,
    };
    Bytes::from(serde_json::to_vec(&payload).expect("a forward payload serializes"))
}

/// A forwarded payload, written and read with the one shape: the session, what it
/// carries (`answer` or `message`), the stream for a message, and the message itself.
#[derive(serde::Serialize, serde::Deserialize)]
struct Forward<'a> {
    #[serde(borrow)]
    session: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(
        borrow,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::wire::jsonrpc::opt_cow"
    )]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: &'a serde_json::value::RawValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload reads back as written, with a session id JSON must escape (visible
    /// ASCII allows `"` and `\`) and with or without a stream.
    #[test]
    fn a_forward_payload_reads_back_as_written() {
        let session = SessionId::new(r#"a"b\c"#).expect("visible ASCII");
        let message = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"x":[1]}}"#;
        for stream in [Some("n1.abcd-3"), None] {
            let bytes = forward_payload(&session, "message", stream, message);
            let f: Forward<'_> = serde_json::from_slice(&bytes).expect("reads back");
            assert_eq!(f.session, session.as_str());
            assert_eq!(f.kind, "message");
            assert_eq!(f.stream.as_deref(), stream);
            assert_eq!(f.message.get().as_bytes(), message);
        }
    }
}
