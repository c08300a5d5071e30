#!/usr/bin/env python3
"""Sessions shared across server nodes through Redis, behind a round-robin haproxy.

    cluster.py --server BIN --client BIN [--python PY] [--ts-node NODE] [--logs DIR]

Starts redis-server (in a temporary directory, append-only file on), three example
server nodes (``BIN --redis URL --node-id nK``) and haproxy (``balance roundrobin``, no
stickiness), every one on 127.0.0.1 on a free port and stopped by its PID at the end,
then runs the scenarios of the issue "Sessions shared across server processes on
Redis". Every wait is bounded. Each scenario prints ``PASS name`` or ``FAIL name:
why``; the last line is ``N passed, N failed``; the exit status is 1 on any failure.

Which node served a request is read off the nodes' logs: each writes one line per
request, with the session's short id.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTEROP = os.path.join(ROOT, "tests", "interop")

IDLE_TIMEOUT = 8  # seconds: short, for the expiry scenario
LOG_SETTLE = 0.1  # seconds: the nodes write their logs in batches, at most 5 ms late
TOUCH_INTERVAL = 1
ACCEPT = "application/json, text/event-stream"
VERSION = "2025-11-25"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.05)
        except OSError:
            return
    raise RuntimeError(f"127.0.0.1:{port} still listens after {timeout}s")


class Proc:
    """A process started by the test, stopped by its PID."""

    def __init__(self, name: str, argv: list[str], log: str, cwd: str | None = None) -> None:
        self.name, self.argv, self.log, self.cwd = name, argv, log, cwd
        self.p: subprocess.Popen[bytes] | None = None

    def start(self) -> "Proc":
        out = open(self.log, "ab")
        self.p = subprocess.Popen(self.argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=self.cwd)
        out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.p is not None
        return self.p.pid

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.p is not None
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)

    def kill9(self) -> None:
        if self.alive():
            assert self.p is not None
            self.p.kill()
            self.p.wait(timeout=10)


# ----- HTTP -----


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def messages(self) -> list[Any]:
        """The JSON-RPC messages of an SSE body (or the JSON body)."""
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            return [json.loads(e["data"]) for e in parse_sse(self.body) if e.get("data")]
        return [self.json()] if self.body else []

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


def parse_sse(raw: bytes) -> list[dict[str, str]]:
    events, cur = [], {}
    for line in raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if line == "":
            if cur:
                events.append(cur)
            cur = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            cur["data"] = cur["data"] + "\n" + value if "data" in cur else value
        elif field in ("id", "event", "retry"):
            cur[field] = value
    if cur:
        events.append(cur)
    return events


def headers_for(session: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    h = {"accept": ACCEPT, "content-type": "application/json"}
    if session:
        h["mcp-session-id"] = session
        h["mcp-protocol-version"] = VERSION
    h.update(extra or {})
    return h


def request(port: int, method: str, body: Any = None, session: str | None = None,
            extra: dict[str, str] | None = None, timeout: float = 15.0) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = headers_for(session, extra)
        if method != "POST":
            h.pop("content-type")
            if method == "GET":
                h["accept"] = "text/event-stream"
        conn.request(method, "/mcp", body=data, headers=h)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


class Stream:
    """An SSE response read event by event, with a deadline per read."""

    def __init__(self, port: int, method: str, body: Any, session: str | None,
                 extra: dict[str, str] | None = None, timeout: float = 15.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        data = json.dumps(body).encode() if body is not None else None
        h = headers_for(session, extra)
        if method == "GET":
            h.pop("content-type")
            h["accept"] = "text/event-stream"
        self.conn.request(method, "/mcp", body=data, headers=h)
        self.r = self.conn.getresponse()
        self.status = self.r.status
        self.buf = b""

    def event(self) -> dict[str, str] | None:
        """The next event, or None at the end of the body."""
        while True:
            for sep in (b"\n\n", b"\r\n\r\n"):
                if sep in self.buf:
                    raw, self.buf = self.buf.split(sep, 1)
                    events = parse_sse(raw + b"\n\n")
                    if events:
                        return events[0]
                    break
            else:
                chunk = self.r.read1(65536) if hasattr(self.r, "read1") else self.r.read(1)
                if not chunk:
                    return None
                self.buf += chunk
                continue

    def close(self) -> None:
        self.conn.close()


def initialize(port: int) -> str:
    r = request(port, "POST", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "cluster-test", "version": "1"}}})
    if r.status != 200 or "mcp-session-id" not in r.headers:
        raise AssertionError(f"initialize: {r}")
    sid = r.headers["mcp-session-id"]
    r = request(port, "POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    if r.status != 202:
        raise AssertionError(f"notifications/initialized: {r}")
    return sid


def call(port: int, sid: str, name: str, args: dict[str, Any], rid: int = 2,
         meta: dict[str, Any] | None = None) -> Reply:
    params: dict[str, Any] = {"name": name, "arguments": args}
    if meta:
        params["_meta"] = meta
    return request(port, "POST", {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}, sid)


def result_text(reply: Reply, rid: int) -> str:
    for m in reply.messages():
        if m.get("id") == rid and "result" in m:
            return m["result"]["content"][0]["text"]
    raise AssertionError(f"no result for {rid}: {reply}")


def check(cond: bool, why: str) -> None:
    if not cond:
        raise AssertionError(why)


# ----- the cluster -----


class Cluster:
    def __init__(self, server: str, logs: str) -> None:
        self.server, self.logs = server, logs
        self.tmp = tempfile.mkdtemp(prefix="mcp-cluster-")
        self.redis_port = free_port()
        self.ports = [free_port() for _ in range(3)]
        self.lb = free_port()
        self.redis: Proc | None = None
        self.nodes: list[Proc] = []
        self.haproxy: Proc | None = None

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/"

    def start_redis(self) -> None:
        self.redis = Proc("redis", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--dir", self.tmp, "--daemonize", "no", "--protected-mode", "yes",
        ], os.path.join(self.logs, "redis.log")).start()
        wait_port(self.redis_port)

    def node_log(self, i: int) -> str:
        return os.path.join(self.logs, f"node{i}.log")

    def start_node(self, i: int) -> Proc:
        p = Proc(f"n{i}", [
            self.server, "--port", str(self.ports[i]), "--redis", self.redis_url,
            "--node-id", f"n{i}", "--idle-timeout", str(IDLE_TIMEOUT),
            "--touch-interval", str(TOUCH_INTERVAL),
        ], self.node_log(i)).start()
        wait_port(self.ports[i])
        return p

    def start(self) -> None:
        self.start_redis()
        self.nodes = [self.start_node(i) for i in range(3)]
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        servers = "\n".join(
            f"    server n{i} 127.0.0.1:{p} check inter 300ms fall 1 rise 1" for i, p in enumerate(self.ports))
        with open(cfg, "w") as f:
            f.write(f"""global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option http-server-close
    option redispatch
    retries 3
    retry-on conn-failure empty-response response-timeout
