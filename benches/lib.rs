//! Benchmarks of `mcp-http-proto` side by side with the crates Rust MCP users pick today.
//! The benches are the `[[bench]]` targets of this package (`cargo bench -p
//! mcp-http-proto-benches`); this library is empty.
