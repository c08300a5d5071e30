#!/usr/bin/env python3
"""Interop check: drive an MCP server with the official Python SDK client.

    python_client.py URL [--mode default|no-discover] [--timeout S] [--trace]
                         [--expect-version V] [--progress] [--reconnection] [--add]

Over Streamable HTTP (``mcp.client.streamable_http``) it connects, lists the
tools (``echo`` must be there), calls ``echo`` with ``{"text": "hello interop"}``
and checks that the result text is exactly that. On success it prints one line
starting ``python-client: OK`` and exits 0; on any failure it prints
``python-client: FAIL <reason>`` and exits 1.

Modes (mcp 2.x ``Client(mode=...)``):

* ``default``     the SDK default, ``mode="auto"``: first a ``server/discover``
                  probe at ``MCP-Protocol-Version: 2026-07-28``; if the server
                  does not speak 2026-07-28 the SDK falls back to ``initialize``.
* ``no-discover`` ``mode="legacy"``: the ``initialize`` handshake only, no probe.

``--trace`` prints every HTTP exchange (method, MCP headers, JSON-RPC method,
status) to stderr. The OK line always summarises the wire as
``wire=METHOD:rpc->status,...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

try:
    _ExceptionGroup = BaseExceptionGroup
except NameError:  # Python 3.10: anyio depends on the backport there
    from exceptiongroup import BaseExceptionGroup as _ExceptionGroup  # type: ignore[no-redef]

EXPECTED_TEXT = "hello interop"
TRACE_HEADERS = (
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
)


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, _ExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_flatten(inner))
        return out
    return [exc]


def _describe(exc: BaseException) -> str:
    parts = []
    for inner in _flatten(exc):
        code = getattr(getattr(inner, "error", None), "code", None)
        text = f"{type(inner).__name__}: {inner}"
        if code is not None:
            text += f" (JSON-RPC code {code})"
        parts.append(text)
    return "; ".join(parts) or repr(exc)


class Wire:
    """Collects (and optionally prints) what crosses the wire, via httpx event hooks."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.exchanges: list[dict[str, Any]] = []

    async def on_request(self, request: Any) -> None:
        rpc = ""
        try:
            body = json.loads(request.content or b"null")
            if isinstance(body, dict):
                rpc = body.get("method") or ("response" if "result" in body or "error" in body else "")
        except (ValueError, RuntimeError):  # RuntimeError: streaming body not read
            pass
        entry = {
            "method": request.method,
            "rpc": rpc,
            "status": None,
            "session": "mcp-session-id" in request.headers,
            "last_event_id": request.headers.get("last-event-id"),
        }
        self.exchanges.append(entry)
        request.extensions["interop_entry"] = entry
        if self.trace:
            headers = {k: request.headers[k] for k in TRACE_HEADERS if k in request.headers}
            print(f"[trace] > {request.method} {rpc or '-'} {headers}", file=sys.stderr)
            if request.content:
                print(f"[trace]   body {request.content.decode(errors='replace')}", file=sys.stderr)

    async def on_response(self, response: Any) -> None:
        entry = response.request.extensions.get("interop_entry")
        if entry is not None:
            entry["status"] = response.status_code
        if self.trace:
            headers = {
                k: response.headers[k] for k in ("content-type", "mcp-session-id", "allow") if k in response.headers
            }
            print(
                f"[trace] < {response.status_code} for {response.request.method} "
                f"{entry['rpc'] if entry else '?'} {headers}",
                file=sys.stderr,
            )

    def summary(self) -> str:
        return ",".join(f"{e['method']}:{e['rpc'] or '-'}->{e['status']}" for e in self.exchanges)


