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
//! - **Inputs** are `handle_*` methods (and [`Server::send`] for the application's
//!   messages). Every input that can start, extend or expire something takes
//!   `now: Instant`. The crate never reads a clock; `now` must never go backwards.
//! - **Outputs** are typed values: the [`server::Outcome`] returned by
//!   [`Server::handle_request`], then what the caller drains after **every** input:
//!   [`Server::poll_output`] (heads, body chunks and ends of streams, in order) and
//!   [`Server::poll_event`] (sessions created and closed), until each returns `None`.
//!   [`Server::poll_timeout`] then says when to call [`Server::handle_timeout`].
//! - Responses the machine builds are **complete**: status, every header
//!   (`Content-Type`, `Allow`, `MCP-Session-Id`, `Retry-After` ...) and the body. The
//!   driver never patches them.
//! - **Randomness** (session ids) comes from an injected [`Entropy`]: the OS CSPRNG by
//!   default, a seeded source in tests.
//! - **Errors come in two kinds.** The caller breaking the contract (answering a request
//!   twice, using an ended stream) is an `Err(`[`UsageError`]`)`. The peer breaking the
//!   protocol is never an `Err` and never a panic: the server answers it with a complete
//!   HTTP error response carrying a JSON-RPC error body, and a refused request changes
//!   nothing.
//!
//! # A run loop
//!
//! A whole server exchange, with no I/O: `initialize`, then a `tools/list` answered over
//! SSE. A real driver reads requests from sockets and writes the outputs back.
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
//! // 1. initialize: the application answers, and its answer mints the session.
//! let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
//! let Outcome::Dispatch(d) = server.handle_request(post(init, None), now) else { panic!() };
//! server.send(d.stream, r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#, now)?;
//!
//! let mut session = None;
//! while let Some(out) = server.poll_output() {
//!     match out.event {
//!         StreamEvent::Head(head) => {
//!             session = head.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
//!         }
//!         StreamEvent::Data(bytes) => assert!(bytes.starts_with(b"event: message\n")),
//!         StreamEvent::End => {}
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
//! // 4. Timers: the finished stream's replay window closes, then the idle session
//! //    expires, unless it is used.
//! while let Some(t) = server.poll_timeout() {
//!     server.handle_timeout(t.at);
//! }
//! assert_eq!(server.session_count(), 0);
//! # Ok::<(), mcp_http_proto::server::UsageError>(())
//! ```
//!
//! # Modules
//!
//! - [`version`]: protocol revisions and the rules that differ between them.
//! - [`wire`]: headers, media types, the JSON-RPC envelope, SSE; shared by both sides.
//! - [`server`]: the server machine, its checks (in their documented order) and policy.
//! - [`client`]: the client machine, driven with the application's own HTTP stack:
//!   requests it builds, responses it reads, sessions, resumption, legacy fallback.
//!
//! Requirement ids such as `SRV-SESS-7` or `INV-S1` refer to the project's checklist of
//! normative rules; they are cited at the code that implements each rule.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod entropy;
pub mod handle;
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
