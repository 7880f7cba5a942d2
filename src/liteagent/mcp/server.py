"""liteagent's plugins as an MCP server (``liteagent mcp serve``), on the SDK's low-level
``Server``: tools listed with the exact schemas of ``liteagent tools --format openai``; calls
validated by the executor; every failure (bad arguments, a raising tool, a timeout, an unknown
tool) an ``is_error`` result, never a JSON-RPC crash. With an agent, one more tool, ``ask``
(``ask.py``)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
from pathlib import Path
from typing import Any

from ..actions.context import HOST
from ..actions.executor import ActionExecutor
from ..messages import ActionReturn
from . import server_host
from .ask import ASK_TOOL, AskTool, error_result
from .lines import FdWriter, Inbox
from .server_host import MCPHost
from .server_offers import Offers, mime_of


def build_server(executor: ActionExecutor, agent: Any = None, name: str = "liteagent") -> Any:
    """An ``mcp.server.Server`` serving ``executor``'s tools (and ``ask`` when ``agent`` is given:
    see ``ask.py`` for its approvals), the resources and prompts its plugins offer, and the files
    their tools return (``server_offers.py``). A tool taking a ``ToolContext`` reports progress,
    logs, samples and elicits through the client of its request (``server_host.py``)."""
    import warnings

    import mcp.types as t
    from mcp.server import Server

    from .. import __version__

    ask = AskTool(agent) if agent is not None else None
    offers = Offers(executor)
    strict = StrictArguments()

    async def list_tools(ctx: Any, params: Any) -> t.ListToolsResult:
        functions = executor.openai_tools()
        tools = [
            t.Tool(
                name=f["function"]["name"],
                title=api.spec.title,
                description=f["function"]["description"],
                input_schema=f["function"]["parameters"],
                annotations=t.ToolAnnotations.model_validate(api.spec.annotations) if api.spec.annotations else None,
            )
            for api, f in zip(executor.apis, functions, strict=True)
        ]
        if ask is not None:
            tools.append(ask.tool())
        return t.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> t.CallToolResult | t.InputRequiredResult:
        if ask is not None and params.name == ASK_TOOL:
            # the agent's tools ask this client's person (on the handshake wire; else declined)
            token = HOST.set(MCPHost(ctx, ASK_TOOL, params, rerun=False))
            try:
                return await ask.call(ctx, params)
            finally:
                HOST.reset(token)
        api = executor.resolve(params.name)
        if api is None or api.wire != params.name:  # one name per tool: the one listed
            listed = ", ".join(a.wire for a in executor.apis) or "(none)"
            return error_result(f"unknown tool {params.name!r}; tools: {listed}")
        wrong = strict.check(api, params.arguments or {})
        if wrong is not None:
            return error_result(f"args_error: {wrong}")
        host = MCPHost(ctx, params.name, params)
        token = HOST.set(host)
        try:
            ret = await executor.aexecute(api.name, params.arguments or {})
        finally:
            HOST.reset(token)
        asked = host.input_required()  # the tool asked its client something (2026 wire): answer first
        return asked if asked is not None else to_mcp_result(ret, offers)

    async def list_resources(ctx: Any, params: Any) -> t.ListResourcesResult:
        return offers.list_resources()  # type: ignore[no-any-return]

    async def list_templates(ctx: Any, params: Any) -> t.ListResourceTemplatesResult:
        return offers.list_templates()  # type: ignore[no-any-return]

    async def read_resource(ctx: Any, params: Any) -> t.ReadResourceResult:
        return await offers.read(str(params.uri))  # type: ignore[no-any-return]

    async def subscribe(ctx: Any, params: Any) -> t.EmptyResult:
        offers.subscribed.add(str(params.uri))
        return t.EmptyResult()

    async def unsubscribe(ctx: Any, params: Any) -> t.EmptyResult:
        offers.subscribed.discard(str(params.uri))
        return t.EmptyResult()

    async def list_prompts(ctx: Any, params: Any) -> t.ListPromptsResult:
        return offers.list_prompts()  # type: ignore[no-any-return]

    async def get_prompt(ctx: Any, params: Any) -> t.GetPromptResult:
        return await offers.get_prompt(params.name, params.arguments)  # type: ignore[no-any-return]

    async def complete(ctx: Any, params: Any) -> t.CompleteResult:
        return offers.complete(params.ref, params.argument)  # type: ignore[no-any-return]

    async def set_level(ctx: Any, params: Any) -> t.EmptyResult:
        from mcp.shared.exceptions import MCPError

        try:
            server_host.set_level(ctx.session, params.level)
        except ValueError as exc:
            raise MCPError(-32602, str(exc)) from None
        return t.EmptyResult()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # logging is deprecated on the 2026 wire only; clients of 2025 use it
        server = Server(
            name,
            version=__version__,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=read_resource,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_completion=complete,
            on_set_logging_level=set_level,
        )
    if not _tracing_configured():
        # The SDK wraps every request in an OpenTelemetry span; with no tracer provider set up
        # the spans go nowhere, and building them is a tenth of a small call's time.
        from mcp.server._otel import OpenTelemetryMiddleware

        server.middleware = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    return server


class StrictArguments:
    """A client's arguments held to the exact schema ``tools/list`` showed it (JSON Schema, no
    coercion: ``{"city": 5}`` for a string is an error), before the plugin's own validation."""

    def __init__(self) -> None:
        self._validators: dict[int, Any] = {}

    def check(self, api: Any, arguments: Any) -> str | None:
        import jsonschema

        if not isinstance(arguments, dict):
            return f"{api.wire}: arguments must be a JSON object"
        validator = self._validators.get(id(api.spec))
        if validator is None:
            schema = api.spec.parameters
            try:
                validator = jsonschema.validators.validator_for(schema)(schema)
            except jsonschema.SchemaError:
                return None  # a schema jsonschema cannot read: the plugin's validation judges
            self._validators[id(api.spec)] = validator
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if not errors:
            return None
        where = ".".join(str(p) for p in errors[0].path) or "arguments"
        return f"{api.wire}: {where}: {errors[0].message}"


