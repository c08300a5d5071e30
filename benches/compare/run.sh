#!/usr/bin/env bash
# mcp-http-proto beside rmcp 3.11.0: in process, over loopback, and on the client side.
# Prints one table of ratios (ours / rmcp) at the end.
#
#   benches/compare/run.sh
#
# Steps:
#   1. builds, in release: our example server (`--example server` of the main workspace)
#      and this package's binaries (its own workspace and Cargo.lock, `--locked`) into
#      target/compare;
#   2. in process (`inproc`): checks every answer, then time and heap allocations per
#      request (`inproc bench`), and instructions per request under
#      `valgrind --tool=callgrind` (N calls minus 0 calls, minus the cost of building the
#      N requests) in three modes: stateful SSE, stateless SSE, stateless JSON; also for
#      our machine alone (side `machine`: the answer's result built once), printed
#      against a bare serde_json::Value parse of the call's body;
#   3. loopback: our example server and rmcp_echo_server, stateful SSE and stateless
#      JSON, on 127.0.0.1 (free ports), each loaded with `wrk -t2 -c16 -d10s --latency`
#      POSTing tools/call (in the stateful mode, in a session opened with curl first), in
#      the order ours, rmcp, ours, rmcp; req/s, p50, p99, and the server's CPU time per
#      request (utime + stime from /proc/PID/stat over the load, / requests). One
#      answer is checked with curl before and after each load. One pass per
#      SERVER_WORKERS value: both servers on the same number of tokio worker threads
#      (TOKIO_WORKER_THREADS), 1 first (the load generator has the other core), then
#      the runtime's default (one per core, sharing both cores with wrk);
#   4. the client side: our client driver and rmcp's client transport, each making
#      CLIENT_CALLS sequential tools/call echo against our example server (stateful),
#      ours, rmcp, ours, rmcp: calls/s and client CPU per call.
#
# Settings (environment): WRK_DURATION (10s), WRK_THREADS (2), WRK_CONNECTIONS (16),
# CALLGRIND_N (2000; 0 skips callgrind), INPROC_BATCH (20000), INPROC_RUNS (7),
# CLIENT_CALLS (2000), SERVER_WORKERS ("1 default": one loopback pass with both servers
# on one tokio worker thread, one with the runtime's default of one per core), SKIP_BUILD (1: use the binaries as built), OUT (the results
# directory; default target/compare/results-TIMESTAMP). wrk is installed with apt-get when
# missing (sudo only when not root). Every server binds 127.0.0.1 only and is stopped by
# its PID when the script exits.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
cd "$repo_root"

WRK_DURATION="${WRK_DURATION:-10s}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-16}"
CALLGRIND_N="${CALLGRIND_N:-2000}"
INPROC_BATCH="${INPROC_BATCH:-20000}"
INPROC_RUNS="${INPROC_RUNS:-7}"
CLIENT_CALLS="${CLIENT_CALLS:-2000}"
SERVER_WORKERS="${SERVER_WORKERS:-1 default}"
target_dir="$repo_root/target/compare"
OUT="${OUT:-$target_dir/results-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
results="$OUT/results.txt"
: >"$results"

log() { echo "compare: $*" >&2; }
record() { echo "$*" >>"$results"; }
die() {
    log "FAIL: $*"
    exit 1
}

# ----- cleanup: every server we started, by its PID -----
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]:-}"; do
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----- tools -----
need_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    need_root timeout 300 apt-get update >&2
    need_root env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y wrk >&2
fi
command -v wrk >/dev/null 2>&1 || die "wrk is missing"
command -v curl >/dev/null 2>&1 || die "curl is missing"
have_valgrind=1
command -v valgrind >/dev/null 2>&1 || have_valgrind=0

# ----- 1. build -----
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building our example server (release)"
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" nice -n 10 cargo build --release --example server >&2
    log "building benches/compare (release, its own workspace) into $target_dir"
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" CARGO_TARGET_DIR="$target_dir" nice -n 10 \
        cargo build --release --locked --manifest-path "$script_dir/Cargo.toml" >&2
fi
ours_server="$repo_root/target/release/examples/server"
bin="$target_dir/release"
for b in "$ours_server" "$bin/inproc" "$bin/rmcp_echo_server" "$bin/client_calls"; do
    [ -x "$b" ] || die "$b is missing"
done

modes=(stateful-sse stateless-sse stateless-json)

