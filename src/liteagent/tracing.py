"""OpenTelemetry spans for every run, following the GenAI semantic conventions, off by default.

On when the application has configured a tracer provider (``trace.set_tracer_provider(...)``)
or passes ``Agent(hooks=[OTelHooks()])``; otherwise nothing here runs and ``opentelemetry`` is
never imported by liteagent. Spans:

- ``invoke_agent {agent}`` (the root of a run): ``gen_ai.operation.name``, ``gen_ai.agent.name``,
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``liteagent.run.id``, the run's status and
  its token totals under ``liteagent.usage.*`` (so no backend counts them twice);
- ``chat {model}`` per model turn: ``gen_ai.request.*`` (model, max_tokens, temperature),
  ``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.response.finish_reasons``,
  ``server.address``/``server.port``;
- ``execute_tool {tool}`` per call: ``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
  ``gen_ai.tool.type``; a failed call sets the span's status and ``error.type``.

Message and argument contents are recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. A tracing failure never reaches a run.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .hooks import RunHooks, RunInfo

if TYPE_CHECKING:
    from .messages import ActionReturn, ToolCall
    from .request import Request
    from .results import RunResult

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
OTEL_ENV = "LITEAGENT_OTEL"  # set by --otel for the processes it starts (serve's workers)
_SPANS = "otel.spans"  # a run's spans (_Spans)

#: the trace a run started here continues (``liteagent serve`` sets it from a request's
#: ``traceparent``; read when the run is made)
PARENT: contextvars.ContextVar[Any] = contextvars.ContextVar("liteagent_trace_parent", default=None)
#: the model turn in flight: its ``traceparent`` goes to the model server
TURN: contextvars.ContextVar[Any] = contextvars.ContextVar("liteagent_trace_turn", default=None)


#: the tool call in flight (its span): its ``traceparent`` goes to an MCP server in the request's ``_meta``
TOOL: contextvars.ContextVar[Any] = contextvars.ContextVar("liteagent_trace_tool", default=None)


def tool_context() -> Any:
    """The traced tool call's context (None while nothing is traced): an MCP call made in it
    carries its ``traceparent`` in ``_meta`` (the MCP SDK injects the current context)."""
    span = TOOL.get()
    if span is None:
        return None
    from opentelemetry import trace

    return trace.set_span_in_context(span)


class within:
    """``async with within(ctx)``: ``ctx`` is the current OpenTelemetry context meanwhile
    (nothing is imported for None)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx: Any = ctx
        self.token: Any = None

    async def __aenter__(self) -> None:
        if self.ctx is not None:
            from opentelemetry import context

            self.token = context.attach(self.ctx)

    async def __aexit__(self, *exc: Any) -> None:
        if self.token is not None:
            from opentelemetry import context

            context.detach(self.token)


def outgoing_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the model turn in flight, for its HTTP request
    (empty while nothing is traced: nothing is imported then)."""
    ctx = TURN.get()
    if ctx is None:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier, context=ctx)
    return carrier


def incoming_context(headers: Any) -> Any:
    """The context a request's ``traceparent`` names, where tracing is configured (else None)."""
    if "opentelemetry.trace" not in sys.modules or configured_hooks() is None:
        return None
    if not headers.get("traceparent"):
        return None
    from opentelemetry.propagate import extract

    return extract({k.lower(): v for k, v in headers.items()})


def capture_content() -> bool:
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in ("1", "true", "yes")


class _Spans:
    """One run's spans, in its ``RunInfo.state``: the run's own, its context (every child's
    parent), the chat spans' name and attributes (made once per run), the open children."""

    __slots__ = ("chat", "context", "model_shown", "open", "root", "server")

    def __init__(self, root: Any, context: Any, model_shown: bool, server: dict[str, Any] | None) -> None:
        self.root, self.context, self.model_shown, self.server = root, context, model_shown, server
        self.chat: tuple[str, str, dict[str, Any]] | None = None  # (model, span name, attributes)
        self.open: dict[Any, Any] = {}  # model turn -> span, (call id, tool) -> span


