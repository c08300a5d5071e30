#!/usr/bin/env bash
# The whole test suite, on a fresh machine: unit, behaviour, property and doc tests, then
# the interop runner (tests/interop/run.sh): the examples against the official MCP peers
# installed from the registries (the conformance suite in server and client mode, the
# Python and TypeScript SDK clients and servers) and against each other (async and
# blocking drivers); then the cluster script (tests/cluster/run.sh): three nodes sharing
# sessions through redis-server behind haproxy.
#
#   bash tests/run.sh
#
# Servers bind 127.0.0.1 on free ports and are stopped by PID. The interop runner and the
# cluster script each end with a line "N passed, N failed"; exits non-zero on any
# failure.
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
interop=0
bash tests/interop/run.sh || interop=$?

# Sessions shared across nodes through Redis, behind haproxy (issue 11).
echo "== cluster"
cluster=0
bash tests/cluster/run.sh || cluster=$?

if [ "$interop" -ne 0 ] || [ "$cluster" -ne 0 ]; then
    echo "tests/run.sh: interop exit $interop, cluster exit $cluster" >&2
    exit 1
fi
