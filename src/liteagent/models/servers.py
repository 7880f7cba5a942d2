"""Which model servers answer on this machine: each known server at its default port on
127.0.0.1, asked for its models at once and briefly, so ``models list`` can say what ``base_url``
to use."""

from __future__ import annotations

import json
import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

PROBE_TIMEOUT = 0.5  # seconds per server; they are asked together
PORTS_ENV = "LITEAGENT_SERVER_PORTS"  # e.g. "vllm=8001,ollama=11435": ask only these

# kind -> (default port, the path that lists its models)
KNOWN: dict[str, tuple[int, str]] = {
    "ollama": (11434, "/api/tags"),
    "llama.cpp": (8080, "/v1/models"),
    "lmdeploy": (23333, "/v1/models"),
    "vllm": (8000, "/v1/models"),
}


@dataclass(frozen=True)
class LocalServer:
    """A server that answered: its kind (by port), where to point ``base_url``, and its models."""

    kind: str
    port: int
    base_url: str
    models: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "port": self.port, "base_url": self.base_url, "models": list(self.models)}


def probe_ports() -> dict[str, int]:
    """The ports to ask: the defaults, or exactly those ``LITEAGENT_SERVER_PORTS`` lists (set
    empty: none)."""
    text = os.environ.get(PORTS_ENV)
    if text is None:
        return {kind: port for kind, (port, _path) in KNOWN.items()}
    ports = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        kind, _, port = item.strip().partition("=")
        if kind not in KNOWN or not port.strip().isdigit():
            raise UsageError(f"{PORTS_ENV}: {item!r} is not KIND=PORT with KIND one of {', '.join(KNOWN)}")
        ports[kind] = int(port)
    return ports


def find_servers(ports: dict[str, int] | None = None, timeout: float = PROBE_TIMEOUT) -> list[LocalServer]:
    """The servers that answer on 127.0.0.1 (``ports``: kind -> port; None: ``probe_ports()``)."""
    ports = probe_ports() if ports is None else ports
    with ThreadPoolExecutor(max_workers=max(1, len(ports))) as pool:
        found = pool.map(lambda item: _probe(item[0], item[1], timeout), ports.items())
        return [s for s in found if s is not None]


def _probe(kind: str, port: int, timeout: float) -> LocalServer | None:
    path = KNOWN[kind][1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            data = json.loads(response.read(1 << 20))
    except (OSError, ValueError):  # refused, timed out, an HTTP error, not JSON: not such a server
        return None
    if not isinstance(data, dict):
        return None
    if kind == "ollama":
        names = [m.get("name") or m.get("model") for m in data.get("models") or [] if isinstance(m, dict)]
    else:
        names = [m.get("id") for m in data.get("data") or [] if isinstance(m, dict)]
    return LocalServer(kind, port, f"http://127.0.0.1:{port}/v1", tuple(str(n) for n in names if n))
