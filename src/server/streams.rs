//! Response streams: what each holds, how its output is written, and how it is kept for
//! replay and resumed.
//!
//! ```text
//!  open ──head──▶ [priming: id + empty data + retry, for 2025-11-25 sessions]
//!       ──events (each with an id when resumable)──▶ last response ──▶ finished
//!  connection gone (client, or Server::close_connection) ─▶ detached: events are still
//!       numbered and kept; GET + Last-Event-ID attaches a new connection and replays
//!       what followed
//!  finished ─▶ kept (retained) until its newest event is max_age old, for a client that
//!       lost the end; then dropped
//! ```
//!
//! [`Streams`] owns every open and retained stream. It writes a stream's output to the
//! stream's current connection only, so output of a connection that a resumption
//! replaced can never reach the new one.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use crate::fasthash::FastMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;

use super::connections::Connections;
use super::machine::AnswerView;
use super::replay::{BufferPool, EventIds, EventPosition, ReplayBuffer, ReplayLimits};
use super::store::StreamKey;
use super::{Answer, ReplyMode, StreamEvent, reply};
use crate::handle::{ConnectionId, StreamId};
use crate::wire::jsonrpc::RequestId;
use crate::wire::{SessionId, sse};

#[derive(Debug)]
pub(super) struct Stream {
    session: Option<SessionId>,
    reply: ReplyMode,
    kind: StreamKind,
    head_sent: bool,
    /// SSE frames written before the head could go (an `initialize` stream's head waits
    /// for the response that may mint the session).
    held: Vec<Bytes>,
    /// The connection the stream writes to, when one is attached.
    connection: Option<ConnectionId>,
    /// Present when the stream's events carry ids and are kept for replay.
    replay: Option<Replay>,
}

#[derive(Debug)]
pub(super) enum StreamKind {
    Post {
        /// The requests of the POST, in body order.
        slots: Slots,
        batch: bool,
        initialize: bool,
        /// A 2026-07-28 request: no session, no resumption; the head waits for the first
        /// message, so that an unknown method can still be a 404 (`N26-9`).
        modern: bool,
    },
    Standalone,
    /// With a shared store: a stream another node holds (or held), resumed here from the
    /// store's copy and relayed as the store gets more (`Server::relay`).
    Relay {
        key: StreamKey,
        /// The next position to relay: earlier ones went out already (each event once).
        next_seq: u64,
    },
}

/// An event (or the end) of a resumable stream, for the store's copy of it.
#[derive(Debug)]
pub(super) enum Spill {
    Event {
        session: SessionId,
        stream: StreamKey,
        seq: u64,
        frame: Bytes,
    },
    End {
        session: SessionId,
        stream: StreamKey,
    },
}

#[derive(Debug)]
pub(super) struct Slot {
    pub id: RequestId,
    pub answered: bool,
    /// A JSON reply's answer, kept until every request of the POST is answered.
    json: Option<Bytes>,
}

#[derive(Debug)]
struct Replay {
    /// The sequence number of the stream's next event.
    next_seq: u64,
    buffer: ReplayBuffer,
    /// Whether the client's version understands priming events and early closes
    /// (2025-11-25 and later, `SRV-PSSE-9`).
    priming: bool,
    prefix: EventIds,
    /// With a shared store: the stream's key there; its events are spilled to it.
    key: Option<StreamKey>,
}

impl Replay {
    /// Numbers the stream's next event: its sequence number, its id written into `id`.
    fn next_id(&mut self, stream: StreamId, id: &mut String) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.prefix.format_into(
            id,
            EventPosition {
                stream: stream.0,
                seq,
            },
        );
        seq
    }
}

/// A finished stream kept for replay.
#[derive(Debug)]
struct Retained {
    session: SessionId,
    buffer: ReplayBuffer,
    /// One past the last sequence number the stream used.
    next_seq: u64,
    until: Instant,
}

/// What a closed stream leaves behind, for the façade to settle with its session.
#[derive(Debug)]
pub(super) struct Closed {
    pub session: Option<SessionId>,
    /// The stream was kept for replay until this instant.
    pub retained_until: Option<Instant>,
}

/// Where a `Last-Event-ID` position may be resumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resumable<'a> {
    pub session: Option<&'a SessionId>,
    pub next_seq: u64,
    pub attached: bool,
}

