#!/usr/bin/env bash
# Client interop: the session disappears mid-run (the server restarts on the same port).
#
#   tests/interop/client_session_expiry.sh CLIENT_CMD...
#
# For each stateful peer (python_server.py, ts_server.mjs, examples/server; opt-in: rmcp,
# the rmcp_server of tests/interop/rmcp, built by setup_rmcp.sh) it starts the
# server on a free port on 127.0.0.1, starts CLIENT_CMD (the URL replaces `{url}`, or is
# appended), waits until the client prints a line containing `pausing` (stdout or
# stderr), then stops the server by its PID and starts a fresh one on the same port, which
# knows no session: the client's next request gets 404 and the client has to start a new
# session on its own (CLI-SESS-8). PASS when the client exits 0 within the timeout.
# The client must pause between two requests and say so; the example client does with
# `--pause SECS`:
#
#   tests/interop/client_session_expiry.sh target/debug/examples/client {url} --pause 3 --expect hello
#
# Environment: INTEROP_MATRIX_PEERS (default "python ts rust"), INTEROP_MATRIX_TIMEOUT
# (default 60), INTEROP_MATRIX_LOGS, INTEROP_RUST_SERVER, INTEROP_SKIP_SETUP, as for
# client_matrix.sh. Ends with "N passed, N failed"; exits 1 on any failure.
set -euo pipefail

if [ "$#" -lt 1 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
client_cmd=("$@")

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
cd "$repo_root"

interop_dir="${INTEROP_DIR:-target/interop}"
case "$interop_dir" in
    /*) ;;
    *) interop_dir="$repo_root/$interop_dir" ;;
esac
read -r -a peers <<<"${INTEROP_MATRIX_PEERS:-python ts rust}"
client_timeout="${INTEROP_MATRIX_TIMEOUT:-60}"
logs="${INTEROP_MATRIX_LOGS:-$interop_dir/matrix-logs}"
mkdir -p "$logs"

python=""
ts_node=""
rust_server=""
if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
    python="$interop_dir/venv/bin/python"
    ts_node="$(ls -d "$interop_dir"/ts-*/bin/node 2>/dev/null | sort -V | tail -n 1 || true)"
else
    python="$("$here/setup_python.sh")/bin/python"
    ts_node="$("$here/setup_ts.sh")"
fi
if [ -n "${INTEROP_RUST_SERVER:-}" ]; then
    rust_server="$INTEROP_RUST_SERVER"
else
    target_dir="${CARGO_TARGET_DIR:-target}"
    case "$target_dir" in /*) ;; *) target_dir="$repo_root/$target_dir" ;; esac
    cargo build --quiet --example server >&2 && rust_server="$target_dir/debug/examples/server"
fi
rmcp_bin=""
for p in "${peers[@]}"; do
    [ "$p" = rmcp ] || continue
    if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
        rmcp_bin="$interop_dir/rmcp-target/debug"
    else
        rmcp_bin="$("$here/setup_rmcp.sh" | tail -n 1)"
    fi
done

server_pid=""
client_pid=""
stop_pid() {
    local pid="$1" i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 25); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$client_pid"
    client_pid=""
    stop_pid "$server_pid"
    server_pid=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server PEER PORT LOG: sets server_pid; returns 1 unless it answers within 20 s.
start_server() {
    local peer="$1" port="$2" log="$3" url="http://127.0.0.1:$2/mcp" tries
    case "$peer" in
        python) "$python" "$here/python_server.py" --port "$port" >>"$log" 2>&1 & ;;
        ts) "$ts_node" "$here/ts_server.mjs" --port "$port" >>"$log" 2>&1 & ;;
        rust) "$rust_server" --port "$port" --no-resumable >>"$log" 2>&1 & ;;
        rmcp) [ -n "$rmcp_bin" ] || return 1; "$rmcp_bin/rmcp_server" --port "$port" >>"$log" 2>&1 & ;;
        *) return 1 ;;
    esac
    server_pid=$!
    for tries in $(seq 1 100); do
        kill -0 "$server_pid" 2>/dev/null || return 1
        if [ "$(curl --silent --max-time 2 -X DELETE -o /dev/null -w '%{http_code}' "$url" || true)" != "000" ]; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

passed=0
failed=0
for peer in "${peers[@]}"; do
    name="$peer/session-expiry"
    slog="$logs/${peer}-session-expiry.server.log"
    clog="$logs/${peer}-session-expiry.client.log"
    : >"$slog"
    : >"$clog"
    port="$("${python:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    url="http://127.0.0.1:$port/mcp"
    if ! start_server "$peer" "$port" "$slog"; then
        echo "[FAIL] $name: server did not start (log: $slog)"
        cleanup
        failed=$((failed + 1))
        continue
    fi
    argv=()
    found=0
    for a in "${client_cmd[@]}"; do
        if [[ "$a" == *"{url}"* ]]; then
            argv+=("${a//\{url\}/$url}")
            found=1
        else
            argv+=("$a")
        fi
    done
    [ "$found" = 1 ] || argv+=("$url")
    timeout -k 5 "$client_timeout" "${argv[@]}" >"$clog" 2>&1 </dev/null &
    client_pid=$!
    paused=0
    for _ in $(seq 1 $((client_timeout * 10))); do
        if grep -q pausing "$clog"; then
            paused=1
            break
        fi
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ "$paused" = 1 ]; then
        stop_pid "$server_pid"
        server_pid=""
        echo "--- restart ---" >>"$slog"
        if ! start_server "$peer" "$port" "$slog"; then
            echo "[FAIL] $name: server did not restart on port $port (log: $slog)"
            cleanup
            failed=$((failed + 1))
            continue
        fi
    fi
    rc=0
    wait "$client_pid" || rc=$?
    client_pid=""
    stop_pid "$server_pid"
    server_pid=""
    last="$(grep -v '^[[:space:]]*$' "$clog" | tail -n 1 || true)"
    if [ "$paused" != 1 ]; then
        echo "[FAIL] $name: the client never printed 'pausing' (exit $rc): $last"
        failed=$((failed + 1))
    elif [ "$rc" -eq 0 ]; then
        echo "[PASS] $name: $last"
        passed=$((passed + 1))
    else
        echo "[FAIL] $name (exit $rc): $last"
        echo "    client log: $clog; server log: $slog"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
