//! The session table: every live session and everything that belongs to it.
//!
//! ```text
//!   initialize ──(app answers with a successful InitializeResult)──▶ Live
//!   Live ──notifications/initialized──▶ Live, initialized (SessionUpdated)
//!   Live ──(DELETE | idle timeout | Server::terminate_session)──▶ gone: every later
//!                                                  request with its id gets 404
//! ```
//!
//! One [`Session`] entry holds all of a session's state: its serializable
//! [`SessionRecord`], its idle clock, the streams that keep it busy, its standalone
//! stream, the finished streams it keeps for replay, and the server-to-client requests
//! awaiting the client's answer. The table
//! changes an entry only through its own methods, each of which keeps the idle deadline
//! index right; no caller holds a `&mut Session`.
//!
//! A session is idle while it has no open stream; its deadline is the last activity plus
//! the idle timeout. Deadlines sit in an ordered index, so `poll_timeout` is a lookup of
//! the first entry, with no allocation and no scan.

use std::collections::{BTreeMap, VecDeque};

use crate::fasthash::FastMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::outstanding::Outstanding;
use super::store::StreamKey;
use crate::entropy::Entropy;
use crate::handle::StreamId;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;

/// A live session as the checks see it, read in one lookup.
#[derive(Debug, Clone)]
pub(crate) struct LiveSession {
    /// The table's id (shared).
    pub id: SessionId,
    /// The version negotiated in `initialize`.
    pub version: ProtocolVersion,
    /// Its open streams (the step 11 cap).
    pub open_streams: usize,
}

/// What a session is, as plain data: a host may keep it in an external store and give it
/// back with [`Server::restore_session`](super::Server::restore_session), so a session
/// can move between processes. Every change to it is a [`ServerEvent`](super::ServerEvent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id.
    pub id: SessionId,
    /// The version negotiated in `initialize`.
    pub protocol_version: ProtocolVersion,
    /// Whether `notifications/initialized` has arrived (`LIFE-5`, `INV-S16`).
    pub initialized: bool,
    /// With a shared store: the session's standalone stream, as last opened on any node
    /// (it may have ended since). Server-initiated messages for the session go to the
    /// node it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<StreamKey>,
}

impl SessionRecord {
    /// A new session's record: not initialized, no standalone stream.
    pub fn new(id: SessionId, protocol_version: ProtocolVersion) -> Self {
        Self {
            id,
            protocol_version,
            initialized: false,
            standalone: None,
        }
    }

    /// The record with `change` made.
    pub fn apply(&mut self, change: &RecordChange) {
        match change {
            RecordChange::Initialized => self.initialized = true,
            RecordChange::Standalone(key) => self.standalone = Some(key.clone()),
        }
    }
}

/// One change to a session's record, written field by field so that nodes changing
/// different fields at once lose neither (a whole-record write could undo another
/// node's `initialized`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecordChange {
    /// `notifications/initialized` arrived.
    Initialized,
    /// A standalone stream opened: it is now the session's.
    Standalone(StreamKey),
}

/// No slot: the end of the idle list, or a session not on it.
const NIL: u32 = u32::MAX;
/// `prev` of a session that is not on the idle list.
const UNLINKED: u32 = u32::MAX - 1;

/// One live session. Kept small, since an idle session is all most sessions are: what it
/// holds only while it has streams is boxed, and its place among the idle sessions is two
/// slot numbers (the table keeps them in an intrusive list, oldest first).
#[derive(Debug)]
pub(super) struct Session {
    record: SessionRecord,
    last_activity: Instant,
    /// The idle list's links (slots), `prev == UNLINKED` when not on it.
    prev: u32,
    next: u32,
    /// Its streams, while it has any.
    streams: Option<Box<Held>>,
    /// Server-to-client requests awaiting the client's answer (no heap while empty).
    outstanding: Outstanding,
    /// With a shared store: when this node last refreshed the record's TTL.
    shared: Option<Box<Shared>>,
}

/// The streams of a session.
#[derive(Debug, Default)]
struct Held {
    /// Streams that keep the session from being idle: open POST streams and the attached
    /// standalone stream.
    busy: Vec<StreamId>,
    /// The open standalone stream, attached or not.
    standalone: Option<StreamId>,
    /// Finished streams kept for replay, oldest first.
    retained: VecDeque<StreamId>,
}

impl Held {
    fn is_empty(&self) -> bool {
        self.busy.is_empty() && self.standalone.is_none() && self.retained.is_empty()
    }
}

