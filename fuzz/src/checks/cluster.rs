//! The `cluster_sequence` target: one to three server machines sharing sessions through
//! an in-memory store, driven by an arbitrary sequence of requests routed to arbitrary
//! nodes, store outages, time jumps, disconnects and the client's answers to
//! server-to-client requests, with the store seam's parked-request path in between.
//!
//! After every step:
//! - a parked request resumes without being parked again (a session, then a stream, at
//!   most), and its outcome is complete (a refusal's response as the policy says);
//! - a refused request wrote nothing to the store;
//! - every session a node holds was minted by a successful `initialize` somewhere (a
//!   `Put` reached the store), and none a DELETE or the application ended;
//! - a DELETE's 200 is followed by 404 from every node;
//! - every stream copy's positions only grow (an event is appended once), and each
//!   connection's event ids grow.

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderValue, Request};
use mcp_http_proto::Server;
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::server::{
    ConnectionId, NodeId, Outcome, ServerConfig, StoreAction, StoreConfig, StoredEvents,
    StreamEvent, StreamId,
};
use mcp_http_proto::wire::SessionId;

use super::common::{HOST, check_reject, initialize_body, initialize_result};
use super::store::Store;

const IDLE: Duration = Duration::from_secs(60);
const TOUCH: Duration = Duration::from_secs(10);

/// What one fuzz input does.
#[derive(Debug, Arbitrary)]
pub struct ClusterCase {
    nodes: u8,
    steps: Vec<Step>,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Initialize {
        node: u8,
        v2025_11: bool,
    },
    Initialized {
        node: u8,
        client: u8,
    },
    Call {
        node: u8,
        client: u8,
        answer_now: bool,
    },
    Malformed {
        node: u8,
        client: u8,
        body: Vec<u8>,
    },
    Get {
        node: u8,
        client: u8,
    },
    Resume {
        node: u8,
        client: u8,
        which: u8,
    },
    Delete {
        node: u8,
        client: u8,
    },
    AskClient {
        which: u8,
    },
    Answer {
        node: u8,
        which: u8,
    },
    FinishCalls {
        which: u8,
    },
    CloseConnection {
        which: u8,
    },
    Disconnect {
        which: u8,
    },
    Advance {
        secs: u16,
    },
    StoreDown(bool),
    EvictIdle {
        node: u8,
    },
}

/// A connection whose output the harness reads, with the last event id it saw.
#[derive(Debug)]
struct Conn {
    node: usize,
    connection: ConnectionId,
    stream: StreamId,
    session: Option<SessionId>,
    last_id: Option<String>,
    /// Requests on its stream that the application has not answered yet.
    pending: Vec<String>,
    relay: bool,
}

struct Harness {
    nodes: Vec<Server>,
    store: Store,
    now: Instant,
    /// Session ids clients learnt, in order.
    sessions: Vec<SessionId>,
    conns: Vec<Conn>,
    /// Event ids clients saw, with their session.
    event_ids: Vec<(SessionId, String)>,
    /// Server-to-client requests clients saw: session, id JSON.
    asked: Vec<(SessionId, String)>,
    next_id: u64,
}

fn config(node: usize) -> ServerConfig {
    let mut store = StoreConfig::new(NodeId::new(&format!("n{node}")).expect("a node id"));
    store.touch_interval = TOUCH;
    ServerConfig {
        session_idle_timeout: Some(IDLE),
        max_sessions: Some(8),
        store: Some(store),
        ..ServerConfig::default()
    }
}

fn post(session: Option<&SessionId>, body: impl Into<Bytes>) -> Request<Bytes> {
    let mut r = Request::post("/mcp")
        .header("host", HOST)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.into())
        .expect("a request");
    if let Some(s) = session {
        let h = r.headers_mut();
        h.insert(
            "mcp-session-id",
            HeaderValue::from_str(s.as_str()).expect("visible ASCII"),
        );
    }
    r
}

fn get(session: &SessionId, last_event_id: Option<&str>) -> Request<Bytes> {
    let mut r = Request::get("/mcp")
        .header("host", HOST)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session.as_str())
        .body(Bytes::new())
        .expect("a request");
    if let Some(id) = last_event_id.and_then(|i| HeaderValue::from_str(i).ok()) {
        r.headers_mut().insert("last-event-id", id);
    }
    r
}

impl Harness {
    fn node(&self, n: u8) -> usize {
        usize::from(n) % self.nodes.len()
    }

    fn session(&self, client: u8) -> Option<SessionId> {
        if self.sessions.is_empty() {
            return None;
        }
        Some(self.sessions[usize::from(client) % self.sessions.len()].clone())
    }