# ----- 2. in process -----
log "in process: checking every answer"
timeout 60 "$bin/inproc" check | tee "$OUT/inproc-check.txt" >&2
log "in process: timing (batch $INPROC_BATCH, $INPROC_RUNS runs)"
timeout 600 "$bin/inproc" bench --batch "$INPROC_BATCH" --runs "$INPROC_RUNS" | tee "$OUT/inproc-bench.txt" >&2
while read -r _ mode side rest; do
    side="${side%:}"
    ns="$(sed -n 's/.*median_ns=\([0-9.]*\).*/\1/p' <<<"$rest")"
    allocs="$(sed -n 's/.*allocs=\([0-9.]*\).*/\1/p' <<<"$rest")"
    record "inproc_ns $mode $side $ns"
    record "inproc_allocs $mode $side $allocs"
done <"$OUT/inproc-bench.txt"

# The total instructions (Ir) of one callgrind run.
callgrind_ir() {
    local side="$1" mode="$2" n="$3" file="$OUT/callgrind.$1.$2.$3.out"
    timeout 900 valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$bin/inproc" iterate "$side" "$mode" "$n" >/dev/null 2>"$file.log" ||
        die "callgrind $side $mode $n (see $file.log)"
    sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$file" | head -n1
}
if [ "$have_valgrind" = 1 ] && [ "$CALLGRIND_N" -gt 0 ]; then
    for mode in "${modes[@]}"; do
        build_n="$(callgrind_ir build "$mode" "$CALLGRIND_N")"
        build_0="$(callgrind_ir build "$mode" 0)"
        for side in ours rmcp machine; do
            log "callgrind: $side $mode ($CALLGRIND_N calls, and 0)"
            ir_n="$(callgrind_ir "$side" "$mode" "$CALLGRIND_N")"
            ir_0="$(callgrind_ir "$side" "$mode" 0)"
            per="$(awk -v a="$ir_n" -v b="$ir_0" -v c="$build_n" -v d="$build_0" -v n="$CALLGRIND_N" \
                'BEGIN { printf "%.0f", ((a - b) - (c - d)) / n }')"
            log "callgrind: $side $mode: $per instructions per request"
            record "inproc_ir $mode $side $per"
        done
    done
    parse_n="$(callgrind_ir parse stateless-json "$CALLGRIND_N")"
    parse_0="$(callgrind_ir parse stateless-json 0)"
    bare_parse_ir="$(awk -v a="$parse_n" -v b="$parse_0" -v n="$CALLGRIND_N" 'BEGIN { printf "%.0f", (a - b) / n }')"
    log "callgrind: a bare serde_json::Value parse of the call: $bare_parse_ir instructions"
    echo "$bare_parse_ir" >"$OUT/bare-parse-ir.txt"
else
    log "callgrind skipped (valgrind missing or CALLGRIND_N=0)"
fi

# ----- 3. loopback -----
# start_server NAME CMD...: starts CMD (stdout to a file, stderr to /dev/null: our example
# logs one line per request, rmcp's server none), waits for its `listening on` line, and
# sets URL and PID.
start_server() {
    local name="$1" out="$OUT/server-$1.out"
    shift
    : >"$out"
    "$@" >>"$out" 2>/dev/null &
    PID=$!
    pids+=("$PID")
    URL=""
    for _ in $(seq 1 100); do
        URL="$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\/mcp\)$/\1/p' "$out" | head -n1 || true)"
        [ -n "$URL" ] && break
        kill -0 "$PID" 2>/dev/null || die "$name exited before listening"
        sleep 0.1
    done
    [ -n "$URL" ] || die "$name did not listen within 10 s"
    log "$name: $URL (pid $PID)"
}

CALL='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello-from-the-bench"}}}'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}'
INITIALIZED='{"jsonrpc":"2.0","method":"notifications/initialized"}'

# post URL BODY [SESSION]: a POST with curl (bounded); headers to $OUT/last-headers.
post() {
    local url="$1" body="$2" session="${3:-}" args=()
    args=(-sS --max-time 5 -D "$OUT/last-headers" -X POST "$url"
        -H 'Content-Type: application/json'
        -H 'Accept: application/json, text/event-stream'
        --data-binary "$body")
    if [ "$body" != "$INIT" ]; then
        args+=(-H 'MCP-Protocol-Version: 2025-11-25')
    fi
    if [ -n "$session" ]; then
        args+=(-H "Mcp-Session-Id: $session")
    fi
    curl "${args[@]}"
}

