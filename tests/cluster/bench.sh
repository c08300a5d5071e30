#!/usr/bin/env bash
# The cluster against a single node, in one run, both behind the same haproxy settings:
# requests per second and latency (wrk), and Redis commands per request (INFO
# commandstats), for an in-session `tools/call echo` with SSE replies.
#
#   bash tests/cluster/bench.sh [SECONDS]      (default 10 per row)
#
# Rows: one node without a store; one node with Redis; three nodes with Redis. Every
# process binds 127.0.0.1 on a free port and is stopped by its PID. Not part of
# tests/run.sh: figures, not a check (the bodies are checked before and after).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
secs="${1:-10}"
for tool in redis-server redis-cli haproxy wrk curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is missing (apt-get install redis-server haproxy wrk curl)" >&2; exit 1; }
done
cargo build --quiet --release --example server
server="$root/target/release/examples/server"
tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: nothing on port $1" >&2
    exit 1
}

rport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" --daemonize no >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_port "$rport"

start_node() { # port, [node id]
    local args=(--port "$1")
    [ -n "${2:-}" ] && args+=(--redis "redis://127.0.0.1:$rport/" --node-id "$2")
    "$server" "${args[@]}" >/dev/null 2>"$tmp/node-$1.log" &
    pids+=($!)
    wait_port "$1"
}

start_haproxy() { # frontend port, backend ports...
    local fe="$1"; shift
    {
        printf 'global\n    maxconn 1024\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    option http-server-close\n'
        printf 'frontend f\n    bind 127.0.0.1:%s\n    default_backend b\nbackend b\n    balance roundrobin\n' "$fe"
        local i=0
        for p in "$@"; do printf '    server s%s 127.0.0.1:%s\n' "$i" "$p"; i=$((i + 1)); done
    } >"$tmp/haproxy-$fe.cfg"
    haproxy -db -f "$tmp/haproxy-$fe.cfg" >"$tmp/haproxy-$fe.log" 2>&1 &
    pids+=($!)
    wait_port "$fe"
}

session_on() { # lb port -> session id
    local url="http://127.0.0.1:$1/mcp" sid
    sid="$(curl -s -m 5 -D - -o /dev/null -H 'content-type: application/json' \
        -H 'accept: application/json, text/event-stream' \
        -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
        "$url" | tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')"
    curl -s -m 5 -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        -H "mcp-session-id: $sid" -H 'mcp-protocol-version: 2025-11-25' \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
    echo "$sid"
}

check_body() { # lb port, session
    curl -s -m 5 -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        -H "mcp-session-id: $2" -H 'mcp-protocol-version: 2025-11-25' \
        -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"bench"}}}' \
        "http://127.0.0.1:$1/mcp" | grep -q '"text":"bench"' || { echo "bench: a wrong body on port $1" >&2; exit 1; }
}

redis_calls() {
    redis-cli -p "$rport" INFO commandstats | tr -d '\r' | awk -F'[=,:]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_config" {n += $3} END {print n + 0}'
}

row() { # label, lb port
    local label="$1" lb="$2" sid
    sid="$(session_on "$lb")"
    check_body "$lb" "$sid"
    cat >"$tmp/call.lua" <<EOF
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["mcp-session-id"] = "$sid"
wrk.headers["mcp-protocol-version"] = "2025-11-25"
wrk.body = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"bench"}}}'
EOF
    redis-cli -p "$rport" CONFIG RESETSTAT >/dev/null
    local out reqs rps p50 p99 calls
    out="$(wrk -t2 -c16 -d"${secs}s" --latency -s "$tmp/call.lua" "http://127.0.0.1:$lb/mcp")"
    calls="$(redis_calls)"
    redis-cli -p "$rport" INFO commandstats | tr -d '\r' | grep '^cmdstat_' >"$tmp/stats-$lb.txt"
    [ -n "${BENCH_STATS:-}" ] && { echo "$label:" >&2; cat "$tmp/stats-$lb.txt" >&2; }
    check_body "$lb" "$sid"
    reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    local errs
    errs="$(awk '/Non-2xx|Socket errors/' <<<"$out")"
    printf '| %s | %s | %s | %s | %s |%s\n' "$label" "$rps" "$p50" "$p99" \
        "$(awk -v c="$calls" -v r="$reqs" 'BEGIN {printf "%.2f", (r > 0 ? c / r : 0)}')" \
        "${errs:+ ($errs)}"
}

a="$(free_port)"; start_node "$a"
b="$(free_port)"; start_node "$b" solo
c1="$(free_port)"; c2="$(free_port)"; c3="$(free_port)"
start_node "$c1" n1; start_node "$c2" n2; start_node "$c3" n3
lb_a="$(free_port)"; start_haproxy "$lb_a" "$a"
lb_b="$(free_port)"; start_haproxy "$lb_b" "$b"
lb_c="$(free_port)"; start_haproxy "$lb_c" "$c1" "$c2" "$c3"

echo "wrk -t2 -c16 -d${secs}s, tools/call echo in a session (SSE replies), behind haproxy (round robin)"
echo
echo "| setup | req/s | p50 | p99 | Redis commands per request |"
echo "| --- | --- | --- | --- | --- |"
row "one node, no store" "$lb_a"
row "one node, Redis" "$lb_b"
row "three nodes, Redis" "$lb_c"