class OTelHooks(RunHooks):
    """Spans for runs, on ``tracer_provider`` (default: the global one).

    Made cheap on purpose (a hook runs on the run's own thread): what is the same for every run
    (span names, static attributes, the server's address) is made once and kept; a span gets
    its attributes when it is made, and those known only at its end one by one
    (``set_attribute``: the SDK's ``set_attributes`` costs more for a few)."""

    def __init__(self, tracer_provider: Any = None, capture: bool | None = None) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.tracer = trace.get_tracer("liteagent", tracer_provider=tracer_provider)
        self.capture = capture_content() if capture is None else capture
        self._start = self.tracer.start_span
        self._in_context = trace.set_span_in_context
        self._internal, self._client = trace.SpanKind.INTERNAL, trace.SpanKind.CLIENT
        # made once, kept (each bounded): by (agent, provider, model); by the chat's settings;
        # by server URL; by tool name
        self._runs: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
        self._chats: dict[tuple[Any, ...], tuple[str, str, dict[str, Any]]] = {}
        self._servers: dict[str, dict[str, Any]] = {}
        self._tools: dict[str, tuple[str, dict[str, Any]]] = {}

    # -- spans ------------------------------------------------------------------------------
    def _error(self, span: Any, error: str, kind: str) -> None:
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error[:200]))
        span.set_attribute("error.type", kind)

    def run_start(self, run: RunInfo) -> None:
        key = (run.agent, run.provider, run.model)
        made = self._runs.get(key)
        if made is None:
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": run.agent,
                "gen_ai.provider.name": run.provider,
                "gen_ai.request.model": run.model,
            }
            made = _keep(self._runs, key, (f"invoke_agent {run.agent}", _clean(attrs)))
        span = self._start(
            made[0], context=run.parent, kind=self._internal, attributes={**made[1], "liteagent.run.id": run.run_id}
        )
        server = None
        if run.server:
            server = self._servers.get(run.server)
            if server is None:
                where = urlsplit(run.server)
                server = _keep(
                    self._servers,
                    run.server,
                    {
                        "server.address": where.hostname,
                        "server.port": where.port or (443 if where.scheme == "https" else 80),
                    },
                )
        # the run span's context, made once: every child's parent
        run.state[_SPANS] = _Spans(span, self._in_context(span), bool(run.model), server)

    def run_end(self, run: RunInfo, result: RunResult[Any] | None, status: str) -> None:
        # a run cut off mid-turn or mid-call leaves no traceparent to the next request here
        if TURN.get() is not None:
            TURN.set(None)
        if TOOL.get() is not None:
            TOOL.set(None)
        spans: _Spans | None = run.state.get(_SPANS)
        if spans is None:
            return
        if spans.open:  # left open by a cancelled run
            for open_span in spans.open.values():
                self._error(open_span, "cancelled", "cancelled")
                open_span.end()
            spans.open.clear()
        span = spans.root
        if span is None:
            return
        spans.root = None
        span.set_attribute("liteagent.run.status", status)
        if run.model and not spans.model_shown:  # the server named it after the run began
            span.set_attribute("gen_ai.request.model", run.model)
        if result is not None:
            span.set_attribute("liteagent.run.turns", result.turns)
            attrs: dict[str, Any] = {f"liteagent.usage.{k}": v for k, v in result.usage.items() if isinstance(v, int)}
            if result.typed:  # the output's validation outcome
                attrs["liteagent.output.valid"] = status == "ok"
                if result.output_errors:
                    attrs["liteagent.output.errors"] = tuple(str(e) for e in result.output_errors[:8])
            if result.pending:  # the calls a person must decide
                attrs["liteagent.approval.pending"] = tuple(f"{p.id}:{p.tool}" for p in result.pending)
            if self.capture and result.answer:
                attrs["gen_ai.output.messages"] = _json([{"role": "assistant", "content": result.answer}])
            if attrs:
                span.set_attributes(attrs)
        if status != "ok" and status != "needs_approval" and status != "needs_input":
            self._error(span, (result.error if result is not None else None) or status, status)
        span.end()

    def _chat(self, run: RunInfo, spans: _Spans) -> tuple[str, str, dict[str, Any]]:
        """The run's chat spans' name and attributes (made again if the server named the model)."""
        key = (run.model, run.provider, run.max_tokens, run.temperature, run.server)
        chat = self._chats.get(key)
        if chat is None:
            base: dict[str, Any] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": run.provider,
                "gen_ai.request.model": run.model,
                "gen_ai.request.max_tokens": run.max_tokens,
                "gen_ai.request.temperature": run.temperature,
                **(spans.server or {}),
            }
            chat = _keep(self._chats, key, (run.model, f"chat {run.model}".strip(), _clean(base)))
        spans.chat = chat
        return chat

    def model_start(self, run: RunInfo, turn: int, request: Request) -> None:
        spans: _Spans | None = run.state.get(_SPANS)
        if spans is None:  # the run's span could not be made
            return
        chat = spans.chat
        if chat is None or chat[0] != run.model:  # once per run (again if the server named the model)
            chat = self._chat(run, spans)
        attrs = chat[2]  # the SDK copies it
        if self.capture:
            attrs = {
                **attrs,
                "gen_ai.input.messages": _json(request.messages if request.messages is not None else request.prompt),
            }
        span = spans.open[turn] = self._start(chat[1], context=spans.context, kind=self._client, attributes=attrs)
        if run.server:  # its traceparent goes with the HTTP request
            TURN.set(self._in_context(span))

    def model_end(self, run: RunInfo, turn: int, usage: dict[str, int], finish: str | None, error: str | None) -> None:
        spans: _Spans | None = run.state.get(_SPANS)
        if run.server:
            TURN.set(None)
        span = spans.open.pop(turn, None) if spans is not None else None
        if span is None:
            return
        if usage:
            if "prompt_tokens" in usage:
                span.set_attribute("gen_ai.usage.input_tokens", usage["prompt_tokens"])
            if "completion_tokens" in usage:
                span.set_attribute("gen_ai.usage.output_tokens", usage["completion_tokens"])
        if finish:
            span.set_attribute("gen_ai.response.finish_reasons", (finish,))
        if error is not None:
            self._error(span, error, "llm_error")
        span.end()

    def tool_start(self, run: RunInfo, turn: int, call: ToolCall) -> None:
        spans: _Spans | None = run.state.get(_SPANS)
        if spans is None:
            return
        made = self._tools.get(call.name)
        if made is None:
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.name,
                "gen_ai.tool.type": "function",
            }
            made = _keep(self._tools, call.name, (f"execute_tool {call.name}", _clean(attrs)))
        attrs = {**made[1], "gen_ai.tool.call.id": call.id} if call.id else made[1]
        if self.capture:
            attrs = {**attrs, "gen_ai.tool.call.arguments": _json(call.arguments)}
        span = spans.open[(call.id, call.name)] = self._start(
            made[0], context=spans.context, kind=self._internal, attributes=attrs
        )
        TOOL.set(span)  # an MCP tool sends it on (this call's context only; made into a context there)

    def tool_end(self, run: RunInfo, turn: int, call: ToolCall, result: ActionReturn) -> None:
        TOOL.set(None)
        spans: _Spans | None = run.state.get(_SPANS)
        span = spans.open.pop((call.id, call.name), None) if spans is not None else None
        if span is None:
            return
        if self.capture:
            span.set_attribute("gen_ai.tool.call.result", _json([i.to_dict() for i in result.result]))
        if not result.ok:
            self._error(span, str(result.error or ""), result.status.value)
        span.end()


