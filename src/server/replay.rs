//! Event ids and bounded replay buffers: what makes a server stream resumable.
//!
//! An event id names its stream (`SRV-RES-3`): `{salt}-{stream}-{seq}`, where `salt` is
//! drawn once per server machine from the injected entropy, `stream` is the stream's
//! number and `seq` counts the stream's events from 0. A server sharing a store puts its
//! node id first, `{node}.{salt}-{stream}-{seq}`, so that any node can tell which node
//! holds the stream, and the store's copy of it is keyed by `{node}.{salt}-{stream}`. Ids are therefore unique across all
//! streams of a session (`SRV-RES-2`, `INV-S9`), a `Last-Event-ID` maps back to exactly one
//! stream, and an id minted by another server machine (another process, an earlier run) is
//! recognised as foreign instead of landing on an unrelated stream.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::store::{NodeId, StreamKey};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ParsedEventId {
    /// One of ours.
    Ours(EventPosition),
    /// One a node of a cluster minted (another node, or an earlier run of this one): the
    /// stream it names, `{node}.{salt}-{stream}`, and the position on it.
    Node { stream: StreamKey, seq: u64 },
    /// Not an id of any machine's form.
    Foreign,
}

/// Formats and parses event ids for one server machine: `{salt}-{stream}-{seq}`, or with
/// a node id (a server sharing a store) `{node}.{salt}-{stream}-{seq}`, which names the
/// node and, through the salt, the run of it that minted the id. Cloned into every
/// resumable stream (the prefix is shared, not copied).
#[derive(Debug, Clone)]
pub(super) struct EventIds {
    prefix: Arc<str>,
}