# open_session URL: initializes with curl; prints the session id.
open_session() {
    local url="$1" sid
    post "$url" "$INIT" >/dev/null
    sid="$(tr -d '\r' <"$OUT/last-headers" | sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]: *//p' | head -n1)"
    [ -n "$sid" ] || die "no session id from $url"
    post "$url" "$INITIALIZED" "$sid" >/dev/null
    grep -q '^HTTP/1.1 202' "$OUT/last-headers" || die "notifications/initialized not 202 at $url"
    echo "$sid"
}

# check_answer URL SESSION WHAT: one tools/call by curl, its body must echo the text.
check_answer() {
    local body
    body="$(post "$1" "$CALL" "$2")" || die "curl failed ($3)"
    grep -q '"text":"hello-from-the-bench"' <<<"$body" || die "wrong answer ($3): $body"
}

# wrk_script FILE SESSION: the Lua script that POSTs tools/call.
wrk_script() {
    local body="${CALL//\"/\\\"}"
    {
        echo 'wrk.method = "POST"'
        echo "wrk.body = \"$body\""
        echo 'wrk.headers["Content-Type"] = "application/json"'
        echo 'wrk.headers["Accept"] = "application/json, text/event-stream"'
        echo 'wrk.headers["MCP-Protocol-Version"] = "2025-11-25"'
        if [ -n "$2" ]; then
            echo "wrk.headers[\"Mcp-Session-Id\"] = \"$2\""
        fi
    } >"$1"
}

# cpu_ticks PID: utime + stime of PID, in clock ticks.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# to_us VALUE: a wrk latency (12.5us, 1.2ms, 1.1s) in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
        else if (v ~ /s$/) print n * 1000000; else print n }'
}

clk_tck="$(getconf CLK_TCK)"

# load NAME MODE URL PID SESSION ROUND: one wrk run; records its figures.
load() {
    local name="$1" mode="$2" url="$3" pid="$4" session="$5" round="$6"
    local script="$OUT/wrk-$name-$mode.lua" out="$OUT/wrk-$name-$mode-$round.txt"
    wrk_script "$script" "$session"
    check_answer "$url" "$session" "$name $mode before load $round"
    local before after
    before="$(cpu_ticks "$pid")"
    timeout 120 wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency \
        -s "$script" "$url" >"$out" 2>&1 || die "wrk $name $mode (see $out)"
    after="$(cpu_ticks "$pid")"
    check_answer "$url" "$session" "$name $mode after load $round"
    if grep -q 'Non-2xx' "$out"; then
        die "$name $mode: non-2xx answers under load (see $out)"
    fi
    local reqs rps p50 p99 cpu
    reqs="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")"
    rps="$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")"
    p50="$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")"
    p99="$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")"
    cpu="$(awk -v a="$before" -v b="$after" -v n="$reqs" -v t="$clk_tck" \
        'BEGIN { printf "%.1f", (b - a) * 1000000 / t / n }')"
    log "loopback $name $mode round $round: $rps req/s, p50 ${p50}us, p99 ${p99}us, cpu ${cpu}us/req ($reqs requests)"
    record "loop_rps $mode $name $rps"
    record "loop_p50 $mode $name $p50"
    record "loop_p99 $mode $name $p99"
    record "loop_cpu $mode $name $cpu"
}

# stop_server PID: TERM, then KILL after 5 s.
stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

# loopback_pass WORKERS LAST: both servers with WORKERS tokio worker threads ("default":
# the runtime's choice, one per core), each mode loaded ours, rmcp, ours, rmcp. The
# modes carry a "-Nw" suffix unless WORKERS is default. The servers of the LAST pass stay
# up for the client side.
loopback_pass() {
    local workers="$1" last="$2" sfx="" run=()
    if [ "$workers" != default ]; then
        sfx="-${workers}w"
        run=(env "TOKIO_WORKER_THREADS=$workers")
    fi
    start_server "ours-stateful-sse$sfx" "${run[@]}" "$ours_server" --port 0
    ours_sse_url="$URL" ours_sse_pid="$PID"
    start_server "ours-stateless-json$sfx" "${run[@]}" "$ours_server" --port 0 --stateless --json
    local ours_json_url="$URL" ours_json_pid="$PID"
    start_server "rmcp-stateful-sse$sfx" "${run[@]}" "$bin/rmcp_echo_server" --port 0
    local rmcp_sse_url="$URL" rmcp_sse_pid="$PID"
    start_server "rmcp-stateless-json$sfx" "${run[@]}" "$bin/rmcp_echo_server" --port 0 --json
    local rmcp_json_url="$URL" rmcp_json_pid="$PID"

    local ours_sid rmcp_sid round
    ours_sid="$(open_session "$ours_sse_url")"
    rmcp_sid="$(open_session "$rmcp_sse_url")"
    for round in 1 2; do
        load ours "stateful-sse$sfx" "$ours_sse_url" "$ours_sse_pid" "$ours_sid" "$round"
        load rmcp "stateful-sse$sfx" "$rmcp_sse_url" "$rmcp_sse_pid" "$rmcp_sid" "$round"
    done
    for round in 1 2; do
        load ours "stateless-json$sfx" "$ours_json_url" "$ours_json_pid" "" "$round"
        load rmcp "stateless-json$sfx" "$rmcp_json_url" "$rmcp_json_pid" "" "$round"
    done
    stop_server "$ours_json_pid"
    stop_server "$rmcp_sse_pid"
    stop_server "$rmcp_json_pid"
    if [ "$last" != 1 ]; then
        stop_server "$ours_sse_pid"
    fi
}

