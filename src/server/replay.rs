//! Event ids and bounded replay buffers: what makes a server stream resumable.
//!
//! An event id names its stream (`SRV-RES-3`): `{salt}-{stream}-{seq}`, where `salt` is
//! drawn once per server machine from the injected entropy, `stream` is the stream's
//! number and `seq` counts the stream's events from 0. Ids are therefore unique across all
//! streams of a session (`SRV-RES-2`, `INV-S9`), a `Last-Event-ID` maps back to exactly one
//! stream, and an id minted by another server machine (another process, an earlier run) is
//! recognised as foreign instead of landing on an unrelated stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Limits of one stream's replay buffer. The oldest events go first when a limit is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimits {
    /// The most events kept per stream (default 1,024).
    pub max_events: usize,
    /// The most bytes of frames kept per stream (default 1 MiB).
    pub max_bytes: usize,
    /// How long an event is kept (default 5 minutes). A stream whose responses have all
    /// been sent is kept until its newest event is this old, so a client cut off before
    /// the response can still resume and get it.
    pub max_age: Duration,
    /// The most finished streams (all responses sent) a session keeps for replay; the
    /// oldest is dropped first (default 64).
    pub max_finished_streams: usize,
    /// The most bytes of frames kept for replay by the whole server, all sessions and
    /// streams together (default 256 MiB, which a 1 GiB server survives). Past it the
    /// oldest events, whichever stream they belong to, are dropped first; a client
    /// resuming past a dropped event is told of the gap as with the per-stream limits.
    pub max_total_bytes: usize,
}

