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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::outstanding::Outstanding;
use super::store::StreamKey;
use crate::entropy::Entropy;
use crate::handle::StreamId;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;

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

/// One live session.
#[derive(Debug)]
pub(super) struct Session {
    record: SessionRecord,
    /// Unique per session, so deadlines of equal instants stay distinct keys.
    serial: u64,
    last_activity: Instant,
    /// The key of this session's idle deadline, when it has one.
    deadline: Option<Instant>,
    /// Streams that keep the session from being idle: open POST streams and the attached
    /// standalone stream.
    busy: Vec<StreamId>,
    /// The open standalone stream, attached or not.
    standalone: Option<StreamId>,
    /// Finished streams kept for replay, oldest first.
    retained: VecDeque<StreamId>,
    /// Server-to-client requests awaiting the client's answer.
    outstanding: Outstanding,
    /// With a shared store: when this node last refreshed the record's TTL.
    shared: Option<Box<Shared>>,
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
    /// Activity at `now` restarts the idle clock, unless the session is already past its
    /// deadline: then it is gone for every request (`SRV-SESS-7`, `INV-S2`), and a late
    /// event (a stream of it closing before the driver's timer ran) must not revive it.
    fn active(&mut self, now: Instant) {
        if self.deadline.is_none_or(|at| now < at) {
            self.last_activity = self.last_activity.max(now);
        }
    }

    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    pub fn version(&self) -> ProtocolVersion {
        self.record.protocol_version
    }

    pub fn standalone(&self) -> Option<StreamId> {
        self.standalone
    }

    pub fn outstanding(&self) -> &Outstanding {
        &self.outstanding
    }
}

#[derive(Debug, Default)]
pub(super) struct Sessions {
    live: HashMap<SessionId, Session>,
    /// Idle sessions by deadline: expiry, or with a store, eviction from this node.
    deadlines: BTreeMap<(Instant, u64), SessionId>,
    /// With a store: busy sessions by the time of their next TTL refresh.
    touches: BTreeMap<(Instant, u64), SessionId>,
    next_serial: u64,
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
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn get(&self, id: &SessionId) -> Option<&Session> {
        self.live.get(id)
    }

    pub fn contains(&self, id: &SessionId) -> bool {
        self.live.contains_key(id)
    }

    /// Whether the session is live at `now`: held, and not past its idle deadline. A
    /// session past its deadline is gone for every request even before the driver's
    /// timer calls `handle_timeout`, so a late timer never revives it.
    pub fn is_live(&self, id: &SessionId, now: Option<Instant>) -> bool {
        match self.live.get(id) {
            None => false,
            Some(e) => match (e.deadline, now) {
                (Some(at), Some(now)) => now < at,
                _ => true,
            },
        }
    }

    pub fn records(&self) -> impl Iterator<Item = &SessionRecord> {
        self.live.values().map(|e| &e.record)
    }

