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
//! A connection is announced once in the ready list when output arrives for it and it is
//! not listed yet ([`Connections::poll_ready`]), so a driver that parks one task per
//! connection knows which to wake.

use std::collections::{HashMap, VecDeque};

use super::{Output, StreamEvent};
use crate::handle::{ConnectionId, StreamId};

#[derive(Debug)]
struct Queue {
    stream: StreamId,
    events: VecDeque<StreamEvent>,
    listed: bool,
}

#[derive(Debug, Default)]
pub(super) struct Connections {
    queues: HashMap<ConnectionId, Queue>,
    ready: VecDeque<ConnectionId>,
    next: u64,
}

impl Connections {
    /// A new connection for `stream`.
    pub fn open(&mut self, stream: StreamId) -> ConnectionId {
        let id = ConnectionId(self.next);
        self.next += 1;
        self.queues.insert(
            id,
            Queue {
                stream,
                events: VecDeque::new(),
                listed: false,
            },
        );
        id
    }

    /// Whether this machine ever issued `id`.
    pub fn issued(&self, id: ConnectionId) -> bool {
        id.0 < self.next
    }

    /// The stream an open connection belongs to.
    pub fn stream_of(&self, id: ConnectionId) -> Option<StreamId> {
        self.queues.get(&id).map(|q| q.stream)
    }

    /// Queues an output for a connection; a connection that is gone takes nothing.
    pub fn push(&mut self, id: ConnectionId, event: StreamEvent) {
        let Some(q) = self.queues.get_mut(&id) else {
            return;
        };
        q.events.push_back(event);
        if !q.listed {
            q.listed = true;
            self.ready.push_back(id);
        }
    }

    /// The connection went away: what it was owed is dropped.
    pub fn disconnect(&mut self, id: ConnectionId) {
        self.queues.remove(&id);
    }

    /// The next output of one connection. After its `End` the connection is gone.
    pub fn poll(&mut self, id: ConnectionId) -> Option<StreamEvent> {
        let q = self.queues.get_mut(&id)?;
        let event = q.events.pop_front()?;
        if matches!(event, StreamEvent::End) {
            self.queues.remove(&id);
        }
        Some(event)
    }

    /// A connection that has output waiting, once per arrival of output.
    pub fn poll_ready(&mut self) -> Option<ConnectionId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(q) = self.queues.get_mut(&id) {
                q.listed = false;
                if !q.events.is_empty() {
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
            let Some(event) = q.events.pop_front() else {
                q.listed = false;
                self.ready.pop_front();
                continue;
            };
            if q.events.is_empty() {
                q.listed = false;
                self.ready.pop_front();
            }
            if matches!(event, StreamEvent::End) {
                self.queues.remove(&id);
            }
            return Some(Output {
                connection: id,
                stream,
                event,
            });
        }
    }
}
