#![no_main]

use libfuzzer_sys::fuzz_target;

// Several machines sharing sessions through a store: see checks/cluster.rs.
fuzz_target!(|data: &[u8]| mcp_http_proto_fuzz::checks::run_cluster(data));
