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
//! closed) are ignored; the driver should drop such connections when it can. A request
//! whose exchange was dropped before [`Client::poll_transmit`] handed it out is withdrawn,
//! so an ended session id never goes out (`INV-C5`).
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
mod endpoint;
mod error;
mod event;
mod exchanges;
mod legacy;
mod machine;
mod modern;
mod reconnect;
mod request;
mod requests;
mod response;
mod route;
mod session;

use std::time::Instant;

use bytes::Bytes;

pub use crate::handle::ExchangeId;
pub use config::{ClientConfig, ClientMode, Era, ReconnectPolicy};
pub use error::{ConfigError, UsageError};
pub use event::{ClientEvent, ProtocolErrorKind, RequestFailure, Timeout, TimeoutReason, Transmit};

use crate::entropy::Entropy;
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::RequestId;
use machine::Machine;

/// The client side of the Streamable HTTP transport, as a state machine.
///
/// Method groups, in the order a driver uses them:
/// - constructors: [`new`](Self::new), [`with_entropy`](Self::with_entropy);
/// - getters: [`config`](Self::config), [`session`](Self::session),
///   [`version`](Self::version), [`is_ready`](Self::is_ready),
///   [`is_legacy`](Self::is_legacy), [`is_modern`](Self::is_modern);
/// - inputs from the application: [`initialize`](Self::initialize), [`send`](Self::send),
///   [`cancel`](Self::cancel), [`open_standalone_stream`](Self::open_standalone_stream),
///   [`close`](Self::close);
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
/// streams with their reconnection timers. Every method delegates to the wiring that owns
/// them and carries out what they decide.
pub struct Client {
    machine: Machine,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let session = self.machine.session();
        let (exchanges, pending) = self.machine.in_flight();
        f.debug_struct("Client")
            .field("phase", &session.phase())
            .field("session", &session.id())
            .field("version", &session.version())
            .field("exchanges", &exchanges)
            .field("pending", &pending)
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
        let machine = Machine::new(config, entropy);
        Ok(Self { machine })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        self.machine.config()
    }

    /// The captured session id, if any.
    pub fn session(&self) -> Option<&SessionId> {
        self.machine.session().id()
    }

    /// The negotiated version, once initialized.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.machine.session().version()
    }

    /// Whether a session is initialized and [`send`](Self::send) goes out at once.
    pub fn is_ready(&self) -> bool {
        self.machine.session().is_ready()
    }

    /// Whether the client uses the 2024-11-05 HTTP+SSE transport.
    pub fn is_legacy(&self) -> bool {
        self.machine.session().is_legacy()
    }

    /// The endpoint requests go to: [`ClientConfig::endpoint`], or the one found when
    /// that named only the server's origin ([`ClientConfig::well_known_paths`]).
    pub fn endpoint(&self) -> &http::Uri {
        &self.machine.config().endpoint
    }

    /// The endpoints the last connection tried, in order (the first is the configured
    /// one): what to show the user when none answered.
    pub fn endpoints_tried(&self) -> &[http::Uri] {
        self.machine.endpoints_tried()
    }

    /// Whether the client speaks 2026-07-28 with this server: no session, every request
    /// with `_meta` and metadata headers.
    pub fn is_modern(&self) -> bool {
        self.machine.session().is_modern()
    }

    /// Connects. In the session era it POSTs `initialize` (one `initialize` request,
    /// never in a batch, `CLI-POST-5`) without a session header (`INV-C2`): the machine
    /// writes [`ClientConfig::protocol_version`] into `params.protocolVersion` and keeps
    /// the request to re-initialize after a 404.
    ///
    /// With [`ClientMode::Modern`] or [`ClientMode::Auto`] it POSTs `server/discover`
    /// instead, under the same request id, with the request's `capabilities` and
    /// `clientInfo` in `_meta` (`N26-13`, `N26-14`); they ride in the `_meta` of every
    /// later request too. A 2026-07-28 server's `DiscoverResult` comes as
    /// [`ClientEvent::Initialized`] with no session. In `Auto`, any other answer that is
    /// not a recognised modern error sends the saved `initialize` (`N26-20`).
    pub fn initialize(&mut self, message: impl Into<Bytes>) -> Result<(), UsageError> {
        self.machine.initialize(message.into())
    }

    /// Sends one message, or a batch where the negotiated version allows it (2025-03-26:
    /// non-empty, requests and notifications or responses only, `CLI-POST-3`, `INV-C7`).
    ///
    /// Before the `initialize` response only a `ping` request may go (`LIFE-6`,
    /// `INV-C9`); while the machine re-initializes after a 404, messages wait and go
    /// once the new session is ready.
    pub fn send(&mut self, message: impl Into<Bytes>) -> Result<(), UsageError> {
        self.machine.send(message.into())
    }

    /// Stops waiting for the request `id`: it resolves at once with
    /// [`RequestFailure::Cancelled`], and a late response is dropped (`INV-C11`).
    ///
    /// - In the 2026-07-28 era the exchange carrying it is dropped and returned: close
    ///   that connection, which is how the server learns of the cancellation; no
    ///   `notifications/cancelled` goes (`N26-19`). `None` when the request was not
    ///   handed out by [`poll_transmit`](Self::poll_transmit) yet (it is withdrawn).
    /// - In the session era (and on the legacy transport) `notifications/cancelled` with
    ///   `reason` goes to the server, unless the request never reached it (not handed
    ///   out yet, or waiting for a re-initialization): then it is withdrawn. A lost
    ///   connection is never a cancellation there (`INV-C16`), so nothing is returned.
    pub fn cancel(
        &mut self,
        id: &RequestId,
        reason: Option<&str>,
    ) -> Result<Option<ExchangeId>, UsageError> {
        self.machine.cancel(id, reason)
    }

    /// Opens the standalone GET stream (`CLI-GET-1`). Does nothing when it is open or
    /// opening.
    pub fn open_standalone_stream(&mut self) -> Result<(), UsageError> {
        self.machine.open_standalone_stream()
    }

    /// Ends the session: a DELETE with the session id when there is one (`CLI-SESS-9`),
    /// after which the id is never sent again, whatever the answer (`INV-C5`). Every
    /// awaited request fails with [`RequestFailure::Closed`]; requests not yet handed out
    /// by [`poll_transmit`](Self::poll_transmit) are withdrawn, and later inputs for
    /// earlier exchanges are ignored. [`initialize`](Self::initialize) starts a new
    /// session.
    pub fn close(&mut self) -> Result<(), UsageError> {
        self.machine.close();
        Ok(())
    }

    /// The response head of `exchange` arrived.
    pub fn handle_response_head(
        &mut self,
        exchange: ExchangeId,
        head: http::response::Parts,
    ) -> Result<(), UsageError> {
        self.machine.handle_response_head(exchange, head)
    }

    /// Body bytes of `exchange`.
    pub fn handle_response_chunk(
        &mut self,
        exchange: ExchangeId,
        chunk: Bytes,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.machine.handle_response_chunk(exchange, chunk, now)
    }

    /// The body of `exchange` is complete, or its connection closed after the head.
    pub fn handle_response_end(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.machine.handle_response_end(exchange, now)
    }

    /// The connection of `exchange` failed: before the head (the request may or may not
    /// have reached the server) or during the body.
    pub fn handle_transport_error(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.machine.handle_transport_error(exchange, now)
    }

    /// Resumes the streams whose reconnection delay has passed: a GET with
    /// `Last-Event-ID` set to that stream's own last event id (`CLI-RES-4`, `INV-C12`;
    /// always a GET, `BOTH-RES-7`).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.machine.handle_timeout(now);
    }

    /// The next request to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.machine.poll_transmit()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.machine.poll_event()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timeout> {
        self.machine.poll_timeout()
    }
}
