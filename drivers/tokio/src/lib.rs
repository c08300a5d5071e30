//! An MCP Streamable HTTP server and client on tokio and hyper 1, built on the sans-IO
//! machines of [`mcp_http_proto`].
//!
//! - [`server`]: an [`App`](server::App) trait (async `call`, with a
//!   [`Context`](server::Context) for progress, notifications and requests to the client),
//!   [`McpService`](server::McpService) (a `tower` service: axum mounts it with
//!   `route_service` or `nest_service`), and [`serve`](server::serve) on a listener with
//!   `TCP_NODELAY` and graceful shutdown on Ctrl-C and SIGTERM.
//! - [`client`]: [`McpClient`](client::McpClient): `connect`, `list_tools`, `call_tool`,
//!   `request`, the server's messages; re-initialization, resumption and close carried out
//!   from the machine's decisions.
//!
//! - [`store`]: sessions shared across server processes through a
//!   [`SessionStore`](store::SessionStore); `redis_store` (feature `redis`) keeps them
//!   in Redis, so that any request of a session may land on any node.
//!
//! The driver carries bytes and time; every protocol decision is the machine's.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod server;
pub mod store;

pub use mcp_http_proto_driver as driver;
