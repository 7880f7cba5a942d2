"""An MCP server's tools as one liteagent plugin: ``NAME.tool``, with the server's JSON Schema as
given, shown by every dialect and by ``liteagent tools``."""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..actions.base import BaseAction
from ..actions.schema import ApiSpec, JsonSchemaApiSpec
from ..errors import ToolError
from ..messages import ResultItem
from .config import MCPServerConfig, load_config
from .connection import MCPConnection

log = logging.getLogger("liteagent.mcp")
CONTEXT = "__liteagent_context__"  # the keyword a call's ToolContext arrives under (never a schema's)
DEFAULT_CONNECT_TIMEOUT = 30.0  # seconds: a busy machine's first start of a server (10 s was seen to fail)


class MCPToolkit(BaseAction):
    """The tools of one MCP server.

    Args:
        server: an entry of an MCP config file (:class:`MCPServerConfig`), a URL (Streamable HTTP),
            ``mcp.StdioServerParameters``, or an SDK ``Server``/``MCPServer`` (in-process).
        name: the plugin's name, which prefixes its tools (``NAME.tool``); the config entry's
            name by default.
        connect_timeout: seconds to connect and list the tools, where the config entry names no
            ``connect_timeout`` of its own (default 30; the SDK's import is not counted).
        call_timeout: seconds one call may take; a call past it is an error result.
        max_result_bytes: the largest answer taken from the server (texts and encoded data); a
            larger one is an error result saying so (over stdio it is dropped as it arrives,
            never held whole).
        protocol: the protocol era to speak: ``"auto"`` (the SDK's: discover the newest, else the
            handshake), ``"legacy"`` (the handshake) or a version to pin (``"2026-07-28"``). Unset
            (or the config entry's ``protocol``): the handshake first over stdio, ``auto`` otherwise.
    """

    def __init__(
        self,
        server: Any,
        name: str | None = None,
        *,
        connect_timeout: float | None = None,
        call_timeout: float = 60.0,
        protocol: str | None = None,
        max_result_bytes: int = 16 * 2**20,
    ) -> None:
        if name is None:
            name = server.name if isinstance(server, MCPServerConfig) else "mcp"
        super().__init__(name=name)
        # the server's own entry says best; else the caller's limit for all, else the default
        connect_timeout = getattr(server, "connect_timeout", None) or connect_timeout or DEFAULT_CONNECT_TIMEOUT
        if isinstance(server, MCPServerConfig) and server.auth == "oauth" and server.url:
            from .oauth import SIGN_IN_S, FileTokenStorage

            if not FileTokenStorage(server.url).has_tokens:  # a person signs in first: give them time
                connect_timeout = max(connect_timeout, SIGN_IN_S + 30)
        self.connection = MCPConnection(server, name, connect_timeout, call_timeout, protocol, max_result_bytes)
        self._specs: list[ApiSpec] | None = None

    @property
    def description(self) -> str:
        return f"Tools of the MCP server {self.name}."

    @property
    def is_toolkit(self) -> bool:
        return True

    @property
    def apis_changed(self) -> bool:
        """Did the server say its tool list changed since it was read? (the executor then
        takes in the new list: ``ActionExecutor.refresh``)"""
        return self._specs is not None and self.connection.callbacks.tools_changed

    def api_specs(self) -> list[ApiSpec]:
        """One API per server tool, listed when the toolkit is first used (connecting then), and
        again after the server said its list changed."""
        if self._specs is None or self.apis_changed:
            tools = self.connection.refresh_tools() if self._specs is not None else self.connection.connect()
            timeout = self.connection.call_timeout + 5  # the toolkit answers first, with a clear error
            self._specs = [
                JsonSchemaApiSpec.from_schema(
                    t.name, t.description or "", dict(t.input_schema or {}), timeout, is_async=False
                )
                for t in tools
            ]
            for spec, listed in zip(self._specs, tools, strict=True):
                spec.may_run_inline = False  # a server that answered fast may hang next time: never on a loop
                spec.context_param = CONTEXT  # what the server asks meanwhile goes to the call's host
                hints = getattr(listed, "annotations", None)
                spec.title = getattr(listed, "title", None) or getattr(hints, "title", None)
                if hints is not None:
                    spec.annotations = hints.model_dump(by_alias=True, exclude_none=True, mode="json")
                    # a call cut off mid-run runs again on resume where the server says that is safe
                    spec.idempotent = hints.idempotent_hint is True or hints.read_only_hint is True
                if hints is not None and hints.destructive_hint is True and not hints.read_only_hint:
                    spec.needs_approval = (
                        True  # the server says it destroys: a person approves (Agent(approvals=) overrides)
                    )
        return self._specs

    def api_callable(self, spec: ApiSpec) -> Callable[..., Any]:
        # A sync API: the call waits on the connection's own loop, so from sync code (the sync
        # API, `liteagent call`) it costs no event loop of its own; async callers run it in the
        # executor's worker thread like any sync tool, or inline when nothing else waits.
        def call(**arguments: Any) -> list[ResultItem]:
            context = arguments.pop(CONTEXT, None)
            return self._items(spec.name, self.connection.call_sync(spec.name, arguments, context=context))

        return call

    def _items(self, tool: str, result: Any) -> list[ResultItem]:
        texts: list[str] = []
        items: list[ResultItem] = []
        for block in result.content or []:
            kind = getattr(block, "type", "")
            made = len(items)
            if kind == "text":
                texts.append(block.text)
                items.append(ResultItem.text(block.text))
            elif kind == "image":
                items.append(ResultItem.image(_save_media(block.data, block.mime_type)))
            elif kind == "audio":
                items.append(ResultItem.audio(_save_media(block.data, block.mime_type)))
            elif kind == "resource_link":
                items.append(ResultItem.text(f"[resource: {block.uri}]"))
            elif kind == "resource":
                res = block.resource
                text, blob = getattr(res, "text", None), getattr(res, "blob", None)
                mime = getattr(res, "mime_type", None)
                if isinstance(text, str):
                    items.append(ResultItem.resource(str(res.uri), text=text, mime_type=mime))
                elif isinstance(blob, str):
                    items.append(ResultItem.resource(str(res.uri), blob=blob, mime_type=mime))
                else:
                    items.append(ResultItem.text(f"[resource: {res.uri}]"))
            else:
                items.append(ResultItem.text(f"[{kind or 'unknown'} content]"))
            said = getattr(block, "annotations", None)
            if said is not None and len(items) > made:  # who it is for, how much it matters: kept
                items[-1].annotations = said.model_dump(by_alias=True, exclude_none=True, mode="json") or None
        if result.is_error:
            raise ToolError("\n".join(texts) or f"the MCP tool {self.name}.{tool} failed")
        if result.structured_content is not None:
            items.append(ResultItem.json(result.structured_content))
        return items

    def close(self) -> None:
        self.connection.close()


