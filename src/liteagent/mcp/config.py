"""The MCP servers file, in the format other clients already use:
``{"mcpServers": {"NAME": {"command": ..., "args": [...], "env": {...}, "cwd": ...}}}`` for stdio
servers and ``{"url": ..., "headers": {...}}`` for Streamable HTTP ones; either may name the
protocol era to speak (``"protocol": "auto" | "legacy" | "2026-07-28"``), the seconds to wait for it
to connect (``"connect_timeout": 30``), whether it may ask the agent's model (``"sampling": "allow"``,
``"ask"``: the person approves each request first, ``"deny"``) and the folders it may see (``"roots": ["~/project"]``; the
work folder by default). An HTTP server that wants OAuth gets it with ``"auth": "oauth"`` (and
``"client_id"``/``"client_secret"`` where the server has no dynamic registration, or
``"client_metadata_url"``, the https address of a client ID metadata document you host)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
_PROTOCOL = re.compile(r"^(auto|legacy|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class MCPServerConfig:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    protocol: str | None = None  # "auto", "legacy" (the handshake) or a version; unset: see MCPConnection
    connect_timeout: float | None = None  # seconds to connect and list the tools (unset: the caller's limit)
    roots: tuple[str, ...] = ()  # folders the server may see (unset: the work folder)
    auth: str | None = None  # "oauth": sign in with OAuth 2.1 (HTTP servers)
    client_id: str | None = None  # OAuth: a client registered ahead (no dynamic registration)
    client_secret: str | None = None
    client_metadata_url: str | None = None  # OAuth: the https URL of a client ID metadata document
    sampling: str = "allow"  # may the server ask the agent's model? allow, ask (the person first), deny

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"


def load_config(path: str | os.PathLike[str]) -> list[MCPServerConfig]:
    """The servers of an MCP config file; a one-line UsageError names what is wrong."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--mcp {p}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--mcp {p}: not a JSON file ({exc})") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict) or not servers:
        raise UsageError(f'--mcp {p}: expected {{"mcpServers": {{"NAME": {{"command": ...}} or {{"url": ...}}}}}}')
    out = []
    for name, spec in servers.items():
        where = f"--mcp {p}: server {name!r}"
        if not _NAME.match(name):
            raise UsageError(f"{where}: a name of letters, digits, _ and - (it prefixes its tools: NAME.tool)")
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: expected an object with command or url")
        url, command = spec.get("url"), spec.get("command")
        if bool(url) == bool(command):
            raise UsageError(f"{where}: give either command (stdio) or url (Streamable HTTP)")
        args, env, headers = spec.get("args", []), spec.get("env", {}), spec.get("headers", {})
        if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
            raise UsageError(f"{where}: args must be a list of strings")
        for label, mapping in (("env", env), ("headers", headers)):
            if not (isinstance(mapping, dict) and all(isinstance(v, str) for v in mapping.values())):
                raise UsageError(f"{where}: {label} must map names to strings")
        cwd, protocol = spec.get("cwd"), spec.get("protocol")
        if protocol is not None and not (isinstance(protocol, str) and _PROTOCOL.match(protocol)):
            raise UsageError(f'{where}: protocol must be "auto", "legacy" or a version like "2026-07-28"')
        roots, auth = spec.get("roots", []), spec.get("auth")
        if not (isinstance(roots, list) and all(isinstance(r, str) and r for r in roots)):
            raise UsageError(f"{where}: roots must be a list of folders")
        if auth not in (None, "oauth"):
            raise UsageError(f'{where}: auth must be "oauth" (or left out)')
        if auth and not url:
            raise UsageError(f'{where}: "auth": "oauth" is for HTTP servers (give url)')
        client_id, client_secret = spec.get("client_id"), spec.get("client_secret")
        metadata_url = spec.get("client_metadata_url")
        if metadata_url is not None and not (isinstance(metadata_url, str) and metadata_url.startswith("https://")):
            raise UsageError(f"{where}: client_metadata_url must be an https:// URL")
        for label, value in (("client_id", client_id), ("client_secret", client_secret)):
            if value is not None and not (isinstance(value, str) and value):
                raise UsageError(f"{where}: {label} must be a string")
        sampling = spec.get("sampling", "allow")
        if sampling not in ("allow", "ask", "deny"):
            raise UsageError(f'{where}: sampling must be "allow", "ask" (the person first) or "deny"')
        limit = spec.get("connect_timeout")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
            raise UsageError(f"{where}: connect_timeout must be a number of seconds above 0")
        out.append(
            MCPServerConfig(
                name, command, tuple(args), dict(env), str(cwd) if cwd else None, url, dict(headers), protocol,
                float(limit) if limit is not None else None, tuple(roots), auth, client_id, client_secret, metadata_url, sampling,
            )
        )  # fmt: skip
    return out
