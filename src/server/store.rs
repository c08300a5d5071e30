//! The seam to a session store shared by several server processes ("nodes").
//!
//! With [`ServerConfig::store`](super::ServerConfig::store) set, this machine's session
//! table is a cache of a store that every node reads and writes (Redis, in the
//! `mcp-http-proto-tokio` driver). The machine still does no I/O: it asks, and the driver
//! carries the bytes.
//!
//! ```text
//!  request naming a session this node does not hold
//!     ──▶ Outcome::FetchSession(fetch)      (steps 1..7 passed; the request is parked)
//!     driver: read the record ──▶ Server::resume_fetched(fetch, Ok(Some(record)) | Ok(None) | Err(StoreUnavailable))
//!     ──▶ the checks go on at step 8: the same outcome the request would have had here
//!         (404 when the record is gone, 503 + Retry-After when the store is down)
//!
//!  every change to a record ──▶ Server::poll_store ──▶ StoreOp
//!     Put (created), Update (initialized)   confirmed with Server::store_done before its reply goes
//!     Delete (DELETE, terminate)            confirmed with Server::store_done before its reply goes
//!     Update (a standalone stream opened), Touch (activity, a busy session's heartbeat),
//!     Append / EndStream (SSE events, for a resume on another node),
//!     Forward (an answer or a message for the node that holds what it is for)
//!                                           fire and forget, in order
//! ```
//!
//! **Expiry and eviction.** The store's TTL decides when a session expires: every `Put`
//! and `Touch` carries it, [`ServerConfig::session_idle_timeout`](super::ServerConfig)
//! plus [`StoreConfig::touch_interval`], and a node refreshes it with a `Touch` at most
//! once per touch interval (on a request, and while a stream of the session is open
//! here). So a session lives at least the idle timeout after its last activity on any
//! node, and at most one touch interval more, without a write on every request. Locally,
//! an idle session is only *evicted* ([`ServerEvent::SessionEvicted`](super::ServerEvent)):
//! it leaves this node's memory, not the store, after [`StoreConfig::cache_for`] (never
//! later than the idle timeout), or sooner when the local table is full.
//!
//! **Coherence.** A `Put` or `Delete` is written before the response that depends on it
//! goes out (the machine holds that response until [`Server::store_done`]), so a client
//! never learns of a session that another node cannot fetch, and after a DELETE's
//! response the store no longer holds the id. Copies other nodes hold are brought up to
//! date by the driver: it tells every other node of each `Update` (they call
//! [`Server::refresh_session`]) and `Delete` (they call [`Server::forget_session`]).
//!
//! **Streams and requests across nodes.** Event ids and server-to-client request ids
//! start with `{node}.{salt}`, so any node can tell which node holds the stream or awaits
//! the answer. Events of resumable streams are appended to the store as they are sent; a
//! `Last-Event-ID` of a stream this node does not hold parks the resumption
//! ([`Outcome::FetchStream`](super::Outcome::FetchStream)) while the driver reads the
//! stream, which is then replayed and relayed live ([`Server::relay`]) until it ends,
//! each event exactly once, in order. A client's answer to another node's request, and a
//! message for a standalone stream on another node, become a `Forward` to that node.
//!
//! [`Server::relay`]: super::Server::relay
//!
//! [`Server::store_done`]: super::Server::store_done
//! [`Server::refresh_session`]: super::Server::refresh_session
//! [`Server::forget_session`]: super::Server::forget_session

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use serde::{Deserialize, Serialize};

use super::sessions::{RecordChange, SessionRecord};
use crate::wire::SessionId;

/// The name of one node of a cluster: 1 to 32 ASCII letters, digits and `_`. It is part
/// of the ids this node mints, so two nodes must never share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Box<str>);

impl NodeId {
    /// The most bytes a node id has.
    pub const MAX_LEN: usize = 32;

