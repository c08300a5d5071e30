//! An MCP Streamable HTTP server and client on `std::net` and threads, with no async
//! runtime, built on the sans-IO machines of [`mcp_http_proto`].
//!
//! - [`server`]: the same [`App`](server::App) shape as the tokio driver, with a blocking
//!   `call` in a thread of its own; bounded connection and handler threads; graceful
//!   shutdown through a [`Shutdown`](server::Shutdown) handle.
//! - [`client`]: a blocking [`McpClient`](client::McpClient).
//! - [`http1`]: the minimal HTTP/1.1 framing both use (`httparse` for heads).
//!
//! The driver carries bytes and time; every protocol decision is the machine's.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod http1;
pub mod server;

pub use mcp_http_proto_driver as driver;