#[derive(Debug)]
pub(super) struct Streams {
    /// The `retry` of priming events and early closes.
    retry: Duration,
    /// The replay limits (the defaults when replay is off: no stream is resumable then).
    limits: ReplayLimits,
    /// The answer a stream cut short before its reply began gets.
    gone: Answer,
    open: FastMap<StreamId, Stream>,
    retained: FastMap<StreamId, Retained>,
    /// When each retained stream's window closes, earliest first. Entries are not
    /// removed when a stream is dropped early; such a stale entry (its stream gone, or
    /// retained until another instant) is skipped when it comes up, the top is kept
    /// valid after every drop, and the heap is compacted when stale entries outnumber
    /// live ones. A heap reuses its buffer where a B-tree allocates and frees nodes as
    /// entries come and go.
    retained_deadlines: BinaryHeap<Reverse<(Instant, StreamId)>>,
    /// The bytes of every replay buffer, open and retained streams together.
    replay_bytes: usize,
    /// The oldest event of every non-empty replay buffer: the server-wide budget drops
    /// from the first.
    /// Kept as `retained_deadlines` is: an entry is live while it is its buffer's
    /// front; `live_heads` counts the non-empty buffers.
    heads: BinaryHeap<Reverse<(Instant, StreamId, u64)>>,
    live_heads: usize,
    /// Open `initialize` streams whose answer has not minted a session yet.
    initializing: BTreeSet<StreamId>,
    next: u64,
    /// The buffer every event id is formatted into, kept between events.
    id_scratch: String,
    /// Replay buffers of streams that ended, for the next resumable streams.
    pool: BufferPool,
    /// With a shared store: resumable streams' events and ends, for the store.
    spill: bool,
    spilled: Vec<Spill>,
}

impl Stream {
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    pub fn reply(&self) -> ReplyMode {
        self.reply
    }

    pub fn kind(&self) -> &StreamKind {
        &self.kind
    }

    pub fn is_initialize(&self) -> bool {
        matches!(
            self.kind,
            StreamKind::Post {
                initialize: true,
                ..
            }
        )
    }

    pub fn connection(&self) -> Option<ConnectionId> {
        self.connection
    }

    /// Whether the stream is written as SSE.
    pub fn is_sse(&self) -> bool {
        self.reply == ReplyMode::Sse
    }

    /// Whether the stream answers a 2026-07-28 request.
    pub fn is_modern(&self) -> bool {
        matches!(self.kind, StreamKind::Post { modern: true, .. })
    }

    /// The slot of an unanswered request of this POST stream.
    pub fn unanswered_slot(&self, id: &RequestId) -> Option<usize> {
        match &self.kind {
            StreamKind::Post { slots, .. } => slots.iter().position(|s| &s.id == id && !s.answered),
            StreamKind::Standalone | StreamKind::Relay { .. } => None,
        }
    }

    /// Whether the stream ends when its connection goes: a standalone stream (the next
    /// GET opens a new one) and a relayed one (the client resumes again).
    pub fn ends_with_connection(&self) -> bool {
        matches!(self.kind, StreamKind::Standalone | StreamKind::Relay { .. })
    }

    /// Whether the stream relays another node's stream.
    pub fn is_relay(&self) -> bool {
        matches!(self.kind, StreamKind::Relay { .. })
    }

    /// Whether the stream's head went out.
    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    /// Whether the stream's connection may be closed early (`SRV-PSSE-10`).
    pub fn can_close_early(&self) -> bool {
        matches!(&self.replay, Some(r) if r.priming) && self.head_sent
    }
}

/// The request slots of a POST stream: one inline (the common single request, no
/// allocation), or a batch's in a `Vec`. Read and written as a slice.
#[derive(Debug)]
pub(super) enum Slots {
    One([Slot; 1]),
    Many(Vec<Slot>),
}

impl Slots {
    /// The slots of `ids`, in order.
    pub fn collect(ids: impl Iterator<Item = RequestId>) -> Self {
        let mut ids = ids.map(Slot::new);
        let Some(first) = ids.next() else {
            return Self::Many(Vec::new()); // allocates nothing
        };
        match ids.next() {
            None => Self::One([first]),
            Some(second) => {
                let mut all = vec![first, second];
                all.extend(ids);
                Self::Many(all)
            }
        }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];
    fn deref(&self) -> &[Slot] {
        match self {
            Self::One(one) => one,
            Self::Many(all) => all,
        }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Slot] {
        match self {
            Self::One(one) => one,
            Self::Many(all) => all,
        }
    }
}

