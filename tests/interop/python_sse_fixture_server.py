#!/usr/bin/env python3
"""Python SDK server with the conformance suite's SSE fixtures (SEP-1699).

    python_sse_fixture_server.py --port PORT [--retry-ms 5000]

Serves Streamable HTTP at http://127.0.0.1:PORT/mcp (always 127.0.0.1) with an
in-memory event store (so POST SSE streams start with a priming event
``id: <id>`` / ``retry: <ms>`` / ``data:`` and can be resumed with GET +
``Last-Event-ID``) and these tools:

* ``echo(text)``          returns ``text`` unchanged;
* ``test_reconnection()`` the fixture the ``server-sse-polling`` scenario
  calls, modelled on the conformance suite's reference "everything server":
  it closes the POST SSE stream of its own request, waits 100 ms and returns
  ``{"content": [{"type": "text", "text": "Reconnection test completed
  successfully. ..."}]}``, which the client then gets by reconnecting
  (GET with ``Last-Event-ID``) and having it replayed.

It exists to show what the conformance SSE scenarios look like when they pass
(tests/interop/conformance.sh); python_server.py is the plain reference server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from typing import Any

try:  # mcp >= 2
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId

HOST = "127.0.0.1"
RECONNECTION_TEXT = (
    "Reconnection test completed successfully. If you received this, "
    "the client properly reconnected after stream closure."
)


class MemoryEventStore(EventStore):
    """Events kept in order; ids are ``<stream>::<counter>``."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._events: list[tuple[EventId, StreamId, Any]] = []

    async def store_event(self, stream_id: StreamId, message: Any) -> EventId:
        event_id = f"{stream_id}::{next(self._counter):08d}"
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        index = next((i for i, (eid, _, _) in enumerate(self._events) if eid == last_event_id), None)
        if index is None:
            return None
        stream_id = self._events[index][1]
        for event_id, sid, message in self._events[index + 1 :]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def build_server() -> Any:
    server = _Server("interop-sse-fixture")

    @server.tool()
    def echo(text: str) -> str:
        """Return `text` unchanged."""
        return text

    @server.tool()
    async def test_reconnection(ctx: Context) -> str:
        """Close this request's SSE stream mid-call; the result arrives on resumption (SEP-1699)."""
        await ctx.close_sse_stream()
        await asyncio.sleep(0.1)
        return RECONNECTION_TEXT

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--retry-ms", type=int, default=5000, help="SSE retry field on priming events")
    args = parser.parse_args()

    import uvicorn

    app = build_server().streamable_http_app(event_store=MemoryEventStore(), retry_interval=args.retry_ms, host=HOST)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
