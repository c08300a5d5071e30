#!/usr/bin/env bash
# Our four drivers against each other: the async (hyper + tokio) and the blocking
# (std::net) examples, client x server.
#
#   tests/interop/pairings.sh
#
# Builds the examples, then for each server (examples/server, examples/blocking_server)
# starts it on a free port on 127.0.0.1 (--port 0; the URL is read from its
# `listening on URL` line), runs each client (examples/client, examples/blocking_client)
# under `timeout` calling
#   echo               result must be the text sent
#   progress           result "done", with 3 progress notifications on the SSE stream
#   test_reconnection  the server closes the stream's connection; the client must resume
#                      it (GET + Last-Event-ID) to get the result
# then runs tests/interop/curl_sequence.sh against the server, and stops it by its PID.
# Then the same client runs against each server in --json and --stateless mode, where the
# server has no resumable stream to close (test_reconnection answers on the open stream),
# and, with --json, progress notifications cannot ride on the reply.
# Each client runs twice: with --mode session (the session era, as above), and with
# --mode auto --expect-version 2026-07-28 (its default), where our dual-era servers serve
# 2026-07-28 and never cut a stream (streams are not resumable there, N26-1).
# With INTEROP_PAIRINGS_PYTHON=1 (after tests/interop/setup_python.sh), the Python SDK
# client (python_client.py --mode default) runs against each server too.
#
# Environment:
#   INTEROP_PAIRINGS_TIMEOUT  seconds per client run (default 30)
#   INTEROP_PAIRINGS_MODES    server modes, default "default json stateless"
#   INTEROP_PAIRINGS_LOGS     directory for per-run logs (default target/interop/pairings-logs)
#   INTEROP_PAIRINGS_PYTHON   1: also run the Python SDK client (default 0)
#   INTEROP_SKIP_BUILD        1: do not run `cargo build --examples`
#
# Ends with "N passed, N failed"; exits 1 on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
cd "$repo_root"

run_timeout="${INTEROP_PAIRINGS_TIMEOUT:-30}"
logs="${INTEROP_PAIRINGS_LOGS:-target/interop/pairings-logs}"
python="${INTEROP_PAIRINGS_PYTHON:-0}"
modes="${INTEROP_PAIRINGS_MODES:-default json stateless}"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$repo_root/$target_dir" ;; esac
bin="$target_dir/debug/examples"
mkdir -p "$logs"

if [ "${INTEROP_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --quiet --examples
fi

passed=0
failed=0
server_pid=""

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

pass() {
    passed=$((passed + 1))
    echo "[PASS] $*"
}

fail() {
    failed=$((failed + 1))
    echo "[FAIL] $*"
}

# start_server NAME MODE: starts $bin/NAME on a free port; sets server_pid and url.
start_server() {
    local name="$1" mode="$2" out="$logs/$1-$2.out" i
    local -a flags=()
    [ "$mode" = default ] || flags=("--$mode")
    : >"$out"
    "$bin/$name" --port 0 "${flags[@]}" >"$out" 2>"$logs/$name-$mode.err" &
    server_pid=$!
    url=""
    for i in $(seq 1 100); do
        url="$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$out" 2>/dev/null || true)"
        [ -n "$url" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# check SERVER CLIENT TOOL EXPECT_RESULT [ARGS...]: one client run; passes when the last
# line is `client: OK result=EXPECT_RESULT...` (a prefix) and, for progress, when the
# notifications arrived ($want_progress of them).
check() {
    local server="$1" client="$2" tool="$3" want="$4"
    shift 4
    local name="$client-$era-x-$server-$mode-$tool" log rc=0 last
    log="$logs/$name.log"
    timeout -k 5 "$run_timeout" "$bin/$client" "$url" --call "$tool" "${era_flags[@]}" "$@" >"$log" 2>&1 || rc=$?
    last="$(grep '^client: ' "$log" | tail -n 1)"
    if [ "$rc" -ne 0 ] || [[ "$last" != "client: OK result=$want"* ]]; then
        fail "$name: exit $rc: ${last:-no result line} (log: $log)"
    elif [ "$tool" = progress ] && ! grep -q "^client: $want_progress progress notification(s)" "$log"; then
        fail "$name: the progress notifications did not arrive (log: $log)"
    else
        pass "$name: $last"
    fi
}

for mode in $modes; do
    want_progress=3
    want_reconnection="Reconnection test completed: the connection was closed and the client resumed"
    if [ "$mode" != default ]; then
        want_reconnection="Reconnection test completed without closing the connection"
    fi
    [ "$mode" = json ] && want_progress=0
    for server in server blocking_server; do
        if ! start_server "$server" "$mode"; then
            fail "$server ($mode): did not start (log: $logs/$server-$mode.err)"
            stop_server
            continue
        fi
        echo "== $server ($mode) at $url"
        for client in client blocking_client; do
            # The session era (resumption of the cut stream in the default mode) ...
            era=session
            era_flags=(--mode session)
            check "$server" "$client" echo "hello pairings" --arg "text=hello pairings" --expect "hello pairings"
            check "$server" "$client" progress "done" --arg steps=3 --arg delay_ms=20 --expect done
            check "$server" "$client" test_reconnection "$want_reconnection"
            # ... and Auto, the clients' default: 2026-07-28 with our dual-era servers,
            # where streams are not resumable, so the server never cuts one.
            era=auto
            era_flags=(--mode auto --expect-version 2026-07-28)
            check "$server" "$client" echo "hello pairings" --arg "text=hello pairings" --expect "hello pairings"
            check "$server" "$client" progress "done" --arg steps=3 --arg delay_ms=20 --expect done
            check "$server" "$client" test_reconnection "Reconnection test completed without closing the connection"
        done
        if [ "$mode" = default ]; then
            if out="$(tests/interop/curl_sequence.sh "$url" 2>&1)"; then
                pass "curl_sequence-x-$server: $(tail -n 1 <<<"$out")"
            else
                fail "curl_sequence-x-$server: $(tail -n 1 <<<"$out")"
                echo "$out" | grep '^\[FAIL\]' || true
            fi
        fi
        if [ "$python" = 1 ] && [ "$mode" = default ]; then
            py="target/interop/venv/bin/python"
            name="python_client-x-$server"
            if timeout -k 5 "$run_timeout" "$py" tests/interop/python_client.py "$url" \
                --mode default >"$logs/$name.log" 2>&1; then
                pass "$name: $(tail -n 1 "$logs/$name.log")"
            else
                fail "$name: $(tail -n 1 "$logs/$name.log") (log: $logs/$name.log)"
            fi
        fi
        stop_server
    done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
