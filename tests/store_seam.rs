//! The store seam (issue 11, part 1): several server machines sharing sessions through a
//! store, driven by a test driver under a virtual clock with an in-memory fake store.
//!
//! - a parked request resumes with the answer it would have had where the session lives;
//! - a record fetched for a deleted (or expired) session gives 404;
//! - every change to a record is written through, and a refused request writes nothing;
//! - replies that depend on a write wait for it, and a store that is down gives 503;
//! - local eviction is not expiry: the store's TTL decides;
//! - a property: a sequence of requests spread over N machines gets the same responses,
//!   minus ids and timing, as on one machine.

mod common;
/// The in-memory store the `cluster_sequence` fuzz target uses too.
#[path = "../fuzz/src/checks/store.rs"]
mod store;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Request;
use mcp_http_proto::Server;
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::server::{
    AbandonReason, CloseReason, ConnectionId, Forwarded, NodeId, Outcome, RecordChange, Refusal,
    ServerConfig, ServerEvent, SessionRecord, StoreAction, StoreConfig, StoreOp, StoreUnavailable,
    StoredEvents, StoredStream, StreamEvent, StreamId, TimeoutReason, UsageError,
};
use mcp_http_proto::wire::SessionId;
use proptest::prelude::*;
use store::Store;

const IDLE: Duration = Duration::from_secs(60);
const TOUCH: Duration = Duration::from_secs(10);

fn store_config(node: &str) -> ServerConfig {
    let mut store = StoreConfig::new(NodeId::new(node).unwrap());
    store.touch_interval = TOUCH;
    ServerConfig {
        session_idle_timeout: Some(IDLE),
        store: Some(store),
        ..ServerConfig::default()
    }
}

/// What a client saw: the status, the session header and the body (SSE `data` only,
/// event ids and `retry` left out), with session ids and event ids relabelled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: u16,
    session: Option<String>,
    body: String,
    retry_after: bool,
}

/// N machines, a store, an application that answers every request at once, and the
/// driver between them.
struct Cluster {
    nodes: Vec<Server>,
    store: Option<Store>,
    now: Instant,
    /// Session ids in the order clients first saw them, for relabelling.
    labels: Vec<String>,
    /// Streams relayed from the store: (node, stream, connection).
    relays: Vec<(usize, StreamId, ConnectionId)>,
    /// What forwarded payloads became on the nodes they went to.
    forwarded: Vec<(usize, Forwarded)>,
}

impl Cluster {
    fn new(n: usize) -> Self {
        let nodes = (0..n)
            .map(|i| {
                Server::with_entropy(
                    store_config(&format!("n{i}")),
                    Box::new(SeededEntropy::new(100 + i as u64)),
                )
            })
            .collect();
        Self {
            nodes,
            store: Some(Store::default()),
            now: base_instant(),
            labels: Vec::new(),
            relays: Vec::new(),
            forwarded: Vec::new(),
        }
    }

