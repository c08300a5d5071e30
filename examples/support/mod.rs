//! Code shared by the examples (not an example itself: cargo only builds
//! `examples/*.rs` and `examples/*/main.rs` as examples).
//!
//! Include it from an example with `mod support;`.

// Each example uses only part of the driver's API.
#![allow(dead_code)]

pub mod client_cli;
pub mod mcp_app;
pub mod mrtr;
