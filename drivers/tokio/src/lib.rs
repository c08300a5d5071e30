//! An MCP Streamable HTTP server and client on tokio and hyper 1, built on the sans-IO
//! machines of [`mcp_http_proto`].
//!
//! - [`server`]: serve an application on a listener; the driver carries bytes and time,
//!   the machine decides.
//! - [`client`]: drive the client machine over hyper connections.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod server;

pub use mcp_http_proto_driver as driver;
