//! Sessions shared across server processes: the store a [`McpService`](crate::server::McpService)
//! reads and writes when its [`ServerConfig::store`](mcp_http_proto::server::ServerConfig::store)
//! is set, and the tasks that carry the machine's store seam out.
//!
//! The machine decides everything (see [`mcp_http_proto::server`]'s store seam): which
//! request waits for a record, which write a reply waits for, what other nodes must be
//! told. A [`SessionStore`] only moves bytes between this node, the store and the other
//! nodes. [`RedisStore`](crate::redis_store::RedisStore) (feature `redis`) is the one
//! this crate ships; a test can implement the trait over anything.
//!
//! ```text
//!  request ─▶ Engine::handle ─▶ Reply::Park ─▶ store.read / read_stream ─▶ Engine::resume_*
//!  every input ─▶ the machine's writes ─▶ writer task: store.write, in order ─▶ Engine::confirm
//!  a reply that waits for a write (a DELETE, a 202) ─▶ Engine::poll_ticket, then goes
//!  a stream relayed from the store ─▶ relay task: store.wait_stream ─▶ Engine::relay
//!  other nodes' news ─▶ store.listen ─▶ Engine::refresh_session / forget_session / handle_forwarded
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use mcp_http_proto::server::{
    SessionRecord, StoreOp, StoreUnavailable, StoredEvents, StoredStream, StreamId, StreamKey,
};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto_driver::engine::Engine;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A session store shared by the nodes of a cluster. Every method fails fast (within
/// about a second) when the store cannot be reached: the machine answers 503 with
/// `Retry-After` and the node goes on.
pub trait SessionStore: Send + Sync + 'static {
    /// A session's record; `None` when the store holds none (never created, deleted,
    /// expired).
    fn read<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreUnavailable>>;

    /// The store's copy of a stream of `session`, with the events after `after`; `None`
    /// when it has none (of this session).
    fn read_stream<'a>(
        &'a self,
        session: &'a SessionId,
        stream: &'a StreamKey,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<StoredStream>, StoreUnavailable>>;

    /// Waits a bounded time (about a second) for events at position `next` or later, or
    /// the stream's end, and returns what came (possibly nothing).
    fn wait_stream<'a>(
        &'a self,
        session: &'a SessionId,
        stream: &'a StreamKey,
        next: u64,
    ) -> BoxFuture<'a, Result<StoredEvents, StoreUnavailable>>;

    /// Performs writes, in order (a store pipelines them: this is the hot path, an
    /// in-session request makes two or three), and tells the other nodes what they must
    /// learn of them (an update or a delete of a record, a forward to a node). Returns
    /// one result per write. A write with a ticket is done once the other nodes that can
    /// be reached have learnt it, so that the reply that waits for it is true
    /// everywhere.
    fn write<'a>(&'a self, ops: &'a [StoreOp]) -> BoxFuture<'a, Vec<Result<(), StoreUnavailable>>>;

    /// Runs as long as `engine` lives: delivers the other nodes' news to it
    /// ([`Engine::refresh_session`], [`Engine::forget_session`],
    /// [`Engine::handle_forwarded`]), reconnecting when the store goes away, and evicting
    /// the idle sessions ([`Engine::evict_idle_sessions`]) when news may have been
    /// missed.
    fn listen(self: Arc<Self>, engine: Weak<Engine>) -> BoxFuture<'static, ()>;
}

/// Reads what a parked request waits for from `store` and hands it back, until the
/// request is no longer parked (a cold node fetches the session, then the stream).
pub(crate) async fn unpark(
    engine: &Arc<Engine>,
    store: Option<&Arc<dyn SessionStore>>,
    mut handled: mcp_http_proto_driver::engine::Handled,
) -> mcp_http_proto_driver::engine::Handled {
    use mcp_http_proto_driver::engine::{Parked, Reply};
    loop {
        handled = match (handled.reply, store) {
            (Reply::Park(Parked::Session(f)), Some(store)) => {
                let record = store.read(f.session()).await;
                engine.resume_session(f, record)
            }
            (Reply::Park(Parked::Stream(f)), Some(store)) => {
                let stored = store.read_stream(f.session(), f.stream(), f.after()).await;
                engine.resume_stream(f, stored)
            }
            (Reply::Park(p), None) => {
                // No store reachable from this service: the store's 503.
                let parked = mcp_http_proto_driver::engine::Handled {
                    reply: Reply::Park(p),
                    ..handled
                };
                engine.without_store(parked)
            }
            (reply, _) => {
                return mcp_http_proto_driver::engine::Handled { reply, ..handled };
            }
        };
    }
}

/// The writer: performs the machine's writes in order, all that are waiting at once, and
/// confirms those a reply waits for. Ends when the engine is gone.
pub(crate) async fn write_all(engine: Weak<Engine>, store: Arc<dyn SessionStore>) {
    loop {
        let ops = std::future::poll_fn(|cx| match engine.upgrade() {
            Some(e) => e.poll_store_ops(cx.waker()).map(Some),
            None => std::task::Poll::Ready(None),
        })
        .await;
        let Some(ops) = ops else { return };
        let results = store.write(&ops).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed > 0 {
            tracing::warn!(target: "mcp_http_proto", failed, of = ops.len(), "store writes failed");
        }
        let Some(e) = engine.upgrade() else { return };
        for (op, result) in ops.iter().zip(results) {
            if let Some(t) = op.ticket {
                e.confirm(t, result);
            }
        }
        e.store_written(ops.len());
    }
}

/// A relay: feeds a resumed stream of another node with what the store gets, until it
/// ends or its client leaves.
pub(crate) async fn relay(
    engine: Weak<Engine>,
    store: Arc<dyn SessionStore>,
    session: SessionId,
    stream: StreamId,
) {
    loop {
        let Some((key, next)) = engine.upgrade().and_then(|e| e.relay_next(stream)) else {
            return;
        };
        match store.wait_stream(&session, &key, next).await {
            Ok(more) if more.events.is_empty() && !more.ended => {}
            Ok(more) => {
                let Some(e) = engine.upgrade() else { return };
                if e.relay(stream, more).is_err() {
                    return; // the stream is over
                }
            }
            Err(StoreUnavailable) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