    /// A node id, when `id` is 1 to 32 ASCII letters, digits and `_`.
    pub fn new(id: &str) -> Result<Self, InvalidNodeId> {
        let ok = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(id.into()))
        } else {
            Err(InvalidNodeId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for NodeId {
    type Err = InvalidNodeId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A stream's key in the store: `{node}.{salt}-{stream}`, the prefix of its event ids.
/// It names the node (and the run of it) that holds the stream live. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey(pub(super) Arc<str>);

impl Serialize for StreamKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StreamKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self(text.into()))
    }
}

impl StreamKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The node that holds the stream live (or did: the run may have ended).
    pub fn node(&self) -> Option<NodeId> {
        let prefix = self.0.rsplit_once('-')?.0;
        super::replay::node_of(prefix)
    }
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node id that is not 1 to 32 ASCII letters, digits and `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 1 to 32 ASCII letters, digits and '_'")]
pub struct InvalidNodeId;

/// How this node shares its sessions with the others through a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// This node's name.
    pub node_id: NodeId,
    /// The least time between two TTL refreshes of one session by this node (default 60
    /// seconds; keep it well below the idle timeout). A session's TTL in the store is the
    /// idle timeout plus this.
    pub touch_interval: Duration,
    /// The longest an idle session stays in this node's memory (default 5 minutes, and
    /// never longer than the idle timeout). After it the session is evicted here and
    /// fetched again when a request names it.
    pub cache_for: Duration,
}

impl StoreConfig {
    /// A store configuration for node `node_id` with the default intervals.
    pub fn new(node_id: NodeId) -> Self {
        Self {
            node_id,
            touch_interval: Duration::from_secs(60),
            cache_for: Duration::from_secs(5 * 60),
        }
    }
}

/// A request parked while the driver reads a session's record from the store: give it
/// back with [`Server::resume_fetched`](super::Server::resume_fetched). Steps 1 to 7 of
/// the checks passed; the record decides step 8.
#[derive(Debug)]
#[must_use = "a parked request gets its response only through Server::resume_fetched"]
pub struct FetchSession {
    pub(super) session: SessionId,
    pub(super) request: Request<Bytes>,
}

impl FetchSession {
    /// The session whose record to read.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The parked request.
    pub fn request(&self) -> &Request<Bytes> {
        &self.request
    }
}

/// The store could not be reached, or failed the operation. Requests that need it get
/// 503 with `Retry-After` ([`Refusal::StoreUnavailable`](super::Refusal::StoreUnavailable)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("the session store is unavailable")]
pub struct StoreUnavailable;

/// The handle of a store write the driver confirms with
/// [`Server::store_done`](super::Server::store_done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub(super) u64);

/// One write to the store, in the order the machine made the changes. Writes of one
/// session must reach the store in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOp {
    /// Set for writes a reply waits for: perform the write, then call
    /// [`Server::store_done`](super::Server::store_done) with this ticket. `None` for a
    /// write that nothing waits for (a `Touch`): a failed one is simply lost.
    pub ticket: Option<Ticket>,
    /// What to write.
    pub action: StoreAction,
}

/// What to write to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreAction {
    /// Write a new session's record, expiring after `ttl` (`None`: never).
    Put {
        /// The record.
        record: SessionRecord,
        /// When the store forgets it unless touched again.
        ttl: Option<Duration>,
    },
    /// Change one field of a record the store holds (and restart its TTL); a record the
    /// store no longer holds stays gone. Tell the other nodes, which call
    /// [`Server::refresh_session`](super::Server::refresh_session) with it.
    Update {
        /// The session.
        id: SessionId,
        /// The change.
        change: RecordChange,
        /// The new TTL.
        ttl: Option<Duration>,
    },
    /// Restart the record's TTL: the session was active here.
    Touch {
        /// The session.
        id: SessionId,
        /// The new TTL.
        ttl: Duration,
    },
    /// Delete the record: the session ended (DELETE, or the application ended it). Tell
    /// the other nodes, which call [`Server::forget_session`](super::Server::forget_session).
    /// The session's streams in the store go with it.
    Delete {
        /// The session.
        id: SessionId,
    },
    /// Append one SSE event (its complete frame, id included) to a stream's copy in the
    /// store, for a client that resumes on another node. Keep a stream within the same
    /// limits as [`ReplayLimits`](super::ReplayLimits) (count, bytes, age); its sequence
    /// numbers only grow.
    Append {
        /// The session the stream belongs to.
        session: SessionId,
        /// The stream.
        stream: StreamKey,
        /// The event's position on the stream.
        seq: u64,
        /// The frame as the client gets it.
        frame: Bytes,
    },
    /// The stream ended: nothing more is appended, and a node relaying it ends its copy
    /// once it has sent every event.
    EndStream {
        /// The session the stream belongs to.
        session: SessionId,
        /// The stream.
        stream: StreamKey,
    },
    /// Deliver `payload` to node `node` (a client's answer to a request that node sent, a
    /// message for a stream that node holds); that node calls
    /// [`Server::handle_forwarded`](super::Server::handle_forwarded) with it. Nothing
    /// waits: a node that is gone loses it, as its requests and streams are lost.
    Forward {
        /// The session it belongs to.
        session: SessionId,
        /// The node to deliver it to.
        node: NodeId,
        /// The bytes to deliver, opaque to the driver.
        payload: Bytes,
    },
}

impl StoreAction {
    /// The session the write is about.
    pub fn session(&self) -> &SessionId {
        match self {
            Self::Put { record, .. } => &record.id,
            Self::Touch { id, .. } | Self::Update { id, .. } | Self::Delete { id } => id,
            Self::Append { session, .. }
            | Self::EndStream { session, .. }
            | Self::Forward { session, .. } => session,
        }
    }
}

/// A resumption parked while the driver reads a stream's copy from the store: its
/// `Last-Event-ID` names a stream this node does not hold (another node's, or an
/// earlier run's). Give it back with
/// [`Server::resume_stream`](super::Server::resume_stream).
#[derive(Debug)]
#[must_use = "a parked resumption gets its response only through Server::resume_stream"]
pub struct FetchStream {
    pub(super) session: SessionId,
    pub(super) stream: StreamKey,
    pub(super) after: u64,
    pub(super) request: Request<Bytes>,
}

impl FetchStream {
    /// The session the client resumes in.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The stream to read.
    pub fn stream(&self) -> &StreamKey {
        &self.stream
    }

    /// The position the client saw last: read the events after it.
    pub fn after(&self) -> u64 {
        self.after
    }

    /// The parked request.
    pub fn request(&self) -> &Request<Bytes> {
        &self.request
    }
}

/// What the store holds of a stream: what [`Server::resume_stream`] needs.
///
/// [`Server::resume_stream`]: super::Server::resume_stream
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    /// The session it belongs to (a client resumes only streams of its own session).
    pub session: SessionId,
    /// One past the last position appended.
    pub next_seq: u64,
    /// The events after the position asked for that the store still keeps, in order:
    /// each position and frame.
    pub events: Vec<(u64, Bytes)>,
    /// Whether the stream has ended ([`StoreAction::EndStream`]).
    pub ended: bool,
}

/// More of a stream a node relays (after [`Server::resume_stream`]): events appended
/// since, and whether it has ended. Hand them to [`Server::relay`].
///
/// [`Server::resume_stream`]: super::Server::resume_stream
/// [`Server::relay`]: super::Server::relay
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredEvents {
    /// Events in order, each position and frame; positions already relayed are skipped.
    pub events: Vec<(u64, Bytes)>,
    /// Whether the stream has ended.
    pub ended: bool,
}

/// What a node told this one ([`Server::handle_forwarded`](super::Server::handle_forwarded)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forwarded {
    /// A client's answer to a request this node sent, paired by the machine as an
    /// accepted POST's answers are.
    Answer(super::Answered),
    /// A message for this node's standalone stream of the session: it went out on it.
    Delivered(crate::handle::StreamId),
    /// Nothing here can take it any more (the request was forgotten, the stream ended,
    /// the session left this node).
    Undeliverable,
}