    /// Adds a session; its first stream, if any, keeps it busy from the start.
    pub fn insert(&mut self, record: SessionRecord, first: Option<StreamId>, now: Instant) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let id = record.id.clone();
        let entry = Session {
            record,
            serial,
            last_activity: now,
            deadline: None,
            busy: first.into_iter().collect(),
            standalone: None,
            retained: VecDeque::new(),
            outstanding: Outstanding::default(),
            shared: self.store.map(|_| Box::default()),
        };
        self.live.insert(id.clone(), entry);
        self.reschedule(&id);
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
        let entry = self.live.remove(id)?;
        if let Some(at) = entry.deadline {
            self.deadlines.remove(&(at, entry.serial));
        }
        if let Some(at) = entry.shared.as_ref().and_then(|s| s.touch_at) {
            self.touches.remove(&(at, entry.serial));
        }
        Some(entry)
    }

    /// The streams a removed session held, open and retained.
    pub fn streams_of(entry: &Session) -> impl Iterator<Item = StreamId> + '_ {
        entry
            .busy
            .iter()
            .copied()
            .chain(entry.standalone.filter(|s| !entry.busy.contains(s)))
    }

    /// How many streams of session `id` are open and keep it busy.
    pub fn open_streams(&self, id: &SessionId) -> usize {
        self.live.get(id).map_or(0, |e| e.busy.len())
    }

    /// The requests a removed session left unanswered, in id order.
    pub fn outstanding_of(entry: &mut Session) -> Vec<super::PendingRequest> {
        entry.outstanding.drain()
    }

    pub fn retained_of(entry: &Session) -> impl Iterator<Item = StreamId> + '_ {
        entry.retained.iter().copied()
    }

    /// Marks activity: a request was accepted for the session.
    pub fn touch(&mut self, id: &SessionId, now: Instant) {
        self.update(id, |e| e.active(now));
    }

    /// With a store: whether this activity at `now` is due to refresh the record's TTL
    /// (never refreshed here, or not for a touch interval); returns the TTL to write and
    /// counts the refresh as done.
    pub fn refresh_due(&mut self, id: &SessionId, now: Instant) -> Option<Duration> {
        let times = self.store?;
        let ttl = times.ttl?;
        let e = self.live.get_mut(id)?;
        let shared = e.shared.as_mut()?;
        let due = shared.touched.is_none_or(|at| {
            at.checked_add(times.touch_interval)
                .is_none_or(|t| now >= t)
        });
        if !due {
            return None;
        }
        shared.touched = Some(now);
        self.reschedule(id);
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
        let (_, id) = self.touches.pop_first()?;
        if let Some(s) = self.live.get_mut(&id).and_then(|e| e.shared.as_mut()) {
            s.touch_at = None;
            s.touched = Some(now);
        }
        self.reschedule(&id);
        Some((id, ttl))
    }

    /// The earliest TTL refresh due for a busy session.
    pub fn next_touch(&self) -> Option<Instant> {
        self.touches.keys().next().map(|(at, _)| *at)
    }

    /// The idle session that has been idle longest: the one to evict for room.
    pub fn longest_idle(&self) -> Option<&SessionId> {
        self.deadlines.values().next()
    }

    /// How many sessions are idle (no open stream) and indexed for leaving the table.
    pub fn idle_count(&self) -> usize {
        self.deadlines.len()
    }

    /// Makes a change to a held session's record. Returns the record as it now is, when
    /// the session is held.
    pub fn change(&mut self, id: &SessionId, change: &RecordChange) -> Option<&SessionRecord> {
        let e = self.live.get_mut(id)?;
        e.record.apply(change);
        Some(&e.record)
    }

    /// `notifications/initialized` arrived. Returns the record when it changed.
    pub fn mark_initialized(&mut self, id: &SessionId) -> Option<SessionRecord> {
        let e = self.live.get_mut(id)?;
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
        if let Some(e) = self.live.get_mut(id) {
            e.record.initialized = false;
        }
    }

    /// A stream of the session opened (or was re-attached): the session is busy.
    pub fn stream_busy(&mut self, id: &SessionId, stream: StreamId) {
        self.update(id, |e| {
            if !e.busy.contains(&stream) {
                e.busy.push(stream);
            }
        });
    }

    /// A stream of the session no longer keeps it busy (it ended, or a standalone stream
    /// lost its connection); its idle clock starts at `now` when it was the last.
    pub fn stream_idle(&mut self, id: &SessionId, stream: StreamId, now: Instant) {
        self.update(id, |e| {
            e.busy.retain(|&s| s != stream);
            e.active(now);
        });
    }

    /// A stream of the session ended.
    pub fn stream_ended(&mut self, id: &SessionId, stream: StreamId, now: Instant) {
        self.stream_idle(id, stream, now);
        self.update(id, |e| {
            if e.standalone == Some(stream) {
                e.standalone = None;
            }
        });
    }

    /// The session's standalone stream is now `stream`.
    pub fn set_standalone(&mut self, id: &SessionId, stream: StreamId) {
        self.update(id, |e| e.standalone = Some(stream));
    }

    /// Keeps a finished stream for replay; returns the streams pushed out by the
    /// per-session limit, oldest first.
    pub fn retain(&mut self, id: &SessionId, stream: StreamId, max: usize) -> Vec<StreamId> {
        let Some(e) = self.live.get_mut(id) else {
            return vec![stream];
        };
        e.retained.push_back(stream);
        let over = e.retained.len().saturating_sub(max);
        e.retained.drain(..over).collect()
    }

    /// A retained stream was dropped (aged out).
    pub fn unretain(&mut self, id: &SessionId, stream: StreamId) {
        if let Some(e) = self.live.get_mut(id) {
            e.retained.retain(|&s| s != stream);
        }
    }

    /// The session's outstanding server-to-client requests, to change.
    pub fn outstanding_mut(&mut self, id: &SessionId) -> Option<&mut Outstanding> {
        self.live.get_mut(id).map(|e| &mut e.outstanding)
    }

    /// The earliest idle deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the id of a session whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<SessionId> {
        let (&(at, _), _) = self.deadlines.first_key_value()?;
        if at > now {
            return None;
        }
        let (_, id) = self.deadlines.pop_first()?;
        if let Some(e) = self.live.get_mut(&id) {
            e.deadline = None;
        }
        Some(id)
    }

    fn update(&mut self, id: &SessionId, f: impl FnOnce(&mut Session)) {
        if let Some(e) = self.live.get_mut(id) {
            f(e);
            self.reschedule(id);
        }
    }

    /// Recomputes a session's deadline: idle (no busy stream) sessions expire at the last
    /// activity plus the timeout; busy sessions do not expire. With a store, a busy
    /// session's TTL is refreshed every touch interval, so that the store does not expire
    /// a session whose stream is open here.
    fn reschedule(&mut self, id: &SessionId) {
        let Some(e) = self.live.get_mut(id) else {
            return;
        };
        let want = match self.idle_timeout {
            Some(t) if e.busy.is_empty() => e.last_activity.checked_add(t),
            _ => None,
        };
        if want != e.deadline {
            if let Some(at) = e.deadline.take() {
                self.deadlines.remove(&(at, e.serial));
            }
            if let Some(at) = want {
                self.deadlines.insert((at, e.serial), id.clone());
                e.deadline = Some(at);
            }
        }
        let (Some(times), Some(shared)) = (self.store, e.shared.as_mut()) else {
            return;
        };
        let touch = match times.ttl {
            Some(_) if !e.busy.is_empty() => shared
                .touched
                .unwrap_or(e.last_activity)
                .checked_add(times.touch_interval),
            _ => None,
        };
        if touch != shared.touch_at {
            if let Some(at) = shared.touch_at.take() {
                self.touches.remove(&(at, e.serial));
            }
            if let Some(at) = touch {
                self.touches.insert((at, e.serial), id.clone());
                shared.touch_at = Some(at);
            }
        }
    }
}
