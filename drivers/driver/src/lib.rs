//! The runtime-free core the `mcp-http-proto` drivers share: everything a driver does with
//! the [`Server`](mcp_http_proto::Server) and [`Client`](mcp_http_proto::Client) machines
//! that is not I/O, so that an async driver (`mcp-http-proto-tokio`) and a blocking one
//! (`mcp-http-proto-blocking`) carry only bytes and time.
//!
//! - [`app`]: what an application gives and gets: its server info, calls, errors.
//! - [`engine`]: the server machine behind a lock, connection wake-ups, the application's
//!   [`Replier`](engine::Replier) on a stream, answers to server-to-client requests.
//! - [`exchange`]: what both client drivers share about an HTTP exchange.
//! - [`log`]: the log line of a request and the machine's events.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod engine;
pub mod exchange;
pub mod log;