impl Slot {
    pub fn new(id: RequestId) -> Self {
        Self {
            id,
            answered: false,
            json: None,
        }
    }
}

impl Streams {
    pub fn new(retry: Duration, limits: ReplayLimits, gone: Answer) -> Self {
        Self {
            retry,
            limits,
            gone,
            open: FastMap::default(),
            retained: FastMap::default(),
            retained_deadlines: BinaryHeap::new(),
            replay_bytes: 0,
            heads: BinaryHeap::new(),
            live_heads: 0,
            initializing: BTreeSet::new(),
            next: 0,
            id_scratch: String::new(),
            pool: BufferPool::default(),
            spill: false,
            spilled: Vec::new(),
        }
    }

    /// Spills every resumable stream's events (and ends) for a shared store.
    pub fn spill_to_store(&mut self) {
        self.spill = true;
    }

    /// The events and ends spilled since the last call, in order.
    pub fn take_spilled(&mut self) -> Vec<Spill> {
        std::mem::take(&mut self.spilled)
    }

    pub fn get(&self, id: StreamId) -> Option<&Stream> {
        self.open.get(&id)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether this machine ever opened `id`.
    pub fn issued(&self, id: StreamId) -> bool {
        id.0 < self.next
    }

    /// How many `initialize` answers are awaited (for the session cap, step 11).
    pub fn initializing(&self) -> usize {
        self.initializing.len()
    }

    /// Where a stream named by a `Last-Event-ID` stands: open with ids, or retained and
    /// not yet past its window.
    pub fn resumable(&self, id: StreamId, now: Option<Instant>) -> Option<Resumable<'_>> {
        if let Some(s) = self.open.get(&id) {
            let r = s.replay.as_ref()?;
            return Some(Resumable {
                session: s.session.as_ref(),
                next_seq: r.next_seq,
                attached: s.connection.is_some(),
            });
        }
        let r = self.retained.get(&id)?;
        // A finished stream whose replay window has closed is gone, even before the
        // driver's timer drops it.
        if now.is_some_and(|now| now >= r.until) {
            return None;
        }
        Some(Resumable {
            session: Some(&r.session),
            next_seq: r.next_seq,
            attached: false,
        })
    }

    /// Opens a stream with a connection attached.
    pub fn open(
        &mut self,
        session: Option<SessionId>,
        reply: ReplyMode,
        kind: StreamKind,
        conns: &mut Connections,
    ) -> (StreamId, ConnectionId) {
        let id = StreamId(self.next);
        self.next += 1;
        let connection = conns.open(id);
        let initialize = matches!(
            kind,
            StreamKind::Post {
                initialize: true,
                ..
            }
        );
        if initialize && session.is_none() {
            self.initializing.insert(id);
        }
        self.open.insert(
            id,
            Stream {
                session,
                reply,
                kind,
                head_sent: false,
                held: Vec::new(),
                connection: Some(connection),
                replay: None,
            },
        );
        (id, connection)
    }

    /// The `initialize` answer minted `session` for the stream.
    pub fn set_session(&mut self, id: StreamId, session: SessionId) {
        if let Some(s) = self.open.get_mut(&id) {
            s.session = Some(session);
            self.initializing.remove(&id);
        }
    }

    /// Gives a stream event ids and a replay buffer (`SRV-RES-1`): the caller has decided
    /// that it can be resumed.
    pub fn make_resumable(&mut self, id: StreamId, prefix: EventIds, priming: bool) {
        if let Some(s) = self.open.get_mut(&id) {
            if s.replay.is_none() && s.reply == ReplyMode::Sse {
                let key = self.spill.then(|| prefix.stream_key(id.0));
                s.replay = Some(Replay {
                    next_seq: 0,
                    buffer: self.pool.take(),
                    priming,
                    prefix,
                    key,
                });
            }
        }
    }

