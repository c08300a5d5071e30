#!/usr/bin/env bash
# Client interop matrix: run one MCP client command against reference servers in every
# transport mode.
#
#   tests/interop/client_matrix.sh CLIENT_CMD...
#
# For each peer server (python_server.py on the Python SDK, ts_server.mjs on the
# TypeScript SDK 1.x, ts_v2_server.mjs on the TypeScript v2 server package (peer "tsv2",
# opt-in: 2026-07-28 and a session-less fallback), rmcp_server on rmcp, the official Rust SDK
# (peer "rmcp", opt-in: tests/interop/rmcp, built by setup_rmcp.sh), and our own
# examples/server.rs) in each mode (stateful, stateless, json,
# resumable) it starts the server on a free port on 127.0.0.1, runs CLIENT_CMD with the
# server's URL under `timeout`, records PASS (exit 0) or FAIL, and stops the server by its
# PID. The URL replaces every argument that is exactly `{url}` (or contains it), and its
# origin alone (`http://127.0.0.1:PORT`, no path) every `{origin}`; when no argument
# mentions either, the URL is appended as the last argument. Examples:
#
#   tests/interop/client_matrix.sh target/debug/examples/client {url} --expect hello
#   tests/interop/client_matrix.sh target/debug/examples/client {url} --call progress --arg steps=3 --expect done
#   tests/interop/client_matrix.sh target/interop/venv/bin/python tests/interop/python_client.py --mode no-discover
#
# Modes, per peer:
#
#   mode       python_server.py   ts_server.mjs   ts_v2_server.mjs   examples/server (rust)        rmcp_server
#   stateful   (default)          (default)       (default)          --no-resumable                (default)
#   stateless  --stateless        --stateless     n/a                --stateless --no-resumable    --stateless
#   json       --json             --json          --json             --json --no-resumable         --json
#   resumable  --resumable        --resumable     n/a                (default: resumable)          n/a
#   legacy     --legacy-sse       --legacy-sse    n/a                n/a (skipped)                 n/a
#   session-only  n/a             n/a             n/a                --session-era-only --no-resumable  n/a
#
# (`session-only` is opt-in through INTEROP_MATRIX_MODES: our server without 2026-07-28.)
#
# `legacy` peers speak only the deprecated 2024-11-05 HTTP+SSE transport (GET /mcp gives the
# `endpoint` event, POST /mcp gets 405): a client passes when it falls back to it.
#
# Environment:
#   INTEROP_MATRIX_PEERS    peers to run, default "python ts rust"
#   INTEROP_MATRIX_MODES    modes to run, default "stateful stateless json resumable legacy"
#   INTEROP_MATRIX_TIMEOUT  seconds per client run (default 60); the client gets SIGTERM,
#                           then SIGKILL 5 s later
#   INTEROP_MATRIX_LOGS     directory for per-pairing logs (default
#                           ${INTEROP_DIR:-target/interop}/matrix-logs)
#   INTEROP_MATRIX_VERBOSE  1: print every client's full output (default: its last line)
#   INTEROP_RUST_SERVER     the example server binary (default: built with
#                           `cargo build --example server` and taken from the target dir)
#   INTEROP_SKIP_SETUP      1: do not run setup_python.sh / setup_ts.sh / setup_rmcp.sh (they
#                           must have run)
#
# Ends with a table, then "N passed, N failed"; exits 1 on any failure (a peer that does
# not start counts as a failure of each of its pairings), 2 on bad usage.
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
read -r -a modes <<<"${INTEROP_MATRIX_MODES:-stateful stateless json resumable legacy}"
client_timeout="${INTEROP_MATRIX_TIMEOUT:-60}"
logs="${INTEROP_MATRIX_LOGS:-$interop_dir/matrix-logs}"
mkdir -p "$logs"
startup_polls=100 # x 0.2 s

