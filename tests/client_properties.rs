//! Property tests of the client machine against arbitrary server behaviour: statuses,
//! content types, session headers on any response, bodies, cut streams, timers.
//!
//! After every step the harness checks INV-C1, INV-C2, INV-C3, INV-C4, INV-C5, INV-C6,
//! INV-C8, INV-C9, INV-C11, INV-C12, INV-C15 and INV-C16 on what the client emitted.

mod common_client;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common_client::{base_instant, head, init_request};
use http::{Method, Request};
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId};
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::wire::jsonrpc::{MessageKind, Messages, RequestId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Init,
    Send,
    Notify,
    OpenStandalone,
    Close,
    Tick,
    Respond(Answer),
}

#[derive(Debug, Clone)]
struct Answer {
    pick: usize,
    status: u16,
    media: u8,
    /// 0 none, 1 fresh, 2 malformed, 3 an id offered before.
    session: u8,
    version: u8,
    answer: bool,
    priming: bool,
    duplicate: bool,
    /// 0 end, 1 transport error after the body, 2 transport error before the head.
    cut: u8,
}

fn action() -> impl Strategy<Value = Action> {
    let answer = (
        any::<usize>(),
        prop::sample::select(vec![
            200u16, 200, 200, 200, 200, 202, 400, 404, 404, 405, 409, 500,
        ]),
        0u8..4,
        0u8..4,
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![0u8, 0, 0, 1, 1, 2]),
    )
        .prop_map(
            |(pick, status, media, session, version, answer, priming, duplicate, cut)| Answer {
                pick,
                status,
                media,
                session,
                version,
                answer,
                priming,
                duplicate,
                cut,
            },
        );
    prop_oneof![
        1 => Just(Action::Init),
        3 => Just(Action::Send),
        1 => Just(Action::Notify),
        1 => Just(Action::OpenStandalone),
        1 => Just(Action::Close),
        2 => Just(Action::Tick),
        8 => answer.prop_map(Action::Respond),
    ]
}

struct Open {
    ex: ExchangeId,
    req: Request<Bytes>,
    /// The harness stream this exchange continues (a resume GET).
    stream: Option<usize>,
}

#[derive(Default)]
struct HStream {
    last_id: Option<String>,
    requests: Vec<RequestId>,
    answered: BTreeSet<RequestId>,
}

struct Harness {
    c: Client,
    now: Instant,
    open: Vec<Open>,
    next_id: i64,
    next_event: u64,
    next_session: u64,
    offered: Vec<String>,
    deleted: BTreeSet<String>,
    streams: Vec<HStream>,
    stream_of_event: BTreeMap<String, usize>,
    resolved: BTreeMap<RequestId, u32>,
}

fn header<'a>(r: &'a Request<Bytes>, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

fn is_initialize(r: &Request<Bytes>) -> bool {
    r.method() == Method::POST
        && std::str::from_utf8(r.body())
            .unwrap()
            .contains("\"initialize\"")
}

