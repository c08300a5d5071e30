#!/usr/bin/env bash
# Sessions shared across server nodes through Redis, behind a round-robin haproxy
# (issue 11): three example server nodes, one redis-server, one haproxy, every one on
# 127.0.0.1 on a free port and stopped by its PID; the scenarios are in cluster.py.
#
#   bash tests/cluster/run.sh
#
# Installs redis-server and haproxy (Debian packages) when they are missing, builds the
# example server and client, and drives the nodes with raw HTTP, our client, the
# official Python SDK client and the TypeScript SDK client (installed by the interop
# setup scripts, reused when already there). Ends with "N passed, N failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
logs="${CLUSTER_LOGS:-$root/target/cluster-logs}"
mkdir -p "$logs"

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "cluster: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    timeout 600 $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== cluster: building the example server and client" >&2
cargo build --quiet --example server --example client

python_args=()
if venv="$(timeout 900 bash tests/interop/setup_python.sh 2>"$logs/setup_python.log" | tail -n 1)" \
    && [ -x "$venv/bin/python" ]; then
    python_args=(--python "$venv/bin/python")
else
    echo "cluster: the Python SDK could not be set up (see $logs/setup_python.log)" >&2
    exit 1
fi
ts_args=()
if ts_node="$(timeout 900 bash tests/interop/setup_ts.sh 2>"$logs/setup_ts.log" | tail -n 1)" \
    && [ -n "$ts_node" ]; then
    ts_args=(--ts-node "$ts_node")
else
    echo "cluster: the TypeScript SDK could not be set up (see $logs/setup_ts.log)" >&2
    exit 1
fi

timeout -k 10 900 python3 tests/cluster/cluster.py \
    --server target/debug/examples/server \
    --client target/debug/examples/client \
    "${python_args[@]}" "${ts_args[@]}" \
    --logs "$logs"
