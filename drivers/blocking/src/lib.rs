//! An MCP Streamable HTTP server and client on `std::net` and threads, with no async
//! runtime, built on the sans-IO machines of [`mcp_http_proto`].
//!
//! - [`server`]: serve an [`App`](server::App) (`info`, `call` with a
//!   [`Context`](server::Context)) on a listener with bounded threads, keep-alive
//!   comments and a graceful [`Shutdown`](server::Shutdown); the same application shape
//!   as the tokio driver's, minus `async`.
//! - [`client`]: drive the client machine over blocking sockets.
//! - [`http1`]: the minimal HTTP/1.1 framing both use (`httparse` for heads).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod http1;
pub mod server;

pub use mcp_http_proto_driver as driver;