read -r -a passes <<<"$SERVER_WORKERS"
[ "${#passes[@]}" -gt 0 ] || die "SERVER_WORKERS is empty"
for i in "${!passes[@]}"; do
    loopback_pass "${passes[$i]}" "$([ "$i" -eq $((${#passes[@]} - 1)) ] && echo 1 || echo 0)"
done

# ----- 4. the client side -----
for round in 1 2; do
    for side in ours rmcp; do
        line="$(timeout 180 "$bin/client_calls" "$side" "$ours_sse_url" "$CLIENT_CALLS")" ||
            die "client_calls $side"
        log "$line"
        echo "$line" >>"$OUT/client.txt"
        record "client_cps client $side $(sed -n 's/.*calls_per_s=\([0-9.]*\).*/\1/p' <<<"$line")"
        record "client_cpu client $side $(sed -n 's/.*cpu_us_per_call=\([0-9.]*\).*/\1/p' <<<"$line")"
    done
done

# ----- the table -----
# For each figure and mode: the mean of ours, the mean of rmcp, and ours / rmcp.
table() {
    awk '
    { key = $1 " " $2; sum[key, $3] += $4; cnt[key, $3]++; if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    END {
        label["inproc_ns"] = "in process: time per request (ns)"
        label["inproc_ir"] = "in process: instructions per request"
        label["inproc_allocs"] = "in process: allocations per request"
        label["loop_rps"] = "loopback: requests per second"
        label["loop_p50"] = "loopback: p50 latency (us)"
        label["loop_p99"] = "loopback: p99 latency (us)"
        label["loop_cpu"] = "loopback: server CPU per request (us)"
        label["client_cps"] = "client: calls per second"
        label["client_cpu"] = "client: CPU per call (us)"
        printf "%-40s %-18s %12s %12s %10s\n", "figure", "mode", "ours", "rmcp", "ours/rmcp"
        for (i = 1; i <= n; i++) {
            split(order[i], k, " ")
            o = cnt[order[i], "ours"] ? sum[order[i], "ours"] / cnt[order[i], "ours"] : 0
            r = cnt[order[i], "rmcp"] ? sum[order[i], "rmcp"] / cnt[order[i], "rmcp"] : 0
            printf "%-40s %-18s %12.1f %12.1f %10.3f\n", label[k[1]], k[2], o, r, (r ? o / r : 0)
        }
    }' "$results"
}
echo
echo "ratios (ours / rmcp 3.11.0); every figure in $results"
table | tee "$OUT/table.txt"
if [ -s "$OUT/bare-parse-ir.txt" ]; then
    echo "(a bare serde_json::Value parse of the call's body: $(cat "$OUT/bare-parse-ir.txt") instructions)"
    # The machine's own work: our machine answering with a result built once (no
    # application), against the bare parse (target: at most 2x, at most 8 allocations).
    echo
    echo "the machine's own work (side 'machine'), against the bare parse"
    awk -v parse="$(cat "$OUT/bare-parse-ir.txt")" '
    $3 == "machine" && $1 == "inproc_ir" { ir[$2] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    $3 == "machine" && $1 == "inproc_allocs" { al[$2] = $4 }
    END {
        printf "%-15s %14s %12s %14s\n", "mode", "instructions", "allocations", "x bare parse"
        for (i = 1; i <= n; i++) {
            m = order[i]
            printf "%-15s %14.0f %12.2f %14.2f\n", m, ir[m], al[m], ir[m] / parse
        }
    }' "$results" | tee "$OUT/machine.txt"
fi
