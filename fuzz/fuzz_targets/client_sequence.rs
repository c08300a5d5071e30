#![no_main]

use libfuzzer_sys::fuzz_target;

// The input is decoded into a structured case by the shared check module, so that
// tests/fuzz_corpus.rs replays a corpus file exactly as this target reads it.
fuzz_target!(|data: &[u8]| mcp_http_proto_fuzz::checks::run_client(data));