    /// One machine and no store: the reference.
    fn single() -> Self {
        let config = ServerConfig {
            session_idle_timeout: Some(IDLE),
            ..ServerConfig::default()
        };
        Self {
            nodes: vec![Server::with_entropy(
                config,
                Box::new(SeededEntropy::new(99)),
            )],
            store: None,
            now: base_instant(),
            labels: Vec::new(),
            relays: Vec::new(),
            forwarded: Vec::new(),
        }
    }

    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("a cluster with a store")
    }

    /// Sends `request` to node `at` and plays the driver until its reply is complete
    /// (or, for a stream that stays open, until nothing more is queued).
    /// Hands `request` to node `at` and plays the driver's part of a parked request
    /// (fetching from the store); the outcome is the request's final one.
    fn outcome(&mut self, at: usize, request: Request<Bytes>) -> Outcome {
        let now = self.now;
        let mut outcome = self.nodes[at].handle_request(request, now);
        // A cold node may fetch the session, then the stream.
        for _ in 0..2 {
            let store = || {
                self.store
                    .as_ref()
                    .expect("only a server with a store parks")
            };
            outcome = match outcome {
                Outcome::FetchSession(fetch) => {
                    let record = store().read(fetch.session(), now);
                    self.nodes[at]
                        .resume_fetched(fetch, record, now)
                        .expect("the record of the session asked for")
                }
                Outcome::FetchStream(fetch) => {
                    let stored = store().read_stream(fetch.stream(), fetch.after());
                    self.nodes[at]
                        .resume_stream(fetch, stored, now)
                        .expect("the stream asked for")
                }
                other => other,
            };
        }
        assert!(
            !matches!(outcome, Outcome::FetchSession(_) | Outcome::FetchStream(_)),
            "parked for more than a session and a stream"
        );
        if let Outcome::StreamResumed(r) = &outcome {
            if r.relayed_from.is_some() {
                self.relays.push((at, r.stream, r.connection));
            }
        }
        outcome
    }

    fn send(&mut self, at: usize, request: Request<Bytes>) -> Seen {
        let at = at % self.nodes.len();
        let now = self.now;
        let outcome = self.outcome(at, request);
        // The application answers every request at once.
        if let Outcome::Dispatch(d) = &outcome {
            for m in d.requests() {
                let answer = app_answer(m, d.negotiated);
                self.nodes[at].send(d.stream, answer, now).expect("answer");
            }
        }
        let mut direct = outcome.response().cloned();
        // The driver performs the writes before the reply they wait for.
        let replacement = self.flush_store(at);
        if let (Some(r), Some(_)) = (replacement, &direct) {
            direct = Some(r);
        }
        let seen = match (direct, outcome.connection()) {
            (Some(response), _) => Seen {
                status: response.status().as_u16(),
                session: header(&response, SESSION_HEADER).map(str::to_owned),
                retry_after: header(&response, "retry-after").is_some(),
                body: String::from_utf8_lossy(response.body()).into_owned(),
            },
            (None, Some(connection)) => self.collect(at, connection),
            (None, None) => panic!("an outcome with neither a response nor a connection"),
        };
        for node in &mut self.nodes {
            while node.poll_event().is_some() {}
        }
        self.relabel(seen)
    }

    /// Drains node `at`'s store writes into the store, confirms the ones replies wait
    /// for, and tells the other nodes of puts and deletes. Returns the response to send
    /// instead of the one held, when a write failed.
    fn flush_store(&mut self, at: usize) -> Option<http::Response<Bytes>> {
        let now = self.now;
        let mut replacement = None;
        while let Some(StoreOp { ticket, action }) = self.nodes[at].poll_store() {
            let Some(store) = self.store.as_mut() else {
                panic!("a server without a store wrote {action:?}");
            };
            let result = store.write(&action, now);
            if result.is_ok() {
                for (i, node) in self.nodes.iter_mut().enumerate() {
                    if i == at {
                        continue;
                    }
                    match &action {
                        StoreAction::Update { id, change, .. } => {
                            node.refresh_session(id, change, now);
                        }
                        StoreAction::Delete { id } => {
                            node.forget_session(id);
                        }
                        StoreAction::Forward {
                            node: to, payload, ..
                        } if to.as_str() == format!("n{i}") => {
                            let got = node.handle_forwarded(payload, now).expect("a payload");
                            self.forwarded.push((i, got));
                        }
                        _ => {}
                    }
                }
            }
            if let Some(t) = ticket {
                if let Some(r) = self.nodes[at].store_done(t, result).expect("a live ticket") {
                    replacement = Some(r);
                }
            }
        }
        replacement
    }

    /// Everything queued on a connection: its head, then the bodies, until its end or
    /// until nothing more is queued.
    fn collect(&mut self, at: usize, connection: ConnectionId) -> Seen {
        let mut seen = Seen {
            status: 0,
            session: None,
            body: String::new(),
            retry_after: false,
        };
        let mut raw = Vec::new();
        let mut sse = false;
        while let Some(event) = self.nodes[at].poll_connection(connection) {
            match event {
                StreamEvent::Head(h) => {
                    seen.status = h.status().as_u16();
                    seen.session = header(&h, SESSION_HEADER).map(str::to_owned);
                    seen.retry_after = header(&h, "retry-after").is_some();
                    sse = header(&h, "content-type") == Some(EVENT_STREAM);
                }
                StreamEvent::Data(b) => raw.extend_from_slice(&b),
                StreamEvent::End => break,
            }
        }
        seen.body = if sse {
            // Event ids and `retry` differ between machines; the messages do not.
            sse_frames(&raw)
                .iter()
                .filter_map(|f| f.message())
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::from_utf8_lossy(&raw).into_owned()
        };
        seen
    }

    /// Session ids become `S0`, `S1` ... in the order they were first seen.
    fn relabel(&mut self, mut seen: Seen) -> Seen {
        if let Some(id) = seen.session.take() {
            let n = match self.labels.iter().position(|l| *l == id) {
                Some(n) => n,
                None => {
                    self.labels.push(id);
                    self.labels.len() - 1
                }
            };
            seen.session = Some(format!("S{n}"));
        }
        seen
    }

    /// The real id behind label `n`, or a made-up one.
    fn id(&self, n: usize) -> String {
        self.labels
            .get(n)
            .cloned()
            .unwrap_or_else(|| format!("no-such-session-{n}"))
    }

    /// Moves the virtual clock to `until`, running every node's timers when they fall
    /// due, as a driver's timer would, and writing what they queue.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.poll_timeout())
                .map(|t| t.at)
                .filter(|at| *at <= until)
                .min();
            let Some(at) = next else { break };
            self.now = self.now.max(at);
            for i in 0..self.nodes.len() {
                let now = self.now;
                self.nodes[i].handle_timeout(now);
                self.flush_store(i);
                while self.nodes[i].poll_event().is_some() {}
            }
        }
        self.now = until;
    }
}

/// The application: `initialize` gets a successful result in the negotiated version,
/// `tools/call` echoes its text, anything else an empty result.
fn app_answer(
    m: &mcp_http_proto::wire::jsonrpc::Message,
    negotiated: Option<mcp_http_proto::ProtocolVersion>,
) -> String {
    let id = serde_json::to_string(m.id().expect("a request")).unwrap();
    match m.method() {
        Some("initialize") => format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{}","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"t","version":"1"}}}}}}"#,
            negotiated.expect("initialize negotiates")
        ),
        Some("tools/call") => {
            let v: serde_json::Value = serde_json::from_slice(m.json()).unwrap();
            let text = v["params"]["arguments"]["text"].clone();
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":{text}}}]}}}}"#
            )
        }
        _ => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
    }
}

fn call(id: u64, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
}

fn post_v(session: &str, body: impl Into<String>) -> Request<Bytes> {
    post_in(session, body).set("mcp-protocol-version", "2025-06-18")
}

/// Opens a session on node `at` (initialize, then notifications/initialized on node
/// `then`); returns its id.
fn open(c: &mut Cluster, at: usize, then: usize) -> String {
    let seen = c.send(at, post(initialize_body(1, "2025-06-18")));
    assert_eq!(seen.status, 200, "{seen:?}");
    let id = c.id(seen.session.expect("a session id")[1..].parse().unwrap());
    let seen = c.send(then, post_v(&id, INITIALIZED));
    assert_eq!(seen.status, 202, "{seen:?}");
    id
}

// ----- the parked request -----