    /// Queues the SSE head (carrying the session id only on the `initialize` reply), the
    /// priming event where the client understands it (`SRV-PSSE-9`, `INV-S12`), then any
    /// frames held for the head.
    pub fn emit_head(&mut self, id: StreamId, conns: &mut Connections) {
        let Some(s) = self.open.get_mut(&id) else {
            return;
        };
        let carries_session = s.is_initialize();
        let head = reply::sse_head(s.session.as_ref().filter(|_| carries_session));
        s.head_sent = true;
        let priming = match &mut s.replay {
            Some(r) if r.priming => {
                let event_id = &mut self.id_scratch;
                let seq = r.next_id(id, event_id);
                let frame = Bytes::from(
                    sse::Event {
                        id: Some(event_id),
                        retry: Some(millis(self.retry)),
                        ..sse::Event::default()
                    }
                    .trusted_frame(),
                );
                // The store's copy starts with it, so that a client holding only the
                // priming id can resume on another node. Never replayed: a resume asks
                // for what follows an id, and this is the first.
                spill(&mut self.spilled, r, s.session.as_ref(), seq, &frame);
                Some(frame)
            }
            _ => None,
        };
        let held = std::mem::take(&mut s.held);
        if let Some(c) = s.connection {
            conns.push(c, StreamEvent::Head(head));
            for frame in priming.into_iter().chain(held) {
                conns.push(c, StreamEvent::Data(frame));
            }
        }
    }

    /// Writes one message event on a stream: numbered and kept for replay when the stream
    /// is resumable (ids unique across the session's streams, `SRV-RES-2`, `INV-S9`), held
    /// until the head, written only while a connection is attached.
    pub fn write_message(
        &mut self,
        id: StreamId,
        json: &[u8],
        now: Instant,
        conns: &mut Connections,
    ) {
        // A 2026-07-28 reply's head waits for its first message: this one.
        if self
            .open
            .get(&id)
            .is_some_and(|s| !s.head_sent && s.is_modern())
        {
            self.emit_head(id, conns);
        }
        let Some(s) = self.open.get_mut(&id) else {
            return;
        };
        let (frame, kept) = match &mut s.replay {
            Some(r) => {
                let event_id = &mut self.id_scratch;
                let seq = r.next_id(id, event_id);
                let mut ev = sse::Event::message(json);
                ev.id = Some(event_id);
                let frame = Bytes::from(ev.trusted_frame());
                let before = (r.buffer.front(), r.buffer.bytes());
                r.buffer.push(seq, frame.clone(), now, &self.limits);
                let after = (r.buffer.front(), r.buffer.bytes());
                spill(&mut self.spilled, r, s.session.as_ref(), seq, &frame);
                (frame, Some((before, after)))
            }
            None => (
                Bytes::from(
                    sse::Event::message(json)
                        .to_vec()
                        .expect("a message event has no id or event name to refuse"),
                ),
                None,
            ),
        };
        if let Some((before, after)) = kept {
            self.account(id, before, after);
            self.enforce_budget();
        }
        let Some(s) = self.open.get_mut(&id) else {
            return;
        };
        if !s.head_sent {
            s.held.push(frame);
        } else if let Some(c) = s.connection {
            conns.push(c, StreamEvent::Data(frame));
        }
    }

    /// Records the answer in `slot` of a POST stream and writes it: at once on an SSE
    /// stream (after its head, if it had to wait for this answer), or, on a JSON reply,
    /// as one body once every request is answered. Returns whether every request of the
    /// POST is now answered.
    pub fn answer(
        &mut self,
        id: StreamId,
        slot: usize,
        answer: &AnswerView<'_>,
        now: Instant,
        conns: &mut Connections,
    ) -> bool {
        let json = answer.json;
        let Some(s) = self.open.get_mut(&id) else {
            return false;
        };
        let StreamKind::Post { slots, batch, .. } = &mut s.kind else {
            return false;
        };
        slots[slot].answered = true;
        let done = slots.iter().all(|s| s.answered);
        match s.reply {
            ReplyMode::Sse => {
                if !s.head_sent {
                    self.emit_head(id, conns);
                }
                self.write_message(id, json, now, conns);
            }
            ReplyMode::Json => {
                slots[slot].json = Some(answer.to_bytes());
                if done {
                    let body = if *batch {
                        json_array(slots.iter().map(|s| s.json.as_ref().expect("answered")))
                    } else {
                        // Nothing reads the slot's copy after this: no clone.
                        slots[0].json.take().expect("answered")
                    };
                    let carries_session = s.is_initialize();
                    let head = reply::json_head(
                        body.len(),
                        s.session.as_ref().filter(|_| carries_session),
                    );
                    s.head_sent = true;
                    if let Some(c) = s.connection {
                        conns.push(c, StreamEvent::Head(head));
                        conns.push(c, StreamEvent::Data(body));
                    }
                }
            }
        }
        done
    }