impl Default for ReplayLimits {
    fn default() -> Self {
        Self {
            max_events: 1024,
            max_bytes: 1024 * 1024,
            max_age: Duration::from_secs(5 * 60),
            max_finished_streams: 64,
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// A parsed event id: the stream and the event's position on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct EventPosition {
    pub stream: u64,
    pub seq: u64,
}

/// What a `Last-Event-ID` value is, to this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParsedEventId {
    /// One of ours.
    Ours(EventPosition),
    /// Not an id this machine minted: another machine's salt, or not of our form at all.
    Foreign,
}

/// Formats and parses event ids for one server machine. Every session holds one: the
/// salt's 8 hex digits are kept inline, with no allocation.
#[derive(Debug, Clone, Copy)]
pub(super) struct EventIds {
    salt: [u8; 8],
}

impl EventIds {
    pub fn new(salt_bytes: [u8; 4]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut salt = [0u8; 8];
        for (i, b) in salt_bytes.iter().enumerate() {
            salt[2 * i] = HEX[usize::from(b >> 4)];
            salt[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        Self { salt }
    }

    /// The prefix every id carries.
    pub fn prefix(&self) -> &str {
        std::str::from_utf8(&self.salt).expect("hex digits")
    }

    pub fn format(&self, pos: EventPosition) -> String {
        format!("{}-{}-{}", self.prefix(), pos.stream, pos.seq)
    }

    /// Reads a `Last-Event-ID`. Never panics, whatever the bytes.
    pub fn parse(&self, id: &str) -> ParsedEventId {
        let mut parts = id.split('-');
        let (Some(salt), Some(stream), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return ParsedEventId::Foreign;
        };
        if salt != self.prefix() {
            return ParsedEventId::Foreign;
        }
        match (decimal(stream), decimal(seq)) {
            (Some(stream), Some(seq)) => ParsedEventId::Ours(EventPosition { stream, seq }),
            _ => ParsedEventId::Foreign,
        }
    }
}

/// A canonical decimal u64: digits only, no leading zero but for "0".
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[derive(Debug)]
struct Stored {
    seq: u64,
    at: Instant,
    frame: Bytes,
}

/// One stream's replay buffer: the frames it sent, with their sequence numbers.
#[derive(Debug, Default)]
pub(super) struct ReplayBuffer {
    events: VecDeque<Stored>,
    bytes: usize,
    /// How many events were dropped by the limits (for reporting a gap on replay).
    evicted_through: Option<u64>,
}

impl ReplayBuffer {
    /// Keeps `frame` (the encoded event with id `seq`), then applies the limits.
    pub fn push(&mut self, seq: u64, frame: Bytes, now: Instant, limits: &ReplayLimits) {
        self.bytes += frame.len();
        self.events.push_back(Stored {
            seq,
            at: now,
            frame,
        });
        self.evict(now, limits);
    }

    /// Drops the oldest events while a limit is exceeded, or while they are older than
    /// the age limit.
    pub fn evict(&mut self, now: Instant, limits: &ReplayLimits) {
        while let Some(front) = self.events.front() {
            let too_old = now.saturating_duration_since(front.at) >= limits.max_age;
            let over = self.events.len() > limits.max_events || self.bytes > limits.max_bytes;
            if !(too_old || over) {
                break;
            }
            let gone = self.events.pop_front().expect("front exists");
            self.bytes -= gone.frame.len();
            self.evicted_through = Some(gone.seq);
        }
    }

    /// The time and sequence number of the oldest event kept.
    pub fn front(&self) -> Option<(Instant, u64)> {
        self.events.front().map(|e| (e.at, e.seq))
    }

    /// The bytes of frames kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the oldest event (for the server-wide budget).
    pub fn pop_front(&mut self) {
        if let Some(gone) = self.events.pop_front() {
            self.bytes -= gone.frame.len();
            self.evicted_through = Some(gone.seq);
        }
    }

    /// The frames after `seq`, oldest first, and how many events after `seq` were
    /// already evicted (a gap the client will not see).
    pub fn after(&self, seq: u64) -> (impl Iterator<Item = &Bytes>, u64) {
        let missed = match self.evicted_through {
            Some(through) if through > seq => through - seq,
            _ => 0,
        };
        (
            self.events
                .iter()
                .filter(move |e| e.seq > seq)
                .map(|e| &e.frame),
            missed,
        )
    }

    /// When the oldest event reaches the age limit.
    #[cfg(test)]
    pub fn next_expiry(&self, limits: &ReplayLimits) -> Option<Instant> {
        self.events
            .front()
            .and_then(|e| e.at.checked_add(limits.max_age))
    }

    /// When the newest event reaches the age limit: after that the buffer is empty.
    pub fn drained_at(&self, limits: &ReplayLimits) -> Option<Instant> {
        self.events
            .back()
            .and_then(|e| e.at.checked_add(limits.max_age))
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events.len()
    }

    #[cfg(test)]
    pub fn byte_len(&self) -> usize {
        self.bytes()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their own base instant
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_name_their_stream() {
        let ids = EventIds::new([0xde, 0xad, 0xbe, 0xef]);
        let pos = EventPosition { stream: 17, seq: 3 };
        assert_eq!(ids.format(pos), "deadbeef-17-3");
        assert_eq!(ids.parse("deadbeef-17-3"), ParsedEventId::Ours(pos));
    }

    #[test]
    fn foreign_and_malformed_ids_are_typed() {
        let ids = EventIds::new([1, 2, 3, 4]);
        for bad in [
            "",
            "-",
            "01020304",
            "01020304-1",
            "01020304-1-",
            "01020304--1",
            "01020304-a-1",
            "01020304-1-1-1",
            "ffffffff-1-1",
            "01020304-01-1",
            "01020304-+1-1",
            "01020304-99999999999999999999-1",
            "01020304-1-1\0",
        ] {
            assert_eq!(ids.parse(bad), ParsedEventId::Foreign, "{bad:?}");
        }
    }

    fn limits(events: usize, bytes: usize, secs: u64) -> ReplayLimits {
        ReplayLimits {
            max_events: events,
            max_bytes: bytes,
            max_age: Duration::from_secs(secs),
            max_finished_streams: 4,
            max_total_bytes: usize::MAX,
        }
    }

    #[test]
    fn the_oldest_events_go_first_at_the_count_limit() {
        let t = Instant::now();
        let l = limits(2, 1000, 60);
        let mut b = ReplayBuffer::default();
        for seq in 0..4 {
            b.push(seq, Bytes::from(vec![b'x'; 10]), t, &l);
        }
        let (frames, missed) = b.after(0);
        assert_eq!(frames.count(), 2);
        assert_eq!(missed, 1); // seq 1 is gone; 2 and 3 remain
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn the_byte_limit_evicts_from_the_front() {
        let t = Instant::now();
        let l = limits(100, 25, 60);
        let mut b = ReplayBuffer::default();
        for seq in 0..3 {
            b.push(seq, Bytes::from(vec![b'x'; 10]), t, &l);
        }
        assert_eq!(b.byte_len(), 20);
        let (frames, _) = b.after(0);
        assert_eq!(frames.count(), 2);
    }

    #[test]
    fn events_age_out() {
        let t = Instant::now();
        let l = limits(100, 1000, 10);
        let mut b = ReplayBuffer::default();
        b.push(0, Bytes::from_static(b"a"), t, &l);
        b.push(1, Bytes::from_static(b"b"), t + Duration::from_secs(5), &l);
        assert_eq!(b.next_expiry(&l), Some(t + Duration::from_secs(10)));
        assert_eq!(b.drained_at(&l), Some(t + Duration::from_secs(15)));
        b.evict(t + Duration::from_secs(10), &l);
        assert_eq!(b.len(), 1);
        b.evict(t + Duration::from_secs(15), &l);
        assert!(b.is_empty());
    }
}