#[test]
fn a_parked_request_resumes_with_the_answer_it_would_have_had_where_the_session_lives() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    let here = c.send(0, post_v(&id, call(2, "hello")));
    // Node 1 does not hold the session: the request is parked, the record fetched, and
    // the checks go on at step 8 with the same answer.
    assert!(c.nodes[1].session(&SessionId::new(&id).unwrap()).is_none());
    let there = c.send(1, post_v(&id, call(2, "hello")));
    assert_eq!(there, here);
    assert_eq!(here.status, 200);
    assert!(here.body.contains(r#""text":"hello""#), "{here:?}");
    // Node 1 now holds it, initialized as the store says.
    let record = c.nodes[1].session(&SessionId::new(&id).unwrap()).unwrap();
    assert!(record.initialized);
}

#[test]
fn the_parked_request_is_the_outcome_and_nothing_changes_until_the_record_comes() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    let now = c.now;
    let outcome = c.nodes[1].handle_request(post_v(&id, call(2, "x")), now);
    let Outcome::FetchSession(fetch) = outcome else {
        panic!("expected a parked request, got {outcome:?}");
    };
    assert_eq!(fetch.session().as_str(), id);
    assert!(outcome_free(&mut c.nodes[1]));
    // The checks of steps 1 to 7 ran first: a bad Origin is refused without a fetch.
    let bad = post_v(&id, call(3, "x")).set("origin", "http://evil.example");
    assert_eq!(
        rejected(c.nodes[1].handle_request(bad, now)).refusal,
        Refusal::ForbiddenOrigin
    );
    // ... and `check_head` does not refuse what the store may hold.
    let (head, _) = post_v(&id, call(4, "x")).into_parts();
    assert!(c.nodes[1].check_head(&head).is_none());
    let (head, _) = get(Some(&id)).into_parts();
    assert!(c.nodes[1].check_head(&head).is_none());
    // Resumed with the record: dispatched.
    let record = c.store().read(fetch.session(), now);
    let outcome = c.nodes[1].resume_fetched(fetch, record, now).unwrap();
    assert!(matches!(outcome, Outcome::Dispatch(_)), "{outcome:?}");
}

/// Nothing queued: no store write, no event, no output.
fn outcome_free(server: &mut Server) -> bool {
    server.poll_store().is_none() && server.poll_event().is_none() && server.poll_output().is_none()
}

/// `INV-S2` across nodes: after a DELETE on one node, every node answers 404.
#[test]
fn a_record_fetched_for_a_deleted_session_gives_404() {
    let mut c = Cluster::new(3);
    let id = open(&mut c, 0, 1);
    // Node 2 fetches it too.
    assert_eq!(c.send(2, post_v(&id, call(2, "a"))).status, 200);
    // DELETE on node 1: the record goes, node 2's copy goes with the broadcast.
    let now = c.now;
    let outcome = c.nodes[1].handle_request(delete(Some(&id)), now);
    assert!(matches!(outcome, Outcome::SessionDeleted(_)), "{outcome:?}");
    c.flush_store(1);
    // Node 2 was told: its copy ended as "ended elsewhere".
    let events: Vec<ServerEvent> = std::iter::from_fn(|| c.nodes[2].poll_event()).collect();
    assert!(
        events.contains(&ServerEvent::SessionClosed {
            id: SessionId::new(&id).unwrap(),
            reason: CloseReason::EndedElsewhere
        }),
        "{events:?}"
    );
    assert!(c.store().records.is_empty());
    for at in 0..3 {
        let seen = c.send(at, post_v(&id, call(3, "b")));
        assert_eq!(seen.status, 404, "node {at}: {seen:?}");
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        assert_eq!(body["error"]["code"], -32001, "SRV-SESS-7");
    }
    // No node holds it, and nothing was written by the 404s.
    for node in &c.nodes {
        assert!(node.session(&SessionId::new(&id).unwrap()).is_none());
    }
}

#[test]
fn an_unknown_session_is_404_after_a_fetch_and_writes_nothing() {
    let mut c = Cluster::new(2);
    let seen = c.send(1, post_v("0123456789abcdef", call(1, "a")));
    assert_eq!(seen.status, 404);
    assert!(c.store().writes.is_empty());
    assert_eq!(c.nodes[1].session_count(), 0);
}

#[test]
fn a_fetched_record_of_another_session_is_misuse() {
    let mut c = Cluster::new(2);
    let a = open(&mut c, 0, 0);
    let b = open(&mut c, 0, 0);
    let now = c.now;
    let Outcome::FetchSession(fetch) = c.nodes[1].handle_request(post_v(&a, call(2, "x")), now)
    else {
        panic!("parked");
    };
    let wrong = c.store().read(&SessionId::new(&b).unwrap(), now);
    assert_eq!(
        c.nodes[1].resume_fetched(fetch, wrong, now).unwrap_err(),
        UsageError::FetchedAnotherSession
    );
    assert_eq!(c.nodes[1].session_count(), 0);
}

// ----- writes through -----

#[test]
fn every_record_change_is_written_through() {
    let mut c = Cluster::new(2);
    let seen = c.send(0, post(initialize_body(1, "2025-06-18")));
    let id = c.id(0);
    assert_eq!(seen.session.as_deref(), Some("S0"));
    let sid = SessionId::new(&id).unwrap();
    let ttl = Some(IDLE + TOUCH);
    assert_eq!(
        c.store().writes,
        vec![StoreAction::Put {
            record: SessionRecord::new(sid.clone(), mcp_http_proto::ProtocolVersion::V2025_06_18),
            ttl,
        }],
        "created"
    );
    c.send(1, post_v(&id, INITIALIZED));
    assert_eq!(
        c.store().writes[1..],
        [StoreAction::Update {
            id: sid.clone(),
            change: RecordChange::Initialized,
            ttl,
        }],
        "initialized, written by the node that fetched it"
    );
    // Node 0's copy took node 1's change.
    assert!(c.nodes[0].session(&sid).unwrap().initialized);
    // Activity within a touch interval writes nothing; past it, one touch.
    let before = c.store().writes.len();
    c.send(0, post_v(&id, call(2, "a")));
    c.send(0, post_v(&id, call(3, "a")));
    assert_eq!(c.store().writes.len(), before, "no write per request");
    c.advance(TOUCH);
    c.send(0, post_v(&id, call(4, "a")));
    assert_eq!(
        c.store().writes[before..],
        [StoreAction::Touch {
            id: sid.clone(),
            ttl: IDLE + TOUCH
        }]
    );
    // DELETE: the record is deleted.
    c.send(1, delete(Some(&id)));
    assert_eq!(
        c.store().writes.last(),
        Some(&StoreAction::Delete { id: sid.clone() })
    );
}

