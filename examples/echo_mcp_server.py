"""A small MCP server (stdio, the official SDK) for the README's `--mcp examples/servers.json`."""

from mcp.server import MCPServer

server = MCPServer("echo")


@server.tool()
def echo(text: str) -> str:
    """Say the text back.

    Args:
        text: what to say
    """
    return text


if __name__ == "__main__":
    server.run("stdio")