frontend mcp
    bind 127.0.0.1:{self.lb}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}
""")
        self.haproxy = Proc("haproxy", ["haproxy", "-db", "-f", cfg], os.path.join(self.logs, "haproxy.log")).start()
        wait_port(self.lb)

    def stop(self) -> None:
        for p in [self.haproxy, *self.nodes, self.redis]:
            if p is not None:
                p.stop()

    def marks(self) -> dict[int, int]:
        """How many lines each node's log has, once the lines of what came before are out
        (the example server writes its log in batches, a few milliseconds late)."""
        time.sleep(LOG_SETTLE)
        return {i: len(self.lines(i)) for i in range(3)}

    def lines(self, i: int) -> list[str]:
        try:
            with open(self.node_log(i), errors="replace") as f:
                return f.readlines()
        except FileNotFoundError:
            return []

    def nodes_of(self, sid: str) -> set[int]:
        """The nodes whose log has a request line of session `sid`."""
        time.sleep(LOG_SETTLE)
        short = sid[:8]
        return {i for i in range(3) if any("request " in l and f"session={short}" in l for l in self.lines(i))}

    def served_by(self, f: Callable[[], Any]) -> tuple[Any, set[int]]:
        """What `f` returns, and the nodes that logged a request meanwhile."""
        before = self.marks()
        out = f()
        time.sleep(LOG_SETTLE)
        after = [self.lines(i)[before[i]:] for i in range(3)]
        return out, {i for i in range(3) if any("request " in l for l in after[i])}

    def redis_cli(self, *args: str) -> str:
        r = subprocess.run(["redis-cli", "-p", str(self.redis_port), *args], capture_output=True, timeout=10)
        return r.stdout.decode().strip()


# ----- the scenarios -----


def whole_session_raw(c: Cluster) -> None:
    """initialize, tools/list, tools/call with progress, DELETE: on several nodes."""
    sid = initialize(c.lb)
    r = request(c.lb, "POST", {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid)
    check(r.status == 200 and any("tools" in m.get("result", {}) for m in r.messages()), f"tools/list: {r}")
    r = call(c.lb, sid, "progress", {"steps": 3, "delay_ms": 10}, 3, {"progressToken": "p"})
    msgs = r.messages()
    check(sum(1 for m in msgs if m.get("method") == "notifications/progress") == 3, f"3 progress: {r}")
    check(result_text(r, 3) == "done", f"progress result: {r}")
    check(request(c.lb, "DELETE", None, sid).status == 200, "DELETE")
    nodes = c.nodes_of(sid)
    check(len(nodes) >= 2, f"the session's requests landed on nodes {nodes} only")


def sdk_client(argv: list[str], name: str) -> Callable[[Cluster], None]:
    def run(c: Cluster) -> None:
        before = c.marks()
        url = f"http://127.0.0.1:{c.lb}/mcp"
        p = subprocess.run([a.replace("{url}", url) for a in argv], capture_output=True, timeout=120)
        out = (p.stdout + p.stderr).decode(errors="replace")
        with open(os.path.join(c.logs, f"{name}.log"), "w") as f:
            f.write(out)
        check(p.returncode == 0, f"{name} exited {p.returncode}: {out[-600:]}")
        time.sleep(LOG_SETTLE)
        served = {i for i in range(3) if any("request " in l for l in c.lines(i)[before[i]:])}
        check(len(served) >= 2, f"{name}: its requests landed on nodes {served} only")
    return run


def kill_the_minting_node(c: Cluster) -> None:
    """kill -9 of the node that minted the session: the session goes on, no re-initialize."""
    sid, nodes = c.served_by(lambda: initialize(c.lb))
    minted = [i for i in range(3) if any("session created" in l and f"session={sid[:8]}" in l for l in c.lines(i))]
    check(len(minted) == 1, f"one node minted {sid[:8]}: {minted}")
    victim = minted[0]
    c.nodes[victim].kill9()
    wait_closed(c.ports[victim])
    for n in range(6):
        r = call(c.lb, sid, "echo", {"text": f"after-kill-{n}"}, 10 + n)
        check(r.status == 200 and result_text(r, 10 + n) == f"after-kill-{n}", f"request {n} after kill -9: {r}")
    # A node restarted serves the existing sessions.
    c.nodes[victim] = c.start_node(victim)
    time.sleep(0.5)  # haproxy's check sees it up
    r = call(c.ports[victim], sid, "echo", {"text": "restarted"}, 30)
    check(r.status == 200 and result_text(r, 30) == "restarted", f"the restarted node: {r}")


def resume_on_another_node(c: Cluster) -> None:
    """An SSE reply cut mid-way (test_reconnection) resumed by Last-Event-ID elsewhere."""
    sid = initialize(c.lb)
    before = c.marks()
    s = Stream(c.lb, "POST", {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                              "params": {"name": "test_reconnection", "arguments": {}}}, sid)
    check(s.status == 200, f"test_reconnection: {s.status}")
    seen: list[dict[str, str]] = []
    while (e := s.event()) is not None:
        seen.append(e)
    s.close()
    ids = [e["id"] for e in seen if e.get("id")]
    check(ids, f"an event id before the cut: {seen}")
    time.sleep(LOG_SETTLE)
    first_node = {i for i in range(3) if any("request " in l for l in c.lines(i)[before[i]:])}
    # The resume goes through the balancer: round robin puts it on the next node.
    for attempt in range(3):
        mark = c.marks()
        r = request(c.lb, "GET", None, sid, {"last-event-id": ids[-1]})
        check(r.status == 200, f"resume: {r}")
        time.sleep(LOG_SETTLE)
        resumed_on = {i for i in range(3) if any("request " in l for l in c.lines(i)[mark[i]:])}
        results = [m for m in r.messages() if m.get("id") == 7]
        check(len(results) == 1, f"the result exactly once: {r}")
        check("result" in results[0], f"a result: {results[0]}")
        check(all(m.get("id") != 7 for e in seen if e.get("data") for m in [json.loads(e["data"])]),
              "the result did not come before the cut")
        if resumed_on - first_node:
            return
    raise AssertionError(f"the resume never landed on another node than {first_node}")


def elicitation_answer_elsewhere(c: Cluster) -> None:
    """An elicitation whose answer POST lands on another node: the waiting handler gets it."""
    sid = initialize(c.lb)
    before = c.marks()
    s = Stream(c.lb, "POST", {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                              "params": {"name": "ask", "arguments": {"message": "ok?"}}}, sid)
    check(s.status == 200, f"ask: {s.status}")
    asked = None
    while (e := s.event()) is not None:
        if e.get("data"):
            m = json.loads(e["data"])
            if m.get("method") == "elicitation/create":
                asked = m
                break
    check(asked is not None, "an elicitation request")
    answer = {"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"ok": True}}}
    # Round robin: the next request goes to another node than the open stream's.
    r = request(c.lb, "POST", answer, sid)
    check(r.status == 202, f"the answer: {r}")
    result = None
    while (e := s.event()) is not None:
        if e.get("data"):
            m = json.loads(e["data"])
            if m.get("id") == 9:
                result = m
    s.close()
    check(result is not None and "answered" in result["result"]["content"][0]["text"], f"the tool's result: {result}")
    time.sleep(LOG_SETTLE)
    after = {i: c.lines(i)[before[i]:] for i in range(3)}
    answered_on = {i for i in range(3) if any("status=202" in l for l in after[i])}
    streamed_on = {i for i in range(3) if any("status=200" in l for l in after[i])}
    check(bool(answered_on - streamed_on), f"the answer landed on {answered_on}, the stream on {streamed_on}")


def delete_everywhere(c: Cluster) -> None:
    """DELETE on one node: 404 from every node right after."""
    sid = initialize(c.lb)
    for i in range(3):  # every node holds a copy
        check(call(c.ports[i], sid, "echo", {"text": "x"}, 40 + i).status == 200, f"node {i} serves it")
    check(request(c.ports[1], "DELETE", None, sid).status == 200, "DELETE on node 1")
    for i in range(3):
        r = call(c.ports[i], sid, "echo", {"text": "y"}, 50 + i)
        check(r.status == 404 and r.json()["error"]["code"] == -32001, f"node {i} after DELETE: {r}")
    check(c.redis_cli("EXISTS", f"mcp:{{{sid}}}") == "0", "the record is gone")


def idle_expiry(c: Cluster) -> None:
    """A session idle for the store's TTL is gone on every node."""
    sid = initialize(c.lb)
    for i in range(3):
        call(c.ports[i], sid, "echo", {"text": "x"}, 60 + i)
    ttl = int(c.redis_cli("PTTL", f"mcp:{{{sid}}}"))
    check(0 < ttl <= (IDLE_TIMEOUT + TOUCH_INTERVAL) * 1000, f"the record's TTL: {ttl} ms")
    time.sleep(IDLE_TIMEOUT + TOUCH_INTERVAL + 1.5)
    check(c.redis_cli("EXISTS", f"mcp:{{{sid}}}") == "0", "the record expired")
    for i in range(3):
        r = call(c.ports[i], sid, "echo", {"text": "y"}, 70 + i)
        check(r.status == 404, f"node {i} after expiry: {r}")


