"""An MCP server written with the official SDK's high-level MCPServer, for liteagent's client
tests: text, a PNG image, structured content, a slow tool, a tool that kills its own server.
Run as a script: a stdio server."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib

from mcp.server import MCPServer
from mcp.server.mcpserver import Image

server = MCPServer("demo")


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"  # one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"echo: {text}"


@server.tool()
def picture() -> Image:
    """A one-pixel PNG."""
    return Image(data=tiny_png(), format="png")


@server.tool(structured_output=True)
def stats(numbers: list[float]) -> dict[str, float]:
    """Count and sum numbers."""
    return {"count": len(numbers), "sum": sum(numbers)}


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool()
def big(megabytes: float) -> str:
    """A text of this many megabytes."""
    return "x" * int(megabytes * 2**20)


@server.tool()
def crash() -> str:
    """Kill this server mid-call."""
    os._exit(3)


@server.tool()
def fail(reason: str) -> str:
    """Raise an error."""
    raise ValueError(reason)


@server.tool()
def environment(name: str) -> str:
    """One environment variable of the server process ('' when unset)."""
    return os.environ.get(name, "")


PNG_B64 = base64.b64encode(tiny_png()).decode()

if __name__ == "__main__":
    server.run("stdio")
