#!/usr/bin/env bash
# The whole test suite, on a fresh machine: unit, behaviour, property and doc tests, then
# the interop smoke: the example server (examples/server.rs) in each of its modes, checked
# by curl, by the official Python SDK client (PyPI `mcp`, pinned) and by the official
# conformance suite's SSE scenarios (npm `@modelcontextprotocol/conformance`, pinned, on
# Node 22 from npm); then the example client (examples/client.rs) against the Python SDK,
# TypeScript SDK (npm `@modelcontextprotocol/sdk`, pinned) and our own server.
#
#   bash tests/run.sh
#
# Servers bind 127.0.0.1 on a free port and are stopped by PID. Ends with one line
# "N passed, N failed" for the interop part and exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== cargo test"
cargo test --all-targets --quiet
cargo test --doc --quiet

echo "== interop smoke"
if ! command -v curl >/dev/null 2>&1; then
    echo "curl is missing; installing it" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq curl >/dev/null
    else
        echo "curl is needed for the interop smoke" >&2
        exit 1
    fi
fi
venv="$(bash tests/interop/setup_python.sh)"
cargo build --quiet --example server
server_bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/server"

pid=""
log="$(mktemp "${TMPDIR:-/tmp}/mcp-server-log.XXXXXX")"
stop_server() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        # Bounded wait, then force.
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}
trap 'stop_server; rm -f "$log"' EXIT

# Starts the example server with the given flags on a free port; sets $url.
start_server() {
    : >"$log"
    "$server_bin" --port 0 "$@" >"$log" 2>"$log.err" &
    pid=$!
    url=""
    for _ in $(seq 1 300); do
        url="$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\/mcp\)$/\1/p' "$log" | head -n 1)"
        [ -n "$url" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the example server did not start ($*):" >&2
    cat "$log" "$log.err" >&2 || true
    return 1
}

passed=0
failed=0
record() { # name, exit code
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $1"
    else
        failed=$((failed + 1))
        echo "FAIL $1"
    fi
}

run_stateful_checks() { # mode label, server flags...
    local label="$1"
    shift
    start_server "$@"
    local rc=0
    INTEROP_SKIP_SETUP=1 timeout 120 bash tests/interop/run_all.sh "$url" || rc=$?
    record "stateful $label: curl sequence + python client (default and no-discover)" "$rc"
    if [ "$label" = sse ]; then
        # Progress notifications ride on the SSE reply; a JSON reply carries the result only.
        rc=0
        timeout 60 "$venv/bin/python" tests/interop/python_client.py "$url" --mode no-discover --progress || rc=$?
        record "stateful $label: python client progress tool" "$rc"
        # The server cuts the call's connection after the priming event; the SDK resumes
        # with GET + Last-Event-ID and must get the result (SRV-PSSE-10, SRV-RES-5).
        rc=0
        timeout 60 "$venv/bin/python" tests/interop/python_client.py "$url" --mode no-discover --reconnection || rc=$?
        record "stateful $label: python client resumes a cut stream (test_reconnection)" "$rc"
        # The official conformance suite's SSE scenarios: no failure and no warning.
        rc=0
        timeout 600 bash tests/interop/conformance.sh "$url" \
            server-sse-polling server-sse-multiple-streams server-session-lifecycle || rc=$?
        record "stateful $label: conformance server-sse-polling, server-sse-multiple-streams, server-session-lifecycle" "$rc"
    fi
    stop_server
    rm -f "$log.err"
}

run_stateful_checks sse
run_stateful_checks json --json
run_stateful_checks sse-not-resumable --no-resumable

start_server --stateless
for mode in default no-discover; do
    rc=0
    timeout 60 "$venv/bin/python" tests/interop/python_client.py "$url" --mode "$mode" || rc=$?
    record "stateless: python client --mode $mode" "$rc"
done
stop_server
rm -f "$log.err"

echo "== blocking drivers: the four pairings of async and blocking clients and servers"
rc=0
INTEROP_SKIP_BUILD=0 timeout 900 bash tests/interop/pairings.sh || rc=$?
record "pairings: async/blocking client x async/blocking server (echo, progress, test_reconnection), curl sequence on both servers" "$rc"

echo "== client interop: examples/client against the Python SDK, TypeScript SDK and our own server"
cargo build --quiet --example client --example server
client_bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/client"
# Every peer in every mode: stateful, stateless, JSON replies, resumable (the peers cut
# their streams, so the client must resume), and the legacy HTTP+SSE transport.
rc=0
timeout 1200 bash tests/interop/client_matrix.sh "$client_bin" || rc=$?
record "client matrix: examples/client against python, ts and rust servers in every mode" "$rc"
# A server restart mid-session: the client sees 404, re-initializes, the call completes.
rc=0
timeout 600 bash tests/interop/client_session_expiry.sh "$client_bin" {url} --pause 3 || rc=$?
record "client: a 404 after a server restart re-initializes and the call completes" "$rc"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