#[test]
fn a_fetched_session_refreshes_its_ttl_on_its_first_request_here() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    let sid = SessionId::new(&id).unwrap();
    let before = c.store().writes.len();
    c.send(1, post_v(&id, call(2, "a")));
    assert_eq!(
        c.store().writes[before..],
        [StoreAction::Touch {
            id: sid,
            ttl: IDLE + TOUCH
        }]
    );
}

#[test]
fn terminating_a_session_deletes_its_record_and_every_node_forgets_it() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 1);
    let sid = SessionId::new(&id).unwrap();
    assert!(c.nodes[0].terminate_session(&sid));
    c.flush_store(0);
    assert!(c.store().records.is_empty());
    assert_eq!(c.send(1, post_v(&id, call(2, "a"))).status, 404);
}

#[test]
fn a_busy_session_keeps_its_ttl_fresh_while_its_stream_is_open_here() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    let sid = SessionId::new(&id).unwrap();
    // The standalone stream stays open on node 0; no request comes for ten TTLs.
    let seen = c.send(0, get(Some(&id)));
    assert_eq!(seen.status, 200);
    let timeout = c.nodes[0].poll_timeout().unwrap();
    assert_eq!(timeout.reason, TimeoutReason::StoreTouch);
    c.advance((IDLE + TOUCH) * 10);
    let touches = c
        .store()
        .writes
        .iter()
        .filter(|w| matches!(w, StoreAction::Touch { .. }))
        .count();
    assert!(touches >= 70, "a touch every interval: {touches}");
    // Another node still finds the session.
    assert_eq!(c.send(1, post_v(&id, call(2, "a"))).status, 200);
    assert!(c.nodes[0].session(&sid).is_some(), "busy: never evicted");
}

// ----- eviction and expiry -----

#[test]
fn eviction_is_not_expiry_the_store_decides() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    let sid = SessionId::new(&id).unwrap();
    // Node 1 keeps the session alive while node 0's copy idles out.
    for n in 0..8 {
        c.advance(Duration::from_secs(15));
        assert_eq!(c.send(1, post_v(&id, call(n, "a"))).status, 200);
    }
    assert!(c.nodes[0].session(&sid).is_none(), "evicted from node 0");
    assert!(
        !c.store()
            .writes
            .iter()
            .any(|w| matches!(w, StoreAction::Delete { .. })),
        "eviction deletes nothing"
    );
    // Node 0 fetches it again and serves it.
    assert_eq!(c.send(0, post_v(&id, call(9, "b"))).status, 200);
}

#[test]
fn eviction_is_an_event_and_abandons_what_the_session_left_here() {
    let mut c = Cluster::new(1);
    let id = open(&mut c, 0, 0);
    let sid = SessionId::new(&id).unwrap();
    let now = c.now;
    // A server-to-client request on the standalone stream, which then closes.
    let Outcome::StreamOpened(o) = c.nodes[0].handle_request(get(Some(&id)), now) else {
        panic!("opened");
    };
    c.nodes[0]
        .request(o.stream, "roots/list", None, now)
        .unwrap();
    c.nodes[0].handle_disconnect(o.connection, now).unwrap();
    while c.nodes[0].poll_output().is_some() {}
    while c.nodes[0].poll_store().is_some() {}
    c.nodes[0].handle_timeout(now + IDLE);
    let events: Vec<ServerEvent> = std::iter::from_fn(|| c.nodes[0].poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            ServerEvent::RequestAbandoned {
                reason: AbandonReason::Evicted,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(events.contains(&ServerEvent::SessionEvicted { id: sid.clone() }));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ServerEvent::SessionClosed { .. })),
        "not closed"
    );
    assert!(c.nodes[0].poll_store().is_none(), "eviction writes nothing");
}

#[test]
fn idle_expiry_goes_through_the_store_ttl() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    // Within the idle timeout, any node serves it.
    c.advance(IDLE - Duration::from_secs(1));
    assert_eq!(c.send(1, post_v(&id, call(2, "a"))).status, 200);
    // Idle for the TTL (the idle timeout plus a touch interval) everywhere: gone.
    c.advance(IDLE + TOUCH);
    for at in 0..2 {
        assert_eq!(
            c.send(at, post_v(&id, call(3, "a"))).status,
            404,
            "node {at}"
        );
    }
}

#[test]
fn a_full_cache_evicts_the_session_idle_longest() {
    let mut config = store_config("n0");
    config.max_sessions = Some(2);
    let mut c = Cluster::new(2);
    c.nodes[0] = Server::with_entropy(config, Box::new(SeededEntropy::new(5)));
    let a = open(&mut c, 1, 1);
    c.advance(Duration::from_secs(1));
    let b = open(&mut c, 1, 1);
    c.advance(Duration::from_secs(1));
    let d = open(&mut c, 1, 1);
    // Node 0 (cap 2) serves all three: the one idle longest makes room each time.
    for id in [&a, &b, &d, &a] {
        c.advance(Duration::from_secs(1));
        assert_eq!(c.send(0, post_v(id, call(2, "x"))).status, 200);
        assert!(c.nodes[0].session_count() <= 2);
    }
    assert!(c.nodes[0].session(&SessionId::new(&a).unwrap()).is_some());
    assert!(c.nodes[0].session(&SessionId::new(&d).unwrap()).is_some());
    // A new session on a full cache also evicts rather than refusing.
    let seen = c.send(0, post(initialize_body(1, "2025-06-18")));
    assert_eq!(seen.status, 200);
}

// ----- replies that wait for the store -----