    /// Hands a request to node `at` as the driver would: fetches what a parked request
    /// waits for, then checks the outcome and writes through what the input wrote.
    fn send(&mut self, at: usize, request: Request<Bytes>) -> Outcome {
        let now = self.now;
        let mut outcome = self.nodes[at].handle_request(request, now);
        let mut parked = 0;
        let outcome = loop {
            outcome = match outcome {
                Outcome::FetchSession(f) => {
                    assert_eq!(
                        parked, 0,
                        "a request resumed with its record is never parked for it again"
                    );
                    parked += 1;
                    let record = self.store.read(f.session(), now);
                    self.nodes[at]
                        .resume_fetched(f, record, now)
                        .expect("the record of the session asked for")
                }
                Outcome::FetchStream(f) => {
                    assert!(parked < 2, "parked for a stream twice");
                    parked = 2;
                    let stored = self.store.read_stream(f.stream(), f.after());
                    self.nodes[at]
                        .resume_stream(f, stored, now)
                        .expect("the stream asked for")
                }
                other => break other,
            };
        };
        if let Outcome::Reject(r) = &outcome {
            check_reject(r);
            let wrote = self.nodes[at].poll_store();
            assert!(
                wrote.is_none(),
                "a refused request wrote to the store ({:?}): {wrote:?}",
                r.refusal
            );
        }
        outcome
    }

    /// Drains node `at`'s writes into the store, confirms tickets, and tells the other
    /// nodes; returns the response to send instead of a held one.
    fn flush(&mut self, at: usize) -> Option<http::Response<Bytes>> {
        let now = self.now;
        let mut replacement = None;
        while let Some(op) = self.nodes[at].poll_store() {
            let result = self.store.write(&op.action, now);
            if result.is_ok() {
                for i in 0..self.nodes.len() {
                    if i == at {
                        continue;
                    }
                    match &op.action {
                        StoreAction::Update { id, change, .. } => {
                            self.nodes[i].refresh_session(id, change, now);
                            self.flush_quiet(i);
                        }
                        StoreAction::Delete { id } => {
                            self.nodes[i].forget_session(id);
                            self.flush_quiet(i);
                        }
                        StoreAction::Forward { node, payload, .. }
                            if node.as_str() == format!("n{i}") =>
                        {
                            let _ = self.nodes[i]
                                .handle_forwarded(payload, now)
                                .expect("a payload");
                            self.flush_quiet(i);
                        }
                        _ => {}
                    }
                }
            }
            if let Some(t) = op.ticket {
                if let Some(r) = self.nodes[at].store_done(t, result).expect("a live ticket") {
                    replacement = Some(r);
                }
            }
        }
        replacement
    }

    /// A flush from inside another one (a forward's effects): writes only.
    fn flush_quiet(&mut self, at: usize) {
        let now = self.now;
        while let Some(op) = self.nodes[at].poll_store() {
            let result = self.store.write(&op.action, now);
            if let Some(t) = op.ticket {
                let _ = self.nodes[at].store_done(t, result);
            }
        }
    }

    /// Reads every connection's queued output: heads, frames, ends; checks ids grow.
    fn read_all(&mut self) {
        for conn in &mut self.conns {
            let node = &mut self.nodes[conn.node];
            while let Some(event) = node.poll_connection(conn.connection) {
                match event {
                    StreamEvent::Head(h) => {
                        if let Some(sid) = h.headers().get("mcp-session-id") {
                            let sid =
                                SessionId::new(sid.to_str().expect("ASCII")).expect("a session id");
                            conn.session = Some(sid.clone());
                            if !self.sessions.contains(&sid) {
                                self.sessions.push(sid);
                            }
                        }
                    }
                    StreamEvent::Data(b) => {
                        for line in b.split(|c| *c == b'\n') {
                            if let Some(id) = line.strip_prefix(b"id: ") {
                                let id = String::from_utf8_lossy(id).into_owned();
                                if let (Some(last), false) = (&conn.last_id, conn.relay) {
                                    let seq = |i: &str| {
                                        i.rsplit('-').next().and_then(|n| n.parse::<u64>().ok())
                                    };
                                    assert!(
                                        seq(&id) > seq(last),
                                        "event ids grow on a connection: {last} then {id}"
                                    );
                                }
                                if let Some(s) = &conn.session {
                                    self.event_ids.push((s.clone(), id.clone()));
                                }
                                conn.last_id = Some(id);
                            }
                            if let Some(data) = line.strip_prefix(b"data: ") {
                                let v: serde_json::Value =
                                    serde_json::from_slice(data).unwrap_or_default();
                                if v.get("method").is_some() && v.get("id").is_some() {
                                    if let Some(s) = &conn.session {
                                        self.asked.push((s.clone(), v["id"].to_string()));
                                    }
                                }
                            }
                        }
                    }
                    StreamEvent::End => {}
                }
            }
        }
        while self.nodes.iter_mut().any(|n| n.poll_event().is_some()) {}
    }

