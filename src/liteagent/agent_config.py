"""AgentConfig: everything that makes an Agent (model, server, dialect, plugins, limits) as plain
data. Every app builds its agent from one: the CLI turns flags into it, ``serve`` workers, Ray
replicas and Ray Data actors receive it as JSON, the web chat makes one from its sidebar."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .actions.executor import ActionExecutor
from .agent import TOOL_CHOICES, Agent
from .errors import LiteAgentError, ToolError, UsageError
from .limits import UsageLimits
from .llms.base import DEFAULT_MODEL_NAME, LLM
from .llms.openai_compat import DEFAULT_TIMEOUT, OpenAICompatibleLLM
from .output import MODES, OutputSpec
from .protocols import DIALECTS, Protocol, get_protocol

BACKENDS = ("local", "openai")
DEFAULT_TOOL_TIMEOUT = 60.0
_SECRETS = ("api_key",)


@dataclass(frozen=True)
class AgentConfig:
    """How to build an Agent. Immutable; ``dataclasses.replace`` makes a variant.

    ``to_dict()`` / ``from_dict()`` carry it to other processes as JSON. The API key is left out
    of ``repr`` and of ``to_dict()`` unless asked for (``secrets=True``): a config may be logged,
    the key must not be.
    """

    # the model: an OpenAI-compatible server, or the embedded model
    backend: str | None = None  # local | openai; None: openai when base_url is given, else local
    base_url: str | None = None
    model: str | None = None  # None: the server's first model, or the embedded model
    api_key: str | None = field(default=None, repr=False)  # None: $LITEAGENT_API_KEY or $OPENAI_API_KEY; "": none
    timeout: float | None = None  # seconds one model call may take, all in (None: 180)
    # the embedded model (backend local)
    model_path: str | None = None  # a GGUF file (None: the shipped SmolLM2-135M-Instruct)
    n_ctx: int = 4096
    threads: int | None = None
    gpu_layers: int = 0
    # the dialect
    protocol: str = "auto"
    system_prompt: str | None = None
    plugin_prompt: str | None = None
    # the plugins: specs name exactly the enabled set; with none, the built-ins that need no
    # configuration (or none at all when MCP config files are given)
    plugins: tuple[str, ...] = ()
    mcp: tuple[str, ...] = ()  # MCP config files ({"mcpServers": {...}}) whose tools to add
    mcp_connect_timeout: float | None = None  # seconds a server may take to connect, unless its entry says (None: 30)
    # the limits
    max_turns: int = 8
    tool_choice: str = "auto"
    temperature: float | None = None
    max_tokens: int | None = 1024  # per model reply (None: the server's limit)
    context_tokens: int | None = None
    tool_timeout: float | None = None  # seconds one tool call may take (None: 60)
    # record every model call to a file, or answer from one (offline, deterministic)
    record: str | None = None
    replay: str | None = None
    replay_speed: float = 0.0  # 0: at once; 1: at the recorded pace
    max_total_tokens: int | None = None  # per run: the model's reported tokens (None: no limit)
    max_tool_calls: int | None = None  # per run (None: no limit)
    # tools (or plugins; "*": all) a person approves before each call, beyond those that say so
    approve_tools: tuple[str, ...] = ()
    # a tool's question for the person (ToolContext.elicit, an MCP server's form): "pause" stops the
    # run until the answer comes with a resume (the web chat, a `serve` client that can answer);
    # None: declined unless someone can answer at once
    ask_person: str | None = None
    # a typed answer: a JSON Schema, or a Python type named pkg.module:Name / path/file.py:Name
    output_schema: dict[str, Any] | None = None
    output_type: str | None = None
    output_mode: str = "auto"
    output_retries: int = 2

    def __post_init__(self) -> None:
        for name in (
            "plugins",
            "mcp",
            "approve_tools",
        ):  # lists from JSON or a caller: kept as tuples (hashable, frozen)
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        _check(self)

    # -- plain data -------------------------------------------------------------------------
    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """The settings as JSON-ready values; the API key only with ``secrets=True`` (for a
        process that must use it, never for a log)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["plugins"], out["mcp"], out["approve_tools"] = list(self.plugins), list(self.mcp), list(self.approve_tools)
        if not secrets:
            for name in _SECRETS:
                out.pop(name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentConfig:
        """The inverse of ``to_dict``; settings left out keep their defaults, unknown ones are an error."""
        if not isinstance(data, Mapping):
            raise UsageError(f"an agent configuration is a JSON object, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown agent setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**data)

    # -- building ---------------------------------------------------------------------------
    @property
    def resolved_backend(self) -> str:
        return self.backend or ("openai" if self.base_url else "local")

    def build(
        self, executor: ActionExecutor | None = None, *, progress: Callable[[str, float], None] | None = None
    ) -> Agent:
        """The Agent. Without ``executor``, its plugins are loaded as ``build_executor`` does (close
        them with ``agent.executor.close()``). ``progress`` sees the embedded model load."""
        own = executor is None
        tools = self.build_executor() if executor is None else executor
        try:
            return Agent(
                self.build_llm(progress),
                tools,
                protocol=self._protocol_name(),
                max_turns=self.max_turns,
                tool_choice=self.tool_choice,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                system_prompt=self.system_prompt,
                plugin_prompt=self.plugin_prompt,
                context_tokens=self.context_tokens,
                approvals=dict.fromkeys(self.approve_tools, True),
                output_type=self.resolved_output_type(),
                output_mode=self.output_mode,
                output_retries=self.output_retries,
                usage_limits=UsageLimits(total_tokens=self.max_total_tokens, tool_calls=self.max_tool_calls),
                ask_person="pause" if self.ask_person == "pause" else None,
            )
        except BaseException:
            if own:
                tools.close()
            raise

    @property
    def typed(self) -> bool:
        """Is the answer typed (an output schema or type)?"""
        return self.output_schema is not None or self.output_type is not None

    def resolved_output_type(self) -> Any:
        """What ``Agent(output_type=...)`` gets: the schema, the type the spec names, or None."""
        if self.output_type is not None:
            from .actions.loader import load_object

            return load_object(self.output_type, "output type")
        return self.output_schema

    def build_executor(self) -> ActionExecutor:
        """The enabled plugins and the tools of the MCP config files, each call bounded by
        ``tool_timeout``."""
        from .actions import default_plugins, load_plugins

        if self.plugins:
            plugins = load_plugins(list(self.plugins))
        else:
            plugins = [] if self.mcp else default_plugins()
        if self.mcp:
            plugins += mcp_toolkits(self.mcp, self.tool_timeout, self.mcp_connect_timeout)
        try:
            return ActionExecutor(plugins, timeout=self.tool_timeout or DEFAULT_TOOL_TIMEOUT)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except ToolError as exc:  # an MCP server that cannot be reached
            raise LiteAgentError(str(exc)) from None

    def build_llm(self, progress: Callable[[str, float], None] | None = None) -> LLM:
        llm = self._backend(progress)
        if self.record:
            from .llms.replay import RecordingLLM

            llm = RecordingLLM(llm, self.record)
        return llm

    def _backend(self, progress: Callable[[str, float], None] | None) -> LLM:
        if self.replay:  # the recording answers: no server, no model file
            from .llms.replay import ReplayLLM

            return ReplayLLM(self.replay, self.replay_speed)
        if self.resolved_backend == "openai":
            if not self.base_url:
                raise UsageError("`backend=` openai needs `base_url=`, e.g. `base_url=` http://127.0.0.1:23333/v1")
            return OpenAICompatibleLLM(self.base_url, self.model, self.api_key, timeout=self.timeout or DEFAULT_TIMEOUT)
        from .llms.local import LocalLLM

        pulled = None
        if self.model and not self.model_path:  # a model `liteagent models pull` fetched runs from its file
            from .models import pulled_model

            pulled = pulled_model(self.model)
        llm = LocalLLM(
            pulled.path if pulled else self.model_path,
            n_ctx=self.n_ctx, n_threads=self.threads, n_gpu_layers=self.gpu_layers, progress=progress,
        )  # fmt: skip
        if self.model and not self.model_path:
            llm.model = self.model  # names the dialect for protocol "auto"
        return llm

    def dialect(self) -> Protocol:
        """The dialect as far as it is known without asking a server: "auto" picks by the model's
        name (the embedded model's when no server is named; hermes when the server's is unknown)."""
        model = self.model or ("" if self.resolved_backend == "openai" else DEFAULT_MODEL_NAME)
        return get_protocol(self._protocol_name(), model, self.system_prompt, self.plugin_prompt)

    def _protocol_name(self) -> str:
        """``protocol``, with "auto" made the catalog's dialect for a pulled or catalog model."""
        if self.protocol == "auto" and self.model and not self.model_path and self.resolved_backend == "local":
            from .models import model_dialect

            return model_dialect(self.model) or self.protocol
        return self.protocol


def mcp_toolkits(
    paths: tuple[str, ...] | list[str], timeout: float | None = None, connect_timeout: float | None = None
) -> list[Any]:
    """The toolkits of the MCP config files, connected at once, each server on its own: one that
    fails is left out with a warning (all fail: the error). ``timeout`` bounds each call as it
    does every other tool's; ``connect_timeout`` each connect whose entry names none (default 30 s)."""
    try:
        from .mcp import connect_all, toolkits_from_config
    except ImportError:
        raise UsageError('`mcp=` needs the MCP SDK: pip install "liteagent[mcp]"') from None
    kits = toolkits_from_config(paths, call_timeout=timeout or DEFAULT_TOOL_TIMEOUT, connect_timeout=connect_timeout)
    return connect_all(kits)


# -- checks: one line naming the setting, in the library's words (the CLI says its flags) ------
def _check(c: AgentConfig) -> None:
    for name in ("base_url", "model", "api_key", "model_path", "system_prompt", "plugin_prompt", "record", "replay"):
        _optional(name, getattr(c, name), str, "a string")
    _choice("backend", c.backend, (None, *BACKENDS))
    _choice("protocol", c.protocol, DIALECTS)
    _choice("tool_choice", c.tool_choice, TOOL_CHOICES)
    _choice("ask_person", c.ask_person, (None, "pause"))
    for name in ("plugins", "mcp", "approve_tools"):
        value = getattr(c, name)
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"`{name}=` must be a list of strings, not {value!r}")
    _whole("max_turns", c.max_turns, minimum=1)
    _whole("n_ctx", c.n_ctx, minimum=1)
    _whole("gpu_layers", c.gpu_layers, minimum=-1)  # -1: every layer
    for name in ("threads", "context_tokens", "max_total_tokens", "max_tool_calls"):
        if getattr(c, name) is not None:
            _whole(name, getattr(c, name), minimum=1)
    for name in ("timeout", "tool_timeout"):
        value = getattr(c, name)
        _optional(name, value, (int, float), "a number of seconds")
        if value is not None and not value > 0:
            raise UsageError(f"`{name}=` {value!r} must be more than 0 seconds")
    if c.output_schema is not None and c.output_type is not None:
        raise UsageError("give `output_schema=` or `output_type=`, not both")
    if c.output_schema is not None:
        if not isinstance(c.output_schema, dict):
            raise UsageError(f"`output_schema=` must be a JSON Schema object, not {type(c.output_schema).__name__}")
        OutputSpec(c.output_schema)  # a schema that is not one: an error now, not at the first answer
    _optional("output_type", c.output_type, str, "a string (pkg.module:Name or path/file.py:Name)")
    _choice("output_mode", c.output_mode, MODES)
    _whole("output_retries", c.output_retries, minimum=0)
    _optional("replay_speed", c.replay_speed, (int, float), "a number")
    if c.replay_speed < 0:
        raise UsageError(f"`replay_speed=` {c.replay_speed!r} must be 0 (at once) or more (1: as recorded)")
    if c.record and c.replay and c.record == c.replay:
        raise UsageError("`record=` and `replay=` name the same file")
    _optional("temperature", c.temperature, (int, float), "a number")
    if c.mcp_connect_timeout is not None and (
        isinstance(c.mcp_connect_timeout, bool)
        or not isinstance(c.mcp_connect_timeout, (int, float))
        or c.mcp_connect_timeout <= 0
    ):
        raise UsageError(f"`mcp_connect_timeout=` {c.mcp_connect_timeout!r} must be a number of seconds above 0")
    if c.max_tokens is not None and (
        not isinstance(c.max_tokens, int) or isinstance(c.max_tokens, bool) or c.max_tokens < 1
    ):
        raise UsageError(f"`max_tokens=` {c.max_tokens!r} must be a whole number, 1 or more")
    if c.temperature is not None and not 0 <= c.temperature <= 2:
        raise UsageError(f"`temperature=` {c.temperature!r} must be between 0 and 2")


def _optional(name: str, value: Any, kind: type | tuple[type, ...], what: str) -> None:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise UsageError(f"`{name}=` must be {what}, not {value!r}")


def _choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        names = ", ".join(str(c) for c in choices if c is not None)
        raise UsageError(f"`{name}=` {value!r}: choose one of {names}")


def _whole(name: str, value: Any, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"`{name}=` must be a whole number, not {value!r}")
    if value < minimum:
        raise UsageError(f"`{name}=` {value!r} must be {minimum} or more")
