"""Who may talk to the service: the Host a request names (DNS rebinding), the page it comes from
(Origin, CORS preflights) and its body's type (a cross-site form or a no-cors fetch sends
``text/plain`` without a preflight). The same checks as the MCP SDK's transport security (421 for a
foreign Host, 403 for a foreign Origin), with the port the connection really arrived on. A plain
ASGI middleware: streamed answers pass through untouched."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("liteagent.serve")

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})  # a bind address that is no name a client uses
METHODS = "GET, POST, OPTIONS"
SAFE_HEADERS = "authorization, content-type, x-session-id"
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)(:(\d{1,5}|\*))?$")
_HEADER_LIST = re.compile(r"^[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*$")


def host_error(value: str) -> str | None:
    """Why ``value`` is not a Host allowlist entry (``name``, ``name:port``, ``name:*`` or ``*``)."""
    v = value.strip().lower()
    if v == "*" or _HOST.match(v):
        return None
    return "not a Host value: give name, name:port or name:* (no scheme, no path), or * for any"


def origin_error(value: str) -> str | None:
    """Why ``value`` is not an Origin allowlist entry (``scheme://name[:port]``, ``…:*``, ``null`` or ``*``)."""
    v = value.strip().lower()
    if v in ("*", "null"):
        return None
    parts = urlsplit(v.replace(":*", ":0", 1) if v.endswith(":*") else v)
    try:
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError:
        return "its port is not a number"
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return "not an origin: give scheme://name[:port], e.g. https://app.example.com"
    if parts.path or parts.query or parts.fragment or v.endswith("/"):
        return "an origin has no path: give scheme://name[:port], e.g. https://app.example.com"
    return None


def _split_host(host: str) -> tuple[str, int | None] | None:
    """``name`` and ``port`` of a Host header value (IPv6 without brackets); None if malformed."""
    m = _HOST.match(host)
    if m is None or m.group(4) == "*":
        return None
    name = m.group(1).strip("[]")
    return name, int(m.group(4)) if m.group(4) else None


class _Patterns:
    """Exact values, values with any port (``name:*``), or everything (``*``)."""

    def __init__(self, values: Iterable[str]) -> None:
        vals = [v.strip().lower() for v in values]
        self.everything = "*" in vals
        self.exact = {v for v in vals if not v.endswith(":*")}
        self.any_port = {v[:-2] for v in vals if v.endswith(":*")}

    def match(self, value: str) -> bool:
        if self.everything or value in self.exact:
            return True
        if value in self.any_port:  # name:* also matches the name without a port
            return True
        base, _, port = value.rpartition(":")
        return bool(base) and port.isdigit() and base in self.any_port


def check_allowlists(allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> None:
    """Raise ValueError naming the first malformed entry."""
    for h in allowed_hosts:
        if (why := host_error(h)) is not None:
            raise ValueError(f"allowed_hosts: {h!r}: {why}")
    for o in allowed_origins:
        if (why := origin_error(o)) is not None:
            raise ValueError(f"allowed_origins: {o!r}: {why}")


class RequestGuard:
    """ASGI middleware. A request must name this service in ``Host``: ``localhost``, 127.0.0.1,
    [::1], ``bound_host`` or the address the connection arrived at, with the port it arrived on;
    or an entry of ``allowed_hosts`` (421 otherwise). An ``Origin`` must be this service itself or
    an entry of ``allowed_origins`` (403 otherwise); only those get CORS headers and a 204 to a
    preflight. A body must be ``application/json`` (415 otherwise). ``GET /health`` is exempt."""

    def __init__(
        self,
        app: Any,
        *,
        bound_host: str = "127.0.0.1",
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> None:
        allowed_hosts, allowed_origins = list(allowed_hosts), list(allowed_origins)
        check_allowlists(allowed_hosts, allowed_origins)
        self.app = app
        bound = bound_host.strip().lower().strip("[]")
        self.names = LOOPBACK | ({bound} if bound not in ANY_ADDRESS else set())
        self.hosts = _Patterns(allowed_hosts)
        self.origins = _Patterns(allowed_origins)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path", "")
        if path == "/health" and method in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "").strip().lower()
        if not self._host_ok(host, scope):
            log.warning("refused Host %r from %s (not this service's address; allow a proxy's name explicitly)",
                        host, _client(scope))  # fmt: skip
            what = f"Host {host!r} is" if host else "a request without a Host header is"
            message = f"{what} not an address of this service (a proxy's name must be allowed by the operator)"
            await _error(send, 421, message, "invalid_request_error")
            return
        origin = headers.get("origin")
        cross = origin is not None and not self._same_origin(origin, host)
        if cross and not self.origins.match(origin.strip().lower()):  # type: ignore[union-attr]
            log.warning("refused Origin %r from %s (not an allowed origin)", origin, _client(scope))
            message = f"requests from the page at {origin!r} are not allowed (not an allowed origin of this service)"
            await _error(send, 403, message, "permission_error")
            return
        extra: list[tuple[bytes, bytes]] = []
        if cross:
            extra = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]  # type: ignore[union-attr]
        if method == "OPTIONS":
            await self._preflight(send, headers, extra)
            return
        if method not in ("GET", "HEAD"):
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != "application/json":
                got = f"{media!r}" if media else "no Content-Type"
                message = f"the body must be JSON sent as Content-Type: application/json (got {got})"
                await _error(send, 415, message, "invalid_request_error", extra)
                return
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _host_ok(self, host: str, scope: dict[str, Any]) -> bool:
        if not host:
            return False
        if self.hosts.match(host):
            return True
        parsed = _split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        server = scope.get("server")  # (local address, local port) of the connection
        names = self.names | ({str(server[0]).lower()} if server else set())
        if name.rstrip(".") not in names:
            return False
        if not server or server[1] is None:
            return True  # a Unix socket: no port to compare
        default = 443 if scope.get("scheme") == "https" else 80
        return (port if port is not None else default) == server[1]

    def _same_origin(self, origin: str, host: str) -> bool:
        """A page served under the Host this request names (already checked): either scheme, as a
        proxy may end TLS before us."""
        return origin.strip().lower() in (f"http://{host}", f"https://{host}")

    async def _preflight(self, send: Any, headers: dict[str, str], cors: list[tuple[bytes, bytes]]) -> None:
        out = [(b"allow", METHODS.encode())]
        if cors:  # an allowed page's preflight
            asked = headers.get("access-control-request-headers", "")
            allow = asked if _HEADER_LIST.match(asked) else SAFE_HEADERS
            out += [
                *cors,
                (b"access-control-allow-methods", METHODS.encode()),
                (b"access-control-allow-headers", allow.encode()),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers") or []:
        name = k.decode("latin-1").lower()
        if name not in out:  # the first one wins (a second Host is no way around the check)
            out[name] = v.decode("latin-1")
    return out


def _client(scope: dict[str, Any]) -> str:
    c = scope.get("client")
    return f"{c[0]}:{c[1]}" if c else "?"


async def _error(
    send: Any, status: int, message: str, kind: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
