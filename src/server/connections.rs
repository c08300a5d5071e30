//! Connections and their output queues.
//!
//! Every head the machine emits opens a connection ([`ConnectionId`]); the connection's
//! outputs (its head, body chunks, its end) wait in its own queue, in order, until the
//! driver pulls them. Nothing a connection is owed is ever handed to anyone else, so no
//! order of draining and registering loses output: a driver that has not yet set up
//! where a connection's bytes go finds them still queued when it has.
//!
//! ```text
//!  open ──push(Head)──▶ queued ──poll──▶ … ──poll(End)──▶ gone
//!    │                     │
//!    └── disconnect ───────┴──▶ gone: what was queued is dropped; later pushes and a
//!                              second disconnect are no-ops
//! ```
//!
//! A connection's queue is bounded: when the bytes waiting for it would pass
//! [`ServerConfig::max_queued_bytes`](super::ServerConfig::max_queued_bytes) (its client
//! does not read), what it was owed is dropped and its body ends; the machine then treats
//! the connection as gone (its stream goes on detached, its events kept for a resume).
//!
//! A connection is announced once in the ready list when output arrives for it and it is
//! not listed yet ([`Connections::poll_ready`]), so a driver that parks one task per
//! connection knows which to wake.

use std::collections::VecDeque;

use crate::fasthash::FastMap;

use super::{Output, StreamEvent};
use crate::handle::{ConnectionId, StreamId};

#[derive(Debug)]
struct Queue {
    stream: StreamId,
    events: VecDeque<StreamEvent>,
    /// The bytes of the `Data` events waiting.
    bytes: usize,
    listed: bool,
    /// The bound was passed: the queue holds its end and takes nothing more.
    overflowed: bool,
    /// Its output waits for a store write to be confirmed: nothing is handed out yet.
    held: bool,
}

#[derive(Debug)]
pub(super) struct Connections {
    queues: FastMap<ConnectionId, Queue>,
    ready: VecDeque<ConnectionId>,
    next: u64,
    max_bytes: usize,
    /// Connections whose bound was passed, for the machine to settle.
    overflowed: Vec<(ConnectionId, StreamId)>,
    /// Emptied queues of connections that ended, reused by the next ones: a connection
    /// then costs no allocation. At most [`SPARE_QUEUES`] are kept, each of at most
    /// [`SPARE_CAPACITY`] events, so the pool stays small whatever came before.
    spare: Vec<VecDeque<StreamEvent>>,
}

/// How many emptied queues [`Connections`] keeps for reuse.
const SPARE_QUEUES: usize = 32;
/// The largest queue (in events) kept for reuse: a long stream's queue is let go.
const SPARE_CAPACITY: usize = 8;

impl Connections {
    /// No connections yet; each may queue up to `max_bytes` of body bytes.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            queues: FastMap::default(),
            ready: VecDeque::new(),
            next: 0,
            max_bytes,
            overflowed: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Ends a connection's queue, keeping its buffer for the next connection.
    fn remove(&mut self, id: ConnectionId) {
        if let Some(q) = self.queues.remove(&id) {
            let mut events = q.events;
            if self.spare.len() < SPARE_QUEUES && events.capacity() <= SPARE_CAPACITY {
                events.clear();
                self.spare.push(events);
            }
        }
    }

    /// A new connection for `stream`.
    pub fn open(&mut self, stream: StreamId) -> ConnectionId {
        let id = ConnectionId(self.next);
        self.next += 1;
        self.queues.insert(
            id,
            Queue {
                stream,
                events: self.spare.pop().unwrap_or_default(),
                bytes: 0,
                listed: false,
                overflowed: false,
                held: false,
            },
        );
        id
    }

    /// Holds a connection's output (what is queued and what comes) until
    /// [`release`](Self::release): its reply waits for a store write.
    pub fn hold(&mut self, id: ConnectionId) {
        if let Some(q) = self.queues.get_mut(&id) {
            q.held = true;
        }
    }

    /// Hands a held connection's output out again.
    pub fn release(&mut self, id: ConnectionId) {
        let Some(q) = self.queues.get_mut(&id) else {
            return;
        };
        q.held = false;
        if !q.events.is_empty() && !q.listed {
            q.listed = true;
            self.ready.push_back(id);
        }
    }

    /// Replaces everything a connection was owed, which nobody has seen (it was held),
    /// with a complete response, and releases it.
    pub fn replace(&mut self, id: ConnectionId, response: http::Response<bytes::Bytes>) {
        let Some(q) = self.queues.get_mut(&id) else {
            return;
        };
        let (head, body) = response.into_parts();
        q.events.clear();
        q.events
            .push_back(StreamEvent::Head(http::Response::from_parts(head, ())));
        q.bytes = body.len();
        q.events.push_back(StreamEvent::Data(body));
        q.events.push_back(StreamEvent::End);
        q.overflowed = true; // complete: it takes nothing more
        self.release(id);
    }

    /// Whether this machine ever issued `id`.
    pub fn issued(&self, id: ConnectionId) -> bool {
        id.0 < self.next
    }

