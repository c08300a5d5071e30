//! The session table: live sessions, their idle deadlines, and the streams they own.
//!
//! ```text
//!   initialize ──(app answers with a successful InitializeResult)──▶ Live
//!   Live ──(DELETE | idle timeout | Server::terminate_session)──▶ gone: every later
//!                                                  request with its id gets 404
//! ```
//!
//! A session is idle while it has no open stream; its deadline is the last activity plus
//! the idle timeout. Deadlines sit in an ordered index, so `poll_timeout` is a lookup of
//! the first entry, with no allocation and no scan.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::StreamId;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;

/// What a session is, as plain data: a host may keep it in an external store and give it
/// back with [`Server::restore_session`](super::Server::restore_session), so a session
/// can move between processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id.
    pub id: SessionId,
    /// The version negotiated in `initialize`.
    pub protocol_version: ProtocolVersion,
    /// Whether `notifications/initialized` has arrived (`LIFE-5`, `INV-S16`).
    pub initialized: bool,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub record: SessionRecord,
    /// Unique per session, so deadlines of equal instants stay distinct keys.
    serial: u64,
    pub last_activity: Instant,
    /// The key of this session's idle deadline, when it has one.
    deadline: Option<Instant>,
    /// Streams that keep the session from being idle: open POST streams and the attached
    /// standalone stream.
    pub streams: Vec<StreamId>,
    pub standalone: Option<StreamId>,
    /// Finished streams kept for replay, oldest first.
    pub retained: VecDeque<StreamId>,
}

#[derive(Debug, Default)]
pub(super) struct Sessions {
    live: HashMap<SessionId, Entry>,
    deadlines: BTreeMap<(Instant, u64), SessionId>,
    next_serial: u64,
    idle_timeout: Option<Duration>,
}

impl Sessions {
    pub fn new(idle_timeout: Option<Duration>) -> Self {
        Self {
            idle_timeout,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn get(&self, id: &SessionId) -> Option<&Entry> {
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

    pub fn insert(&mut self, record: SessionRecord, now: Instant) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let id = record.id.clone();
        let entry = Entry {
            record,
            serial,
            last_activity: now,
            deadline: None,
            streams: Vec::new(),
            standalone: None,
            retained: VecDeque::new(),
        };
        self.live.insert(id.clone(), entry);
        self.reschedule(&id);
    }

    pub fn remove(&mut self, id: &SessionId) -> Option<Entry> {
        let entry = self.live.remove(id)?;
        if let Some(at) = entry.deadline {
            self.deadlines.remove(&(at, entry.serial));
        }
        Some(entry)
    }

    /// Marks activity: a request was accepted for the session.
    pub fn touch(&mut self, id: &SessionId, now: Instant) {
        if let Some(e) = self.live.get_mut(id) {
            e.last_activity = e.last_activity.max(now);
        }
        self.reschedule(id);
    }

    pub fn with<R>(&mut self, id: &SessionId, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let r = self.live.get_mut(id).map(f);
        self.reschedule(id);
        r
    }

    /// The earliest idle deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the ids of sessions whose deadline is at or before `now`.
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

    /// Recomputes a session's deadline: idle (no stream) sessions expire at the last
    /// activity plus the timeout; sessions with an open stream do not expire.
    fn reschedule(&mut self, id: &SessionId) {
        let Some(e) = self.live.get_mut(id) else {
            return;
        };
        let want = match self.idle_timeout {
            Some(t) if e.streams.is_empty() => e.last_activity.checked_add(t),
            _ => None,
        };
        if want == e.deadline {
            return;
        }
        if let Some(at) = e.deadline.take() {
            self.deadlines.remove(&(at, e.serial));
        }
        if let Some(at) = want {
            self.deadlines.insert((at, e.serial), id.clone());
            e.deadline = Some(at);
        }
    }
}
