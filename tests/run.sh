#!/usr/bin/env bash
# The whole test suite, on a fresh machine: unit, behaviour, property and doc tests, then
# the interop runner (tests/interop/run.sh): the examples against the official MCP peers
# installed from the registries (the conformance suite in server and client mode, the
# Python and TypeScript SDK clients and servers) and against each other (async and
# blocking drivers).
#
#   bash tests/run.sh
#
# Servers bind 127.0.0.1 on free ports and are stopped by PID. Ends with the interop
# runner's line "N passed, N failed" and exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== cargo test"
cargo test --workspace --all-targets --quiet
cargo test --workspace --doc --quiet

if ! command -v curl >/dev/null 2>&1; then
    echo "curl is missing; installing it" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq curl >/dev/null
    else
        echo "curl is needed for the interop checks" >&2
        exit 1
    fi
fi

echo "== interop"
bash tests/interop/run.sh
