//! A [`SessionStore`] on Redis (feature `redis`): records, stream copies and the news
//! between nodes, for servers that share sessions behind a plain round-robin balancer.
//!
//! **Keys** (all of one session in one hash slot, `{session}`, so Redis Cluster keeps a
//! session's keys together and its scripts on one node):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `mcp:{S}` | hash | the record: `v` version, `i` initialized, `sa` standalone stream; TTL = the machine's |
//! | `mcp:{S}:k` | set | the session's stream keys, for a delete |
//! | `mcp:{S}:x:K` | stream | stream `K`'s events, entry id `0-(seq+1)`, field `f` the frame; an entry with field `e` marks its end |
//! | `mcp:{S}:m:K` | hash | stream `K`'s `n` (next position), `b` (bytes kept), `e` (ended) |
//!
//! A stream's copy is bounded as the machine's replay buffers are: at most
//! [`ReplayLimits::max_events`] events and [`ReplayLimits::max_bytes`] bytes (the oldest
//! go first, the newest always stays), and it expires [`ReplayLimits::max_age`] after its
//! newest event.
//!
//! **Channels**: `mcp:cluster` carries record updates and deletes to every node;
//! `mcp:node:N` carries forwards to node `N` and the acknowledgements of the updates and
//! deletes `N` sent. A write a reply waits for (an `initialized`, a DELETE) returns once
//! every other subscribed node has acknowledged it (or after 300 ms), so that after a
//! DELETE's response no node serves the id.
//!
//! **Failures**: every command has a one-second bound; a failed read or write is
//! [`StoreUnavailable`] (the machine answers 503 with `Retry-After`). The connection
//! reconnects by itself; the listener resubscribes and, since it may have missed news,
//! evicts this node's idle sessions ([`Engine::evict_idle_sessions`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{
    NodeId, RecordChange, ReplayLimits, SessionRecord, StoreAction, StoreOp, StoreUnavailable,
    StoredEvents, StoredStream, StreamKey,
};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto_driver::engine::Engine;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncCommands as _, Script, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::store::{BoxFuture, SessionStore};

/// The bound on every command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a write a reply waits for waits for the other nodes' acknowledgements.
const ACK_TIMEOUT: Duration = Duration::from_millis(300);
/// How long one `XREAD BLOCK` of a relay waits.
const BLOCK_MS: u64 = 400;
/// The broadcast channel.
const CLUSTER: &str = "mcp:cluster";

/// Sessions in Redis. Cheap to share (`Arc`); one per node.
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    node: NodeId,
    limits: ReplayLimits,
    /// Connections for blocking reads, one per relay at a time.
    blocking: tokio::sync::Mutex<Vec<MultiplexedConnection>>,
    nonce: AtomicU64,
    acks: Mutex<HashMap<u64, Arc<AckWait>>>,
    scripts: Scripts,
}

#[derive(Default)]
struct AckWait {
    got: AtomicU64,
    notify: Notify,
}

struct Scripts {
    update: Script,
    delete: Script,
    trim: Script,
}

/// A message on `mcp:cluster` or `mcp:node:N`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Wire {
    /// A record changed (on `mcp:cluster`).
    Update {
        from: String,
        nonce: u64,
        id: String,
        change: RecordChange,
    },
    /// A record was deleted (on `mcp:cluster`).
    Delete {
        from: String,
        nonce: u64,
        id: String,
    },
    /// An update or delete this node sent was applied (on `mcp:node:N`).
    Ack { nonce: u64 },
    /// A payload for this node's machine (on `mcp:node:N`), as text (an internally
    /// tagged message cannot hold raw JSON).
    Fwd { p: String },
}

fn record_key(id: &SessionId) -> String {
    format!("mcp:{{{id}}}")
}

fn set_key(id: &SessionId) -> String {
    format!("mcp:{{{id}}}:k")
}

fn stream_keys(id: &SessionId, stream: &StreamKey) -> (String, String) {
    (
        format!("mcp:{{{id}}}:x:{stream}"),
        format!("mcp:{{{id}}}:m:{stream}"),
    )
}

