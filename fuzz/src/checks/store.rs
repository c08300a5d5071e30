//! An in-memory session store for harnesses: what a real store (Redis) keeps, on a
//! virtual clock, driven by the machines' `StoreAction`s. Shared by the `cluster_sequence`
//! fuzz target and the root crate's `tests/store_seam.rs`, which includes this file with
//! `#[path]`; it depends on nothing but `mcp-http-proto` and `std`.

#![allow(dead_code)] // each includer uses its own part

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use mcp_http_proto::server::{
    SessionRecord, StoreAction, StoreUnavailable, StoredStream, StreamKey,
};
use mcp_http_proto::wire::SessionId;

/// Whether a record has not expired at `now`.
fn alive(now: Instant, (_, until): &(SessionRecord, Option<Instant>)) -> bool {
    until.is_none_or(|t| now < t)
}

/// The store every node of a harness shares: records with their expiry, and the
/// streams' copies. While `down`, every read and write fails.
#[derive(Debug, Default)]
pub struct Store {
    /// The records, with the instant each expires (none without a TTL).
    pub records: HashMap<SessionId, (SessionRecord, Option<Instant>)>,
    /// The streams' copies.
    pub streams: HashMap<StreamKey, StoredStream>,
    /// Every read and write fails while set.
    pub down: bool,
    /// Every session a `Put` created, and every one a `Delete` ended.
    pub created: BTreeSet<SessionId>,
    pub deleted: BTreeSet<SessionId>,
    /// Every record write that reached the store, in order (appends, stream ends and
    /// forwards apart).
    pub writes: Vec<StoreAction>,
    /// How many events were appended to stream copies.
    pub appends: usize,
}

impl Store {
    /// The record of `id`, unless it has expired at `now`.
    pub fn read(
        &self,
        id: &SessionId,
        now: Instant,
    ) -> Result<Option<SessionRecord>, StoreUnavailable> {
        if self.down {
            return Err(StoreUnavailable);
        }
        Ok(self
            .records
            .get(id)
            .filter(|r| alive(now, r))
            .map(|(r, _)| r.clone()))
    }

    /// The copy of stream `key`, with its events after position `after`.
    pub fn read_stream(
        &self,
        key: &StreamKey,
        after: u64,
    ) -> Result<Option<StoredStream>, StoreUnavailable> {
        if self.down {
            return Err(StoreUnavailable);
        }
        Ok(self.streams.get(key).map(|s| StoredStream {
            events: s
                .events
                .iter()
                .filter(|(q, _)| *q > after)
                .cloned()
                .collect(),
            ..s.clone()
        }))
    }

    /// Performs one write at `now`. What has expired is gone first, whatever comes
    /// after. Panics on an append that repeats a position or mixes sessions on one
    /// stream, and on an action this store does not know.
    pub fn write(&mut self, action: &StoreAction, now: Instant) -> Result<(), StoreUnavailable> {
        if self.down {
            return Err(StoreUnavailable);
        }
        self.records.retain(|_, r| alive(now, r));
        match action {
            StoreAction::Put { record, ttl } => {
                self.created.insert(record.id.clone());
                let until = ttl.map(|t| now + t);
                self.records
                    .insert(record.id.clone(), (record.clone(), until));
            }
            StoreAction::Update { id, change, ttl } => {
                if let Some((r, until)) = self.records.get_mut(id) {
                    r.apply(change);
                    *until = ttl.map(|t| now + t);
                }
            }
            StoreAction::Touch { id, ttl } => {
                if let Some((_, until)) = self.records.get_mut(id) {
                    *until = Some(now + *ttl);
                }
            }
            StoreAction::Delete { id } => {
                self.deleted.insert(id.clone());
                self.records.remove(id);
                self.streams.retain(|_, s| s.session != *id);
            }
            StoreAction::Append {
                session,
                stream,
                seq,
                frame,
            } => {
                let copy = self
                    .streams
                    .entry(stream.clone())
                    .or_insert_with(|| StoredStream {
                        session: session.clone(),
                        next_seq: 0,
                        events: Vec::new(),
                        ended: false,
                    });
                assert!(
                    *seq >= copy.next_seq,
                    "{stream}: position {seq} appended after {}: an event twice",
                    copy.next_seq
                );
                assert_eq!(&copy.session, session, "a stream of one session");
                copy.events.push((*seq, frame.clone()));
                copy.next_seq = seq + 1;
                self.appends += 1;
                return Ok(());
            }
            StoreAction::EndStream { stream, .. } => {
                if let Some(copy) = self.streams.get_mut(stream) {
                    copy.ended = true;
                }
                return Ok(());
            }
            StoreAction::Forward { .. } => return Ok(()),
            other => panic!("an action this store does not know: {other:?}"),
        }
        self.writes.push(action.clone());
        Ok(())
    }
}
