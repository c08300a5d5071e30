#!/usr/bin/env python3
"""Reference MCP server (official Python SDK) for self-testing the interop scripts.

    python_server.py --port PORT [--legacy-only] [--json-response]

Serves Streamable HTTP at http://127.0.0.1:PORT/mcp with two tools:

* ``echo(text)``      returns ``text`` unchanged;
* ``progress(steps)`` reports ``steps`` progress notifications, returns ``"done"``.

It always binds to 127.0.0.1 (never 0.0.0.0).

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

try:  # mcp >= 2
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]

HANDSHAKE_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
HOST = "127.0.0.1"


def build_server() -> Any:
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
        return "done"

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
    parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    args = parser.parse_args()

    import uvicorn

    server = build_server()
    app = server.streamable_http_app(json_response=args.json_response, host=HOST)
    if args.legacy_only:
        app = legacy_only(app)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