fn node_channel(node: &str) -> String {
    format!("mcp:node:{node}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Runs one Redis call with the command bound; any failure is `StoreUnavailable`.
async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreUnavailable> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::debug!(target: "mcp_http_proto", error = %e, what, "redis");
            Err(StoreUnavailable)
        }
        Err(_) => {
            tracing::debug!(target: "mcp_http_proto", what, "redis: timed out");
            Err(StoreUnavailable)
        }
    }
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379/`) for node `node`, keeping
    /// stream copies within `limits` (the machine's
    /// [`ServerConfig::replay`](mcp_http_proto::server::ServerConfig::replay)).
    pub async fn connect(
        url: &str,
        node: NodeId,
        limits: ReplayLimits,
    ) -> redis::RedisResult<Arc<Self>> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(Arc::new(Self {
            client,
            conn,
            node,
            limits,
            blocking: tokio::sync::Mutex::new(Vec::new()),
            nonce: AtomicU64::new(1),
            acks: Mutex::new(HashMap::new()),
            scripts: Scripts {
                update: Script::new(
                    r"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
                      redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
                      if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
                      return 1",
                ),
                delete: Script::new(
                    r"for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
                        redis.call('DEL', ARGV[1] .. 'x:' .. m, ARGV[1] .. 'm:' .. m)
                      end
                      return redis.call('DEL', KEYS[1], KEYS[2])",
                ),
                trim: Script::new(
                    r"local n = redis.call('XLEN', KEYS[1])
                      local b = tonumber(redis.call('HGET', KEYS[2], 'b') or '0')
                      while n > 1 and (n > tonumber(ARGV[1]) or b > tonumber(ARGV[2])) do
                        local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
                        redis.call('XDEL', KEYS[1], old[1])
                        if old[2][1] == 'f' then
                          b = redis.call('HINCRBY', KEYS[2], 'b', -string.len(old[2][2]))
                        end
                        n = n - 1
                      end
                      return n",
                ),
            },
        }))
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn read_record(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreUnavailable> {
        let mut c = self.conn();
        let fields: HashMap<String, String> = bounded("read", c.hgetall(record_key(id))).await?;
        let Some(version) = fields.get("v").and_then(|v| ProtocolVersion::from_wire(v)) else {
            return Ok(None); // none, or not a record of ours
        };
        Ok(Some(SessionRecord {
            id: id.clone(),
            protocol_version: version,
            initialized: fields.get("i").is_some_and(|i| i == "1"),
            standalone: fields
                .get("sa")
                .and_then(|k| serde_json::from_value(serde_json::Value::String(k.clone())).ok()),
        }))
    }

    async fn update(
        &self,
        id: &SessionId,
        change: &RecordChange,
        ttl: Option<Duration>,
    ) -> Result<(), StoreUnavailable> {
        let (field, value) = match change {
            RecordChange::Initialized => ("i", "1".to_owned()),
            RecordChange::Standalone(key) => ("sa", key.as_str().to_owned()),
            other => {
                tracing::warn!(target: "mcp_http_proto", change = ?other, "a record change this store does not know");
                return Ok(());
            }
        };
        let mut c = self.conn();
        let mut inv = self.scripts.update.key(record_key(id));
        inv.arg(field).arg(value).arg(ttl.map_or(0, millis));
        bounded("update", inv.invoke_async::<i64>(&mut c)).await?;
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreUnavailable> {
        let mut c = self.conn();
        let mut inv = self.scripts.delete.key(record_key(id));
        inv.key(set_key(id)).arg(format!("mcp:{{{id}}}:"));
        bounded("delete", inv.invoke_async::<i64>(&mut c)).await?;
        Ok(())
    }

    /// A write that is not plain commands: a record update or delete (a script, then
    /// the broadcast the other nodes acknowledge when a reply waits for it).
    async fn write_one(&self, op: &StoreOp) -> Result<(), StoreUnavailable> {
        let waits = op.ticket.is_some();
        let from = self.node.to_string();
        match &op.action {
            StoreAction::Update { id, change, ttl } => {
                self.update(id, change, *ttl).await?;
                let (id, change) = (id.to_string(), change.clone());
                self.broadcast(
                    |nonce| Wire::Update {
                        from,
                        nonce,
                        id,
                        change,
                    },
                    waits,
                )
                .await
            }
            StoreAction::Delete { id } => {
                self.delete(id).await?;
                let id = id.to_string();
                self.broadcast(|nonce| Wire::Delete { from, nonce, id }, waits)
                    .await
            }
            other => {
                tracing::warn!(target: "mcp_http_proto", action = ?other, "a store action this store does not know");
                Ok(())
            }
        }
    }

    /// Sends the batched plain writes in one round trip, then trims the streams the
    /// batch took over their bounds; every write of a failed batch failed.
    async fn flush(&self, batch: &mut Batch, results: &mut [Result<(), StoreUnavailable>]) {
        let Batch { pipe, ops, appends } = std::mem::take(batch);
        if ops.is_empty() {
            return;
        }
        let mut c = self.conn();
        let values: Result<Vec<Value>, StoreUnavailable> =
            bounded("write", pipe.query_async(&mut c)).await;
        let values = match values {
            Ok(v) => v,
            Err(e) => {
                for i in ops {
                    results[i] = Err(e);
                }
                return;
            }
        };
        // Each append answered with its stream's bytes and length, in order.
        let int = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        for (k, (x, m)) in appends.into_iter().enumerate() {
            let (bytes, len) = (int(values.get(2 * k)), int(values.get(2 * k + 1)));
            if bytes > self.limits.max_bytes || len > self.limits.max_events {
                let mut inv = self.scripts.trim.key(&x);
                inv.key(&m)
                    .arg(self.limits.max_events)
                    .arg(self.limits.max_bytes);
                let _ = bounded("trim", inv.invoke_async::<i64>(&mut c)).await;
            }
        }
    }

    /// Publishes `wire` on `channel`; returns how many subscribers got it.
    async fn publish(&self, channel: &str, wire: &Wire) -> Result<u64, StoreUnavailable> {
        let text = serde_json::to_string(wire).map_err(|_| StoreUnavailable)?;
        let mut c = self.conn();
        bounded("publish", c.publish::<_, _, u64>(channel, text)).await
    }

    /// Broadcasts an update or delete; with `wait`, returns once every other subscribed
    /// node acknowledged it, or after the acknowledgement timeout.
    async fn broadcast(
        &self,
        wire: impl FnOnce(u64) -> Wire,
        wait: bool,
    ) -> Result<(), StoreUnavailable> {
        if !wait {
            self.publish(CLUSTER, &wire(0)).await?;
            return Ok(());
        }
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let waiting = Arc::new(AckWait::default());
        self.lock_acks().insert(nonce, waiting.clone());
        let sent = self.publish(CLUSTER, &wire(nonce)).await;
        let result = match sent {
            // This node hears its own broadcast too.
            Ok(receivers) => {
                let need = receivers.saturating_sub(1);
                let all = async {
                    loop {
                        let notified = waiting.notify.notified();
                        if waiting.got.load(Ordering::Acquire) >= need {
                            return;
                        }
                        notified.await;
                    }
                };
                if tokio::time::timeout(ACK_TIMEOUT, all).await.is_err() {
                    tracing::warn!(target: "mcp_http_proto", need, got = waiting.got.load(Ordering::Acquire), "not every node acknowledged in time");
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.lock_acks().remove(&nonce);
        result
    }

    fn lock_acks(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<AckWait>>> {
        self.acks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn blocking_conn(&self) -> Result<MultiplexedConnection, StoreUnavailable> {
        if let Some(c) = self.blocking.lock().await.pop() {
            return Ok(c);
        }
        bounded("connect", self.client.get_multiplexed_async_connection()).await
    }

    /// One round of the listener: subscribes and delivers until the connection drops.
    /// After the first round, what was missed meanwhile is unknown: the idle sessions
    /// held here are evicted, to be fetched afresh.
    async fn listen_once(&self, engine: &Weak<Engine>, again: bool) -> redis::RedisResult<()> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(CLUSTER).await?;
        pubsub.subscribe(node_channel(self.node.as_str())).await?;
        if let Some(e) = engine.upgrade().filter(|_| again) {
            let n = e.evict_idle_sessions();
            if n > 0 {
                tracing::info!(target: "mcp_http_proto", evicted = n, "resubscribed: idle sessions evicted");
            }
        }
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Some(engine) = engine.upgrade() else {
                return Ok(());
            };
            let Ok(wire) = serde_json::from_slice::<Wire>(msg.get_payload_bytes()) else {
                tracing::warn!(target: "mcp_http_proto", "a cluster message that does not parse");
                continue;
            };
            self.deliver(&engine, wire).await;
        }
        Ok(())
    }

    async fn deliver(&self, engine: &Engine, wire: Wire) {
        match wire {
            Wire::Update {
                from,
                nonce,
                id,
                change,
            } if from != self.node.as_str() => {
                if let Ok(id) = SessionId::new(&id) {
                    engine.refresh_session(&id, &change);
                }
                self.ack(&from, nonce).await;
            }
            Wire::Delete { from, nonce, id } if from != self.node.as_str() => {
                if let Ok(id) = SessionId::new(&id) {
                    engine.forget_session(&id);
                }
                self.ack(&from, nonce).await;
            }
            Wire::Update { .. } | Wire::Delete { .. } => {} // our own
            Wire::Ack { nonce } => {
                if let Some(w) = self.lock_acks().get(&nonce) {
                    w.got.fetch_add(1, Ordering::AcqRel);
                    w.notify.notify_waiters();
                }
            }
            Wire::Fwd { p } => match engine.handle_forwarded(p.as_bytes()) {
                Ok(f) => tracing::debug!(target: "mcp_http_proto", forwarded = ?f, "forwarded"),
                Err(e) => tracing::warn!(target: "mcp_http_proto", error = %e, "forwarded"),
            },
        }
    }

    async fn ack(&self, to: &str, nonce: u64) {
        if nonce != 0 {
            let _ = self.publish(&node_channel(to), &Wire::Ack { nonce }).await;
        }
    }
}

impl SessionStore for RedisStore {
    fn read<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreUnavailable>> {
        Box::pin(self.read_record(id))
    }

    fn read_stream<'a>(
        &'a self,
        session: &'a SessionId,
        stream: &'a StreamKey,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<StoredStream>, StoreUnavailable>> {
        Box::pin(async move {
            let (x, m) = stream_keys(session, stream);
            let mut c = self.conn();
            let meta: HashMap<String, u64> = bounded("read_stream", c.hgetall(&m)).await?;
            let Some(&next_seq) = meta.get("n") else {
                return Ok(None);
            };
            // Entries after `after`: ids above 0-(after+1).
            let start = format!("(0-{}", after.saturating_add(1));
            let entries: Value = bounded(
                "read_stream",
                redis::cmd("XRANGE")
                    .arg(&x)
                    .arg(start)
                    .arg("+")
                    .query_async(&mut c),
            )
            .await?;
            let (events, ended) = parse_entries(&entries);
            Ok(Some(StoredStream {
                session: session.clone(),
                next_seq,
                events,
                ended: ended || meta.get("e") == Some(&1),
            }))
        })
    }

    fn wait_stream<'a>(
        &'a self,
        session: &'a SessionId,
        stream: &'a StreamKey,
        next: u64,
    ) -> BoxFuture<'a, Result<StoredEvents, StoreUnavailable>> {
        Box::pin(async move {
            let (x, m) = stream_keys(session, stream);
            let mut c = self.blocking_conn().await?;
            // Entries at `next` or later: ids above 0-next.
            let read = tokio::time::timeout(
                COMMAND_TIMEOUT + Duration::from_millis(BLOCK_MS),
                redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(&x)
                    .arg(format!("0-{next}"))
                    .query_async::<Value>(&mut c),
            )
            .await;
            let reply = match read {
                Ok(Ok(v)) => v,
                _ => return Err(StoreUnavailable), // the connection is dropped, not reused
            };
            let ended_meta: Option<u64> = bounded("wait_stream", c.hget(&m, "e")).await?;
            self.blocking.lock().await.push(c);
            // XREAD: [[key, [entries]]], or nil on timeout.
            let entries = match &reply {
                Value::Array(streams) => streams
                    .first()
                    .and_then(|s| match s {
                        Value::Array(kv) => kv.get(1),
                        _ => None,
                    })
                    .cloned()
                    .unwrap_or(Value::Nil),
                _ => Value::Nil,
            };
            let (events, ended) = parse_entries(&entries);
            Ok(StoredEvents {
                events,
                ended: ended || ended_meta == Some(1),
            })
        })
    }

    fn write<'a>(&'a self, ops: &'a [StoreOp]) -> BoxFuture<'a, Vec<Result<(), StoreUnavailable>>> {
        Box::pin(async move {
            let mut results = vec![Ok(()); ops.len()];
            let mut batch = Batch::default();
            for (i, op) in ops.iter().enumerate() {
                if batch.add(self, i, &op.action) {
                    continue;
                }
                // A write with a script or a broadcast: what came before goes first.
                self.flush(&mut batch, &mut results).await;
                results[i] = self.write_one(op).await;
            }
            self.flush(&mut batch, &mut results).await;
            results
        })
    }

    fn listen(self: Arc<Self>, engine: Weak<Engine>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut backoff = Duration::from_millis(100);
            let mut again = false;
            loop {
                if engine.strong_count() == 0 {
                    return;
                }
                let round = self.listen_once(&engine, again).await;
                again = true;
                match round {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing::warn!(target: "mcp_http_proto", error = %e, "cluster subscription lost; retrying");
                    }
                }
                if engine.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        })
    }
}

/// Plain writes sent together in one pipeline: the indices of their ops, and for each
/// append its stream's keys (its `HINCRBY` and `XLEN` answers come back, in order).
#[derive(Default)]
struct Batch {
    pipe: redis::Pipeline,
    ops: Vec<usize>,
    appends: Vec<(String, String)>,
}

impl Batch {
    /// Adds write `i` when it is plain commands; `false` for one that needs more.
    fn add(&mut self, store: &RedisStore, i: usize, action: &StoreAction) -> bool {
        let pipe = &mut self.pipe;
        let age = millis(store.limits.max_age) as i64;
        match action {
            StoreAction::Put { record, ttl } => {
                let key = record_key(&record.id);
                pipe.del(&key).ignore();
                pipe.hset(&key, "v", record.protocol_version.to_string())
                    .ignore();
                pipe.hset(&key, "i", if record.initialized { "1" } else { "0" })
                    .ignore();
                if let Some(sa) = &record.standalone {
                    pipe.hset(&key, "sa", sa.as_str()).ignore();
                }
                if let Some(ttl) = ttl {
                    pipe.pexpire(&key, millis(*ttl) as i64).ignore();
                }
            }
            StoreAction::Touch { id, ttl } => {
                pipe.pexpire(record_key(id), millis(*ttl) as i64).ignore();
            }
            StoreAction::Append {
                session,
                stream,
                seq,
                frame,
            } => {
                let (x, m) = stream_keys(session, stream);
                pipe.cmd("XADD")
                    .arg(&x)
                    .arg(format!("0-{}", seq.saturating_add(1)))
                    .arg("f")
                    .arg(frame.as_ref())
                    .ignore();
                pipe.hset(&m, "n", seq.saturating_add(1)).ignore();
                pipe.hincr(&m, "b", frame.len());
                pipe.cmd("XLEN").arg(&x);
                pipe.pexpire(&x, age).ignore();
                pipe.pexpire(&m, age).ignore();
                if *seq == 0 {
                    // The stream's first event (its priming event, when it has one):
                    // the session's set of streams learns it, for a delete. A stream
                    // the set outlives expires by itself.
                    pipe.sadd(set_key(session), stream.as_str()).ignore();
                    pipe.pexpire(set_key(session), age).ignore();
                }
                self.appends.push((x, m));
            }
            StoreAction::EndStream { session, stream } => {
                let (x, m) = stream_keys(session, stream);
                // An entry wakes the relays waiting on the stream; the flag stays.
                pipe.cmd("XADD").arg(&x).arg("*").arg("e").arg(1).ignore();
                pipe.hset(&m, "e", 1).ignore();
                pipe.pexpire(&x, age).ignore();
                pipe.pexpire(&m, age).ignore();
            }
            StoreAction::Forward { node, payload, .. } => {
                let wire = Wire::Fwd {
                    p: String::from_utf8_lossy(payload).into_owned(),
                };
                let Ok(text) = serde_json::to_string(&wire) else {
                    return false;
                };
                pipe.publish(node_channel(node.as_str()), text).ignore();
            }
            _ => return false,
        }
        self.ops.push(i);
        true
    }
}

/// Stream entries (`[[id, [field, value, ...]], ...]`) as positions and frames, and
/// whether an end entry was among them.
fn parse_entries(entries: &Value) -> (Vec<(u64, Bytes)>, bool) {
    let mut events = Vec::new();
    let mut ended = false;
    let Value::Array(list) = entries else {
        return (events, ended);
    };
    for entry in list {
        let Value::Array(parts) = entry else { continue };
        let (Some(id), Some(Value::Array(fields))) = (parts.first(), parts.get(1)) else {
            continue;
        };
        let id = match id {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => continue,
        };
        let mut it = fields.iter();
        while let (Some(Value::BulkString(name)), Some(value)) = (it.next(), it.next()) {
            match (name.as_slice(), value) {
                (b"f", Value::BulkString(frame)) => {
                    let seq = id
                        .strip_prefix("0-")
                        .and_then(|n| n.parse::<u64>().ok())
                        .and_then(|n| n.checked_sub(1));
                    if let Some(seq) = seq {
                        events.push((seq, Bytes::copy_from_slice(frame)));
                    }
                }
                (b"e", _) => ended = true,
                _ => {}
            }
        }
    }
    (events, ended)
}
