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
_SPANS = "otel.spans"
_PARENT_CTX = "otel.parent"  # the run span's context
_SERVER = "otel.server"  # server.address/port of an HTTP model server
_MODEL_SHOWN = "otel.model"  # the run span has the model's name
_CHAT = "otel.chat"  # (model, span name, attributes) of the run's chat spans: made once per run

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


class OTelHooks(RunHooks):
    """Spans for runs, on ``tracer_provider`` (default: the global one)."""

    def __init__(self, tracer_provider: Any = None, capture: bool | None = None) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.tracer = trace.get_tracer("liteagent", tracer_provider=tracer_provider)
        self.capture = capture_content() if capture is None else capture

    # -- spans ------------------------------------------------------------------------------
    def _child(self, run: RunInfo, name: str, kind: Any, attributes: dict[str, Any]) -> Any:
        return self.tracer.start_span(name, context=run.state.get(_PARENT_CTX), kind=kind, attributes=attributes)

    def run_start(self, run: RunInfo) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": run.agent,
            "gen_ai.provider.name": run.provider,
            "gen_ai.request.model": run.model,
            "liteagent.run.id": run.run_id,
        }
        run.state[_MODEL_SHOWN] = bool(run.model)
        span = self.tracer.start_span(
            f"invoke_agent {run.agent}",
            context=run.parent,
            kind=self._trace.SpanKind.INTERNAL,
            attributes=_clean(attrs),
        )
        run.state[_SPANS] = {"run": span}
        run.state[_PARENT_CTX] = self._trace.set_span_in_context(span)  # made once: every child's parent
        if run.server:
            where = urlsplit(run.server)
            run.state[_SERVER] = {
                "server.address": where.hostname,
                "server.port": where.port or (443 if where.scheme == "https" else 80),
            }

    def run_end(self, run: RunInfo, result: RunResult[Any] | None, status: str) -> None:
        TURN.set(None)  # a run cut off mid-turn leaves no traceparent to the next request here
        TOOL.set(None)
        spans = run.state.get(_SPANS, {})
        span = spans.pop("run", None)
        for key, open_span in list(spans.items()):  # left open by a cancelled run
            open_span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, "cancelled"))
            open_span.set_attribute("error.type", "cancelled")
            open_span.end()
            spans.pop(key, None)
        if span is None:
            return
        attrs: dict[str, Any] = {"liteagent.run.status": status}
        if run.model and not run.state.get(_MODEL_SHOWN):  # the server named it after the run began
            attrs["gen_ai.request.model"] = run.model
        if result is not None:
            attrs["liteagent.run.turns"] = result.turns
            for k, v in result.usage.items():
                if isinstance(v, int):
                    attrs[f"liteagent.usage.{k}"] = v
            if result.typed:  # the output's validation outcome
                attrs["liteagent.output.valid"] = status == "ok"
                if result.output_errors:
                    attrs["liteagent.output.errors"] = tuple(str(e) for e in result.output_errors[:8])
            if result.pending:  # the calls a person must decide
                attrs["liteagent.approval.pending"] = tuple(f"{p.id}:{p.tool}" for p in result.pending)
            if self.capture and result.answer:
                attrs["gen_ai.output.messages"] = _json([{"role": "assistant", "content": result.answer}])
        span.set_attributes(attrs)
        if status not in ("ok", "needs_approval"):
            error = (result.error if result is not None else None) or status
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error[:200]))
            span.set_attribute("error.type", status)
        span.end()

    def model_start(self, run: RunInfo, turn: int, request: Request) -> None:
        chat = run.state.get(_CHAT)
        if chat is None or chat[0] != run.model:  # once per run (again if the server named the model)
            base: dict[str, Any] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": run.provider,
                "gen_ai.request.model": run.model,
                "gen_ai.request.max_tokens": run.max_tokens,
                "gen_ai.request.temperature": run.temperature,
                **run.state.get(_SERVER, {}),
            }
            chat = run.state[_CHAT] = (run.model, f"chat {run.model}".strip(), _clean(base))
        attrs = chat[2]  # the SDK copies it
        if self.capture:
            attrs = {
                **attrs,
                "gen_ai.input.messages": _json(request.messages if request.messages is not None else request.prompt),
            }
        span = self._child(run, chat[1], self._trace.SpanKind.CLIENT, attrs)
        run.state.setdefault(_SPANS, {})[("turn", turn)] = span
        if run.server:  # its traceparent goes with the HTTP request
            TURN.set(self._trace.set_span_in_context(span))

    def model_end(self, run: RunInfo, turn: int, usage: dict[str, int], finish: str | None, error: str | None) -> None:
        span = run.state.get(_SPANS, {}).pop(("turn", turn), None)
        if run.server:
            TURN.set(None)
        if span is None:
            return
        attrs: dict[str, Any] = {}
        if "prompt_tokens" in usage:
            attrs["gen_ai.usage.input_tokens"] = usage["prompt_tokens"]
        if "completion_tokens" in usage:
            attrs["gen_ai.usage.output_tokens"] = usage["completion_tokens"]
        if finish:
            attrs["gen_ai.response.finish_reasons"] = (finish,)
        if attrs:
            span.set_attributes(attrs)
        if error is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error[:200]))
            span.set_attribute("error.type", "llm_error")
        span.end()

    def tool_start(self, run: RunInfo, turn: int, call: ToolCall) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",
        }
        if self.capture:
            attrs["gen_ai.tool.call.arguments"] = _json(call.arguments)
        span = self._child(run, f"execute_tool {call.name}", self._trace.SpanKind.INTERNAL, _clean(attrs))
        run.state.setdefault(_SPANS, {})[("call", call.id, call.name)] = span
        TOOL.set(span)  # an MCP tool sends it on (this call's context only; made into a context there)

    def tool_end(self, run: RunInfo, turn: int, call: ToolCall, result: ActionReturn) -> None:
        span = run.state.get(_SPANS, {}).pop(("call", call.id, call.name), None)
        TOOL.set(None)
        if span is None:
            return
        if self.capture:
            span.set_attribute("gen_ai.tool.call.result", _json([i.to_dict() for i in result.result]))
        if not result.ok:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(result.error or "")[:200]))
            span.set_attribute("error.type", result.status.value)
        span.end()


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None and v != ""}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_AUTO: dict[int, OTelHooks] = {}


def configured_hooks() -> OTelHooks | None:
    """Spans on the application's tracer provider, when it has set one (``opentelemetry`` is
    then imported already: nothing is imported here otherwise)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return None
    hooks = _AUTO.get(id(provider))
    if hooks is None:
        _AUTO.clear()
        hooks = _AUTO[id(provider)] = OTelHooks(provider)
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