/// What a session needs with a shared store (boxed: a local-only server pays one pointer).
#[derive(Debug, Default)]
struct Shared {
    /// When this node last wrote the record or refreshed its TTL (`None`: never, as for
    /// a session fetched from the store).
    touched: Option<Instant>,
    /// The key of this session's heartbeat in the touch index, while it is busy here.
    touch_at: Option<Instant>,
}

/// The store's timing, for a server whose sessions live in a shared store.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoreTimes {
    /// The least time between two refreshes of one session's TTL.
    pub touch_interval: Duration,
    /// The TTL every write carries (`None`: sessions never expire).
    pub ttl: Option<Duration>,
}

impl Session {
    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    pub fn version(&self) -> ProtocolVersion {
        self.record.protocol_version
    }

    pub fn standalone(&self) -> Option<StreamId> {
        self.streams.as_ref().and_then(|h| h.standalone)
    }

    pub fn outstanding(&self) -> &Outstanding {
        &self.outstanding
    }

    fn busy(&self) -> &[StreamId] {
        self.streams.as_ref().map_or(&[], |h| &h.busy)
    }

    fn is_linked(&self) -> bool {
        self.prev != UNLINKED
    }

    /// Its streams, made when it has none.
    fn held(&mut self) -> &mut Held {
        self.streams.get_or_insert_with(Box::default)
    }

    /// Lets go of the streams' box once nothing is in it.
    fn tidy(&mut self) {
        if self.streams.as_ref().is_some_and(|h| h.is_empty()) {
            self.streams = None;
        }
    }
}

/// The session table: a slab of sessions, an index from id to slot, and the idle
/// sessions in an intrusive list by last activity (so their deadlines, which are the last
/// activity plus one idle timeout, are in order: the first is the next to expire).
#[derive(Debug, Default)]
pub(super) struct Sessions {
    index: FastMap<SessionId, u32>,
    slab: Vec<Option<Session>>,
    free: Vec<u32>,
    /// The idle list: oldest and newest slot, and its length.
    idle_head: u32,
    idle_tail: u32,
    idle_len: usize,
    /// With a store: busy sessions by the time of their next TTL refresh.
    touches: BTreeMap<(Instant, u32), SessionId>,
    /// How long a session stays here once idle: the idle timeout, or with a store the
    /// time it stays cached.
    idle_timeout: Option<Duration>,
    store: Option<StoreTimes>,
    /// Session ids minted so far.
    minted: u64,
}

