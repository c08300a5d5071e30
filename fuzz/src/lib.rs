//! Structure-aware fuzzing of `mcp-http-proto`: the cases and the checks the targets
//! run. The checks live in `checks.rs` (and its submodules), which build on stable
//! without libFuzzer, so the root crate's `tests/fuzz_corpus.rs` replays the corpus
//! through the very same code.

pub mod checks;
