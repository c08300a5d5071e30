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
//!     now,
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
//! client.handle_response_head(t.exchange, head, now)?;
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
mod legacy;
mod reconnect;
mod request;
mod response;
mod route;
mod session;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use http::Request;

pub use crate::handle::ExchangeId;
pub use config::{ClientConfig, ReconnectPolicy};
pub use error::{ConfigError, UsageError};
pub use event::{ClientEvent, ProtocolErrorKind, RequestFailure, Timeout, TimeoutReason, Transmit};

use crate::entropy::Entropy;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{Message, MessageKind, RequestId, classify};
use reconnect::{LogicalStream, StreamState};
use response::Exchange;
use session::{Phase, SavedInitialize, Transport};

/// A message the application asked to send, with the ids of its requests.
#[derive(Debug, Clone)]
struct Outgoing {
    body: Bytes,
    requests: Vec<RequestId>,
}

/// A request awaiting its response.
#[derive(Debug)]
struct Pending {
    /// The request alone, for a re-send after re-initialization.
    json: Bytes,
    /// Whether it was already re-sent once.
    resent: bool,
}

/// The client side of the Streamable HTTP transport, as a state machine.
///
/// Method groups, in the order a driver uses them:
/// - inputs: [`initialize`](Self::initialize), [`send`](Self::send),
///   [`open_standalone_stream`](Self::open_standalone_stream), [`close`](Self::close),
///   [`handle_response_head`](Self::handle_response_head),
///   [`handle_response_chunk`](Self::handle_response_chunk),
///   [`handle_response_end`](Self::handle_response_end),
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_timeout`](Self::handle_timeout);
/// - outputs, drained after every input until `None`: [`poll_transmit`](Self::poll_transmit),
///   [`poll_event`](Self::poll_event), then [`poll_timeout`](Self::poll_timeout);
/// - getters: [`session`](Self::session), [`version`](Self::version),
///   [`is_ready`](Self::is_ready), [`config`](Self::config).
pub struct Client {
    config: ClientConfig,
    entropy: Box<dyn Entropy>,
    phase: Phase,
    transport: Transport,
    /// The captured session id (`INV-C1`).
    session: Option<SessionId>,
    /// The negotiated version.
    version: Option<ProtocolVersion>,
    /// The most recent session ids that ended (DELETE or 404), never used again.
    ended: VecDeque<SessionId>,
    init: Option<SavedInitialize>,
    next_exchange: u64,
    exchanges: BTreeMap<ExchangeId, Exchange>,
    next_stream: u64,
    streams: BTreeMap<u64, LogicalStream>,
    pending: BTreeMap<RequestId, Pending>,
    /// Requests to re-send, then messages the application sent, once re-initialized.
    resend: Vec<RequestId>,
    held: Vec<Outgoing>,
    standalone: session::Standalone,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.phase)
            .field("session", &self.session)
            .field("version", &self.version)
            .field("exchanges", &self.exchanges.len())
            .field("pending", &self.pending.len())
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
            phase: Phase::Uninitialized,
            transport: Transport::Streamable,
            session: None,
            version: None,
            ended: VecDeque::new(),
            init: None,
            next_exchange: 0,
            exchanges: BTreeMap::new(),
            next_stream: 0,
            streams: BTreeMap::new(),
            pending: BTreeMap::new(),
            resend: Vec::new(),
            held: Vec::new(),
            standalone: session::Standalone::Closed,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The captured session id, if any.
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The negotiated version, once initialized.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Whether a session is initialized and [`send`](Self::send) goes out at once.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether the client uses the 2024-11-05 HTTP+SSE transport.
    pub fn is_legacy(&self) -> bool {
        matches!(self.transport, Transport::Legacy { .. })
    }

    /// Starts a session: POSTs `initialize` (one `initialize` request, never in a batch,
    /// `CLI-POST-5`) without a session header (`INV-C2`). The machine writes
    /// [`ClientConfig::protocol_version`] into `params.protocolVersion` and keeps the
    /// request to re-initialize after a 404.
    pub fn initialize(
        &mut self,
        message: impl Into<Bytes>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let _ = now;
        if !matches!(self.phase, Phase::Uninitialized | Phase::Closed) {
            return Err(UsageError::AlreadyInitialized);
        }
        let saved = SavedInitialize::new(message.into(), self.config.protocol_version)?;
        if self.pending.contains_key(&saved.id) {
            return Err(UsageError::DuplicateRequestId(saved.id));
        }
        self.init = Some(saved);
        self.transport = Transport::Streamable;
        self.send_initialize();
        Ok(())
    }

    /// Sends one message, or a batch where the negotiated version allows it (2025-03-26:
    /// non-empty, requests and notifications or responses only, `CLI-POST-3`, `INV-C7`).
    ///
    /// Before the `initialize` response only a `ping` request may go (`LIFE-6`,
    /// `INV-C9`); while the machine re-initializes after a 404, messages wait and go
    /// once the new session is ready.
    pub fn send(&mut self, message: impl Into<Bytes>, now: Instant) -> Result<(), UsageError> {
        let _ = now;
        let body = message.into();
        let parsed = classify(&body).map_err(UsageError::InvalidMessage)?;
        let envs = parsed.messages();
        let mut requests = Vec::new();
        for env in envs {
            if env.is_initialize() {
                return Err(UsageError::InitializeViaSend);
            }
            if env.method.as_deref() == Some("notifications/initialized") {
                return Err(UsageError::InitializedIsAutomatic);
            }
            if env.kind == MessageKind::Request {
                let id = env.id.clone().expect("a request has an id");
                let taken = self.pending.contains_key(&id)
                    || requests.contains(&id)
                    || self
                        .init
                        .as_ref()
                        .is_some_and(|i| i.id == id && self.phase == Phase::Initializing);
                if taken {
                    return Err(UsageError::DuplicateRequestId(id));
                }
                requests.push(id);
            }
        }
        let reinitializing =
            self.phase == Phase::Initializing && self.init.as_ref().is_some_and(|i| i.reinit);
        let ready = self.phase == Phase::Ready;
        if parsed.is_batch() {
            let responses = envs.iter().filter(|e| e.kind.is_response()).count();
            let allowed = ready
                && self.version.is_some_and(ProtocolVersion::allows_batches)
                && !self.is_legacy()
                && (responses == 0 || responses == envs.len());
            if !allowed {
                return Err(UsageError::BatchNotAllowed);
            }
        } else if !ready && !reinitializing {
            // LIFE-6, INV-C9: before the InitializeResult, only ping.
            let ping =
                envs[0].kind == MessageKind::Request && envs[0].method.as_deref() == Some("ping");
            if !(ping && self.phase == Phase::Initializing) {
                return Err(UsageError::NotInitialized);
            }
        }
        for env in envs.iter().filter(|e| e.kind == MessageKind::Request) {
            let json = Message::from_envelope(&body, env).json().clone();
            let id = env.id.clone().expect("a request has an id");
            self.pending.insert(
                id,
                Pending {
                    json,
                    resent: false,
                },
            );
        }
        let out = Outgoing { body, requests };
        if reinitializing {
            self.held.push(out);
        } else {
            self.post(out);
        }
        Ok(())
    }

    /// Opens the standalone GET stream (`CLI-GET-1`). Does nothing when it is open or
    /// opening.
    pub fn open_standalone_stream(&mut self, now: Instant) -> Result<(), UsageError> {
        let _ = now;
        if self.phase != Phase::Ready || self.is_legacy() {
            return Err(UsageError::NotInitialized);
        }
        match self.standalone {
            session::Standalone::Unavailable => Err(UsageError::StandaloneStreamRefused),
            session::Standalone::Open => Ok(()),
            session::Standalone::Closed => {
                self.open_standalone();
                Ok(())
            }
        }
    }

    /// Ends the session: a DELETE with the session id when there is one (`CLI-SESS-9`),
    /// after which the id is never sent again, whatever the answer (`INV-C5`). Every
    /// awaited request fails with [`RequestFailure::Closed`]; later inputs for earlier
    /// exchanges are ignored. [`initialize`](Self::initialize) starts a new session.
    pub fn close(&mut self, now: Instant) -> Result<(), UsageError> {
        let _ = now;
        if let (Some(s), Transport::Streamable) = (&self.session, &self.transport) {
            let s = s.clone();
            self.remember_ended(s);
            let ctx = request::Context {
                session: self.session.as_ref(),
                version: self.version,
            };
            let req = request::delete(&self.config, ctx);
            self.transmit(Exchange::new(response::Kind::Delete, None), req);
        }
        self.forget_session(RequestFailure::Closed);
        self.held.clear();
        self.phase = Phase::Closed;
        Ok(())
    }

    /// The next request to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timeout> {
        self.streams
            .values()
            .filter_map(|s| match s.state {
                StreamState::Waiting(at) => Some(at),
                StreamState::Connected(_) => None,
            })
            .min()
            .map(|at| Timeout {
                at,
                reason: TimeoutReason::Reconnect,
            })
    }

    /// Resumes the streams whose reconnection delay has passed: a GET with
    /// `Last-Event-ID` set to that stream's own last event id (`CLI-RES-4`, `INV-C12`;
    /// always a GET, `BOTH-RES-7`).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .streams
            .iter()
            .filter(|(_, s)| matches!(s.state, StreamState::Waiting(at) if at <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let cursor = self.streams[&key].cursor.clone();
            let ctx = request::Context {
                session: self.session.as_ref(),
                version: self.version,
            };
            let req = request::get(&self.config, ctx, cursor.as_ref());
            let mut ex = Exchange::new(response::Kind::Get, self.session.clone());
            ex.stream = Some(key);
            let id = self.transmit(ex, req);
            self.streams.get_mut(&key).expect("due").state = StreamState::Connected(id);
        }
    }

    // ----- internals shared by the submodules -----

    fn transmit(&mut self, exchange: Exchange, request: Request<Bytes>) -> ExchangeId {
        let id = ExchangeId(self.next_exchange);
        self.next_exchange += 1;
        self.exchanges.insert(id, exchange);
        self.transmits.push_back(Transmit {
            exchange: id,
            request,
        });
        id
    }

    /// POSTs a message on the current transport with the current session and version.
    fn post(&mut self, out: Outgoing) {
        let (uri, ctx) = match &self.transport {
            Transport::Legacy { post } => (post.clone(), request::Context::default()),
            _ => (
                self.config.endpoint.clone(),
                request::Context {
                    session: self.session.as_ref(),
                    version: self.version,
                },
            ),
        };
        let req = request::post(&self.config, uri, out.body, ctx);
        let kind = response::Kind::Post {
            requests: out.requests,
        };
        self.transmit(Exchange::new(kind, self.session.clone()), req);
    }

    fn open_standalone(&mut self) {
        let ctx = request::Context {
            session: self.session.as_ref(),
            version: self.version,
        };
        let req = request::get(&self.config, ctx, None);
        self.transmit(
            Exchange::new(response::Kind::Standalone, self.session.clone()),
            req,
        );
        self.standalone = session::Standalone::Open;
    }

    fn new_stream(&mut self, stream: LogicalStream) -> u64 {
        let key = self.next_stream;
        self.next_stream += 1;
        self.streams.insert(key, stream);
        key
    }

    /// Keeps an ended session id (bounded) so that it is never used again (`INV-C5`).
    fn remember_ended(&mut self, id: SessionId) {
        if self.ended.len() == 32 {
            self.ended.pop_front();
        }
        self.ended.push_back(id);
    }

    /// Resolves a request with a failure, at most once.
    fn fail(&mut self, id: &RequestId, reason: RequestFailure) {
        if self.pending.remove(id).is_some() {
            for s in self.streams.values_mut() {
                s.requests.remove(id);
            }
            self.events.push_back(ClientEvent::RequestFailed {
                id: id.clone(),
                reason,
            });
        }
    }
}