# --- peer installs -------------------------------------------------------------------
python=""
ts_node=""
rust_server=""
want_peer() {
    local p
    for p in "${peers[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}
setup_error=()
if want_peer python; then
    if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
        python="$interop_dir/venv/bin/python"
    elif venv="$("$here/setup_python.sh")"; then
        python="$venv/bin/python"
    else
        setup_error+=("python: setup_python.sh failed")
    fi
fi
if want_peer ts; then
    if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
        ts_node="$(ls -d "$interop_dir"/ts-*/bin/node 2>/dev/null | sort -V | tail -n 1 || true)"
        [ -n "$ts_node" ] || setup_error+=("ts: no $interop_dir/ts-*/bin/node (run setup_ts.sh)")
    elif ! ts_node="$("$here/setup_ts.sh")"; then
        ts_node=""
        setup_error+=("ts: setup_ts.sh failed")
    fi
fi
tsv2_node=""
if want_peer tsv2; then
    if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
        tsv2_node="$(ls -d "$interop_dir"/tsv2-*/bin/node 2>/dev/null | sort -V | tail -n 1 || true)"
        [ -n "$tsv2_node" ] || setup_error+=("tsv2: no $interop_dir/tsv2-*/bin/node (run setup_ts_v2.sh)")
    elif ! tsv2_node="$("$here/setup_ts_v2.sh")"; then
        tsv2_node=""
        setup_error+=("tsv2: setup_ts_v2.sh failed")
    fi
fi
rmcp_bin=""
if want_peer rmcp; then
    if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
        rmcp_bin="$interop_dir/rmcp-target/debug"
        [ -x "$rmcp_bin/rmcp_server" ] || {
            rmcp_bin=""
            setup_error+=("rmcp: no $interop_dir/rmcp-target/debug/rmcp_server (run setup_rmcp.sh)")
        }
    elif ! rmcp_bin="$("$here/setup_rmcp.sh" | tail -n 1)" || [ -z "$rmcp_bin" ]; then
        rmcp_bin=""
        setup_error+=("rmcp: setup_rmcp.sh failed")
    fi
fi
if want_peer rust; then
    if [ -n "${INTEROP_RUST_SERVER:-}" ]; then
        rust_server="$INTEROP_RUST_SERVER"
    else
        target_dir="${CARGO_TARGET_DIR:-target}"
        case "$target_dir" in /*) ;; *) target_dir="$repo_root/$target_dir" ;; esac
        if cargo build --quiet --example server >&2; then
            rust_server="$target_dir/debug/examples/server"
        else
            setup_error+=("rust: cargo build --example server failed")
        fi
    fi
fi
for e in ${setup_error[@]+"${setup_error[@]}"}; do echo "client_matrix: $e" >&2; done

free_port() {
    if [ -n "$python" ]; then
        "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    fi
}

# --- one server at a time, always stopped by its PID ---------------------------------
server_pid=""
stop_server() {
    local i
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        for i in $(seq 1 25); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# server_args PEER MODE: prints the server's mode flags, one per line.
server_args() {
    case "$1:$2" in
        python:stateful | ts:stateful) ;;
        python:stateless | ts:stateless) echo --stateless ;;
        python:json | ts:json) echo --json ;;
        python:resumable | ts:resumable) echo --resumable ;;
        python:legacy | ts:legacy) echo --legacy-sse ;;
        tsv2:stateful) ;;
        tsv2:json) echo --json ;;
        rust:stateful) echo --no-resumable ;;
        rust:stateless) printf '%s\n' --stateless --no-resumable ;;
        rust:json) printf '%s\n' --json --no-resumable ;;
        rust:resumable) echo --resumable ;;
        rust:session-only) printf '%s\n' --session-era-only --no-resumable ;;
        rmcp:stateful) ;;
        rmcp:stateless) echo --stateless ;;
        rmcp:json) echo --json ;;
        *) return 1 ;;
    esac
}

# start_server PEER MODE LOG: sets server_pid and url, or returns 1.
start_server() {
    local peer="$1" mode="$2" log="$3" port tries flags=()
    mapfile -t flags < <(server_args "$peer" "$mode") || true
    if ! server_args "$peer" "$mode" >/dev/null; then
        echo "unknown peer/mode $peer/$mode" >"$log"
        return 1
    fi
    url=""
    case "$peer" in
        python)
            [ -n "$python" ] || return 1
            port="$(free_port)"
            "$python" "$here/python_server.py" --port "$port" ${flags[@]+"${flags[@]}"} >"$log" 2>&1 &
            server_pid=$!
            url="http://127.0.0.1:$port/mcp"
            ;;
        ts)
            [ -n "$ts_node" ] || return 1
            "$ts_node" "$here/ts_server.mjs" --port 0 ${flags[@]+"${flags[@]}"} >"$log" 2>&1 &
            server_pid=$!
            ;;
        tsv2)
            [ -n "$tsv2_node" ] || return 1
            "$tsv2_node" "$here/ts_v2_server.mjs" --port 0 ${flags[@]+"${flags[@]}"} >"$log" 2>&1 &
            server_pid=$!
            ;;
        rust)
            [ -n "$rust_server" ] || return 1
            "$rust_server" --port 0 ${flags[@]+"${flags[@]}"} >"$log" 2>&1 &
            server_pid=$!
            ;;
        rmcp)
            [ -n "$rmcp_bin" ] || return 1
            "$rmcp_bin/rmcp_server" --port 0 ${flags[@]+"${flags[@]}"} >"$log" 2>&1 &
            server_pid=$!
            ;;
    esac
    # Ready once DELETE /mcp gets any answer (not GET: on a legacy server that is a stream).
    for tries in $(seq 1 "$startup_polls"); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            return 1
        fi
        if [ -z "$url" ]; then
            url="$(sed -n 's/^listening on \(http:[^ ]*\).*$/\1/p' "$log" | head -n 1)"
        fi
        if [ -n "$url" ] \
            && [ "$(curl --silent --max-time 2 -X DELETE -o /dev/null -w '%{http_code}' "$url" || true)" != "000" ]; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# client_argv URL: the client command with {url} substituted (or URL appended).
client_argv() {
    local a found=0 origin
    origin="$(sed -E 's#^(https?://[^/]+).*$#\1#' <<<"$1")"
    argv=()
    for a in "${client_cmd[@]}"; do
        if [[ "$a" == *"{url}"* ]]; then
            argv+=("${a//\{url\}/$1}")
            found=1
        elif [[ "$a" == *"{origin}"* ]]; then
            argv+=("${a//\{origin\}/$origin}")
            found=1
        else
            argv+=("$a")
        fi
    done
    [ "$found" = 1 ] || argv+=("$1")
}

passed=0
failed=0
declare -A result=()
for peer in "${peers[@]}"; do
    for mode in "${modes[@]}"; do
        name="$peer/$mode"
        slog="$logs/${peer}-${mode}.server.log"
        clog="$logs/${peer}-${mode}.client.log"
        : >"$clog"
        if ! server_args "$peer" "$mode" >/dev/null 2>&1; then
            result[$name]="n/a"
            continue
        fi
        if ! start_server "$peer" "$mode" "$slog"; then
            echo "[FAIL] $name: server did not start (log: $slog)"
            tail -n 5 "$slog" 2>/dev/null | sed 's/^/    server: /'
            stop_server
            result[$name]="FAIL(server)"
            failed=$((failed + 1))
            continue
        fi
        client_argv "$url"
        rc=0
        timeout -k 5 "$client_timeout" "${argv[@]}" >"$clog" 2>&1 </dev/null || rc=$?
        stop_server
        if [ "${INTEROP_MATRIX_VERBOSE:-0}" = 1 ]; then
            sed 's/^/    /' "$clog"
        fi
        last="$(grep -v '^[[:space:]]*$' "$clog" | tail -n 1 || true)"
        if [ "$rc" -eq 0 ]; then
            echo "[PASS] $name: $last"
            result[$name]="PASS"
            passed=$((passed + 1))
        else
            if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
                why="timed out after ${client_timeout}s"
            else
                why="exit $rc"
            fi
            echo "[FAIL] $name ($why): $last"
            echo "    client log: $clog; server log: $slog"
            result[$name]="FAIL"
            failed=$((failed + 1))
        fi
    done
done

# Table: one row per peer, one column per mode.
printf '\n%-8s' "peer"
for mode in "${modes[@]}"; do printf ' %-13s' "$mode"; done
printf '\n'
for peer in "${peers[@]}"; do
    printf '%-8s' "$peer"
    for mode in "${modes[@]}"; do printf ' %-13s' "${result[$peer/$mode]:-?}"; done
    printf '\n'
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