    /// Answers the request of a POST stream whose head has not gone with a complete JSON
    /// response of `status` (a 2026-07-28 unknown method: 404, `N26-9`).
    pub fn answer_with_status(
        &mut self,
        id: StreamId,
        slot: usize,
        json: &Bytes,
        status: http::StatusCode,
        conns: &mut Connections,
    ) {
        let Some(s) = self.open.get_mut(&id) else {
            return;
        };
        if let StreamKind::Post { slots, .. } = &mut s.kind {
            slots[slot].answered = true;
        }
        let mut head = reply::json_head(json.len(), None);
        *head.status_mut() = status;
        s.head_sent = true;
        if let Some(c) = s.connection {
            conns.push(c, StreamEvent::Head(head));
            conns.push(c, StreamEvent::Data(json.clone()));
        }
    }

    /// The requests of a POST stream still unanswered.
    pub fn unanswered(&self, id: StreamId) -> Vec<RequestId> {
        match self.open.get(&id).map(|s| &s.kind) {
            Some(StreamKind::Post { slots, .. }) => slots
                .iter()
                .filter(|s| !s.answered)
                .map(|s| s.id.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The stream's connection went away. Returns whether `connection` was the stream's
    /// current one (a late disconnect of a replaced connection changes nothing).
    pub fn detach(&mut self, id: StreamId, connection: ConnectionId) -> bool {
        match self.open.get_mut(&id) {
            Some(s) if s.connection == Some(connection) => {
                s.connection = None;
                true
            }
            _ => false,
        }
    }

    /// Ends a stream: its connection (if any) gets the end, after a complete 404 when its
    /// reply never started; a finished POST stream of a live session with events left is
    /// kept for replay (`SRV-RES-5`). `keep` says whether the session is still live.
    pub fn close(&mut self, id: StreamId, keep: bool, conns: &mut Connections) -> Option<Closed> {
        let s = self.open.remove(&id)?;
        self.initializing.remove(&id);
        if let Some(c) = s.connection {
            if !s.head_sent {
                // The stream ends before its reply could start (a JSON reply, or an
                // `initialize` reply, cut short by the end of the session): the connection
                // still gets a complete response, the 404 of a session that is gone
                // (`SRV-SESS-7`), so the driver never has to invent one.
                let response =
                    reply::error(self.gone, "the session ended before the response", None);
                let (parts, body) = response.into_parts();
                conns.push(c, StreamEvent::Head(Response::from_parts(parts, ())));
                conns.push(c, StreamEvent::Data(body));
            }
            conns.push(c, StreamEvent::End);
        }
        if let (Some(key), Some(session)) =
            (s.replay.as_ref().and_then(|r| r.key.clone()), &s.session)
        {
            self.spilled.push(Spill::End {
                session: session.clone(),
                stream: key,
            });
        }
        let mut closed = Closed {
            session: s.session,
            retained_until: None,
        };
        // A finished POST stream is kept for a client that lost its end. A standalone
        // stream that ends carries no response anyone waits for. Nor is an `initialize`
        // reply kept: a client that lost it re-initializes (the SDKs do), and keeping it
        // would more than double what every idle session costs.
        let kept = (s.replay.as_ref()).map(|r| (r.buffer.front(), r.buffer.bytes()));
        let mut retained = false;
        let post = matches!(
            s.kind,
            StreamKind::Post {
                initialize: false,
                ..
            }
        );
        let until = match (&s.replay, keep, post, &closed.session) {
            (Some(replay), true, true, Some(_)) => replay.buffer.drained_at(&self.limits),
            _ => None,
        };
        match (s.replay, until, &closed.session) {
            (Some(replay), Some(until), Some(session)) => {
                retained = true;
                self.retained_deadlines.push(Reverse((until, id)));
                self.retained.insert(
                    id,
                    Retained {
                        session: session.clone(),
                        buffer: replay.buffer,
                        next_seq: replay.next_seq,
                        until,
                    },
                );
                closed.retained_until = Some(until);
            }
            (Some(replay), _, _) => self.pool.give(replay.buffer),
            (None, _, _) => {}
        }
        // A buffer that is not kept leaves the server-wide count.
        if let (Some(before), false) = (kept, retained) {
            self.account(id, before, (None, 0));
        }
        Some(closed)
    }

    /// Drops a retained stream; returns its session.
    pub fn drop_retained(&mut self, id: StreamId) -> Option<SessionId> {
        let r = self.retained.remove(&id)?;
        self.tidy_deadlines();
        self.account(id, (r.buffer.front(), r.buffer.bytes()), (None, 0));
        self.pool.give(r.buffer);
        Some(r.session)
    }

    /// Whether a deadline entry still names a retained stream's window.
    fn deadline_is_live(
        retained: &FastMap<StreamId, Retained>,
        (at, id): (Instant, StreamId),
    ) -> bool {
        retained.get(&id).is_some_and(|r| r.until == at)
    }

    /// Pops stale deadlines off the top (so that the top is a live one), and compacts
    /// the heap when stale entries outnumber live ones.
    fn tidy_deadlines(&mut self) {
        while let Some(&Reverse(top)) = self.retained_deadlines.peek() {
            if Self::deadline_is_live(&self.retained, top) {
                break;
            }
            self.retained_deadlines.pop();
        }
        if self.retained_deadlines.len() > 2 * self.retained.len() + 32 {
            let retained = &self.retained;
            self.retained_deadlines
                .retain(|&Reverse(e)| Self::deadline_is_live(retained, e));
        }
    }

    /// The front of stream `id`'s buffer, open or retained.
    fn front_of(
        open: &FastMap<StreamId, Stream>,
        retained: &FastMap<StreamId, Retained>,
        id: StreamId,
    ) -> Option<(Instant, u64)> {
        match open.get(&id) {
            Some(s) => s.replay.as_ref().and_then(|r| r.buffer.front()),
            None => retained.get(&id).and_then(|r| r.buffer.front()),
        }
    }

    /// A replay buffer of stream `id` went from `before` to `after` (its oldest event,
    /// its bytes): the server-wide count and the index of oldest events follow.
    fn account(
        &mut self,
        id: StreamId,
        before: (Option<(Instant, u64)>, usize),
        after: (Option<(Instant, u64)>, usize),
    ) {
        if before.0 != after.0 {
            // The entry of `before` goes stale where it is; `after` is the live one.
            match (before.0.is_some(), after.0.is_some()) {
                (false, true) => self.live_heads += 1,
                (true, false) => self.live_heads -= 1,
                _ => {}
            }
            if let Some((at, seq)) = after.0 {
                self.heads.push(Reverse((at, id, seq)));
            }
            if self.heads.len() > 2 * self.live_heads + 32 {
                let (open, retained) = (&self.open, &self.retained);
                self.heads.retain(|&Reverse((at, id, seq))| {
                    Self::front_of(open, retained, id) == Some((at, seq))
                });
            }
        }
        self.replay_bytes = self.replay_bytes - before.1 + after.1;
    }

    /// The buffer of stream `id`, open or retained.
    fn buffer_mut(&mut self, id: StreamId) -> Option<&mut ReplayBuffer> {
        if let Some(s) = self.open.get_mut(&id) {
            return s.replay.as_mut().map(|r| &mut r.buffer);
        }
        self.retained.get_mut(&id).map(|r| &mut r.buffer)
    }

    /// Drops the oldest events of the whole server while its replay buffers hold more
    /// than [`ReplayLimits::max_total_bytes`] (defect 2 of the outside review).
    fn enforce_budget(&mut self) {
        while self.replay_bytes > self.limits.max_total_bytes {
            let Some(&Reverse((at, id, seq))) = self.heads.peek() else {
                break;
            };
            if Self::front_of(&self.open, &self.retained, id) != Some((at, seq)) {
                self.heads.pop(); // stale
                continue;
            }
            let Some(buffer) = self.buffer_mut(id) else {
                self.heads.pop();
                continue;
            };
            let before = (buffer.front(), buffer.bytes());
            buffer.pop_front();
            let after = (buffer.front(), buffer.bytes());
            self.account(id, before, after);
        }
    }

    /// The bytes kept for replay by the whole server.
    pub fn replay_bytes(&self) -> usize {
        self.replay_bytes
    }

    /// The earliest instant a retained stream's window closes.
    pub fn next_retained_deadline(&self) -> Option<Instant> {
        // The top is kept live (`tidy_deadlines`).
        self.retained_deadlines.peek().map(|&Reverse((at, _))| at)
    }

    /// Drops the retained streams whose window has closed at `now`; returns them with
    /// their sessions.
    pub fn expire_retained(&mut self, now: Instant) -> Vec<(StreamId, SessionId)> {
        let mut gone = Vec::new();
        while let Some(&Reverse((until, id))) = self.retained_deadlines.peek() {
            if until > now {
                break;
            }
            if !Self::deadline_is_live(&self.retained, (until, id)) {
                self.retained_deadlines.pop();
                continue;
            }
            if let Some(session) = self.drop_retained(id) {
                gone.push((id, session));
            }
        }
        gone
    }

    /// Attaches a new connection to a stream after `Last-Event-ID`: the head, then the
    /// events that followed `after` on that stream only, in order (`SRV-RES-5`,
    /// `SRV-RES-6`, `INV-S10`), then the live stream, or the end if the stream had
    /// finished. Returns the connection, how many events were replayed, how many were
    /// already evicted, and whether the stream is still open.
    pub fn resume(
        &mut self,
        id: StreamId,
        after: u64,
        now: Instant,
        conns: &mut Connections,
    ) -> (ConnectionId, usize, u64, bool) {
        let connection = conns.open(id);
        conns.push(connection, StreamEvent::Head(reply::sse_head(None)));
        // Events past the age limit are never replayed, even if no newer event has pushed
        // them out yet; `missed` counts them.
        let limits = self.limits;
        let (buffer, open) = if let Some(s) = self.open.get_mut(&id) {
            s.connection = Some(connection);
            let r = s.replay.as_mut().expect("checked: resumable");
            (&mut r.buffer, true)
        } else {
            let r = self.retained.get_mut(&id).expect("checked: retained");
            (&mut r.buffer, false)
        };
        let before = (buffer.front(), buffer.bytes());
        buffer.evict(now, &limits);
        let after_evict = (buffer.front(), buffer.bytes());
        let (frames, missed) = buffer.after(after);
        let mut replayed = 0;
        for frame in frames {
            conns.push(connection, StreamEvent::Data(frame.clone()));
            replayed += 1;
        }
        if !open {
            conns.push(connection, StreamEvent::End);
        }
        self.account(id, before, after_evict);
        (connection, replayed, missed, open)
    }

    /// Writes the events of another node's stream that this relay stream has not sent
    /// yet, in order, skipping positions it sent (each event once); ends the connection
    /// when the stream `ended`. Returns how many went out. The caller closes the stream
    /// when it ended.
    pub fn relay(
        &mut self,
        id: StreamId,
        events: &[(u64, Bytes)],
        ended: bool,
        conns: &mut Connections,
    ) -> usize {
        let Some(s) = self.open.get_mut(&id) else {
            return 0;
        };
        let StreamKind::Relay { next_seq, .. } = &mut s.kind else {
            return 0;
        };
        let mut sent = 0;
        for (seq, frame) in events {
            if *seq < *next_seq {
                continue;
            }
            *next_seq = seq + 1;
            sent += 1;
            if let Some(c) = s.connection {
                conns.push(c, StreamEvent::Data(frame.clone()));
            }
        }
        if ended {
            if let Some(c) = s.connection.take() {
                conns.push(c, StreamEvent::End);
            }
        }
        sent
    }

    /// The open streams that have a connection attached, in handle order.
    pub fn attached(&self) -> Vec<StreamId> {
        let mut ids: Vec<StreamId> = self
            .open
            .iter()
            .filter(|(_, s)| s.connection.is_some())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Ends the body of a stream's connection now, the stream going on detached (its
    /// events numbered and kept when it is resumable). Only once its head went out.
    pub fn end_connection(&mut self, id: StreamId, conns: &mut Connections) -> bool {
        match self.open.get_mut(&id) {
            Some(s) if s.head_sent => match s.connection.take() {
                Some(c) => {
                    conns.push(c, StreamEvent::End);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Closes a stream's connection without ending the stream (`SRV-PSSE-10`): a `retry`
    /// goes out first (`SRV-PSSE-12`, `INV-S12`), then the end of this connection's body.
    /// Returns whether a connection was attached.
    pub fn close_connection(&mut self, id: StreamId, conns: &mut Connections) -> bool {
        let Some(c) = self.open.get_mut(&id).and_then(|s| s.connection.take()) else {
            return false;
        };
        // A `retry` field alone: it sets the client's reconnection delay, and an event
        // with no data line is not dispatched.
        let bytes = format!("retry: {}\n\n", millis(self.retry)).into_bytes();
        conns.push(c, StreamEvent::Data(Bytes::from(bytes)));
        conns.push(c, StreamEvent::End);
        true
    }
}

/// With a store, an event of a resumable stream is copied there too.
fn spill(out: &mut Vec<Spill>, r: &Replay, session: Option<&SessionId>, seq: u64, frame: &Bytes) {
    if let (Some(key), Some(session)) = (&r.key, session) {
        out.push(Spill::Event {
            session: session.clone(),
            stream: key.clone(),
            seq,
            frame: frame.clone(),
        });
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A JSON array of the given JSON texts (a 2025-03-26 batch reply).
fn json_array<'a>(items: impl Iterator<Item = &'a Bytes> + Clone) -> Bytes {
    let len: usize = items.clone().map(|b| b.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for (i, a) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(a);
    }
    out.push(b']');
    Bytes::from(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their own base instant
mod tests {
    use super::*;
    use crate::server::ReplyMode;

    /// A session's finished streams, retained and then dropped early (as the
    /// per-session limit does) or expired: the earliest deadline is always that of a
    /// stream still retained, the heaps stay within a bound of the live entries, and
    /// the server-wide budget drops the globally oldest events first.
    #[test]
    fn lazy_heaps_track_the_live_entries() {
        let limits = ReplayLimits {
            max_total_bytes: 1_000,
            ..ReplayLimits::default()
        };
        let gone = Answer::new(http::StatusCode::NOT_FOUND, -32001);
        let mut streams = Streams::new(Duration::from_secs(1), limits, gone);
        let mut conns = Connections::new(1 << 20);
        let session = SessionId::new("s-1").expect("an id");
        let ids = EventIds::new([1, 2, 3, 4], None);
        let t0 = Instant::now();
        let mut kept: Vec<StreamId> = Vec::new();
        for i in 0..500u64 {
            let now = t0 + Duration::from_millis(i);
            let kind = StreamKind::Post {
                slots: Slots::collect(std::iter::once(RequestId::Number(i as i64))),
                batch: false,
                initialize: false,
                modern: false,
            };
            let (id, c) = streams.open(Some(session.clone()), ReplyMode::Sse, kind, &mut conns);
            streams.make_resumable(id, ids.clone(), true);
            streams.emit_head(id, &mut conns);
            streams.write_message(id, &[b'x'; 100], now, &mut conns);
            let closed = streams.close(id, true, &mut conns).expect("open");
            assert!(closed.retained_until.is_some());
            conns.disconnect(c);
            kept.push(id);
            // Drop all but the newest eight early, oldest first, as the session limit does.
            while kept.len() > 8 {
                let old = kept.remove(0);
                assert!(streams.drop_retained(old).is_some());
            }
            let earliest = kept
                .iter()
                .map(|id| streams.retained[id].until)
                .min()
                .expect("some kept");
            assert_eq!(streams.next_retained_deadline(), Some(earliest), "step {i}");
            assert!(streams.retained_deadlines.len() <= 2 * streams.retained.len() + 33);
            assert!(streams.heads.len() <= 2 * streams.live_heads + 33);
            assert!(streams.replay_bytes() <= limits.max_total_bytes);
            let live = streams
                .retained
                .values()
                .filter(|r| r.buffer.front().is_some())
                .count();
            assert_eq!(streams.live_heads, live, "step {i}");
        }
        // Everything expires in deadline order; nothing stale comes out.
        let mut by_deadline: Vec<(Instant, StreamId)> = kept
            .iter()
            .map(|id| (streams.retained[id].until, *id))
            .collect();
        by_deadline.sort();
        let gone = streams.expire_retained(t0 + Duration::from_secs(24 * 3600));
        let gone: Vec<StreamId> = gone.into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            gone,
            by_deadline.iter().map(|&(_, id)| id).collect::<Vec<_>>()
        );
        assert_eq!(streams.next_retained_deadline(), None);
        assert!(streams.retained_deadlines.is_empty());
        assert_eq!(streams.live_heads, 0);
        assert_eq!(streams.replay_bytes(), 0);
    }
}