async def run(args: argparse.Namespace, wire: Wire) -> str:
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    sdk_mode = {"default": "auto", "no-discover": "legacy"}[args.mode]
    http_client = httpx2.AsyncClient(
        timeout=httpx2.Timeout(args.timeout, read=args.timeout),
        event_hooks={"request": [wire.on_request], "response": [wire.on_response]},
    )
    async with http_client:
        transport = streamable_http_client(args.url, http_client=http_client)
        client = Client(transport, mode=sdk_mode, read_timeout_seconds=args.timeout)
        async with client:
            session = client.session
            era = "modern" if session.discover_result is not None else "legacy"
            version = client.protocol_version
            if args.expect_version and version != args.expect_version:
                raise AssertionError(f"negotiated protocol version {version!r}, expected {args.expect_version!r}")

            tool, arguments, expected = (
                ("add", {"a": 2, "b": 3}, "5") if args.add else ("echo", {"text": EXPECTED_TEXT}, EXPECTED_TEXT)
            )
            tools = await client.list_tools()
            names = [t.name for t in tools.tools]
            if tool not in names:
                raise AssertionError(f"tool {tool!r} not listed; tools/list returned {names}")

            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise AssertionError(f"{tool} returned isError=true: {result.content!r}")
            texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
            if texts != [expected]:
                raise AssertionError(f"{tool} returned text content {texts!r}, expected [{expected!r}]")

            progress_note = ""
            if args.progress:
                seen: list[float] = []

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    seen.append(progress)

                presult = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
                ptexts = [c.text for c in presult.content if getattr(c, "type", None) == "text"]
                if presult.is_error or ptexts != ["done"]:
                    raise AssertionError(f"progress returned {presult.content!r}")
                if not seen:
                    raise AssertionError("progress tool sent no progress notifications")
                progress_note = f" progress={len(seen)}"

            if args.reconnection:
                # The server closes the call's connection after the priming event; the SDK
                # must resume with GET + Last-Event-ID to get the result.
                before = len(wire.exchanges)
                rresult = await client.call_tool("test_reconnection", {})
                rtexts = [c.text for c in rresult.content if getattr(c, "type", None) == "text"]
                if rresult.is_error or not rtexts or "resumed" not in rtexts[0]:
                    raise AssertionError(f"test_reconnection returned {rresult.content!r}")
                resumes = [
                    e for e in wire.exchanges[before:] if e["method"] == "GET" and e["last_event_id"]
                ]
                if not resumes or resumes[0]["status"] != 200:
                    raise AssertionError(f"no successful GET with Last-Event-ID after the cut: {wire.summary()}")
                progress_note += f" resumed-with={resumes[0]['last_event_id']}"

        # leaving `async with client` sends DELETE when a session id was issued
    session = "yes" if any(e["session"] for e in wire.exchanges) else "no"
    return (
        f"mode={args.mode} era={era} version={version} session={session} "
        f"tools={','.join(names)}{progress_note} wire={wire.summary()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
    parser.add_argument("--mode", choices=("default", "no-discover"), default="default")
    parser.add_argument("--timeout", type=float, default=30.0, help="overall deadline in seconds (default 30)")
    parser.add_argument("--trace", action="store_true", help="print each HTTP exchange to stderr")
    parser.add_argument("--expect-version", help="fail unless this protocol version is negotiated")
    parser.add_argument("--progress", action="store_true", help="also call the 'progress' tool")
    parser.add_argument("--add", action="store_true", help="call 'add' {a: 2, b: 3} (expect '5') instead of 'echo'")
    parser.add_argument(
        "--reconnection",
        action="store_true",
        help="also call 'test_reconnection', which needs the client to resume a cut stream",
    )
    args = parser.parse_args()

    try:
        import anyio
    except ImportError as exc:
        print(f"python-client: FAIL cannot import the SDK ({exc}); run tests/interop/setup_python.sh", flush=True)
        return 1

    wire = Wire(args.trace)

    async def bounded() -> str:
        with anyio.fail_after(args.timeout):
            return await run(args, wire)

    try:
        summary = anyio.run(bounded)
    except TimeoutError:
        print(f"python-client: FAIL timed out after {args.timeout:g}s; wire={wire.summary()}", flush=True)
        return 1
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - report every failure, incl. exception groups
        print(f"python-client: FAIL {_describe(exc)}; wire={wire.summary()}", flush=True)
        return 1
    print(f"python-client: OK {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