def redis_down_and_back(c: Cluster) -> None:
    """Redis stopped mid-run: 503s with Retry-After; back: normal service, no node restarted."""
    sid = initialize(c.lb)
    pids = [n.pid for n in c.nodes]
    assert c.redis is not None
    c.redis.stop()
    wait_closed(c.redis_port)
    # A node that does not hold a session must fetch it: 503. So must a new session.
    r = request(c.lb, "POST", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}})
    check(r.status == 503 and "retry-after" in r.headers and r.json()["error"]["code"] == -32000,
          f"initialize while Redis is down: {r}")
    check("mcp-session-id" not in r.headers, "no session id while Redis is down")
    unknown = call(c.lb, "0" * 32, "echo", {"text": "x"}, 80)
    check(unknown.status == 503 and "retry-after" in unknown.headers, f"a fetch while Redis is down: {unknown}")
    c.start_redis()
    # Back: within a few seconds every node serves the old session and new ones.
    deadline = time.monotonic() + 15
    ok = set()
    while time.monotonic() < deadline and len(ok) < 3:
        for i in range(3):
            r = call(c.ports[i], sid, "echo", {"text": "back"}, 81)
            if r.status == 200:
                ok.add(i)
        time.sleep(0.2)
    check(ok == {0, 1, 2}, f"nodes serving the session after Redis came back: {ok}")
    initialize(c.lb)
    check([n.pid for n in c.nodes] == pids and all(n.alive() for n in c.nodes), "no node restarted")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--python")
    ap.add_argument("--ts-node")
    ap.add_argument("--logs", default=os.path.join(ROOT, "target", "cluster-logs"))
    args = ap.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    for f in os.listdir(args.logs):
        os.remove(os.path.join(args.logs, f))
    c = Cluster(args.server, args.logs)
    scenarios: list[tuple[str, Callable[[Cluster], None]]] = [
        ("a whole session across nodes (raw HTTP)", whole_session_raw),
        ("a whole session across nodes: our client", sdk_client(
            [args.client, "{url}", "--mode", "session", "--call", "progress", "--arg", "steps=2",
             "--expect", "done", "--quiet"], "our-client")),
    ]
    if args.python:
        scenarios.append(("a whole session across nodes: the Python SDK client", sdk_client(
            [args.python, os.path.join(INTEROP, "python_client.py"), "{url}", "--mode", "no-discover", "--progress"],
            "python-client")))
    if args.ts_node:
        scenarios.append(("a whole session across nodes: the TypeScript SDK client", sdk_client(
            [args.ts_node, os.path.join(INTEROP, "ts_client.mjs"), "{url}", "--progress"], "ts-client")))
    scenarios += [
        ("kill -9 of the minting node, then a restarted node", kill_the_minting_node),
        ("a cut SSE reply resumed on another node", resume_on_another_node),
        ("an elicitation answered on another node", elicitation_answer_elsewhere),
        ("DELETE on one node: 404 everywhere", delete_everywhere),
        ("idle expiry through the Redis TTL", idle_expiry),
        ("Redis stopped and restarted", redis_down_and_back),
    ]
    passed = failed = 0
    try:
        c.start()
        for name, run in scenarios:
            try:
                run(c)
                print(f"PASS {name}", flush=True)
                passed += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported, then the next runs
                print(f"FAIL {name}: {e}", flush=True)
                traceback.print_exc(file=sys.stderr)
                failed += 1
    except Exception as e:  # noqa: BLE001
        print(f"FAIL starting the cluster: {e}", flush=True)
        failed += 1
    finally:
        c.stop()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
