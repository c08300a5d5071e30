//! The store seam's wiring (see `store.rs`): parked requests resumed with the record the
//! driver read, writes through to the store, and what other nodes tell this one.

use std::time::Instant;

use bytes::Bytes;
use http::Response;

use super::{Machine, Unconfirmed};
use crate::handle::StreamId;
use crate::server::store::{FetchSession, StoreAction, StoreOp, StoreUnavailable, Ticket};
use crate::server::{
    AbandonReason, CloseReason, Outcome, ServerEvent, SessionRecord, UsageError, pipeline,
};
use crate::wire::SessionId;

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

    /// Queues a write for the driver (with a store; without one, nothing is written).
    pub(super) fn push_store(&mut self, waits: Option<Unconfirmed>, action: StoreAction) {
        if self.config.store.is_none() {
            return;
        }
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

    /// A session's record changed (`initialized`): it is written through. The write
    /// carries the TTL, so a touch of the same input is not needed.
    pub(super) fn write_through_update(&mut self, record: &SessionRecord) {
        let touch_of_it = matches!(
            self.store_ops.back(),
            Some(StoreOp { action: StoreAction::Touch { id, .. }, .. }) if *id == record.id
        );
        if touch_of_it {
            self.store_ops.pop_back();
        }
        let ttl = self.ttl();
        self.push_store(
            Some(Unconfirmed::Initialized {
                id: record.id.clone(),
            }),
            StoreAction::Put {
                record: record.clone(),
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

    pub(in crate::server) fn poll_store(&mut self) -> Option<StoreOp> {
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
        self.sessions.insert(record, self.events, None, now);
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
        if !self.teardown(id, AbandonReason::SessionClosed) {
            return false;
        }
        self.events_out.push_back(ServerEvent::SessionClosed {
            id: id.clone(),
            reason: CloseReason::EndedElsewhere,
        });
        true
    }

    pub(in crate::server) fn refresh_session(&mut self, record: SessionRecord) -> bool {
        self.sessions.set_record(record)
    }
}
