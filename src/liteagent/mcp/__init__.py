"""MCP both ways, on the official SDK (``pip install -e ".[mcp]"``): any MCP server's tools as
liteagent plugins (:class:`MCPToolkit`, ``--mcp FILE``), and liteagent's plugins served as an MCP
server (``liteagent mcp serve``)."""

from __future__ import annotations

from .config import MCPServerConfig, load_config
from .toolkit import MCPToolkit, connect_all, toolkits_from_config

__all__ = ["MCPServerConfig", "MCPToolkit", "connect_all", "load_config", "toolkits_from_config"]