    /// The stream an open connection belongs to.
    pub fn stream_of(&self, id: ConnectionId) -> Option<StreamId> {
        self.queues.get(&id).map(|q| q.stream)
    }

    /// Queues an output for a connection; a connection that is gone takes nothing. A
    /// `Data` that would pass the bound (on a queue already holding data: one frame alone
    /// always fits) drops what was waiting and ends the body instead.
    pub fn push(&mut self, id: ConnectionId, event: StreamEvent) {
        let Some(q) = self.queues.get_mut(&id) else {
            return;
        };
        if q.overflowed {
            return;
        }
        if let StreamEvent::Data(b) = &event {
            if q.bytes > 0 && q.bytes + b.len() > self.max_bytes {
                q.events.retain(|e| matches!(e, StreamEvent::Head(_)));
                q.events.push_back(StreamEvent::End);
                q.bytes = 0;
                q.overflowed = true;
                self.overflowed.push((id, q.stream));
                if !q.listed && !q.held {
                    q.listed = true;
                    self.ready.push_back(id);
                }
                return;
            }
            q.bytes += b.len();
        }
        q.events.push_back(event);
        if !q.listed && !q.held {
            q.listed = true;
            self.ready.push_back(id);
        }
    }

    /// The connection went away: what it was owed is dropped.
    pub fn disconnect(&mut self, id: ConnectionId) {
        self.remove(id);
    }

    /// The connections whose bound was passed since the last call.
    pub fn take_overflowed(&mut self) -> Vec<(ConnectionId, StreamId)> {
        std::mem::take(&mut self.overflowed)
    }

    /// The next output of one connection. After its `End` the connection is gone.
    pub fn poll(&mut self, id: ConnectionId) -> Option<StreamEvent> {
        let q = self.queues.get_mut(&id)?;
        if q.held {
            return None;
        }
        let event = q.events.pop_front()?;
        if let StreamEvent::Data(b) = &event {
            q.bytes -= b.len();
        }
        if matches!(event, StreamEvent::End) {
            self.remove(id);
        }
        Some(event)
    }

    /// A connection that has output waiting, once per arrival of output.
    pub fn poll_ready(&mut self) -> Option<ConnectionId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(q) = self.queues.get_mut(&id) {
                q.listed = false;
                if !q.events.is_empty() && !q.held {
                    return Some(id);
                }
            }
        }
        None
    }

    /// The next output of any connection: the connections in the order output arrived
    /// for them, each drained before the next.
    pub fn poll_any(&mut self) -> Option<Output> {
        loop {
            let &id = self.ready.front()?;
            let Some(q) = self.queues.get_mut(&id) else {
                self.ready.pop_front();
                continue;
            };
            let stream = q.stream;
            if q.held {
                q.listed = false;
                self.ready.pop_front();
                continue;
            }
            let Some(event) = q.events.pop_front() else {
                q.listed = false;
                self.ready.pop_front();
                continue;
            };
            if let StreamEvent::Data(b) = &event {
                q.bytes -= b.len();
            }
            if q.events.is_empty() {
                q.listed = false;
                self.ready.pop_front();
            }
            if matches!(event, StreamEvent::End) {
                self.remove(id);
            }
            return Some(Output {
                connection: id,
                stream,
                event,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn data(n: usize) -> StreamEvent {
        StreamEvent::Data(Bytes::from(vec![b'x'; n]))
    }

    #[test]
    fn a_reused_queue_starts_empty_and_the_pool_stays_bounded() {
        let mut c = Connections::new(1 << 20);
        // A connection that ends with output never polled (disconnected) and one
        // drained to its end both give their queue back, emptied.
        let a = c.open(StreamId(0));
        c.push(a, data(3));
        c.push(a, data(4));
        c.disconnect(a);
        let b = c.open(StreamId(1));
        assert_eq!(c.spare.len(), 0, "the new connection took the spare queue");
        assert!(
            c.poll(b).is_none(),
            "nothing of the old connection's output"
        );
        c.push(b, data(5));
        c.push(b, StreamEvent::End);
        let mut got = Vec::new();
        while let Some(o) = c.poll_any() {
            assert_eq!(o.connection, b);
            got.push(o.event);
        }
        assert!(matches!(&got[..], [StreamEvent::Data(d), StreamEvent::End] if d.len() == 5));
        assert_eq!(c.spare.len(), 1);
        // A long queue is let go, and never more than SPARE_QUEUES are kept.
        let long = c.open(StreamId(2));
        for _ in 0..SPARE_CAPACITY + 1 {
            c.push(long, data(1));
        }
        c.disconnect(long);
        assert_eq!(c.spare.len(), 0);
        let ids: Vec<_> = (0..SPARE_QUEUES + 5)
            .map(|i| c.open(StreamId(10 + i as u64)))
            .collect();
        for id in ids {
            c.disconnect(id);
        }
        assert_eq!(c.spare.len(), SPARE_QUEUES);
    }
}