impl Sessions {
    /// A table whose idle sessions leave it after `idle_timeout`; with `store`, a cache
    /// of the shared store whose TTLs it keeps fresh.
    pub fn new(idle_timeout: Option<Duration>, store: Option<StoreTimes>) -> Self {
        Self {
            idle_timeout,
            store,
            idle_head: NIL,
            idle_tail: NIL,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    fn slot(&self, id: &SessionId) -> Option<u32> {
        self.index.get(id).copied()
    }

    fn at(&self, slot: u32) -> &Session {
        self.slab[slot as usize].as_ref().expect("a live slot")
    }

    fn at_mut(&mut self, slot: u32) -> &mut Session {
        self.slab[slot as usize].as_mut().expect("a live slot")
    }

    pub fn get(&self, id: &SessionId) -> Option<&Session> {
        self.slot(id).map(|s| self.at(s))
    }

    pub fn contains(&self, id: &SessionId) -> bool {
        self.index.contains_key(id)
    }

    /// When an idle session expires (or leaves the cache): its last activity plus the
    /// idle timeout. `None` for a busy one, or without a timeout.
    fn deadline_of(&self, e: &Session) -> Option<Instant> {
        if !e.is_linked() {
            return None;
        }
        self.idle_timeout
            .and_then(|t| e.last_activity.checked_add(t))
    }

    /// Whether the session is live at `now`: held, and not past its idle deadline. A
    /// session past its deadline is gone for every request even before the driver's
    /// timer calls `handle_timeout`, so a late timer never revives it.
    /// The table's own id of the live session whose id is `text` (a clone shares the
    /// table's allocation), with what the checks read of it, or `None` when no live
    /// session has that id.
    pub fn live_id(&self, text: &str, now: Option<Instant>) -> Option<LiveSession> {
        let e = self.at(*self.index.get(text)?);
        let live = match (self.deadline_of(e), now) {
            (Some(at), Some(now)) => now < at,
            _ => true,
        };
        live.then(|| LiveSession {
            id: e.record.id.clone(),
            version: e.version(),
            open_streams: e.busy().len(),
        })
    }

    pub fn is_live(&self, id: &SessionId, now: Option<Instant>) -> bool {
        match self.get(id) {
            None => false,
            Some(e) => match (self.deadline_of(e), now) {
                (Some(at), Some(now)) => now < at,
                _ => true,
            },
        }
    }

    pub fn records(&self) -> impl Iterator<Item = &SessionRecord> {
        self.slab.iter().flatten().map(|e| &e.record)
    }

    /// Adds a session; its first stream, if any, keeps it busy from the start.
    pub fn insert(&mut self, record: SessionRecord, first: Option<StreamId>, now: Instant) {
        let id = record.id.clone();
        let entry = Session {
            record,
            last_activity: now,
            prev: UNLINKED,
            next: NIL,
            streams: first.map(|s| {
                Box::new(Held {
                    busy: vec![s],
                    ..Held::default()
                })
            }),
            outstanding: Outstanding::default(),
            shared: self.store.map(|_| Box::default()),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.slab.push(Some(entry));
                u32::try_from(self.slab.len() - 1).expect("fewer than 4 billion sessions")
            }
        };
        self.index.insert(id, slot);
        self.reschedule(slot);
    }

    /// 128 random bits as 32 lower-case hex digits: visible ASCII (`SRV-SESS-3`), from
    /// the injected CSPRNG (`SRV-SEC-8`). A mint counter is mixed into the first 8 bytes:
    /// XOR with a counter keeps a uniform draw uniform, and makes ids distinct over the
    /// machine's lifetime (`INV-S1`) even with a degenerate (constant) test source, so the
    /// loop, which only guards against a live collision, always ends.
    pub fn mint_id(&mut self, entropy: &mut dyn Entropy) -> SessionId {
        loop {
            let mut raw = [0u8; 16];
            entropy.fill(&mut raw);
            self.minted += 1;
            for (b, c) in raw.iter_mut().zip(self.minted.to_le_bytes()) {
                *b ^= c;
            }
            let mut hex = String::with_capacity(32);
            for b in raw {
                hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
            }
            let id = SessionId::new(&hex).expect("hex is visible ASCII");
            if !self.contains(&id) {
                return id;
            }
        }
    }

    /// Removes a session and hands back everything it held.
    pub fn remove(&mut self, id: &SessionId) -> Option<Session> {
        let slot = self.index.remove(id)?;
        self.unlink(slot);
        let entry = self.slab[slot as usize].take().expect("a live slot");
        if let Some(at) = entry.shared.as_ref().and_then(|s| s.touch_at) {
            self.touches.remove(&(at, slot));
        }
        self.free.push(slot);
        // A table emptied by removals gives its memory back.
        if self.index.is_empty() {
            self.slab = Vec::new();
            self.free = Vec::new();
        }
        Some(entry)
    }

    /// The streams a removed session held open.
    pub fn streams_of(entry: &Session) -> impl Iterator<Item = StreamId> + '_ {
        let busy = entry.busy();
        busy.iter()
            .copied()
            .chain(entry.standalone().filter(|s| !busy.contains(s)))
    }

    /// How many streams of session `id` are open and keep it busy.
    pub fn open_streams(&self, id: &SessionId) -> usize {
        self.get(id).map_or(0, |e| e.busy().len())
    }

    /// The requests a removed session left unanswered, in id order.
    pub fn outstanding_of(entry: &mut Session) -> Vec<super::PendingRequest> {
        entry.outstanding.drain()
    }

