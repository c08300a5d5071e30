//! The client machine: the application drives it with its own HTTP stack.
//!
//! ```text
//!                 initialize(json)                   InitializeResult (session captured
//!  Uninitialized ────────────────▶ Initializing ─────from that response only, INV-C1)──▶ Ready
//!     ▲   ▲                          │  │ 4xx allowed by the revision (never 401):            │
//!     │   │ failure                  │  └─▶ GET ─▶ `endpoint` event ─▶ legacy HTTP+SSE ──────┤
//!     │   └──────────────────────────┘                                                       │
//!     │      404 to a request that carried the session (INV-C4):                             │
//!     │      auto_reinitialize ─▶ Initializing (saved initialize, then in-flight requests once)
//!     │                                                                                      │
//!     └──────────── close(): DELETE with the id, which is then forgotten (INV-C5) ◀──────────┘
//! ```
//!
//! Driving it:
//!
//! 1. Inputs: [`Client::initialize`], [`Client::send`], [`Client::open_standalone_stream`],
//!    [`Client::close`]; then, for each HTTP exchange the machine asked for,
//!    [`Client::handle_response_head`], [`Client::handle_response_chunk`] (body bytes as
//!    they arrive), and [`Client::handle_response_end`] (body complete or connection
//!    closed) or [`Client::handle_transport_error`]; and [`Client::handle_timeout`].
//! 2. After every input, drain [`Client::poll_transmit`] (send each request, and tie its
//!    response to the [`ExchangeId`]) and [`Client::poll_event`], until `None`; then arm a
//!    timer for [`Client::poll_timeout`].
//!
//! One exchange, scripted (a real driver sends `t.request` over HTTP and feeds the
//! response back as it arrives):
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use mcp_http_proto::client::{Client, ClientConfig, ClientEvent};
//!
//! let mut client = Client::new(ClientConfig::new("http://127.0.0.1:8080/mcp".parse()?))?;
//! let now = Instant::now(); // the driver's clock; the library never reads one
//! client.initialize(
//!     r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
//! )?;
//! let t = client.poll_transmit().expect("the initialize POST");
//! assert_eq!(t.request.headers()["accept"], "application/json, text/event-stream");
//!
//! let head = http::Response::builder()
//!     .status(200)
//!     .header("content-type", "application/json")
//!     .header("mcp-session-id", "abc")
//!     .body(())?
//!     .into_parts()
//!     .0;
//! client.handle_response_head(t.exchange, head)?;
//! let body = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#;
//! client.handle_response_chunk(t.exchange, Bytes::from_static(body.as_bytes()), now)?;
//! client.handle_response_end(t.exchange, now)?;
//!
//! let Some(ClientEvent::Initialized { session, .. }) = client.poll_event() else { panic!() };
//! assert_eq!(session.unwrap().as_str(), "abc");
//! // Next: notifications/initialized, with the session id and the negotiated version.
//! let t = client.poll_transmit().expect("notifications/initialized");
//! assert_eq!(t.request.headers()["mcp-session-id"], "abc");
//! assert_eq!(t.request.headers()["mcp-protocol-version"], "2025-11-25");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inputs for an exchange the machine has dropped (a session that expired, a client that
//! closed) are ignored; the driver should drop such connections when it can.
//!
//! Choices the spec leaves open, made here:
//! - `MCP-Protocol-Version` rides on every request after initialization, for every
//!   negotiated version including 2025-03-26 (ambiguity 27, as the TypeScript client);
//!   never on `initialize` (ambiguity 6), never on the legacy transport.
//! - The machine sends `notifications/initialized` itself, once per session, right after
//!   the `InitializeResult` (`LIFE-5`, `INV-C9`), so that a re-initialization after a 404
//!   needs nothing from the application.
//! - A response whose id is not awaited (a replayed duplicate, or an unknown id) is
//!   dropped: each request resolves at most once (`INV-C11`, ambiguity 21).
//! - A lost connection never cancels a request (`INV-C16`): the stream is resumed, or the
//!   request fails with [`RequestFailure::OutcomeUnknown`]; the machine never sends
//!   `notifications/cancelled`.
//! - A 400 to `initialize` whose body is a JSON-RPC `-32022` error listing a version the
//!   client speaks comes from a modern server: `initialize` is re-sent once with the newest
//!   such version instead of falling back (`CLI-BC-26`).