def _save_media(data: str, mime: str) -> str:
    from ..llms.local import data_dir

    raw = base64.b64decode(data, validate=False)
    ext = mimetypes.guess_extension(mime or "") or ".bin"
    folder = data_dir() / "mcp-images"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(raw).hexdigest()[:24]}{ext}"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    return str(path)


def toolkits_from_config(paths: Iterable[str | os.PathLike[str]], **kw: Any) -> list[MCPToolkit]:
    """One MCPToolkit per server of each config file (connected when first used)."""
    out = []
    for p in paths:
        out += [MCPToolkit(cfg, **kw) for cfg in load_config(p)]
    return out


def connect_all(toolkits: list[MCPToolkit]) -> list[MCPToolkit]:
    """Connect every server at once, each within its own limit: those that answered, with a
    warning for each that did not (its tools are left out; the others work). None answered: the
    first failure is the error."""
    if not toolkits:
        return []

    def connect(toolkit: MCPToolkit) -> str | None:
        try:
            toolkit.api_specs()
            return None
        except ToolError as exc:
            toolkit.close()
            return str(exc)

    with ThreadPoolExecutor(max_workers=min(16, len(toolkits)), thread_name_prefix="mcp-connect") as pool:
        failures = list(pool.map(connect, toolkits))
    if all(failures):
        raise ToolError(failures[0] or "")
    for why in failures:
        if why:
            log.warning("%s; its tools are left out", why)
    return [t for t, why in zip(toolkits, failures, strict=True) if why is None]