def _tracing_configured() -> bool:
    """Has this process set up OpenTelemetry (a tracer provider other than the default proxy)?"""
    try:
        from opentelemetry import trace
    except ImportError:
        return False
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def to_mcp_result(ret: ActionReturn, offers: Offers | None = None) -> Any:
    """An ActionReturn as MCP content: text as text, images and audio as their content, resources
    embedded, JSON as structured content (and its text), other files as links to resources
    (``offers`` remembers them); a failure as an ``is_error`` result with the error."""
    import mcp.types as t

    if not ret.ok:
        return error_result(f"{ret.status.value}: {ret.error}")
    content: list[Any] = []
    structured: Any = None
    for item in ret.result:
        if item.type == "text":
            content.append(t.TextContent(text=str(item.content)))
        elif item.type == "json":
            structured = item.content if isinstance(item.content, dict) else {"result": item.content}
            content.append(t.TextContent(text=json.dumps(item.content, ensure_ascii=False)))
        elif item.type in ("image", "audio"):
            path = Path(str(item.content))
            try:
                data = base64.b64encode(path.read_bytes()).decode()
            except OSError as exc:
                content.append(t.TextContent(text=f"[{item.type} {path.name} unreadable: {exc.strerror}]"))
                continue
            if item.type == "image":
                content.append(t.ImageContent(data=data, mime_type=mime_of(path, "image/png")))
            else:
                content.append(t.AudioContent(data=data, mime_type=mime_of(path, "audio/wav")))
        elif item.type == "resource" and isinstance(item.content, dict):
            content.append(t.EmbeddedResource.model_validate({"type": "resource", "resource": item.content}))
        elif item.type == "file" and offers is not None:
            path = Path(str(item.content))
            uri = offers.file_uri(path)
            content.append(t.ResourceLink(uri=uri, name=path.name, mime_type=mime_of(path, None)))
        else:
            content.append(t.TextContent(text=f"[{item.type}: {item.content}]"))
        if item.annotations and content and hasattr(content[-1], "annotations"):  # as its server said
            content[-1].annotations = t.Annotations.model_validate(item.annotations)
    return t.CallToolResult(content=content, structured_content=structured)


async def serve_stdio(server: Any) -> None:
    """Serve over this process's stdin/stdout. The protocol gets private copies of fd 0 and 1;
    lines read by the event loop go straight into the server's read stream and answers straight
    to the pipe (the SDK's default reads and writes in worker threads, a thread hop per message,
    ~0.4 ms a call, and its explicit-stream form puts a task between pipe and server each way);
    fd 0 then reads /dev/null and fd 1 goes to stderr, so a tool that prints cannot corrupt the
    protocol."""
    import asyncio
    import os
    import sys

    from mcp.server.stdio import stdio_server

    from .shared_loop import mark_asyncio_thread

    mark_asyncio_thread()  # this process serves on asyncio only (see shared_loop.SharedLoop._drive)

    if sys.platform == "win32":
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    inbox = Inbox()
    await loop.connect_read_pipe(lambda: _StdinReader(inbox), os.fdopen(proto_in, "rb", buffering=0))
    async with inbox.stream:
        await server.run(inbox.stream, FdWriter(proto_out), server.create_initialization_options())


class _StdinReader(asyncio.Protocol):
    """The protocol's input, read by the event loop into the server's read stream."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inbox.pipe = transport

    def data_received(self, data: bytes) -> None:
        self.inbox.feed(data)

    def eof_received(self) -> None:
        self.inbox.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inbox.close()


def http_app(
    server: Any,
    host: str,
    api_key: str | None,
    *,
    port: int = 8765,
    allowed_hosts: list[str] | None = None,
    allowed_origins: list[str] | None = None,
) -> Any:
    """The Streamable HTTP app (path ``/mcp``); with ``api_key``, every request needs
    ``Authorization: Bearer KEY`` (401 otherwise).

    The SDK's transport security is always on (it turns itself on only for a loopback ``host``):
    a ``Host`` naming this machine's loopback or ``host``, with ``port``, or one of ``allowed_hosts``
    (421 otherwise: DNS rebinding); an ``Origin`` of this service itself or ``allowed_origins``
    (403 otherwise; the SDK's default lets any ``http://localhost:*`` page in); JSON bodies."""
    from mcp.server.transport_security import TransportSecuritySettings

    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = host.strip().lower()
    if bound not in ("", "0.0.0.0", "::", "[::]"):
        names.append(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    hosts = [*(f"{n}:{port}" for n in names), *(allowed_hosts or [])]
    origins = [*(f"http://{n}:{port}" for n in names), *(allowed_origins or [])]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection="*" not in hosts, allowed_hosts=hosts, allowed_origins=origins
    )
    from .event_store import RETRY_MS, memory_event_store

    app = server.streamable_http_app(
        host=host, transport_security=security, event_store=memory_event_store(), retry_interval=RETRY_MS
    )
    if not api_key:
        return app
    expected = f"Bearer {api_key}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            got = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(got, expected):
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"missing or wrong API key"})
                return
        await app(scope, receive, send)

    return guarded