fn request_ids(r: &Request<Bytes>) -> Vec<RequestId> {
    match Messages::parse(r.body().clone()) {
        Ok(b) => b
            .as_slice()
            .iter()
            .filter(|m| m.kind() == MessageKind::Request)
            .filter_map(|m| m.id().cloned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Harness {
    fn new(auto: bool) -> Self {
        let mut cfg = ClientConfig::new(common_client::ENDPOINT.parse().unwrap());
        cfg.auto_reinitialize = auto;
        cfg.reconnect.max_attempts = 3;
        Self {
            c: Client::with_entropy(cfg, Box::new(SeededEntropy::new(5))).unwrap(),
            now: base_instant(),
            open: Vec::new(),
            next_id: 100,
            next_event: 0,
            next_session: 0,
            offered: Vec::new(),
            deleted: BTreeSet::new(),
            streams: Vec::new(),
            stream_of_event: BTreeMap::new(),
            resolved: BTreeMap::new(),
        }
    }

    fn event_id(&mut self, stream: usize) -> String {
        self.next_event += 1;
        let id = format!("e{}", self.next_event);
        self.stream_of_event.insert(id.clone(), stream);
        id
    }

    fn step(&mut self, action: Action) {
        let before = self.c.session().map(|s| s.as_str().to_owned());
        let mut carried_current_404 = false;
        let mut init_response = false;
        match action {
            Action::Init => {
                let _ = self.c.initialize(init_request(1));
            }
            Action::Send => {
                self.next_id += 1;
                let _ = self
                    .c
                    .send(common_client::request(self.next_id as u64, "x"));
            }
            Action::Notify => {
                let _ = self
                    .c
                    .send(r#"{"jsonrpc":"2.0","method":"notifications/x"}"#);
            }
            Action::OpenStandalone => {
                let _ = self.c.open_standalone_stream();
            }
            Action::Close => {
                self.c.close().unwrap();
            }
            Action::Tick => {
                if let Some(t) = self.c.poll_timeout() {
                    self.now = self.now.max(t.at);
                }
                self.now += Duration::from_millis(1);
                self.c.handle_timeout(self.now);
            }
            Action::Respond(a) => {
                if self.open.is_empty() {
                    return;
                }
                let o = self.open.remove(a.pick % self.open.len());
                init_response = is_initialize(&o.req);
                carried_current_404 = a.status == 404
                    && a.cut != 2
                    && header(&o.req, "mcp-session-id").is_some()
                    && header(&o.req, "mcp-session-id") == before.as_deref()
                    && o.req.method() != Method::DELETE;
                self.respond(o, a);
            }
        }
        let after = self.c.session().map(|s| s.as_str().to_owned());
        // INV-C1: the session changes only to None, or to a new id offered on the response
        // to an initialize request.
        if after != before {
            if let Some(s) = &after {
                assert!(
                    init_response,
                    "session {s} set by a non-initialize response"
                );
                assert_eq!(
                    Some(s),
                    self.offered.last(),
                    "not the id offered with the result"
                );
            }
        }
        // INV-C4: after a 404 to a request that carried the session, it is gone.
        if carried_current_404 {
            assert_eq!(after, None, "INV-C4: session kept after 404");
        }
        let mut first = true;
        let mut initialized_sent = false;
        while let Some(t) = self.c.poll_transmit() {
            let r = &t.request;
            let sessions: Vec<_> = r.headers().get_all("mcp-session-id").iter().collect();
            assert!(sessions.len() <= 1, "INV-C3: one session header at most");
            let sent = header(r, "mcp-session-id").map(str::to_owned);
            let text = std::str::from_utf8(r.body()).unwrap();
            // INV-C6: Accept lists both types on POST, the event stream on GET.
            match *r.method() {
                Method::POST => assert_eq!(
                    header(r, "accept"),
                    Some("application/json, text/event-stream")
                ),
                Method::GET => assert_eq!(header(r, "accept"), Some("text/event-stream")),
                _ => {}
            }
            // INV-C9: before the InitializeResult, no request but initialize and ping.
            let carries_request = !request_ids(r).is_empty();
            if carries_request && !is_initialize(r) && !text.contains("\"ping\"") {
                assert!(
                    self.c.version().is_some(),
                    "INV-C9: request before initialization"
                );
            }
            if text.contains("notifications/initialized") {
                // Once, right after the InitializeResult arrived.
                assert!(
                    init_response && !initialized_sent,
                    "INV-C9: initialized misplaced"
                );
                initialized_sent = true;
            }
            // INV-C16: losing a connection never cancels.
            assert!(!text.contains("notifications/cancelled"), "INV-C16");
            if carried_current_404 && first {
                assert!(
                    is_initialize(r),
                    "INV-C4: first request after 404 is initialize"
                );
            }
            first = false;
            if is_initialize(r) {
                assert_eq!(sent, None, "INV-C2");
            } else if r.method() == Method::DELETE {
                let s = sent.clone().expect("DELETE carries the id");
                assert!(!self.deleted.contains(&s), "INV-C5: DELETE twice");
                self.deleted.insert(s);
            } else {
                // INV-C3: exactly the current session, byte for byte.
                assert_eq!(sent, after, "INV-C3");
                if let (Some(v), false) = (self.c.version(), self.c.is_legacy()) {
                    assert_eq!(
                        header(r, "mcp-protocol-version"),
                        Some(v.as_str()),
                        "INV-C8"
                    );
                }
            }
            if let Some(s) = &sent {
                assert!(self.offered.contains(s), "INV-C1: {s} was never offered");
                if r.method() != Method::DELETE {
                    assert!(!self.deleted.contains(s), "INV-C5: {s} sent after DELETE");
                }
            }
            let mut stream = None;
            if let Some(e) = header(r, "last-event-id") {
                // INV-C12: a GET, with the last id of exactly one stream.
                assert_eq!(r.method(), Method::GET, "INV-C12: resumption is a GET");
                let h = *self.stream_of_event.get(e).expect("INV-C12: an id we sent");
                assert_eq!(
                    self.streams[h].last_id.as_deref(),
                    Some(e),
                    "INV-C12: not the last id"
                );
                // INV-C15: a POST stream with every response delivered is not resumed.
                let hs = &self.streams[h];
                if !hs.requests.is_empty() {
                    assert!(
                        hs.requests.iter().any(|id| !hs.answered.contains(id)),
                        "INV-C15: resumed a complete stream"
                    );
                }
                stream = Some(h);
            }
            self.open.push(Open {
                ex: t.exchange,
                req: t.request,
                stream,
            });
        }
        while let Some(e) = self.c.poll_event() {
            if let ClientEvent::Response { id, .. } | ClientEvent::RequestFailed { id, .. } = e {
                let n = self.resolved.entry(id.clone()).or_default();
                *n += 1;
                assert!(*n <= 1, "INV-C11: {id:?} resolved twice");
            }
        }
    }

    fn respond(&mut self, o: Open, a: Answer) {
        let now = self.now;
        if a.cut == 2 {
            self.c.handle_transport_error(o.ex, now).unwrap();
            return;
        }
        let init = is_initialize(&o.req);
        let mut h = vec![];
        let media = ["application/json", "text/event-stream", "text/html", ""][a.media as usize];
        if !media.is_empty() {
            h.push(("content-type".to_owned(), media.to_owned()));
        }
        match a.session {
            1 => {
                self.next_session += 1;
                let s = format!("s-{}", self.next_session);
                if init {
                    self.offered.push(s.clone());
                }
                h.push((
                    "mcp-session-id".into(),
                    if init {
                        s
                    } else {
                        format!("late-{}", self.next_session)
                    },
                ));
            }
            2 => h.push(("mcp-session-id".into(), "a,b".into())),
            3 => {
                if let Some(s) = self.offered.first().cloned() {
                    if init {
                        self.offered.push(s.clone());
                    }
                    h.push(("mcp-session-id".into(), s));
                }
            }
            _ => {}
        }
        let hdrs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.c
            .handle_response_head(o.ex, head(a.status, &hdrs))
            .unwrap();
        let version = ["2025-11-25", "2025-06-18", "2025-03-26", "1999-01-01"][a.version as usize];
        let answer = |id: &RequestId| -> String {
            let idj = serde_json::to_string(id).unwrap();
            if init {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{idj},"result":{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}"#
                )
            } else {
                format!(r#"{{"jsonrpc":"2.0","id":{idj},"result":{{}}}}"#)
            }
        };
        // Which requests this response can answer, and on which harness stream.
        let (ids, stream) = match o.stream {
            Some(hs) => {
                let s = &self.streams[hs];
                (
                    s.requests
                        .iter()
                        .filter(|id| !s.answered.contains(*id))
                        .cloned()
                        .collect(),
                    Some(hs),
                )
            }
            None => (request_ids(&o.req), None),
        };
        let mut body = String::new();
        if media == "application/json" {
            if a.answer && !ids.is_empty() {
                body = answer(&ids[0]);
            }
        } else if media == "text/event-stream" {
            let hs = stream.unwrap_or_else(|| {
                self.streams.push(HStream {
                    requests: ids.clone(),
                    ..HStream::default()
                });
                self.streams.len() - 1
            });
            let mut events = Vec::new();
            if a.priming {
                let id = self.event_id(hs);
                events.push((id, String::new()));
                // A second id before any answer, so that cursors move within a stream.
                let id = self.event_id(hs);
                events.push((
                    id,
                    r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#.into(),
                ));
            }
            if a.answer {
                for rid in ids.iter().take(1) {
                    let id = self.event_id(hs);
                    events.push((id, answer(rid)));
                    if a.duplicate {
                        let id = self.event_id(hs);
                        events.push((id, answer(rid)));
                    }
                }
            }
            let n = events.len();
            for (i, (id, data)) in events.into_iter().enumerate() {
                // A cut stream loses its last event (it is never complete).
                if a.cut == 1 && i + 1 == n && n > 1 {
                    body.push_str(&format!("id: {id}\ndata: {data}"));
                    break;
                }
                body.push_str(&format!("id: {id}\nretry: 5\ndata: {data}\n\n"));
                self.streams[hs].last_id = Some(id);
                if data.contains("\"result\"") {
                    if let Some(rid) = ids.first() {
                        self.streams[hs].answered.insert(rid.clone());
                    }
                }
            }
        } else if a.status >= 400 && a.answer {
            body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}"#.into();
        }
        if !body.is_empty() {
            self.c
                .handle_response_chunk(o.ex, Bytes::from(body), now)
                .unwrap();
        }
        if a.cut == 1 {
            self.c.handle_transport_error(o.ex, now).unwrap();
        } else {
            self.c.handle_response_end(o.ex, now).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// INV-C1..C5, INV-C8, INV-C11, INV-C12, INV-C15 over arbitrary server behaviour.
    #[test]
    fn client_invariants_hold(auto in any::<bool>(), established in prop::bool::weighted(0.8), actions in prop::collection::vec(action(), 1..60)) {
        let mut h = Harness::new(auto);
        h.step(Action::Init);
        if established {
            // Most runs start from a live session, so later steps reach deep states.
            h.step(Action::Respond(Answer {
                pick: 0, status: 200, media: 0, session: 1, version: 0,
                answer: true, priming: false, duplicate: false, cut: 0,
            }));
        }
        for a in actions {
            h.step(a);
        }
    }
}

proptest! {
    /// Chunking equivalence: an SSE answer split anywhere yields the same events and the
    /// same timers (INV-C13: the priming event is never a message).
    #[test]
    fn sse_answers_are_chunking_independent(
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let body = format!(
            "id: p\r\nretry: 7\r\ndata:\r\n\r\n: comment\n{}{}",
            common_client::sse("1", r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#),
            common_client::sse("2", &common_client::result(2)),
        );
        let run = |cuts: &[usize]| {
            let now = base_instant();
            let mut c = common_client::client(common_client::config());
            common_client::initialize(&mut c, Some("s"), "2025-11-25", now);
            c.send(common_client::request(2, "x")).unwrap();
            let t = common_client::one(&mut c);
            c.handle_response_head(t.exchange, head(200, &[common_client::SSE])).unwrap();
            let mut last = 0;
            for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
                let chunk = Bytes::copy_from_slice(&body.as_bytes()[last..cut]);
                c.handle_response_chunk(t.exchange, chunk, now).unwrap();
                last = cut;
            }
            c.handle_response_end(t.exchange, now).unwrap();
            (common_client::events(&mut c), c.poll_timeout())
        };
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(body.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = run(&[]);
        prop_assert_eq!(whole.0.len(), 2);
        prop_assert_eq!(run(&cuts), whole);
    }
}