#[test]
fn the_initialize_reply_waits_for_its_record_to_be_written() {
    let mut c = Cluster::new(1);
    let now = c.now;
    let Outcome::Dispatch(d) =
        c.nodes[0].handle_request(post(initialize_body(1, "2025-06-18")), now)
    else {
        panic!("dispatched");
    };
    c.nodes[0]
        .send(d.stream, initialize_result(1, "2025-06-18"), now)
        .unwrap();
    // Held: nothing of the reply goes out before the write.
    assert!(c.nodes[0].poll_ready().is_none());
    assert!(c.nodes[0].poll_connection(d.connection).is_none());
    let op = c.nodes[0].poll_store().unwrap();
    assert!(matches!(op.action, StoreAction::Put { .. }));
    let ticket = op.ticket.expect("the reply waits for it");
    assert!(c.nodes[0].store_done(ticket, Ok(())).unwrap().is_none());
    assert_eq!(c.nodes[0].poll_ready(), Some(d.connection));
    let head = c.nodes[0].poll_connection(d.connection).unwrap();
    let StreamEvent::Head(head) = head else {
        panic!("the head first");
    };
    assert!(header(&head, SESSION_HEADER).is_some());
    // A ticket is confirmed once.
    assert_eq!(
        c.nodes[0].store_done(ticket, Ok(())).unwrap_err(),
        UsageError::UnknownTicket
    );
}

#[test]
fn a_failed_create_becomes_503_and_no_session_is_left() {
    let mut c = Cluster::new(1);
    c.store().down = true;
    let seen = c.send(0, post(initialize_body(1, "2025-06-18")));
    assert_eq!(seen.status, 503);
    assert!(seen.retry_after, "Retry-After");
    assert_eq!(seen.session, None, "no session id got out");
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["error"]["code"], -32000);
    assert_eq!(c.nodes[0].session_count(), 0);
    // The store comes back: initialize works.
    c.store().down = false;
    assert_eq!(
        c.send(0, post(initialize_body(1, "2025-06-18"))).status,
        200
    );
}

#[test]
fn the_store_down_gives_503_and_changes_nothing() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    c.store().down = true;
    // A fetch fails: 503, nothing held or written.
    let seen = c.send(1, post_v(&id, call(2, "a")));
    assert_eq!(seen.status, 503);
    assert!(seen.retry_after);
    assert_eq!(c.nodes[1].session_count(), 0);
    // A DELETE whose write fails: 503, and the session lives on in the store.
    let seen = c.send(0, delete(Some(&id)));
    assert_eq!(seen.status, 503, "{seen:?}");
    // `initialized` that cannot be written: 503, and the flag is not set here.
    c.store().down = false;
    let b = {
        let seen = c.send(0, post(initialize_body(1, "2025-06-18")));
        c.id(seen.session.unwrap()[1..].parse().unwrap())
    };
    c.store().down = true;
    assert_eq!(c.send(0, post_v(&b, INITIALIZED)).status, 503);
    assert!(
        !c.nodes[0]
            .session(&SessionId::new(&b).unwrap())
            .unwrap()
            .initialized
    );
    // Redis is back: normal service, the DELETE retried works.
    c.store().down = false;
    assert_eq!(c.send(1, post_v(&id, call(3, "a"))).status, 200);
    assert_eq!(c.send(1, delete(Some(&id))).status, 200);
    assert_eq!(c.send(0, post_v(&id, call(4, "a"))).status, 404);
}

// ----- a refused request writes nothing -----

/// `INV-S3` with a store: a refused request writes nothing and keeps no copy.
#[test]
fn a_refused_request_writes_nothing_and_leaves_no_copy() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 0);
    let writes = c.store().writes.len();
    let refused = [
        post_v(&id, "{not json"),
        post_v(&id, r#"{"jsonrpc":"2.0"}"#),
        post_v(&id, initialize_body(5, "2025-06-18")),
        post_v(&id, call(1, "a")).set("accept", "text/html"),
        post_v(&id, call(1, "a")).set("mcp-protocol-version", "1999-01-01"),
        get(Some(&id)).set("last-event-id", "nope"),
    ];
    for r in refused {
        let seen = c.send(1, r);
        assert!(seen.status >= 400, "{seen:?}");
        assert_eq!(
            c.nodes[1].session_count(),
            0,
            "a refused request keeps no copy"
        );
    }
    assert_eq!(
        c.store().writes.len(),
        writes,
        "a refused request writes nothing"
    );
}

// ----- the property -----

/// One step of a client population.
#[derive(Debug, Clone)]
enum Step {
    Initialize,
    Initialized(usize),
    Call(usize, u8),
    List(usize),
    Delete(usize),
    Malformed(usize),
    Advance(u8),
    AdvanceFar,
}

fn step() -> impl Strategy<Value = (Step, usize)> {
    let s = prop_oneof![
        2 => Just(Step::Initialize),
        2 => (0..4usize).prop_map(Step::Initialized),
        5 => (0..4usize, any::<u8>()).prop_map(|(k, t)| Step::Call(k, t)),
        2 => (0..4usize).prop_map(Step::List),
        1 => (0..5usize).prop_map(Step::Delete),
        1 => (0..4usize).prop_map(Step::Malformed),
        2 => (1..5u8).prop_map(Step::Advance),
        1 => Just(Step::AdvanceFar),
    ];
    (s, 0..3usize)
}