_KEPT = 256  # entries per cache of OTelHooks (names and attributes: a few per agent)


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= _KEPT:
        cache.clear()
    cache[key] = value
    return value


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None and v != ""}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_AUTO: tuple[Any, OTelHooks | None] = (None, None)  # the global provider last seen, and its hooks


def configured_hooks() -> OTelHooks | None:
    """Spans on the application's tracer provider, when it has set one (``opentelemetry`` is
    then imported already: nothing is imported here otherwise)."""
    global _AUTO
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    seen, hooks = _AUTO  # one read: another thread may set it meanwhile
    if provider is seen:
        return hooks
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        hooks = None
    else:
        hooks = OTelHooks(provider)
    _AUTO = (provider, hooks)
    return hooks


def setup_otlp() -> Any:
    """``--otel``: the SDK with the OTLP exporter, configured by the standard ``OTEL_*``
    variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``...). Returns the provider
    (shut it down at exit: every span is sent)."""
    from .errors import UsageError

    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise UsageError('--otel needs OpenTelemetry: pip install "liteagent[otel]"') from None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
    except ImportError:
        raise UsageError(
            f'--otel with OTLP over {protocol} needs its exporter: pip install "liteagent[otel]"'
        ) from None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "liteagent")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


__all__ = ["CAPTURE_ENV", "PARENT", "OTelHooks", "configured_hooks", "incoming_context", "setup_otlp"]
