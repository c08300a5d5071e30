#!/usr/bin/env bash
# Self-test of the interop scripts against the official Python SDK server
# (python_server.py, bound to 127.0.0.1 on a free port).
#
#   tests/interop/selftest.sh
#
# Two servers are started in turn, each stopped by its PID (trap, also on failure):
#   1. the stock SDK server (speaks 2026-07-28, so --mode default goes modern);
#   2. the same server with --legacy-only (rejects the server/discover probe with
#      400/-32022, so --mode default must fall back to initialize).
# The curl expectations are adjusted for the Python server: a bad Host gets 421.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$("$here/setup_python.sh")"
python="$venv/bin/python"

server_pid=""
server_log="$(mktemp "${TMPDIR:-/tmp}/mcp-selftest.XXXXXX")"
run_out="$(mktemp "${TMPDIR:-/tmp}/mcp-selftest-run.XXXXXX")"
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -f "$server_log" "$run_out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server ARGS...: start python_server.py on a free port; sets server_pid and url.
start_server() {
    local port tries
    port="$(free_port)"
    "$python" "$here/python_server.py" --port "$port" "$@" >"$server_log" 2>&1 &
    server_pid=$!
    url="http://127.0.0.1:$port/mcp"
    for tries in $(seq 1 50); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "selftest: server exited early:" >&2
            cat "$server_log" >&2
            server_pid=""
            return 1
        fi
        if [ "$(curl --silent --max-time 2 -o /dev/null -w '%{http_code}' "$url" || true)" != "000" ]; then
            echo "selftest: server${*:+ $*} up at $url (pid $server_pid, after $tries polls)"
            return 0
        fi
        sleep 0.2
    done
    echo "selftest: server did not come up at $url" >&2
    cat "$server_log" >&2
    return 1
}

export INTEROP_SKIP_SETUP=1
export INTEROP_EXPECT_DELETE_STATUS=2xx
export INTEROP_EXPECT_BAD_HOST_STATUS=421
export INTEROP_PYTHON_ARGS="--progress"

passed=0
failed=0
record() {
    local out="$1" summary p f
    summary="$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$out" | tail -n 1)"
    sed 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/run totals: \1 ok, \2 not ok/' "$out"
    if [ -n "$summary" ]; then
        read -r p f <<<"$summary"
    else
        p=0
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

for variant in stock legacy-only; do
    echo "=== selftest: $variant server"
    if [ "$variant" = stock ]; then
        start_server
    else
        start_server --legacy-only
    fi
    "$here/run_all.sh" "$url" >"$run_out" 2>&1 || true
    record "$run_out"
    if [ "$variant" = stock ]; then
        want="era=modern version=2026-07-28"
    else
        want="era=legacy version=2025-11-25 session=yes"
    fi
    # --mode default must end in the era the server supports; the wire must show the probe.
    if grep -q "^python-client: OK mode=default $want .*wire=POST:server/discover->" "$run_out"; then
        echo "[PASS] $variant: --mode default probed server/discover and ended $want"
        passed=$((passed + 1))
    else
        echo "[FAIL] $variant: --mode default did not probe and end $want"
        failed=$((failed + 1))
    fi
    if grep -q "^python-client: OK mode=no-discover era=legacy .*wire=POST:initialize->200," "$run_out"; then
        echo "[PASS] $variant: --mode no-discover started with initialize (no probe)"
        passed=$((passed + 1))
    else
        echo "[FAIL] $variant: --mode no-discover did not start with initialize"
        failed=$((failed + 1))
    fi
    stop_server
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
