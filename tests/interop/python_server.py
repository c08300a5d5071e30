#!/usr/bin/env python3
"""Reference MCP server (official Python SDK) for self-testing the interop scripts.

    python_server.py --port PORT [--legacy-only] [--json-response|--json] [--stateless] [--resumable]
    python_server.py --port PORT --legacy-sse

Serves Streamable HTTP at http://127.0.0.1:PORT/mcp with two tools:

* ``echo(text)``      returns ``text`` unchanged;
* ``progress(steps)`` reports ``steps`` progress notifications, returns ``"done"``;
* ``ping_client()``   sends a ``ping`` request to the client (the SDK sends it on the
  standalone GET stream), waits up to 10 s for the answer, returns ``"pong"``.

It always binds to 127.0.0.1 (never 0.0.0.0).

Transport modes (combinable; the SDK's ``streamable_http_app`` options):

* ``--json-response`` (alias ``--json``): ``json_response=True``, POSTs are answered
  with ``application/json`` instead of SSE;
* ``--stateless``: ``stateless_http=True``, no ``Mcp-Session-Id``, a fresh transport
  per request (the SDK ignores the event store there);
* ``--resumable``: ``event_store=`` an in-memory :class:`InMemoryEventStore` and
  ``retry_interval=100`` ms: SSE events carry ids, each POST stream starts with a
  priming event (clients at >= 2025-11-25) and GET with ``Last-Event-ID`` replays.
  The ``progress`` tool then also closes its POST stream after the first
  notification (SEP-1699 polling), so the client has to reconnect with GET +
  ``Last-Event-ID`` to get the rest and the result.

``--legacy-sse`` serves the deprecated 2024-11-05 HTTP+SSE transport instead (the SDK's
``sse_app``): GET /mcp opens the SSE stream whose first event is ``endpoint``
(``/messages/?session_id=...``), messages are POSTed there; POST /mcp gets 405, which
is what makes a Streamable HTTP client fall back to that transport.

``--legacy-only`` makes the server behave like a pre-2026 server: any request
whose ``MCP-Protocol-Version`` header is not a handshake-era version (in
practice: the client's ``server/discover`` probe at ``2026-07-28``) is answered
with HTTP 400 and a JSON-RPC ``-32022`` error whose ``data`` is
``{"supported": [...handshake versions...], "requested": "<header value>"}``.
That is the answer that makes the SDK client fall back to ``initialize``, so
this mode exercises the fallback path the Rust server will take.

In mcp >= 2 ``FastMCP`` is called ``MCPServer`` (``mcp.server.mcpserver``);
both spellings are supported.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

try:  # mcp >= 2
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]

HANDSHAKE_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
HOST = "127.0.0.1"
RETRY_INTERVAL_MS = 100


class InMemoryEventStore:
    """Resumability store: every event of every stream, in order, in memory (tests only).

    Implements the SDK's ``mcp.server.streamable_http.EventStore`` interface
    (``store_event`` / ``replay_events_after``); it is built by
    :func:`make_event_store` so that importing this module needs no SDK.
    """

    def __init__(self) -> None:
        self._events: list[tuple[str, str, Any]] = []  # (event id, stream id, message or None)
        self._counter = 0

    async def store_event(self, stream_id: str, message: Any) -> str:
        self._counter += 1
        event_id = f"{stream_id}_{self._counter}"
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: Any) -> str | None:
        from mcp.server.streamable_http import EventMessage

        index = next((i for i, (eid, _, _) in enumerate(self._events) if eid == last_event_id), None)
        if index is None:
            return None
        stream_id = self._events[index][1]
        for event_id, sid, message in self._events[index + 1 :]:
            if sid == stream_id and message is not None:  # None: a priming event, nothing to resend
                await send_callback(EventMessage(message, event_id))
        return stream_id


def make_event_store() -> Any:
    from mcp.server.streamable_http import EventStore

    class _Store(InMemoryEventStore, EventStore):
        pass

    return _Store()


def build_server(resumable: bool = False) -> Any:
    server = _Server("interop-reference")

    @server.tool()
    def echo(text: str) -> str:
        """Return `text` unchanged."""
        return text

    @server.tool()
    async def progress(ctx: Context, steps: int = 3) -> str:
        """Report `steps` progress notifications, then return "done"."""
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            if i == 1 and resumable:
                # Polling: the client must come back with GET + Last-Event-ID.
                await ctx.close_sse_stream()
                await anyio.sleep(0.05)
        return "done"

    @server.tool()
    async def ping_client(ctx: Context) -> str:
        """Send a ping request to the client, wait for its answer, return "pong"."""
        with anyio.fail_after(10):
            await ctx.session.send_ping()
        return "pong"

    return server


def legacy_only(app: Any) -> Any:
    """ASGI wrapper: answer non-handshake MCP-Protocol-Version headers with 400/-32022."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            version = None
            for key, value in scope["headers"]:
                if key == b"mcp-protocol-version":
                    version = value.decode("latin-1")
            if version is not None and version not in HANDSHAKE_VERSIONS:
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": -32022,
                            "message": f"Unsupported protocol version: {version}",
                            "data": {"supported": HANDSHAKE_VERSIONS, "requested": version},
                        },
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--legacy-only", action="store_true", help="reject 2026-era requests with 400/-32022")
    parser.add_argument(
        "--json-response", "--json", action="store_true", help="answer POSTs with JSON instead of SSE"
    )
    parser.add_argument("--stateless", action="store_true", help="stateless_http: no sessions")
    parser.add_argument(
        "--resumable", action="store_true", help="in-memory event store: event ids, priming, Last-Event-ID replay"
    )
    parser.add_argument(
        "--legacy-sse", action="store_true", help="the 2024-11-05 HTTP+SSE transport (GET /mcp) instead"
    )
    args = parser.parse_args()
    if args.legacy_sse and (args.legacy_only or args.json_response or args.stateless or args.resumable):
        parser.error("--legacy-sse goes alone")

    import uvicorn

    if args.legacy_sse:
        uvicorn.run(build_server().sse_app(sse_path="/mcp", host=HOST), host=HOST, port=args.port, log_level="warning")
        return

    server = build_server(resumable=args.resumable)
    options: dict[str, Any] = {"json_response": args.json_response, "stateless_http": args.stateless}
    if args.resumable:
        options["event_store"] = make_event_store()
        options["retry_interval"] = RETRY_INTERVAL_MS
    app = server.streamable_http_app(host=HOST, **options)
    if args.legacy_only:
        app = legacy_only(app)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