fn play(c: &mut Cluster, steps: &[(Step, usize)]) -> Vec<Seen> {
    let mut seen = Vec::new();
    for (n, (step, node)) in steps.iter().enumerate() {
        let at = *node;
        let got = match step {
            Step::Initialize => c.send(at, post(initialize_body(1, "2025-06-18"))),
            Step::Initialized(k) => c.send(at, post_v(&c.id(*k), INITIALIZED)),
            Step::Call(k, t) => c.send(at, post_v(&c.id(*k), call(n as u64, &t.to_string()))),
            Step::List(k) => c.send(at, post_v(&c.id(*k), tools_list(n as u64))),
            Step::Delete(k) => c.send(at, delete(Some(&c.id(*k)))),
            Step::Malformed(k) => c.send(at, post_v(&c.id(*k), "[1,")),
            Step::Advance(s) => {
                // Short steps: a sequence never idles a session into the window between
                // the idle timeout and the store's TTL.
                c.advance(Duration::from_secs(u64::from(*s)));
                continue;
            }
            Step::AdvanceFar => {
                c.advance((IDLE + TOUCH) * 3);
                continue;
            }
        };
        seen.push(got);
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    /// The same requests spread over three machines sharing a store get the same
    /// responses, minus ids and timing, as on one machine holding everything.
    #[test]
    fn n_machines_sharing_a_store_answer_as_one(steps in prop::collection::vec(step(), 1..40)) {
        let mut one = Cluster::single();
        let mut three = Cluster::new(3);
        let a = play(&mut one, &steps);
        let b = play(&mut three, &steps);
        prop_assert_eq!(a, b);
        // Nothing the cluster holds outlives the store.
        let store = three.store.take().unwrap();
        for node in &three.nodes {
            for r in node.sessions() {
                let now = three.now;
                prop_assert!(
                    store.read(&r.id, now).unwrap().is_some(),
                    "a node holds {:?}, which the store does not", r.id
                );
            }
        }
    }
}

#[test]
fn the_store_refusal_answers_as_the_policy_says() {
    let mut config = store_config("n0");
    config.policy = config.policy.with(
        Refusal::StoreUnavailable,
        mcp_http_proto::server::Answer::new(http::StatusCode::BAD_GATEWAY, -32099),
    );
    config.policy.store_retry_after = Duration::from_secs(7);
    let mut c = Cluster::new(1);
    c.nodes[0] = Server::with_entropy(config, Box::new(SeededEntropy::new(1)));
    c.store().down = true;
    let now = c.now;
    let Outcome::FetchSession(fetch) = c.nodes[0].handle_request(post_v("abc", call(1, "a")), now)
    else {
        panic!("parked");
    };
    let outcome = c.nodes[0]
        .resume_fetched(fetch, Err(StoreUnavailable), now)
        .unwrap();
    let (reject, body) = assert_refused(outcome, Refusal::StoreUnavailable, 502, -32099);
    assert_eq!(header(&reject.response, "retry-after"), Some("7"));
    assert!(body["error"]["message"].as_str().unwrap().contains("store"));
}

// ----- streams and requests across nodes -----

/// Opens a 2025-11-25 session (priming events, early close) on node `at`.
fn open_2025_11_25(c: &mut Cluster, at: usize) -> String {
    let seen = c.send(at, post(initialize_body(1, "2025-11-25")));
    assert_eq!(seen.status, 200, "{seen:?}");
    let id = c.id(seen.session.expect("a session id")[1..].parse().unwrap());
    let r = post_in(&id, INITIALIZED).set("mcp-protocol-version", "2025-11-25");
    assert_eq!(c.send(at, r).status, 202);
    id
}

fn post_25(session: &str, body: impl Into<String>) -> Request<Bytes> {
    post_in(session, body).set("mcp-protocol-version", "2025-11-25")
}

/// The SSE frames queued on a connection, and whether it ended.
fn frames_on(server: &mut Server, connection: ConnectionId) -> (Vec<SseFrame>, bool) {
    let mut raw = Vec::new();
    let mut ended = false;
    while let Some(e) = server.poll_connection(connection) {
        match e {
            StreamEvent::Head(h) => assert_eq!(h.status(), 200),
            StreamEvent::Data(b) => raw.extend_from_slice(&b),
            StreamEvent::End => ended = true,
        }
    }
    (sse_frames(&raw), ended)
}

/// Hands every relay what the store holds of its stream (a driver reads from
/// `relay_next`; this one hands over more, to show each event still goes out once).
fn pump_relays(c: &mut Cluster) {
    let now = c.now;
    for (at, stream, _) in c.relays.clone() {
        let Some((key, next)) = c.nodes[at].relay_next(stream).map(|(k, n)| (k.clone(), n)) else {
            continue;
        };
        // Everything the store has, on purpose: the machine skips what it relayed.
        let _ = next;
        let copy = c.store().read_stream(&key, 0).unwrap().unwrap();
        let more = StoredEvents {
            events: copy.events,
            ended: copy.ended,
        };
        c.nodes[at].relay(stream, more, now).unwrap();
    }
}

fn progress(n: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":1,"progress":{n}}}}}"#
    )
}

#[test]
fn event_ids_and_request_ids_name_the_node() {
    let mut c = Cluster::new(2);
    let id = open_2025_11_25(&mut c, 1);
    let now = c.now;
    let Outcome::Dispatch(d) = c.outcome(1, post_25(&id, call(2, "x"))) else {
        panic!("dispatched");
    };
    let (frames, _) = frames_on(&mut c.nodes[1], d.connection);
    let first = frames[0].id.clone().expect("a priming event with an id");
    assert!(first.starts_with("n1."), "{first}");
    let r = c.nodes[1].request(d.stream, "ping", None, now).unwrap();
    let mcp_http_proto::wire::jsonrpc::RequestId::String(r) = r else {
        panic!("a string id");
    };
    assert!(r.starts_with("n1.") && r.ends_with("-r1"), "{r}");
}

