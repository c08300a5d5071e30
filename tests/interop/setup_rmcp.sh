#!/usr/bin/env bash
# Build (or reuse) the rmcp interop peers: rmcp_server and rmcp_client, on rmcp 3.11.0
# (the official Rust MCP SDK), from the standalone package tests/interop/rmcp (its own
# [workspace] and Cargo.lock, outside the repository's workspace).
#
#   dir="$(tests/interop/setup_rmcp.sh)"
#   "$dir/rmcp_server" --port 0 [--stateless] [--json]
#   "$dir/rmcp_client" URL [--lifecycle initialize|discover|auto] ...
#
# Builds the debug profile with `cargo build --locked` into
# ${INTEROP_DIR:-target/interop}/rmcp-target (relative to the repo root unless
# INTEROP_DIR is absolute). Idempotent: cargo rebuilds only what changed. Logs go to
# stderr; the last line on stdout is the absolute directory holding the two binaries.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))"
cd "$repo_root"

interop_dir="${INTEROP_DIR:-target/interop}"
mkdir -p "$interop_dir"
target_dir="$(cd "$interop_dir" && pwd)/rmcp-target"
manifest="$repo_root/tests/interop/rmcp/Cargo.toml"

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup_rmcp: cargo not found" >&2
    exit 1
fi

echo "setup_rmcp: building rmcp_server and rmcp_client into $target_dir" >&2
CARGO_TARGET_DIR="$target_dir" cargo build --locked --manifest-path "$manifest" \
    --bin rmcp_server --bin rmcp_client </dev/null >&2

bin_dir="$target_dir/debug"
for b in rmcp_server rmcp_client; do
    if [ ! -x "$bin_dir/$b" ]; then
        echo "setup_rmcp: $bin_dir/$b missing after the build" >&2
        exit 1
    fi
done
echo "setup_rmcp: rmcp peers ready in $bin_dir" >&2
echo "$bin_dir"
