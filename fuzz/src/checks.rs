//! The checks every fuzz target runs, shared with the stable replay test.
//!
//! Each `run_*` function takes the raw fuzzer input, turns it into a structured case with
//! `arbitrary`, and runs the matching `check_*` function, which panics when an invariant
//! breaks. Nothing here depends on libFuzzer, so `tests/fuzz_corpus.rs` in the root crate
//! includes this file with `#[path]` and replays the committed corpus on stable.
//!
//! The submodules are named with explicit paths (relative to this file's directory), so
//! they resolve the same way whether this file is the fuzz crate's `checks` module or is
//! included from the root crate's tests.

use arbitrary::{Arbitrary, Unstructured};

#[path = "checks/client.rs"]
pub mod client;
#[path = "checks/cluster.rs"]
pub mod cluster;
#[path = "checks/common.rs"]
pub mod common;
#[path = "checks/headers.rs"]
pub mod headers;
#[path = "checks/server.rs"]
pub mod server;
#[path = "checks/sse.rs"]
pub mod sse;
#[path = "checks/sse_ref.rs"]
pub mod sse_ref;
#[path = "checks/store.rs"]
pub mod store;

pub use client::{ClientCase, check_client};
pub use cluster::{ClusterCase, check_cluster};
pub use headers::{HeadersCase, check_headers};
pub use server::{ServerCase, check_server};
pub use sse::{SseCase, check_sse};

/// Decodes a case from the whole input, as libFuzzer's own `fuzz_target!(|case: T|)`
/// would. `None` when the bytes do not make a case (too short for a required field).
pub fn decode<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// The `sse_decode` target.
pub fn run_sse(data: &[u8]) {
    if let Some(case) = decode::<SseCase>(data) {
        check_sse(&case);
    }
}

/// The `headers` target.
pub fn run_headers(data: &[u8]) {
    if let Some(case) = decode::<HeadersCase>(data) {
        check_headers(&case);
    }
}

/// The `server_sequence` target.
pub fn run_server(data: &[u8]) {
    if let Some(case) = decode::<ServerCase>(data) {
        check_server(&case);
    }
}

/// The `client_sequence` target.
pub fn run_client(data: &[u8]) {
    if let Some(case) = decode::<ClientCase>(data) {
        check_client(&case);
    }
}

/// The `cluster_sequence` target.
pub fn run_cluster(data: &[u8]) {
    if let Some(case) = decode::<ClusterCase>(data) {
        check_cluster(&case);
    }
}

/// Runs the check of the target named `target` (a directory name under `fuzz/corpus/`).
/// Returns false for an unknown name.
pub fn run_target(target: &str, data: &[u8]) -> bool {
    match target {
        "sse_decode" => run_sse(data),
        "headers" => run_headers(data),
        "server_sequence" => run_server(data),
        "client_sequence" => run_client(data),
        "cluster_sequence" => run_cluster(data),
        _ => return false,
    }
    true
}

/// Whether a known src/ bug named `name` should be tolerated (its assertion skipped), so
/// that a long fuzzing run can look past it for other findings. Off unless the
/// environment variable `MCP_FUZZ_TOLERATE` lists the name (comma-separated). The
/// replay test never sets it, so it reproduces every known bug.
pub fn tolerate(name: &str) -> bool {
    use std::sync::OnceLock;
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        std::env::var("MCP_FUZZ_TOLERATE")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|n| n == name)
}

/// The base of the virtual clock, read once per process: every instant the checks use is
/// an offset of it (the machines never read a clock).
#[allow(clippy::disallowed_methods)]
pub fn base_instant() -> std::time::Instant {
    use std::sync::OnceLock;
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}