mod config;
mod error;
mod event;
mod exchanges;
mod legacy;
mod reconnect;
mod request;
mod requests;
mod response;
mod route;
mod session;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;

pub use crate::handle::ExchangeId;
pub use config::{ClientConfig, ReconnectPolicy};
pub use error::{ConfigError, UsageError};
pub use event::{ClientEvent, ProtocolErrorKind, RequestFailure, Timeout, TimeoutReason, Transmit};

use crate::entropy::Entropy;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Message, MessageKind, classify};
use crate::wire::sse::DecodedEvent;
use exchanges::{Chunk, Exchanges, Head, Kind, Media, Reader};
use reconnect::{Lost, Standalone, StreamKey, Streams};
use requests::{Outgoing, Requests};
use response::{OnEnd, OnHead};
use route::OnEvent;
use session::{InitializeError, Session};

/// The client side of the Streamable HTTP transport, as a state machine.
///
/// Method groups, in the order a driver uses them:
/// - constructors: [`new`](Self::new), [`with_entropy`](Self::with_entropy);
/// - getters: [`config`](Self::config), [`session`](Self::session),
///   [`version`](Self::version), [`is_ready`](Self::is_ready),
///   [`is_legacy`](Self::is_legacy);
/// - inputs from the application: [`initialize`](Self::initialize), [`send`](Self::send),
///   [`open_standalone_stream`](Self::open_standalone_stream), [`close`](Self::close);
/// - inputs from the HTTP stack and the clock:
///   [`handle_response_head`](Self::handle_response_head),
///   [`handle_response_chunk`](Self::handle_response_chunk),
///   [`handle_response_end`](Self::handle_response_end),
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_timeout`](Self::handle_timeout);
/// - outputs, drained after every input until `None`: [`poll_transmit`](Self::poll_transmit),
///   [`poll_event`](Self::poll_event), then [`poll_timeout`](Self::poll_timeout).
///
/// The machine is a façade over owned components: the exchanges in flight (handles, body
/// readers, requests to send), the session phase (phase, transport, session id, version,
/// saved `initialize`, re-initialization), the awaited requests, and the logical SSE
/// streams with their reconnection timers.
pub struct Client {
    config: ClientConfig,
    entropy: Box<dyn Entropy>,
    session: Session,
    exchanges: Exchanges,
    requests: Requests,
    streams: Streams,
    events: VecDeque<ClientEvent>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.session.phase())
            .field("session", &self.session.id())
            .field("version", &self.session.version())
            .field("exchanges", &self.exchanges.len())
            .field("pending", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client drawing backoff jitter from the operating system's CSPRNG.
    #[cfg(feature = "os-rng")]
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        Self::with_entropy(config, Box::new(crate::entropy::OsEntropy))
    }

    /// A client drawing backoff jitter from `entropy`.
    pub fn with_entropy(
        config: ClientConfig,
        entropy: Box<dyn Entropy>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            entropy,
            session: Session::default(),
            exchanges: Exchanges::default(),
            requests: Requests::default(),
            streams: Streams::default(),
            events: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The captured session id, if any.
    pub fn session(&self) -> Option<&SessionId> {
        self.session.id()
    }

    /// The negotiated version, once initialized.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.session.version()
    }

    /// Whether a session is initialized and [`send`](Self::send) goes out at once.
    pub fn is_ready(&self) -> bool {
        self.session.is_ready()
    }

    /// Whether the client uses the 2024-11-05 HTTP+SSE transport.
    pub fn is_legacy(&self) -> bool {
        self.session.is_legacy()
    }

    /// Starts a session: POSTs `initialize` (one `initialize` request, never in a batch,
    /// `CLI-POST-5`) without a session header (`INV-C2`). The machine writes
    /// [`ClientConfig::protocol_version`] into `params.protocolVersion` and keeps the
    /// request to re-initialize after a 404.
    pub fn initialize(&mut self, message: impl Into<Bytes>) -> Result<(), UsageError> {
        let requests = &self.requests;
        self.session
            .begin(message.into(), &self.config, |id| requests.contains(id))?;
        self.session
            .send_initialize(&self.config, &mut self.exchanges);
        Ok(())
    }

    /// Sends one message, or a batch where the negotiated version allows it (2025-03-26:
    /// non-empty, requests and notifications or responses only, `CLI-POST-3`, `INV-C7`).
    ///
    /// Before the `initialize` response only a `ping` request may go (`LIFE-6`,
    /// `INV-C9`); while the machine re-initializes after a 404, messages wait and go
    /// once the new session is ready.
    pub fn send(&mut self, message: impl Into<Bytes>) -> Result<(), UsageError> {
        let body = message.into();
        let admitted = {
            let parsed = classify(&body).map_err(UsageError::InvalidMessage)?;
            let requests = &self.requests;
            let admitted = self.session.admit(&parsed, |id| requests.contains(id))?;
            let envs = parsed.messages().iter();
            for env in envs.filter(|e| e.kind == MessageKind::Request) {
                let json = Message::from_envelope(&body, env).json().clone();
                let id = env.id.clone().expect("a request has an id");
                self.requests.insert(id, json);
            }
            admitted
        };
        let out = Outgoing {
            body,
            requests: admitted.requests,
        };
        if admitted.hold {
            self.session.hold(out);
        } else {
            self.session.post(&self.config, &mut self.exchanges, out);
        }
        Ok(())
    }

    /// Opens the standalone GET stream (`CLI-GET-1`). Does nothing when it is open or
    /// opening.
    pub fn open_standalone_stream(&mut self) -> Result<(), UsageError> {
        if !self.session.is_ready() || self.session.is_legacy() {
            return Err(UsageError::NotInitialized);
        }
        match self.streams.standalone() {
            Standalone::Unavailable => Err(UsageError::StandaloneStreamRefused),
            Standalone::Open => Ok(()),
            Standalone::Closed => {
                self.open_standalone();
                Ok(())
            }
        }
    }

    /// Ends the session: a DELETE with the session id when there is one (`CLI-SESS-9`),
    /// after which the id is never sent again, whatever the answer (`INV-C5`). Every
    /// awaited request fails with [`RequestFailure::Closed`]; later inputs for earlier
    /// exchanges are ignored. [`initialize`](Self::initialize) starts a new session.
    pub fn close(&mut self) -> Result<(), UsageError> {
        self.session.close(&self.config, &mut self.exchanges);
        self.forget_session(RequestFailure::Closed);
        self.session.closed();
        Ok(())
    }

    /// The response head of `exchange` arrived.
    pub fn handle_response_head(
        &mut self,
        exchange: ExchangeId,
        head: http::response::Parts,
    ) -> Result<(), UsageError> {
        let Some(Head { kind, session }) = self.exchanges.head(exchange, &head)? else {
            return Ok(());
        };
        let status = head.status;
        // CLI-SESS-8, INV-C4: a 404 to a request that carried the current session id.
        // A 404 to a request without one is a plain error (or a legacy hint, ambiguity 10).
        if status == StatusCode::NOT_FOUND
            && session.is_some()
            && session.as_ref() == self.session.id()
            && kind != Kind::Delete
        {
            self.session_expired();
            return Ok(());
        }
        let legacy = self.session.is_legacy();
        match response::on_head(&kind, status, Media::of(&head), legacy) {
            OnHead::Closed => self.events.push_back(ClientEvent::SessionClosed { status }),
            OnHead::Read(reader) => self.read(exchange, reader),
            OnHead::Refused(error) => {
                self.protocol_error(exchange, error);
                self.requests_failed(exchange, &kind, RequestFailure::Protocol);
            }
            OnHead::Stream => {
                let key = self.streams.open(kind == Kind::Standalone, exchange);
                if let Kind::Post { requests } = &kind {
                    self.requests.wait_on(requests, key);
                }
                self.exchanges.feed_stream(exchange, key);
                self.read(exchange, Reader::Sse);
            }
            OnHead::Resumed => {
                self.read(exchange, Reader::Sse);
                if let Some(key) = self.exchanges.stream(exchange) {
                    self.streams.resumed(key);
                }
            }
            OnHead::Standalone { state, failed } => {
                self.streams.set_standalone(state);
                if state == Standalone::Unavailable {
                    self.events
                        .push_back(ClientEvent::StandaloneStreamUnavailable);
                }
                if failed {
                    self.head_failure(exchange, status);
                }
            }
            OnHead::ResumeFailed(reason) => {
                self.head_failure(exchange, status);
                if let Some(key) = self.exchanges.stream(exchange) {
                    self.give_up(key, reason);
                }
            }
            OnHead::ProbeFailed => {
                self.exchanges.remove(exchange);
                self.initialize_failed(Some(status), None);
            }
        }
        Ok(())
    }

    /// Body bytes of `exchange`.
    pub fn handle_response_chunk(
        &mut self,
        exchange: ExchangeId,
        chunk: Bytes,
        now: Instant,
    ) -> Result<(), UsageError> {
        let limit = self.config.max_event_bytes;
        match self.exchanges.chunk(exchange, chunk, limit)? {
            None | Some(Chunk::Read) => {}
            Some(Chunk::TooLarge(kind)) => {
                self.protocol_error(exchange, ProtocolErrorKind::TooLarge);
                self.requests_failed(exchange, &kind, RequestFailure::Protocol);
            }
            Some(Chunk::Sse) => self.drain_sse(exchange, now),
        }
        Ok(())
    }

    /// The body of `exchange` is complete, or its connection closed after the head.
    pub fn handle_response_end(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        if self.exchanges.end(exchange)? {
            self.drain_sse(exchange, now);
            self.finish(exchange, true, now);
        }
        Ok(())
    }

    /// The connection of `exchange` failed: before the head (the request may or may not
    /// have reached the server) or during the body.
    pub fn handle_transport_error(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        if self.exchanges.contains(exchange)? {
            self.finish(exchange, false, now);
        }
        Ok(())
    }

    /// Resumes the streams whose reconnection delay has passed: a GET with
    /// `Last-Event-ID` set to that stream's own last event id (`CLI-RES-4`, `INV-C12`;
    /// always a GET, `BOTH-RES-7`).
    pub fn handle_timeout(&mut self, now: Instant) {
        for (key, cursor) in self.streams.due(now) {
            let ex = self.session.get(
                &self.config,
                &mut self.exchanges,
                Kind::Get,
                cursor.as_ref(),
            );
            self.exchanges.feed_stream(ex, key);
            self.streams.reconnecting(key, ex);
        }
    }

    /// The next request to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.exchanges.poll_transmit()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timeout> {
        self.streams.next_timeout().map(|at| Timeout {
            at,
            reason: TimeoutReason::Reconnect,
        })
    }

    // ----- carrying out what the components decide -----

    fn read(&mut self, exchange: ExchangeId, reader: Reader) {
        let limit = self.config.max_event_bytes;
        self.exchanges.read(exchange, reader, limit);
    }

    fn finish(&mut self, exchange: ExchangeId, complete: bool, now: Instant) {
        let Some(mut f) = self.exchanges.finish(exchange) else {
            return;
        };
        match response::on_end(&mut f, complete) {
            OnEnd::Body(body) => {
                self.on_body(exchange, body);
                self.missing_responses(exchange, &f.kind);
            }
            OnEnd::ErrorStatus(body) => self.error_status(exchange, &f.kind, f.status, body),
            OnEnd::Lost => self.connection_lost(exchange, &f.kind, f.stream, now),
            OnEnd::OutcomeUnknown => {
                self.requests_failed(exchange, &f.kind, RequestFailure::OutcomeUnknown);
            }
            OnEnd::StandaloneEnded => {
                self.streams.set_standalone(Standalone::Closed);
                self.events.push_back(ClientEvent::StandaloneStreamEnded);
            }
            OnEnd::Nothing => {}
        }
        self.exchanges.remove(exchange);
    }

    fn drain_sse(&mut self, exchange: ExchangeId, now: Instant) {
        while let Some(step) = self.exchanges.next_event(exchange) {
            if let Some(key) = step.stream {
                self.streams.observe(key, step.cursor, step.retry);
            }
            match step.event {
                Ok(Some(event)) => self.on_event(exchange, event),
                Ok(None) => return,
                Err(()) => {
                    self.protocol_error(exchange, ProtocolErrorKind::TooLarge);
                    let (kind, stream) = self.exchanges.remove(exchange).expect("present");
                    match stream {
                        Some(key) => self.give_up(key, RequestFailure::Protocol),
                        None => self.connection_lost(exchange, &kind, None, now),
                    }
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, exchange: ExchangeId, event: DecodedEvent) {
        let probe = self.exchanges.kind(exchange) == Some(&Kind::LegacyProbe);
        match route::on_event(event, probe, self.session.is_probing()) {
            OnEvent::Ignore => {}
            OnEvent::Body(body) => self.on_body(exchange, body),
            OnEvent::Endpoint(data) => match legacy::resolve_endpoint(&self.config.endpoint, &data)
            {
                Some(post) => {
                    // CLI-BC-4, INV-C19: committed only now.
                    let endpoint = post.clone();
                    self.events
                        .push_back(ClientEvent::LegacyFallback { endpoint });
                    self.session
                        .commit_legacy(post, &self.config, &mut self.exchanges);
                }
                None => {
                    self.protocol_error(exchange, ProtocolErrorKind::InvalidLegacyEndpoint);
                    self.exchanges.remove(exchange);
                    self.initialize_failed(None, None);
                }
            },
        }
    }

    /// A JSON body or SSE event data, routed message by message (`INV-C11`).
    fn on_body(&mut self, exchange: ExchangeId, body: Bytes) {
        let messages = match route::messages(&body) {
            Ok(messages) => messages,
            Err(e) => return self.protocol_error(exchange, ProtocolErrorKind::InvalidMessage(e)),
        };
        for msg in messages {
            let Some(id) = route::answers(&msg) else {
                self.events.push_back(ClientEvent::Message(msg));
                continue;
            };
            let probe = self.exchanges.kind(exchange) == Some(&Kind::LegacyProbe);
            if self.session.answers_initialize(&id, exchange, probe) {
                self.on_initialize_response(exchange, msg);
            } else if self.requests.resolve(&id) {
                // INV-C11: each awaited id resolves once; a replayed or unknown one is dropped.
                self.events
                    .push_back(ClientEvent::Response { id, message: msg });
            }
        }
    }

    /// The answer to `initialize` arrived on `exchange`.
    fn on_initialize_response(&mut self, exchange: ExchangeId, msg: Message) {
        if msg.kind() == MessageKind::Error {
            return self.initialize_failed(None, Some(msg));
        }
        // Only the response that carries the InitializeResult may set the session (INV-C1).
        let header = self.exchanges.init_session(exchange);
        let accepted = self
            .session
            .accept(&msg, header, &self.config, &mut self.exchanges);
        let (session, version) = match accepted {
            Ok(ready) => ready,
            Err(kind) => {
                self.protocol_error(exchange, kind);
                return self.initialize_failed(None, None);
            }
        };
        self.events.push_back(ClientEvent::Initialized {
            session,
            version,
            result: msg,
        });
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        self.session.start(config, exchanges, &self.requests);
        self.streams.set_standalone(Standalone::Closed);
        if self.config.standalone_stream && !self.session.is_legacy() && version.has_get_stream() {
            self.open_standalone();
        }
    }

    /// An error status's body is complete.
    fn error_status(&mut self, exchange: ExchangeId, kind: &Kind, status: StatusCode, body: Bytes) {
        let error = Message::parse(body.clone())
            .ok()
            .filter(|m| m.kind() == MessageKind::Error);
        if !self.session.is_current_init(exchange) {
            self.events.push_back(ClientEvent::HttpError {
                exchange,
                status,
                error,
            });
            return self.requests_failed(exchange, kind, RequestFailure::Http(status));
        }
        let streamable = *kind == Kind::Initialize;
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        match self
            .session
            .initialize_error(status, &body, streamable, config, exchanges)
        {
            InitializeError::Retry(version) => {
                self.events.push_back(ClientEvent::VersionRetry { version });
            }
            InitializeError::Fallback => {}
            InitializeError::Failed => self.initialize_failed(Some(status), error),
        }
    }

    /// The connection of an SSE exchange is gone (`CLI-RES-4`, ambiguity 16).
    fn connection_lost(
        &mut self,
        exchange: ExchangeId,
        kind: &Kind,
        stream: Option<StreamKey>,
        now: Instant,
    ) {
        match kind {
            Kind::Initialize if self.session.is_current_init(exchange) => {
                self.initialize_failed(None, None);
            }
            Kind::LegacyProbe if self.session.is_probing() => self.initialize_failed(None, None),
            Kind::LegacyProbe if self.session.is_legacy() => {
                self.events.push_back(ClientEvent::LegacyStreamClosed);
                self.forget_session(RequestFailure::OutcomeUnknown);
                self.session.uninitialized();
            }
            Kind::Initialize | Kind::LegacyProbe => {}
            _ => {
                let Some(key) = stream else { return };
                let waiting = self.requests.waiting_on(key);
                let policy = &self.config.reconnect;
                let lost =
                    (self.streams).lost(key, exchange, waiting, now, policy, &mut *self.entropy);
                if let Lost::GiveUp(reason) = lost {
                    self.give_up(key, reason);
                }
            }
        }
    }

    /// Stream `key` cannot be resumed: its requests fail with `reason`.
    fn give_up(&mut self, key: StreamKey, reason: RequestFailure) {
        let Some(standalone) = self.streams.give_up(key) else {
            return;
        };
        if standalone {
            self.events.push_back(ClientEvent::StandaloneStreamEnded);
        }
        self.requests.fail_stream(key, &reason, &mut self.events);
    }

    fn open_standalone(&mut self) {
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        self.session.get(config, exchanges, Kind::Standalone, None);
        self.streams.set_standalone(Standalone::Open);
    }

    fn head_failure(&mut self, exchange: ExchangeId, status: StatusCode) {
        if status.is_success() {
            self.protocol_error(exchange, ProtocolErrorKind::UnexpectedContentType);
        } else {
            let error = None;
            self.events.push_back(ClientEvent::HttpError {
                exchange,
                status,
                error,
            });
        }
    }

    /// The requests of `exchange` get no answer through it.
    fn requests_failed(&mut self, exchange: ExchangeId, kind: &Kind, reason: RequestFailure) {
        if self.session.is_current_init(exchange) {
            let status = match reason {
                RequestFailure::Http(s) => Some(s),
                _ => None,
            };
            return self.initialize_failed(status, None);
        }
        if let Kind::Post { requests } = kind {
            self.requests.fail_each(requests, &reason, &mut self.events);
        }
    }

    /// A complete JSON body lacks responses.
    fn missing_responses(&mut self, exchange: ExchangeId, kind: &Kind) {
        let missing = match kind {
            Kind::Post { requests } => self.requests.awaited(requests),
            _ => Vec::new(),
        };
        let init_missing = *kind == Kind::Initialize && self.session.is_current_init(exchange);
        if !missing.is_empty() || init_missing {
            self.protocol_error(exchange, ProtocolErrorKind::MissingResponse);
            if init_missing {
                self.initialize_failed(None, None);
            }
            let reason = RequestFailure::Protocol;
            self.requests.fail_each(&missing, &reason, &mut self.events);
        }
    }

    /// `initialize` did not succeed: back to uninitialized; what waited fails.
    fn initialize_failed(&mut self, status: Option<StatusCode>, error: Option<Message>) {
        self.session.initialize_failed();
        let reason = status.map_or(RequestFailure::Protocol, RequestFailure::Http);
        self.requests.fail_all(&reason, &mut self.events);
        self.events
            .push_back(ClientEvent::InitializeFailed { status, error });
    }

    /// A 404 answered a request that carried the current session id (`CLI-SESS-8`,
    /// `INV-C4`). A 404 to a request without one never comes here (ambiguity 10).
    fn session_expired(&mut self) {
        // Every exchange of the old session is dropped; the old id is never sent again.
        let old = self.session.expire();
        self.exchanges.drop_session(old.as_ref());
        self.streams.clear();
        let auto = self.config.auto_reinitialize && self.session.can_reinitialize();
        self.events.push_back(ClientEvent::SessionExpired {
            reinitializing: auto,
        });
        if !auto {
            self.forget_session(RequestFailure::SessionExpired);
            return self.session.uninitialized();
        }
        // Messages held during an earlier re-initialization were never sent: they go
        // from `held`, not again; the others go again once.
        let held = self.session.held_requests();
        let resend = self.requests.resend(&held, &mut self.events);
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        self.session.reinitialize(resend, config, exchanges);
    }

    /// Drops the session and everything tied to it; awaited requests fail with `reason`.
    fn forget_session(&mut self, reason: RequestFailure) {
        self.session.forget();
        self.exchanges.keep_deletes();
        self.streams.clear();
        self.requests.fail_all(&reason, &mut self.events);
    }

    fn protocol_error(&mut self, exchange: ExchangeId, kind: ProtocolErrorKind) {
        self.events
            .push_back(ClientEvent::ProtocolError { exchange, kind });
    }
}