    pub fn retained_of(entry: &Session) -> impl Iterator<Item = StreamId> + '_ {
        entry
            .streams
            .iter()
            .flat_map(|h| h.retained.iter().copied())
    }

    /// Activity at `now` restarts the idle clock, unless the session is already past its
    /// deadline: then it is gone for every request (`SRV-SESS-7`, `INV-S2`), and a late
    /// event (a stream of it closing before the driver's timer ran) must not revive it.
    fn active(&mut self, slot: u32, now: Instant) {
        let overdue = self.deadline_of(self.at(slot)).is_some_and(|at| now >= at);
        if !overdue {
            let e = self.at_mut(slot);
            e.last_activity = e.last_activity.max(now);
        }
    }

    /// Marks activity: a request was accepted for the session.
    pub fn touch(&mut self, id: &SessionId, now: Instant) {
        if let Some(slot) = self.slot(id) {
            self.unlink(slot);
            self.active(slot, now);
            self.reschedule(slot);
        }
    }

    /// With a store: whether this activity at `now` is due to refresh the record's TTL
    /// (never refreshed here, or not for a touch interval); returns the TTL to write and
    /// counts the refresh as done.
    pub fn refresh_due(&mut self, id: &SessionId, now: Instant) -> Option<Duration> {
        let times = self.store?;
        let ttl = times.ttl?;
        let slot = self.slot(id)?;
        let shared = self.at_mut(slot).shared.as_mut()?;
        let due = shared.touched.is_none_or(|at| {
            at.checked_add(times.touch_interval)
                .is_none_or(|t| now >= t)
        });
        if !due {
            return None;
        }
        shared.touched = Some(now);
        self.reschedule(slot);
        Some(ttl)
    }

    /// The record was just written to the store (created): its TTL starts at `now`.
    pub fn written(&mut self, id: &SessionId, now: Instant) {
        self.update(id, |e| {
            if let Some(s) = e.shared.as_mut() {
                s.touched = Some(now);
            }
        });
    }

    /// Removes and returns a busy session whose TTL refresh is due at `now`, counting the
    /// refresh as done, with the TTL to write.
    pub fn pop_touch_due(&mut self, now: Instant) -> Option<(SessionId, Duration)> {
        let ttl = self.store?.ttl?;
        let (&(at, _), _) = self.touches.first_key_value()?;
        if at > now {
            return None;
        }
        let ((_, slot), id) = self.touches.pop_first()?;
        if let Some(s) = self.slab[slot as usize]
            .as_mut()
            .and_then(|e| e.shared.as_mut())
        {
            s.touch_at = None;
            s.touched = Some(now);
        }
        self.reschedule(slot);
        Some((id, ttl))
    }

    /// The earliest TTL refresh due for a busy session.
    pub fn next_touch(&self) -> Option<Instant> {
        self.touches.keys().next().map(|(at, _)| *at)
    }

    /// The idle session that has been idle longest: the one to evict for room.
    pub fn longest_idle(&self) -> Option<&SessionId> {
        (self.idle_head != NIL).then(|| &self.at(self.idle_head).record.id)
    }

    /// How many sessions are idle (no open stream) and indexed for leaving the table.
    pub fn idle_count(&self) -> usize {
        self.idle_len
    }

    /// Makes a change to a held session's record. Returns the record as it now is, when
    /// the session is held.
    pub fn change(&mut self, id: &SessionId, change: &RecordChange) -> Option<&SessionRecord> {
        let slot = self.slot(id)?;
        let e = self.at_mut(slot);
        e.record.apply(change);
        Some(&e.record)
    }

    /// `notifications/initialized` arrived. Returns the record when it changed.
    pub fn mark_initialized(&mut self, id: &SessionId) -> Option<SessionRecord> {
        let slot = self.slot(id)?;
        let e = self.at_mut(slot);
        if e.record.initialized {
            return None;
        }
        e.record.initialized = true;
        Some(e.record.clone())
    }

    /// A write of `initialized` failed at the store: the flag goes back, so that this
    /// node agrees with the store (and the client's next `notifications/initialized`
    /// tries again).
    pub fn unmark_initialized(&mut self, id: &SessionId) {
        if let Some(slot) = self.slot(id) {
            self.at_mut(slot).record.initialized = false;
        }
    }

    /// A stream of the session opened (or was re-attached): the session is busy.
    pub fn stream_busy(&mut self, id: &SessionId, stream: StreamId) {
        self.update(id, |e| {
            let h = e.held();
            if !h.busy.contains(&stream) {
                h.busy.push(stream);
            }
        });
    }

    /// A stream of the session no longer keeps it busy (it ended, or a standalone stream
    /// lost its connection); its idle clock starts at `now` when it was the last.
    pub fn stream_idle(&mut self, id: &SessionId, stream: StreamId, now: Instant) {
        self.stream_released(id, stream, false, now);
    }

    /// A stream of the session ended.
    pub fn stream_ended(&mut self, id: &SessionId, stream: StreamId, now: Instant) {
        self.stream_released(id, stream, true, now);
    }

    /// [`stream_idle`](Self::stream_idle), and when the stream `ended`, it is no longer
    /// the session's standalone stream: one lookup for both.
    fn stream_released(&mut self, id: &SessionId, stream: StreamId, ended: bool, now: Instant) {
        let Some(slot) = self.slot(id) else { return };
        self.unlink(slot);
        if let Some(h) = self.at_mut(slot).streams.as_mut() {
            h.busy.retain(|&s| s != stream);
            if ended && h.standalone == Some(stream) {
                h.standalone = None;
            }
        }
        self.active(slot, now);
        self.at_mut(slot).tidy();
        self.reschedule(slot);
    }

    /// The session's standalone stream is now `stream`.
    pub fn set_standalone(&mut self, id: &SessionId, stream: StreamId) {
        self.update(id, |e| e.held().standalone = Some(stream));
    }

    /// Keeps a finished stream for replay; gives `dropped` the streams pushed out by the
    /// per-session limit, oldest first (the stream itself when the session is gone).
    pub fn retain(
        &mut self,
        id: &SessionId,
        stream: StreamId,
        max: usize,
        mut dropped: impl FnMut(StreamId),
    ) {
        let Some(slot) = self.slot(id) else {
            return dropped(stream);
        };
        let e = self.at_mut(slot);
        let h = e.held();
        h.retained.push_back(stream);
        while h.retained.len() > max {
            if let Some(old) = h.retained.pop_front() {
                dropped(old);
            }
        }
        e.tidy();
    }

    /// A retained stream was dropped (aged out).
    pub fn unretain(&mut self, id: &SessionId, stream: StreamId) {
        self.update(id, |e| {
            if let Some(h) = e.streams.as_mut() {
                h.retained.retain(|&s| s != stream);
            }
        });
    }

    /// The session's outstanding server-to-client requests, to change.
    pub fn outstanding_mut(&mut self, id: &SessionId) -> Option<&mut Outstanding> {
        let slot = self.slot(id)?;
        Some(&mut self.at_mut(slot).outstanding)
    }

    /// The earliest idle deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.idle_head == NIL {
            return None;
        }
        self.deadline_of(self.at(self.idle_head))
    }

    /// Removes and returns the id of a session whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<SessionId> {
        let at = self.next_deadline()?;
        if at > now {
            return None;
        }
        let slot = self.idle_head;
        self.unlink(slot);
        Some(self.at(slot).record.id.clone())
    }

    fn update(&mut self, id: &SessionId, f: impl FnOnce(&mut Session)) {
        if let Some(slot) = self.slot(id) {
            let e = self.at_mut(slot);
            f(e);
            e.tidy();
            self.reschedule(slot);
        }
    }

    /// Takes a session off the idle list.
    fn unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let e = self.at(slot);
            if !e.is_linked() {
                return;
            }
            (e.prev, e.next)
        };
        match prev {
            NIL => self.idle_head = next,
            p => self.at_mut(p).next = next,
        }
        match next {
            NIL => self.idle_tail = prev,
            n => self.at_mut(n).prev = prev,
        }
        let e = self.at_mut(slot);
        e.prev = UNLINKED;
        e.next = NIL;
        self.idle_len -= 1;
    }

    /// Puts a session on the idle list in last-activity order: at the end, unless a
    /// session there was active later (inputs out of time order), then before it.
    fn link(&mut self, slot: u32) {
        let at = self.at(slot).last_activity;
        let mut after = self.idle_tail;
        while after != NIL && self.at(after).last_activity > at {
            after = self.at(after).prev;
        }
        let next = match after {
            NIL => self.idle_head,
            a => self.at(a).next,
        };
        {
            let e = self.at_mut(slot);
            e.prev = after;
            e.next = next;
        }
        match after {
            NIL => self.idle_head = slot,
            a => self.at_mut(a).next = slot,
        }
        match next {
            NIL => self.idle_tail = slot,
            n => self.at_mut(n).prev = slot,
        }
        self.idle_len += 1;
    }

    /// Puts a session where it belongs: idle sessions (no busy stream) on the idle list,
    /// which expires them at their last activity plus the timeout; busy sessions do not
    /// expire. With a store, a busy session's TTL is refreshed every touch interval, so
    /// that the store does not expire a session whose stream is open here.
    fn reschedule(&mut self, slot: u32) {
        let idle = self.at(slot).busy().is_empty() && self.idle_timeout.is_some();
        match (idle, self.at(slot).is_linked()) {
            (true, false) => self.link(slot),
            (false, true) => self.unlink(slot),
            _ => {}
        }
        let Some(times) = self.store else { return };
        let e = self.at_mut(slot);
        let busy = !e.busy().is_empty();
        let last = e.last_activity;
        let id = e.record.id.clone();
        let Some(shared) = e.shared.as_mut() else {
            return;
        };
        let touch = match times.ttl {
            Some(_) if busy => shared
                .touched
                .unwrap_or(last)
                .checked_add(times.touch_interval),
            _ => None,
        };
        if touch != shared.touch_at {
            let old = shared.touch_at.take();
            shared.touch_at = touch;
            if let Some(at) = old {
                self.touches.remove(&(at, slot));
            }
            if let Some(at) = touch {
                self.touches.insert((at, slot), id);
            }
        }
    }
}