impl EventIds {
    pub fn new(salt_bytes: [u8; 4], node: Option<&NodeId>) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut salt = String::with_capacity(8);
        for b in salt_bytes {
            salt.push(char::from(HEX[usize::from(b >> 4)]));
            salt.push(char::from(HEX[usize::from(b & 15)]));
        }
        let prefix = match node {
            Some(n) => format!("{n}.{salt}"),
            None => salt,
        };
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix every id carries.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}-{stream}-{seq}`, in one allocation of the right size (no formatting
    /// machinery: this runs for every event).
    #[cfg(test)]
    pub fn format(&self, pos: EventPosition) -> String {
        let mut out = String::new();
        self.format_into(&mut out, pos);
        out
    }

    /// Writes `{prefix}-{stream}-{seq}` into `out`, replacing what it held: the machine
    /// formats every event id into one buffer it keeps, so an id costs no allocation.
    pub fn format_into(&self, out: &mut String, pos: EventPosition) {
        out.clear();
        out.reserve(self.prefix.len() + 2 + 2 * 20);
        out.push_str(&self.prefix);
        out.push('-');
        push_decimal(out, pos.stream);
        out.push('-');
        push_decimal(out, pos.seq);
    }

    /// The key of one of this machine's streams in a store: `{prefix}-{stream}`.
    pub fn stream_key(&self, stream: u64) -> StreamKey {
        StreamKey(format!("{}-{stream}", self.prefix()).into())
    }

    /// Reads a `Last-Event-ID`. Never panics, whatever the bytes.
    pub fn parse(&self, id: &str) -> ParsedEventId {
        let mut parts = id.split('-');
        let (Some(prefix), Some(stream), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return ParsedEventId::Foreign;
        };
        let (Some(stream_n), Some(seq)) = (decimal(stream), decimal(seq)) else {
            return ParsedEventId::Foreign;
        };
        if prefix == self.prefix() {
            return ParsedEventId::Ours(EventPosition {
                stream: stream_n,
                seq,
            });
        }
        match node_of(prefix) {
            Some(_) => ParsedEventId::Node {
                stream: StreamKey(format!("{prefix}-{stream}").into()),
                seq,
            },
            None => ParsedEventId::Foreign,
        }
    }
}

/// The node that sent a server-to-client request, from its id
/// (`{node}.{salt}-{stream}-r{n}`), when that is not this machine (`ours` is its prefix).
pub(super) fn request_node(id: &str, ours: &str) -> Option<NodeId> {
    let mut parts = id.split('-');
    let (Some(prefix), Some(stream), Some(n), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let n = n.strip_prefix('r')?;
    if prefix == ours || decimal(stream).is_none() || decimal(n).is_none() {
        return None;
    }
    node_of(prefix)
}

/// The node a `{node}.{salt}` prefix names, when it has that form (8 lower-case hex
/// digits of salt).
pub(super) fn node_of(prefix: &str) -> Option<NodeId> {
    let (node, salt) = prefix.split_once('.')?;
    let hex = salt.len() == 8 && salt.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex {
        return None;
    }
    NodeId::new(node).ok()
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let digits = crate::wire::sse::decimal(n, &mut buf);
    out.push_str(std::str::from_utf8(digits).expect("ASCII digits"));
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

/// Emptied replay buffers kept for the next streams, so that a resumable stream costs no
/// allocation for its buffer: at most [`BufferPool::MAX`] buffers of at most
/// [`BufferPool::MAX_EVENTS`] events each (a few KiB in all).
#[derive(Debug, Default)]
pub(super) struct BufferPool {
    spare: Vec<VecDeque<Stored>>,
}

impl BufferPool {
    const MAX: usize = 32;
    const MAX_EVENTS: usize = 8;

    /// An empty buffer, reusing a spare one when there is one.
    pub fn take(&mut self) -> ReplayBuffer {
        ReplayBuffer {
            events: self.spare.pop().unwrap_or_default(),
            ..ReplayBuffer::default()
        }
    }

    /// A buffer no longer needed: its events are dropped, its storage kept if small.
    pub fn give(&mut self, buffer: ReplayBuffer) {
        let mut events = buffer.events;
        if self.spare.len() < Self::MAX && events.capacity() <= Self::MAX_EVENTS {
            events.clear();
            self.spare.push(events);
        }
    }
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
        let ids = EventIds::new([0xde, 0xad, 0xbe, 0xef], None);
        let pos = EventPosition { stream: 17, seq: 3 };
        assert_eq!(ids.format(pos), "deadbeef-17-3");
        assert_eq!(ids.parse("deadbeef-17-3"), ParsedEventId::Ours(pos));
        let edges = EventPosition {
            stream: 0,
            seq: u64::MAX,
        };
        assert_eq!(ids.format(edges), "deadbeef-0-18446744073709551615");
        assert_eq!(ids.parse(&ids.format(edges)), ParsedEventId::Ours(edges));
    }

    #[test]
    fn a_node_names_its_ids_and_reads_other_nodes_ids_as_theirs() {
        let node = NodeId::new("edge_7").unwrap();
        let ids = EventIds::new([0xde, 0xad, 0xbe, 0xef], Some(&node));
        let pos = EventPosition { stream: 2, seq: 9 };
        assert_eq!(ids.format(pos), "edge_7.deadbeef-2-9");
        assert_eq!(ids.parse("edge_7.deadbeef-2-9"), ParsedEventId::Ours(pos));
        assert_eq!(ids.stream_key(2).as_str(), "edge_7.deadbeef-2");
        // Another node, or an earlier run of this one: its stream, by key.
        for other in ["n2.01234567-5-1", "edge_7.00000000-5-1"] {
            let ParsedEventId::Node { stream, seq } = ids.parse(other) else {
                panic!("{other} is a node's id");
            };
            assert_eq!(seq, 1);
            assert_eq!(format!("{stream}-1"), other);
        }
        assert_eq!(
            ids.parse("n2.01234567-5-1"),
            ParsedEventId::Node {
                stream: StreamKey("n2.01234567-5".into()),
                seq: 1
            }
        );
        assert_eq!(
            StreamKey("n2.01234567-5".into()).node(),
            Some(NodeId::new("n2").unwrap())
        );
        // Not a node's form: a salt that is not 8 hex digits, a bad node id.
        for bad in [
            "n2.0123456-5-1",
            "n2.0123456g-5-1",
            "n-2.01234567-5-1",
            ".01234567-5-1",
        ] {
            assert_eq!(ids.parse(bad), ParsedEventId::Foreign, "{bad}");
        }
        // Request ids: another node's names it; ours, an old run's of the same node id,
        // or malformed ones name no node to forward to (the caller tells old runs).
        assert_eq!(
            request_node("n2.01234567-5-r3", ids.prefix()),
            Some(NodeId::new("n2").unwrap())
        );
        assert_eq!(request_node("edge_7.deadbeef-5-r3", ids.prefix()), None);
        assert_eq!(
            request_node("edge_7.00000000-5-r3", ids.prefix()),
            Some(node.clone())
        );
        for bad in [
            "n2.01234567-5-3",
            "n2.01234567-x-r3",
            "n2.01234567-5-r",
            "srv-1",
        ] {
            assert_eq!(request_node(bad, ids.prefix()), None, "{bad}");
        }
    }

    #[test]
    fn foreign_and_malformed_ids_are_typed() {
        let ids = EventIds::new([1, 2, 3, 4], None);
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
    fn a_pooled_buffer_comes_back_empty_and_the_pool_is_bounded() {
        let t = Instant::now();
        let l = limits(100, 1 << 20, 60);
        let mut pool = BufferPool::default();
        let mut b = pool.take();
        b.push(0, Bytes::from_static(b"a"), t, &l);
        b.push(1, Bytes::from_static(b"b"), t, &l);
        pool.give(b);
        let b = pool.take();
        assert_eq!((b.front(), b.bytes(), b.after(0).1), (None, 0, 0));
        assert!(pool.spare.is_empty());
        // A big buffer is let go; at most MAX are kept.
        let mut big = pool.take();
        for seq in 0..(BufferPool::MAX_EVENTS as u64 + 1) {
            big.push(seq, Bytes::from_static(b"x"), t, &l);
        }
        pool.give(big);
        assert!(pool.spare.is_empty());
        for _ in 0..BufferPool::MAX + 3 {
            pool.give(ReplayBuffer::default());
        }
        assert_eq!(pool.spare.len(), BufferPool::MAX);
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