    fn track(&mut self, at: usize, outcome: &Outcome, pending: Vec<String>) {
        if let (Some(c), Some(s)) = (outcome.connection(), outcome.stream()) {
            let session = match outcome {
                Outcome::Dispatch(d) => d.session.clone(),
                Outcome::StreamOpened(o) => Some(o.session.clone()),
                Outcome::StreamResumed(r) => Some(r.session.clone()),
                _ => None,
            };
            let relay = matches!(outcome, Outcome::StreamResumed(r) if r.relayed_from.is_some());
            self.conns.push(Conn {
                node: at,
                connection: c,
                stream: s,
                session,
                last_id: None,
                pending,
                relay,
            });
        }
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Initialize { node, v2025_11 } => {
                let at = self.node(node);
                let v = if v2025_11 { "2025-11-25" } else { "2025-06-18" };
                let outcome = self.send(at, post(None, initialize_body("1", v)));
                if let Outcome::Dispatch(d) = &outcome {
                    let _ = self.nodes[at].send(d.stream, initialize_result("1", v), self.now);
                }
                self.track(at, &outcome, Vec::new());
                self.flush(at);
            }
            Step::Initialized { node, client } => {
                let Some(s) = self.session(client) else {
                    return;
                };
                let at = self.node(node);
                let o = self.send(
                    at,
                    post(
                        Some(&s),
                        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                    ),
                );
                self.flush(at);
                drop(o);
            }
            Step::Call {
                node,
                client,
                answer_now,
            } => {
                let Some(s) = self.session(client) else {
                    return;
                };
                let at = self.node(node);
                self.next_id += 1;
                let id = self.next_id.to_string();
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{}}}}}}"#
                );
                let outcome = self.send(at, post(Some(&s), body));
                let mut pending = Vec::new();
                if let Outcome::Dispatch(d) = &outcome {
                    let _ = self.nodes[at].send(d.stream, r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#, self.now);
                    if answer_now {
                        let _ = self.nodes[at].send(
                            d.stream,
                            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
                            self.now,
                        );
                    } else {
                        pending.push(id);
                    }
                }
                self.track(at, &outcome, pending);
                self.flush(at);
            }
            Step::Malformed {
                node,
                client,
                ref body,
            } => {
                let Some(s) = self.session(client) else {
                    return;
                };
                let at = self.node(node);
                let body: Vec<u8> = body.iter().take(64).copied().collect();
                let o = self.send(at, post(Some(&s), body));
                self.track(at, &o, Vec::new());
                self.flush(at);
            }
            Step::Get { node, client } => {
                let Some(s) = self.session(client) else {
                    return;
                };
                let at = self.node(node);
                let o = self.send(at, get(&s, None));
                self.track(at, &o, Vec::new());
                self.flush(at);
            }
            Step::Resume {
                node,
                client,
                which,
            } => {
                let Some(s) = self.session(client) else {
                    return;
                };
                if self.event_ids.is_empty() {
                    return;
                }
                let (_, id) = self.event_ids[usize::from(which) % self.event_ids.len()].clone();
                let at = self.node(node);
                let o = self.send(at, get(&s, Some(&id)));
                self.track(at, &o, Vec::new());
                self.flush(at);
            }
            Step::Delete { node, client } => {
                let Some(s) = self.session(client) else {
                    return;
                };
                let at = self.node(node);
                let o = self.send(
                    at,
                    Request::delete("/mcp")
                        .header("host", HOST)
                        .header("mcp-session-id", s.as_str())
                        .body(Bytes::new())
                        .expect("a request"),
                );
                let replaced = self.flush(at);
                let deleted = matches!(&o, Outcome::SessionDeleted(d) if d.response.status() == 200)
                    && replaced.is_none();
                if deleted {
                    // After the DELETE's response no node serves the id.
                    for i in 0..self.nodes.len() {
                        let probe = self.send(
                            i,
                            post(
                                Some(&s),
                                r#"{"jsonrpc":"2.0","id":99,"method":"tools/list"}"#,
                            ),
                        );
                        match probe {
                            Outcome::Reject(r) => assert!(
                                r.response.status() == 404 || r.response.status() == 503,
                                "node {i} after DELETE: {}",
                                r.response.status()
                            ),
                            other => panic!("node {i} served a deleted session: {other:?}"),
                        }
                    }
                }
            }
            Step::AskClient { which } => {
                // The application asks the client on an open stream with a session.
                let open: Vec<usize> = (0..self.conns.len())
                    .filter(|&k| self.conns[k].session.is_some() && !self.conns[k].relay)
                    .collect();
                if open.is_empty() {
                    return;
                }
                let k = open[usize::from(which) % open.len()];
                let (node, stream) = (self.conns[k].node, self.conns[k].stream);
                let _ = self.nodes[node].request(stream, "ping", None, self.now);
                self.flush(node);
            }
            Step::Answer { node, which } => {
                if self.asked.is_empty() {
                    return;
                }
                let (s, id) = self.asked[usize::from(which) % self.asked.len()].clone();
                let at = self.node(node);
                let o = self.send(
                    at,
                    post(
                        Some(&s),
                        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
                    ),
                );
                self.flush(at);
                drop(o);
            }
            Step::FinishCalls { which } => {
                if self.conns.is_empty() {
                    return;
                }
                let k = usize::from(which) % self.conns.len();
                let (node, stream) = (self.conns[k].node, self.conns[k].stream);
                for id in std::mem::take(&mut self.conns[k].pending) {
                    let _ = self.nodes[node].send(
                        stream,
                        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
                        self.now,
                    );
                }
                self.flush(node);
            }
            Step::CloseConnection { which } => {
                if self.conns.is_empty() {
                    return;
                }
                let k = usize::from(which) % self.conns.len();
                let (node, stream) = (self.conns[k].node, self.conns[k].stream);
                let _ = self.nodes[node].close_connection(stream, self.now);
                self.flush(node);
            }
            Step::Disconnect { which } => {
                if self.conns.is_empty() {
                    return;
                }
                let k = usize::from(which) % self.conns.len();
                let (node, c) = (self.conns[k].node, self.conns[k].connection);
                let _ = self.nodes[node].handle_disconnect(c, self.now);
                self.flush(node);
            }
            Step::Advance { secs } => {
                let until = self.now + Duration::from_secs(u64::from(secs % 600));
                // Every node's timers, as a driver's would run them, in time order.
                loop {
                    let next = self
                        .nodes
                        .iter()
                        .filter_map(|n| n.poll_timeout())
                        .map(|t| t.at)
                        .filter(|t| *t <= until)
                        .min();
                    let Some(at) = next else { break };
                    self.now = self.now.max(at);
                    for i in 0..self.nodes.len() {
                        let now = self.now;
                        self.nodes[i].handle_timeout(now);
                        self.flush(i);
                    }
                }
                self.now = until;
            }
            Step::StoreDown(down) => self.store.down = down,
            Step::EvictIdle { node } => {
                let at = self.node(node);
                self.nodes[at].evict_idle_sessions();
                self.flush(at);
            }
        }
        // Relays go on with what the store got.
        for k in 0..self.conns.len() {
            let (node, stream) = (self.conns[k].node, self.conns[k].stream);
            let Some((key, next)) = self.nodes[node]
                .relay_next(stream)
                .map(|(k, n)| (k.clone(), n))
            else {
                continue;
            };
            if let Ok(Some(copy)) = self.store.read_stream(&key, next.saturating_sub(1)) {
                let more = StoredEvents {
                    events: copy.events,
                    ended: copy.ended,
                };
                self.nodes[node]
                    .relay(stream, more, self.now)
                    .expect("an open relay");
                self.flush(node);
            }
        }
        self.read_all();
        self.check_sessions();
    }

    fn check_sessions(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            for r in node.sessions() {
                assert!(
                    self.store.created.contains(&r.id),
                    "node {i} holds {:?}, which no successful initialize minted",
                    r.id
                );
                assert!(
                    !self.store.deleted.contains(&r.id),
                    "node {i} holds {:?}, which was deleted",
                    r.id
                );
            }
        }
    }
}

/// Runs one case.
pub fn check_cluster(case: &ClusterCase) {
    let n = usize::from(case.nodes % 3) + 1;
    let mut h = Harness {
        nodes: (0..n)
            .map(|i| Server::with_entropy(config(i), Box::new(SeededEntropy::new(1 + i as u64))))
            .collect(),
        store: Store::default(),
        now: super::base_instant(),
        sessions: Vec::new(),
        conns: Vec::new(),
        event_ids: Vec::new(),
        asked: Vec::new(),
        next_id: 1,
    };
    for step in case.steps.iter().take(64) {
        h.step(step);
    }
}