#[test]
fn a_cut_reply_resumed_on_another_node_gets_every_event_once_in_order() {
    let mut c = Cluster::new(2);
    let id = open_2025_11_25(&mut c, 0);
    let now = c.now;
    let Outcome::Dispatch(d) = c.outcome(0, post_25(&id, call(7, "slow"))) else {
        panic!("dispatched");
    };
    c.nodes[0].send(d.stream, progress(1), now).unwrap();
    c.nodes[0].send(d.stream, progress(2), now).unwrap();
    let (first, _) = frames_on(&mut c.nodes[0], d.connection);
    // The server cuts the connection mid-way (`SRV-PSSE-10`), and goes on.
    c.nodes[0].close_connection(d.stream, now).unwrap();
    let (tail, ended) = frames_on(&mut c.nodes[0], d.connection);
    assert!(
        ended && tail.iter().all(|f| f.message().is_none()),
        "a retry, then the end"
    );
    c.nodes[0].send(d.stream, progress(3), now).unwrap();
    c.flush_store(0);
    // The client resumes after the last event it saw, and lands on node 1.
    let last = first.last().and_then(|f| f.id.clone()).unwrap();
    let outcome = c.outcome(1, resume_get(&id, &last));
    let Outcome::StreamResumed(r) = outcome else {
        panic!("resumed from the store: {outcome:?}");
    };
    assert_eq!((r.replayed, r.missed), (1, 0));
    assert!(r.relayed_from.is_some(), "the stream goes on: relayed");
    let (replayed, _) = frames_on(&mut c.nodes[1], r.connection);
    // Node 0 finishes the request; node 1 relays what follows, once, then ends.
    c.nodes[0].send(d.stream, progress(4), now).unwrap();
    c.nodes[0]
        .send(d.stream, app_answer_for_call(7, "slow"), now)
        .unwrap();
    c.flush_store(0);
    pump_relays(&mut c);
    pump_relays(&mut c);
    let (live, ended) = frames_on(&mut c.nodes[1], r.connection);
    assert!(ended, "the relay ends with the stream");
    let seen: Vec<SseFrame> = first.into_iter().chain(replayed).chain(live).collect();
    let messages: Vec<serde_json::Value> = seen.iter().filter_map(|f| f.message()).collect();
    let progresses: Vec<u64> = messages
        .iter()
        .filter_map(|m| m["params"]["progress"].as_u64())
        .collect();
    assert_eq!(progresses, [1, 2, 3, 4], "every event once, in order");
    assert_eq!(messages.last().unwrap()["id"], 7, "then the response");
    let seqs: Vec<u64> = seen
        .iter()
        .filter_map(|f| f.id.as_ref())
        .map(|i| i.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ids only grow: {seqs:?}"
    );
    // The relay stream is gone; the session is idle on node 1 again.
    assert_eq!(c.nodes[1].relay_next(r.stream), None);
}

fn app_answer_for_call(id: u64, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#
    )
}

#[test]
fn a_resume_from_the_store_is_refused_as_a_local_one_would_be() {
    let mut c = Cluster::new(2);
    let a = open_2025_11_25(&mut c, 0);
    let b = open_2025_11_25(&mut c, 0);
    let now = c.now;
    let Outcome::Dispatch(d) = c.outcome(0, post_25(&a, call(2, "x"))) else {
        panic!("dispatched");
    };
    c.nodes[0].send(d.stream, progress(1), now).unwrap();
    let (frames, _) = frames_on(&mut c.nodes[0], d.connection);
    c.flush_store(0);
    let last = frames.last().and_then(|f| f.id.clone()).unwrap();
    // `SRV-RES-6`: session b cannot resume session a's stream, on any node.
    let outcome = c.outcome(1, resume_get(&b, &last));
    assert_refused(outcome, Refusal::UnknownEventId, 400, -32600);
    // A position the stream never reached.
    let far = format!("{}-999", last.rsplit_once('-').unwrap().0);
    assert_refused(
        c.outcome(1, resume_get(&a, &far)),
        Refusal::UnknownEventId,
        400,
        -32600,
    );
    // A stream the store does not have.
    let unknown = "n0.00000000-5-1";
    assert_refused(
        c.outcome(1, resume_get(&a, unknown)),
        Refusal::UnknownEventId,
        400,
        -32600,
    );
    // The store down: 503, nothing opened.
    c.store().down = true;
    let Outcome::FetchStream(fetch) = c.nodes[1].handle_request(resume_get(&a, &last), now) else {
        panic!("a resumption of another node's stream is parked");
    };
    let outcome = c.nodes[1]
        .resume_stream(fetch, Err(StoreUnavailable), now)
        .unwrap();
    assert_refused(outcome, Refusal::StoreUnavailable, 503, -32000);
    assert_eq!(c.nodes[1].stream_count(), 0);
}

#[test]
fn an_answer_landing_on_another_node_reaches_the_waiting_request() {
    let mut c = Cluster::new(2);
    let id = open_2025_11_25(&mut c, 0);
    let now = c.now;
    // A tool on node 0 asks the client something (elicitation) on its reply stream.
    let Outcome::Dispatch(d) = c.outcome(0, post_25(&id, call(2, "ask"))) else {
        panic!("dispatched");
    };
    let asked = c.nodes[0]
        .request(
            d.stream,
            "elicitation/create",
            Some(&serde_json::json!({"message": "ok?"})),
            now,
        )
        .unwrap();
    let asked_json = serde_json::to_string(&asked).unwrap();
    // The client's answer lands on node 1.
    let answer = format!(r#"{{"jsonrpc":"2.0","id":{asked_json},"result":{{"action":"accept"}}}}"#);
    let Outcome::Accepted(a) = c.outcome(1, post_25(&id, answer)) else {
        panic!("accepted");
    };
    assert_eq!(a.answers.len(), 1);
    assert_eq!(a.answers[0].request, None, "not node 1's request");
    assert_eq!(a.answers[0].forwarded_to, Some(NodeId::new("n0").unwrap()));
    c.flush_store(1);
    // Node 0 pairs it with the waiting request.
    let [(0, Forwarded::Answer(got))] = c.forwarded.as_slice() else {
        panic!("forwarded to node 0: {:?}", c.forwarded);
    };
    assert_eq!(got.request.as_ref().map(|p| &p.id), Some(&asked));
    assert_eq!(got.message.id(), Some(&asked));
    let sid = SessionId::new(&id).unwrap();
    assert_eq!(c.nodes[0].pending_requests(Some(&sid)).count(), 0);
    // The same answer again: nothing waits for it any more.
    let again = format!(r#"{{"jsonrpc":"2.0","id":{asked_json},"result":{{}}}}"#);
    let _ = c.outcome(1, post_25(&id, again));
    c.flush_store(1);
    assert!(
        matches!(&c.forwarded[1], (0, Forwarded::Answer(a)) if a.request.is_none()),
        "{:?}",
        c.forwarded
    );
    // Garbage is no payload.
    assert_eq!(
        c.nodes[0].handle_forwarded(b"{}", now).unwrap_err(),
        UsageError::InvalidForward
    );
}

#[test]
fn a_message_for_a_standalone_stream_on_another_node_goes_there() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 1); // node 1 holds a copy too
    let sid = SessionId::new(&id).unwrap();
    let now = c.now;
    let Outcome::StreamOpened(o) = c.outcome(0, get(Some(&id))) else {
        panic!("opened");
    };
    let _ = frames_on(&mut c.nodes[0], o.connection);
    c.flush_store(0);
    // Node 1 learnt where the stream is, and forwards.
    let note =
        r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x"}}"#;
    let delivery = c.nodes[1].notify(&sid, note, now).unwrap();
    assert_eq!(
        delivery,
        mcp_http_proto::server::Delivery::Forwarded(NodeId::new("n0").unwrap())
    );
    c.flush_store(1);
    assert_eq!(c.forwarded, [(0, Forwarded::Delivered(o.stream))]);
    let (frames, _) = frames_on(&mut c.nodes[0], o.connection);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].message().unwrap()["params"]["uri"], "x");
    // On node 0 itself it is sent at once; a request cannot go to another node's stream.
    assert_eq!(
        c.nodes[0].notify(&sid, note, now).unwrap(),
        mcp_http_proto::server::Delivery::Sent(o.stream)
    );
    assert_eq!(
        c.nodes[1].notify(&sid, PING_REQUEST, now).unwrap_err(),
        UsageError::RequestOnRemoteStream
    );
    // A node that does not hold the session cannot notify it.
    let mut third = Cluster::new(3);
    assert_eq!(
        third.nodes[2].notify(&sid, note, now).unwrap_err(),
        UsageError::SessionNotHeld
    );
}

