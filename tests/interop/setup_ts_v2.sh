#!/usr/bin/env bash
# Install (or reuse) the official MCP TypeScript v2 server package (@modelcontextprotocol/server,
# default 2.4.0, or $MCP_TS_V2_VERSION, or VERSION) with its own Node 22, for
# ts_v2_server.mjs; prints the Node wrapper's path. Same as `setup_ts.sh --v2 [VERSION]`,
# which documents the install.
#
#   node="$(tests/interop/setup_ts_v2.sh [VERSION])"
#   "$node" tests/interop/ts_v2_server.mjs --port 0
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/setup_ts.sh" --v2 "$@"
