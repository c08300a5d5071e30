//! What a refusal costs in heap, counted by an instrumented global allocator (one test
//! per binary, so that nothing else allocates meanwhile).
//!
//! Defect 4 of the outside review: a session-less 4 MiB batch was parsed in full before
//! it was refused with 400 for the missing session (about 32 MiB of transient heap).

mod common;

use std::alloc::System;

use common::*;
use mcp_http_proto::server::{Refusal, ServerConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Defect 4: a session-less batch on a stateful server is refused at step 8 without
/// being parsed: the refusal allocates a few KiB, not a multiple of the body.
#[test]
fn defect_04_a_sessionless_batch_is_refused_before_it_is_parsed() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_body_bytes: 8 * 1024 * 1024,
        ..ServerConfig::default()
    });
    let one = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#;
    let mut batch = String::from("[");
    while batch.len() < 4 * 1024 * 1024 {
        batch.push_str(one);
        batch.push(',');
    }
    batch.push_str(one);
    batch.push(']');
    let req = post(batch);
    let region = Region::new(GLOBAL);
    let outcome = s.handle_request(req, t0);
    let stats = region.change();
    let r = rejected(outcome);
    assert_eq!(r.refusal, Refusal::MissingSessionId);
    assert!(
        stats.bytes_allocated < 64 * 1024,
        "the refusal allocated {} bytes",
        stats.bytes_allocated
    );
}