#[test]
fn a_standalone_stream_opened_on_another_node_supersedes_the_old_one() {
    let mut c = Cluster::new(2);
    let id = open(&mut c, 0, 1);
    let Outcome::StreamOpened(first) = c.outcome(0, get(Some(&id))) else {
        panic!("opened on node 0");
    };
    let _ = frames_on(&mut c.nodes[0], first.connection);
    c.flush_store(0);
    // The client reconnects through the balancer and lands on node 1: one stream per
    // session, the newest wins.
    let Outcome::StreamOpened(second) = c.outcome(1, get(Some(&id))) else {
        panic!("opened on node 1");
    };
    c.flush_store(1);
    let (_, ended) = frames_on(&mut c.nodes[0], first.connection);
    assert!(ended, "node 0's stream ended");
    let sid = SessionId::new(&id).unwrap();
    assert_eq!(c.nodes[0].standalone_stream(&sid), None);
    assert_eq!(c.nodes[1].standalone_stream(&sid), Some(second.stream));
    let now = c.now;
    let record = c.store().read(&sid, now).unwrap().unwrap();
    assert!(record.standalone.unwrap().as_str().starts_with("n1."));
}

#[test]
fn resumable_streams_are_copied_to_the_store_and_their_end_marked() {
    let mut c = Cluster::new(1);
    let id = open(&mut c, 0, 0);
    let before = c.store().appends;
    assert_eq!(c.send(0, post_v(&id, call(2, "a"))).status, 200);
    assert_eq!(c.store().appends, before + 1, "the response event");
    let ended: Vec<&StoredStream> = c.store().streams.values().filter(|s| s.ended).collect();
    assert!(!ended.is_empty(), "the finished stream is marked ended");
    // A server without replay copies nothing.
    let mut config = store_config("n0");
    config.replay = None;
    let mut plain = Cluster::new(1);
    plain.nodes[0] = Server::with_entropy(config, Box::new(SeededEntropy::new(3)));
    let id = open(&mut plain, 0, 0);
    plain.send(0, post_v(&id, call(2, "a")));
    assert_eq!(plain.store().appends, 0);
}

#[test]
fn a_node_that_missed_changes_evicts_its_idle_copies_and_keeps_busy_ones() {
    let mut c = Cluster::new(2);
    let idle = open(&mut c, 0, 0);
    let busy = open(&mut c, 0, 0);
    let Outcome::StreamOpened(_) = c.outcome(0, get(Some(&busy))) else {
        panic!("opened");
    };
    assert_eq!(c.nodes[0].evict_idle_sessions(), 1);
    assert!(
        c.nodes[0]
            .session(&SessionId::new(&idle).unwrap())
            .is_none()
    );
    assert!(
        c.nodes[0]
            .session(&SessionId::new(&busy).unwrap())
            .is_some()
    );
    // It is fetched again on its next request.
    assert_eq!(c.send(0, post_v(&idle, call(3, "a"))).status, 200);
    // Without a store there is nothing to evict to.
    let mut one = Cluster::single();
    let id = open(&mut one, 0, 0);
    assert_eq!(one.nodes[0].evict_idle_sessions(), 0);
    assert!(
        one.nodes[0]
            .session(&SessionId::new(&id).unwrap())
            .is_some()
    );
}

/// Found by the `cluster_sequence` fuzz target: a node told that another node deleted a
/// session (its standalone stream open here) wrote the end of that stream to a store
/// that had already dropped the session with its streams. It writes nothing now.
#[test]
fn a_node_told_of_a_delete_writes_nothing_for_the_session() {
    let mut c = Cluster::new(2);
    let id = open_2025_11_25(&mut c, 1);
    let sid = SessionId::new(&id).unwrap();
    let Outcome::StreamOpened(_) = c.outcome(1, get(Some(&id))) else {
        panic!("opened on node 1");
    };
    c.flush_store(1);
    // Another node deleted it: node 1 learns it and ends its copy and its stream.
    assert!(c.nodes[1].forget_session(&sid));
    assert_eq!(
        c.nodes[1].poll_store(),
        None,
        "nothing written for a deleted session"
    );
    assert!(c.nodes[1].session(&sid).is_none());
}
