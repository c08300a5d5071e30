#!/usr/bin/env bash
# Run every interop check against one MCP server URL:
#   python_client.py --mode default, python_client.py --mode no-discover, curl_sequence.sh.
#
#   tests/interop/run_all.sh URL
#
# Installs the pinned SDK first (setup_python.sh, a no-op when already done) unless
# INTEROP_SKIP_SETUP=1. INTEROP_PYTHON_ARGS adds arguments to both python_client.py
# runs (e.g. "--progress" or "--trace"). curl_sequence.sh reads its own INTEROP_EXPECT_*
# variables. Ends with "N passed, N failed" (curl steps counted one by one, each
# python_client run counted once) and exits 1 on any failure.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 URL" >&2
    exit 2
fi
url="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
    repo_root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
    interop_dir="${INTEROP_DIR:-target/interop}"
    case "$interop_dir" in
        /*) venv="$interop_dir/venv" ;;
        *) venv="$repo_root/$interop_dir/venv" ;;
    esac
else
    venv="$("$here/setup_python.sh")"
fi
python="$venv/bin/python"

read -r -a extra_args <<<"${INTEROP_PYTHON_ARGS:-}"

passed=0
failed=0

for mode in default no-discover; do
    echo "== python_client.py --mode $mode"
    if "$python" "$here/python_client.py" "$url" --mode "$mode" ${extra_args[@]+"${extra_args[@]}"}; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done

echo "== curl_sequence.sh"
curl_out="$(mktemp "${TMPDIR:-/tmp}/mcp-interop.XXXXXX")"
trap 'rm -f "$curl_out"' EXIT
curl_rc=0
"$here/curl_sequence.sh" "$url" >"$curl_out" 2>&1 || curl_rc=$?
# Re-label curl_sequence's own summary so that only the final line below reads as one.
sed 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/curl_sequence totals: \1 ok, \2 not ok/' "$curl_out"
summary="$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$curl_out" | tail -n 1)"
if [ -n "$summary" ]; then
    read -r cp cf <<<"$summary"
    passed=$((passed + cp))
    failed=$((failed + cf))
fi
if [ "$curl_rc" -ne 0 ] && { [ -z "$summary" ] || [ "${cf:-0}" -eq 0 ]; }; then
    echo "[FAIL] curl_sequence.sh exited $curl_rc"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
