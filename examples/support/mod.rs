//! Code shared by the examples (not an example itself: cargo only builds
//! `examples/*.rs` and `examples/*/main.rs` as examples).
//!
//! Include it from an example with `mod support;`.

// Each example uses only part of the driver's API.
#![allow(dead_code)]

pub mod blocking_client;
pub mod blocking_http;
pub mod blocking_server;
pub mod client_cli;
pub mod client_exchange;
pub mod engine;
pub mod hyper_client;
pub mod hyper_server;
pub mod mcp_app;
pub mod server_log;
