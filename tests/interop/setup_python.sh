#!/usr/bin/env bash
# Create (or reuse) the interop Python venv and install the pinned MCP SDK.
#
#   tests/interop/setup_python.sh
#
# The venv lives at ${INTEROP_DIR:-target/interop}/venv, relative to the repo
# root unless INTEROP_DIR is absolute. Idempotent: re-running only re-checks
# that the pinned requirements are installed. Prints the venv path last.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))"
cd "$repo_root"

interop_dir="${INTEROP_DIR:-target/interop}"
venv="$interop_dir/venv"
requirements="$script_dir/requirements.txt"
constraints="$script_dir/constraints.txt"
python="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup_python: '$python' not found" >&2
    exit 1
fi

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "setup_python: $("$python" --version 2>&1) is too old (need >= 3.10)" >&2
    exit 1
fi

mkdir -p "$interop_dir"

# A venv whose interpreter no longer runs (e.g. python upgraded) is rebuilt.
if [ -d "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "setup_python: removing broken venv at $venv" >&2
    rm -rf "$venv"
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup_python: creating venv at $venv" >&2
    "$python" -m venv "$venv"
fi

# Fast path: already installed exactly as pinned (stamp = both pin files).
stamp="$venv/.requirements.stamp"
wanted="$(cat "$requirements" "$constraints")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] \
    && "$venv/bin/python" -c 'import mcp.client.streamable_http' >/dev/null 2>&1; then
    echo "setup_python: requirements already installed" >&2
else
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --require-virtualenv -r "$requirements" -c "$constraints"
    "$venv/bin/python" -c 'import mcp.client.streamable_http'
    printf '%s\n' "$wanted" >"$stamp"
fi

"$venv/bin/python" -m pip show mcp 2>/dev/null | sed -n 's/^Version: /setup_python: mcp /p' >&2
(cd "$venv" && pwd)
