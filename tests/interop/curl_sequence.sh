#!/usr/bin/env bash
# Plain-curl interop sequence against an MCP Streamable HTTP server.
#
#   tests/interop/curl_sequence.sh URL        e.g. http://127.0.0.1:8080/mcp
#
# Steps (expected status):
#   1 POST initialize                          200, must return Mcp-Session-Id
#   2 POST notifications/initialized           202
#   3 POST tools/list                          200, body names the tool "echo"
#   4 POST tools/call echo                     200, body holds "hello interop"
#   5 DELETE (session id)                      $INTEROP_EXPECT_DELETE_STATUS (200)
#   6 POST tools/list with the dead session id 404
#   7 POST initialize with Host: evil.example.com     $INTEROP_EXPECT_BAD_HOST_STATUS (403)
#   8 POST initialize with Origin: http://evil.example.com  $INTEROP_EXPECT_BAD_ORIGIN_STATUS (403)
# Every request after initialize carries Mcp-Session-Id and MCP-Protocol-Version
# (the version from the InitializeResult).
#
# Environment:
#   INTEROP_EXPECT_DELETE_STATUS      default 200
#   INTEROP_EXPECT_BAD_HOST_STATUS    default 403 (the Python SDK server answers 421)
#   INTEROP_EXPECT_BAD_ORIGIN_STATUS  default 403
#   INTEROP_PROTOCOL_VERSION          version offered in initialize, default 2025-11-25
#   INTEROP_CURL_MAX_TIME             seconds per curl call, default 10
# An expected status may be a comma-separated list of codes or classes, e.g. "200,204" or "2xx".
#
# Prints one line per check and ends with "N passed, N failed"; exits 1 if any failed.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 URL" >&2
    exit 2
fi
url="$1"

expect_delete="${INTEROP_EXPECT_DELETE_STATUS:-200}"
expect_bad_host="${INTEROP_EXPECT_BAD_HOST_STATUS:-403}"
expect_bad_origin="${INTEROP_EXPECT_BAD_ORIGIN_STATUS:-403}"
offered_version="${INTEROP_PROTOCOL_VERSION:-2025-11-25}"
max_time="${INTEROP_CURL_MAX_TIME:-10}"

if ! command -v curl >/dev/null 2>&1; then
    echo "curl_sequence: curl not found" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-curl.XXXXXX")"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "[PASS] $*"
}

fail() {
    failed=$((failed + 1))
    echo "[FAIL] $*"
}

# status_matches STATUS EXPECTED: EXPECTED is a comma-separated list of codes or classes (2xx).
status_matches() {
    local status="$1" item
    local -a items
    IFS=',' read -r -a items <<<"$2"
    for item in "${items[@]}"; do
        item="${item// /}"
        case "$item" in
            [1-5]xx) [ "${status:0:1}" = "${item:0:1}" ] && return 0 ;;
            *) [ "$status" = "$item" ] && return 0 ;;
        esac
    done
    return 1
}

# request NAME METHOD [BODY] [extra curl args...]
# Sets: status (HTTP code, 000 if none), curl_rc, and writes $work/NAME.headers / NAME.body.
request() {
    local name="$1" method="$2" body="$3"
    shift 3
    local -a args=(
        --silent --show-error --max-time "$max_time"
        -X "$method"
        -D "$work/$name.headers" -o "$work/$name.body" -w '%{http_code}'
        -H 'Accept: application/json, text/event-stream'
    )
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    : >"$work/$name.headers"
    : >"$work/$name.body"
    curl_rc=0
    status="$(curl "${args[@]}" "$@" "$url" 2>"$work/$name.err")" || curl_rc=$?
    status="${status:-000}"
}

# check NAME EXPECTED: compare $status with EXPECTED, also failing on a curl error.
check() {
    local name="$1" expected="$2" detail=""
    if [ "$curl_rc" -ne 0 ]; then
        detail=" (curl exit $curl_rc: $(tr '\n' ' ' <"$work/$name.err"))"
    fi
    if [ "$curl_rc" -eq 0 ] && status_matches "$status" "$expected"; then
        pass "$name: $status (expected $expected)"
    else
        fail "$name: $status (expected $expected)$detail"
    fi
}

# header_value NAME HEADER: last value of HEADER (case-insensitive) in NAME's response.
header_value() {
    tr -d '\r' <"$work/$1.headers" | awk -v want="$2" '
        { i = index($0, ":") }
        i > 0 && tolower(substr($0, 1, i - 1)) == tolower(want) {
            v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); last = v
        }
        END { if (last != "") print last }'
}

# body_has NAME TEXT: the response body (JSON or SSE) contains TEXT literally.
body_has() {
    grep -qF -- "$2" "$work/$1.body"
}

init_body() {
    printf '{"jsonrpc":"2.0","id":%s,"method":"initialize","params":{"protocolVersion":"%s","capabilities":{},"clientInfo":{"name":"curl-interop","version":"0.1.0"}}}' \
        "$1" "$offered_version"
}

echo "curl_sequence: $url"

# 1. initialize
request initialize POST "$(init_body 1)"
check initialize 200
session_id="$(header_value initialize mcp-session-id || true)"
negotiated="$(sed -n 's/.*"protocolVersion"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/initialize.body" | head -n 1)"
if [ -n "$session_id" ]; then
    pass "initialize: Mcp-Session-Id $session_id"
else
    fail "initialize: no Mcp-Session-Id response header"
fi
if [ -n "$negotiated" ]; then
    pass "initialize: negotiated protocolVersion $negotiated"
else
    fail "initialize: no protocolVersion in the InitializeResult"
    negotiated="$offered_version"
fi
session_headers=(-H "Mcp-Session-Id: $session_id" -H "MCP-Protocol-Version: $negotiated")

# 2. notifications/initialized
request initialized POST '{"jsonrpc":"2.0","method":"notifications/initialized"}' "${session_headers[@]}"
check initialized 202

# 3. tools/list
request tools_list POST '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' "${session_headers[@]}"
check tools_list 200
if body_has tools_list '"echo"'; then
    pass "tools_list: lists \"echo\""
else
    fail "tools_list: \"echo\" not in the response body"
fi

# 4. tools/call echo
request tools_call POST '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello interop"}}}' \
    "${session_headers[@]}"
check tools_call 200
if body_has tools_call '"hello interop"'; then
    pass "tools_call: result holds \"hello interop\""
else
    fail "tools_call: \"hello interop\" not in the response body"
fi

# 5. DELETE the session
request delete DELETE '' "${session_headers[@]}"
check delete "$expect_delete"

# 6. the dead session id must now be 404
request dead_session POST '{"jsonrpc":"2.0","id":4,"method":"tools/list"}' "${session_headers[@]}"
check dead_session 404

# 7. DNS rebinding: a foreign Host header
request bad_host POST "$(init_body 5)" -H 'Host: evil.example.com'
check bad_host "$expect_bad_host"
if [ -n "$(header_value bad_host mcp-session-id || true)" ]; then
    fail "bad_host: a session id was minted for a rejected request"
fi

# 8. DNS rebinding: a foreign Origin header
request bad_origin POST "$(init_body 6)" -H 'Origin: http://evil.example.com'
check bad_origin "$expect_bad_origin"
if [ -n "$(header_value bad_origin mcp-session-id || true)" ]; then
    fail "bad_origin: a session id was minted for a rejected request"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
