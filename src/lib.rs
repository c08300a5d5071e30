//! Sans-IO state machines for the Model Context Protocol's **Streamable HTTP** transport.
//!
//! The machines take `http::Request` / `http::Response` values and body bytes and return
//! what to do: send this response, hand these messages to the application, write these
//! SSE frames, end this session. They never touch a socket, a clock, a thread or a
//! runtime, so tokio, a blocking `std::net` loop, a serverless handler or a fuzzer can
//! drive the same code.
//!
//! # The driver contract
//!
//! - **Inputs** are `handle_*` methods, and the application's messages
//!   ([`Server::send`], [`Server::request`], [`Server::finish_request`],
//!   [`Server::close_connection`]). Every input that can start, extend or expire something
//!   takes `now: Instant`. The crate never reads a clock; `now` must never go backwards.
//!   Inputs that change nothing in time ([`Client::send`], [`Client::initialize`] ...) do
//!   not take it.
//! - **Outputs** are typed values: the [`server::Outcome`] returned by
//!   [`Server::handle_request`], then what the caller drains after **every** input:
//!   connection output, [`Server::poll_event`] (sessions created, updated and closed;
//!   requests abandoned), then [`Server::poll_timeout`], which says when to call
//!   [`Server::handle_timeout`]. The client's are [`Client::poll_transmit`],
//!   [`Client::poll_event`] and [`Client::poll_timeout`].
//! - **Connections.** Every response head the server emits opens a connection, named by a
//!   [`server::ConnectionId`] in the outcome that opened it ([`server::Outcome::connection`]).
//!   A connection's output (its head, body chunks, its end) **waits in that connection's
//!   own queue until the driver pulls it** with [`Server::poll_connection`]; nothing is
//!   routed, so no order of draining, registering and pulling can lose output.
//!   [`Server::poll_ready`] names each connection that got output, for a driver that parks
//!   one task per connection; [`Server::poll_output`] hands out every connection's output
//!   in one sequence, for a driver that writes everything from one place. A client gone
//!   away is [`Server::handle_disconnect`] of *its connection*: a disconnect that arrives
//!   after a resumption gave the stream a new connection changes nothing.
//! - Responses the machine builds are **complete**: status, every header
//!   (`Content-Type`, `Allow`, `MCP-Session-Id`, `Retry-After` ...) and the body. The
//!   driver never patches them.
//! - **Decisions are the machine's:** the version `initialize` negotiates
//!   ([`server::Dispatch::negotiated`]), the ids of server-to-client requests and the
//!   pairing of the client's answers with them ([`server::Accepted::answers`]), the -32603
//!   for a request the application left unanswered ([`Server::finish_request`]). A driver
//!   carries bytes and time only.
//! - **Randomness** (session ids, event-id prefixes, backoff jitter) comes from an injected
//!   [`Entropy`]: the OS CSPRNG by default, a seeded source in tests.
//! - **Errors come in two kinds.** The caller breaking the contract (answering a request
//!   twice, using an ended stream) is an `Err` of the machine's own usage error
//!   ([`server::UsageError`], [`client::UsageError`]; a configuration the client refuses is
//!   a [`client::ConfigError`]). The peer breaking the protocol is never an `Err` and never
//!   a panic: the server answers it with a complete HTTP error response carrying a
//!   JSON-RPC error body, and a refused request changes nothing; the client turns it into
//!   a [`client::ClientEvent`].
//!
//! # A run loop
//!
//! A whole server exchange, with no I/O: `initialize`, then a `tools/list` answered over
//! SSE. A real driver reads requests from sockets and writes each connection's output to
//! its socket.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use mcp_http_proto::server::{Outcome, Server, ServerConfig, StreamEvent};
//!
//! let mut server = Server::new(ServerConfig::default());
//! let now = Instant::now(); // the driver's clock; the library never reads one
//!
//! let post = |body: &'static str, session: Option<&str>| {
//!     let mut req = http::Request::post("/mcp")
//!         .header("host", "127.0.0.1:8080")
//!         .header("accept", "application/json, text/event-stream")
//!         .header("content-type", "application/json");
//!     if let Some(s) = session {
//!         req = req.header("mcp-session-id", s);
//!     }
//!     req.body(Bytes::from_static(body.as_bytes())).unwrap()
//! };
//!
//! // 1. initialize: the machine negotiates the version; the application answers with it,
//! //    and that answer mints the session.
//! let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
//! let Outcome::Dispatch(d) = server.handle_request(post(init, None), now) else { panic!() };
//! assert_eq!(d.negotiated.unwrap().as_str(), "2025-06-18");
//! server.send(d.stream, r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#, now)?;
//!
//! // The reply is the output of the connection the outcome named, pulled when the driver
//! // is ready to write it.
//! let mut session = None;
//! while let Some(event) = server.poll_connection(d.connection) {
//!     match event {
//!         StreamEvent::Head(head) => {
//!             session = head.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
//!         }
//!         StreamEvent::Data(bytes) => assert!(bytes.starts_with(b"event: message\n")),
//!         StreamEvent::End => break,
//!     }
//! }
//! let session = session.expect("the InitializeResult response carries the session id");
//!
//! // 2. A notification gets 202 at once.
//! let out = server.handle_request(post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, Some(&session)), now);
//! assert_eq!(out.response().unwrap().status(), 202);
//!
//! // 3. A request without the session header is refused, and changes nothing.
//! let out = server.handle_request(post(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, None), now);
//! assert_eq!(out.response().unwrap().status(), 400);
//!
//! // 4. Session events (a store writes them through), then timers: the idle session
//! //    expires, unless it is used.
//! while let Some(event) = server.poll_event() {
//!     let _ = event; // SessionCreated, SessionUpdated (initialized) ...
//! }
//! while let Some(t) = server.poll_timeout() {
//!     server.handle_timeout(t.at);
//! }
//! assert_eq!(server.session_count(), 0);
//! # Ok::<(), mcp_http_proto::server::UsageError>(())
//! ```
//!
//! # Drivers
//!
//! To mount an endpoint rather than drive the machines yourself, use a driver crate of
//! this workspace: [`mcp-http-proto-tokio`](https://docs.rs/mcp-http-proto-tokio) (an
//! `App` trait, a `tower` service that axum mounts, `serve`, and an `McpClient`, on
//! tokio + hyper) or [`mcp-http-proto-blocking`](https://docs.rs/mcp-http-proto-blocking)
//! (the same on `std::net` and threads). Both are built on
//! [`mcp-http-proto-driver`](https://docs.rs/mcp-http-proto-driver), the runtime-free code
//! they share, which shows the whole contract carried out.
//!
//! # Modules
//!
//! - [`version`]: protocol revisions and the rules that differ between them.
//! - [`handle`]: the opaque handles both machines hand out (streams, connections,
//!   exchanges).
//! - [`wire`]: headers, media types, JSON-RPC messages, SSE; shared by both sides.
//! - [`server`]: the server machine, its checks (in their documented order), the era
//!   classifier, the refusal table and its policy.
//! - [`client`]: the client machine, driven with the application's own HTTP stack:
//!   requests it builds, responses it reads, sessions, resumption, legacy fallback.
//!
//! Requirement ids such as `SRV-SESS-7` or `INV-S1` refer to the project's checklist of
//! normative rules; they are cited at the code that implements each rule.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod entropy;
mod fasthash;
pub mod handle;
pub mod params;
pub mod server;
pub mod version;
pub mod wire;

pub use client::Client;
pub use entropy::Entropy;
pub use server::Server;
pub use version::ProtocolVersion;
pub use wire::SessionId;

/// The README's code blocks, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
