//! A deterministic `Pair`: the client machine and the crate's server machine, wired
//! together in memory with a virtual clock and a tiny echo application. The drive loop
//! delivers each side's output to the other and fails on livelock.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId};
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::server::{Outcome, Server, ServerConfig, StreamEvent, StreamId};
use mcp_http_proto::wire::jsonrpc::{Message, MessageKind};

pub const ENDPOINT: &str = "http://127.0.0.1:8080/mcp";

/// The base of the virtual clock; the library never reads a clock.
#[allow(clippy::disallowed_methods)]
pub fn base_instant() -> Instant {
    Instant::now()
}

pub fn initialize_request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"pair","version":"1"}}}}}}"#
    )
}

pub fn request(id: u64, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#)
}

pub struct Pair {
    pub client: Client,
    pub server: Server,
    pub now: Instant,
    /// Server stream → the client exchange its output goes to.
    connections: BTreeMap<StreamId, ExchangeId>,
    /// Requests the echo app has not answered yet (method `slow`).
    pub deferred: Vec<(StreamId, Message)>,
    /// Every request the client sent, in order.
    pub sent: Vec<Request<Bytes>>,
    /// Every event the client emitted, in order.
    pub events: Vec<ClientEvent>,
    /// Every server-side stream opened for a request-bearing POST, in order.
    pub post_streams: Vec<StreamId>,
}

impl Pair {
    pub fn new(config: ClientConfig, server: ServerConfig) -> Self {
        let client =
            Client::with_entropy(config, Box::new(SeededEntropy::new(1))).expect("valid config");
        Self {
            client,
            server: Server::with_entropy(server, Box::new(SeededEntropy::new(2))),
            now: base_instant(),
            connections: BTreeMap::new(),
            deferred: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            post_streams: Vec::new(),
        }
    }

    pub fn default_config() -> ClientConfig {
        ClientConfig::new(ENDPOINT.parse().unwrap())
    }

    /// A new server machine: every connection to the old one breaks.
    pub fn restart_server(&mut self, config: ServerConfig, seed: u64) {
        self.server = Server::with_entropy(config, Box::new(SeededEntropy::new(seed)));
        self.deferred.clear();
        for (_, ex) in std::mem::take(&mut self.connections) {
            self.client.handle_transport_error(ex, self.now).unwrap();
        }
    }

    /// Delivers outputs both ways until nothing moves. Panics after too many rounds.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                self.sent.push(clone_request(&t.request));
                self.deliver(t.exchange, t.request);
            }
            while let Some(out) = self.server.poll_output() {
                moved = true;
                let Some(&ex) = self.connections.get(&out.stream) else {
                    continue;
                };
                match out.event {
                    StreamEvent::Head(head) => {
                        let (parts, ()) = head.into_parts();
                        self.client.handle_response_head(ex, parts).unwrap();
                    }
                    StreamEvent::Data(bytes) => {
                        self.client
                            .handle_response_chunk(ex, bytes, self.now)
                            .unwrap();
                    }
                    StreamEvent::End => {
                        self.connections.remove(&out.stream);
                        self.client.handle_response_end(ex, self.now).unwrap();
                    }
                }
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("livelock: the pair never went quiet");
    }

    /// Advances the virtual clock to the client's next timer, fires it, and drives.
    pub fn fire_client_timer(&mut self) -> Option<Duration> {
        let t = self.client.poll_timeout()?;
        let waited = t.at.saturating_duration_since(self.now);
        self.now = self.now.max(t.at);
        self.client.handle_timeout(self.now);
        self.drive();
        Some(waited)
    }

    /// Answers every deferred request, then drives.
    pub fn answer_deferred(&mut self) {
        for (stream, msg) in std::mem::take(&mut self.deferred) {
            let id = msg.id().unwrap();
            let answer = format!(
                r#"{{"jsonrpc":"2.0","id":{},"result":{{"late":true}}}}"#,
                id_json(id)
            );
            self.server.send(stream, answer, self.now).unwrap();
        }
        self.drive();
    }

    pub fn take_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.events)
    }

    fn deliver(&mut self, ex: ExchangeId, request: Request<Bytes>) {
        let outcome = self.server.handle_request(request, self.now);
        match outcome {
            Outcome::Dispatch(d) => {
                self.connections.insert(d.stream, ex);
                self.post_streams.push(d.stream);
                for msg in d.messages {
                    if msg.kind() != MessageKind::Request {
                        continue;
                    }
                    if let Some(answer) = self.answer(&msg) {
                        self.server.send(d.stream, answer, self.now).unwrap();
                    } else {
                        self.deferred.push((d.stream, msg));
                    }
                }
            }
            Outcome::StreamOpened(s) => {
                self.connections.insert(s.stream, ex);
            }
            Outcome::StreamResumed(s) => {
                self.connections.insert(s.stream, ex);
            }
            other => {
                let response = other.response().expect("a complete response").clone();
                let (parts, body) = response.into_parts();
                self.client.handle_response_head(ex, parts).unwrap();
                if !body.is_empty() {
                    self.client
                        .handle_response_chunk(ex, body, self.now)
                        .unwrap();
                }
                self.client.handle_response_end(ex, self.now).unwrap();
            }
        }
    }

    /// The echo app: `initialize` negotiates, `slow` waits, anything else echoes its
    /// method.
    fn answer(&self, msg: &Message) -> Option<String> {
        let id = id_json(msg.id().unwrap());
        match msg.method().unwrap() {
            "initialize" => {
                #[derive(serde::Deserialize)]
                struct Init {
                    params: Params,
                }
                #[derive(serde::Deserialize)]
                struct Params {
                    #[serde(rename = "protocolVersion")]
                    protocol_version: String,
                }
                let init: Init = msg.deserialize().unwrap();
                let v = self
                    .server
                    .config()
                    .negotiate(&init.params.protocol_version);
                Some(format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"{v}","capabilities":{{}},"serverInfo":{{"name":"echo","version":"1"}}}}}}"#
                ))
            }
            "slow" => None,
            m => Some(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"echo":"{m}"}}}}"#
            )),
        }
    }
}

pub fn id_json(id: &mcp_http_proto::wire::jsonrpc::RequestId) -> String {
    serde_json::to_string(id).unwrap()
}

pub fn clone_request(r: &Request<Bytes>) -> Request<Bytes> {
    let mut b = Request::builder()
        .method(r.method().clone())
        .uri(r.uri().clone());
    *b.headers_mut().unwrap() = r.headers().clone();
    b.body(r.body().clone()).unwrap()
}

pub fn header<'a>(r: &'a Request<Bytes>, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}
