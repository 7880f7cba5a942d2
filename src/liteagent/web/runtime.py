"""What the web chat needs besides widgets: defaults from the command line, the store, the
agent built from the sidebar's settings, uploads. No Streamlit here, so it is plain to test."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import controls
from ..actions import ActionExecutor, available_plugins, load_plugin
from ..actions.base import BaseAction
from ..actions.builtin import DEFAULT_BUILTINS
from ..agent import Agent
from ..agent_config import DEFAULT_TOOL_TIMEOUT, AgentConfig
from ..errors import LiteAgentError, ToolError
from ..llms.base import DEFAULT_MODEL_NAME
from ..llms.local import data_dir
from ..llms.openai_compat import api_key_from_env
from ..messages import Message
from ..protocols import get_protocol

DEFAULTS_ENV = "LITEAGENT_WEB_DEFAULTS"
PASSWORD_ENV = "LITEAGENT_WEB_PASSWORD"
INTERPRETER = "PythonInterpreter"


# set by the operator only (``liteagent web``'s flags): never shown with a conversation
_OPERATOR_ONLY = (
    "api_key",
    "allow_url_change",
    "timeout",
    "model_path",
    "n_ctx",
    "context_tokens",
    "threads",
    "gpu_layers",
    "approve_tools",
    "output_schema",
    "output_type",
    "output_mode",
    "output_retries",
    "max_total_tokens",
    "max_tool_calls",
    "record",
    "replay",
    "replay_speed",
)


@dataclass
class Settings:
    """The sidebar. ``liteagent web``'s AgentConfig fills the first values (``from_config``)."""

    backend: str = "local"
    model: str = ""
    base_url: str = ""
    api_key: str = ""  # "": none (never the environment's: a visitor may point the page elsewhere)
    protocol: str = "auto"
    system_prompt: str | None = None
    plugin_prompt: str | None = None
    plugins: list[str] = field(default_factory=lambda: list(DEFAULT_BUILTINS))
    interpreter: bool = False
    max_turns: int = 8
    temperature: float = 0.2
    tool_choice: str = "auto"
    language: str = "en"
    db: str = ""
    extra_specs: list[str] = field(default_factory=list)  # --plugin specs given to `liteagent web`
    mcp: list[str] = field(default_factory=list)  # MCP config files given to `liteagent web --mcp` (operator only)
    # the embedded model's settings, as the CLI names them
    timeout: float | None = None
    model_path: str | None = None
    n_ctx: int = 4096
    context_tokens: int | None = None
    threads: int | None = None
    gpu_layers: int = 0
    # operator-only: may visitors point the page at another server? (the key never follows them)
    allow_url_change: bool = False
    # operator-only: tools (or plugins; "*": all) a person approves before each call
    approve_tools: list[str] = field(default_factory=list)
    # operator-only: a typed answer (``liteagent web --output-schema/--output-type``), shown as JSON
    output_schema: dict[str, Any] | None = None
    output_type: str | None = None
    output_mode: str = "auto"
    output_retries: int = 2
    # operator-only: per-run usage limits (``liteagent web --max-total-tokens/--max-tool-calls``)
    max_total_tokens: int | None = None
    max_tool_calls: int | None = None
    # operator-only: record the model's calls, or answer from a recording
    record: str | None = None
    replay: str | None = None
    replay_speed: float = 0.0

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        for k in _OPERATOR_ONLY:
            d.pop(k, None)
        return d

    @classmethod
    def from_config(
        cls, config: AgentConfig, *, db: str = "", language: str = "en", allow_url_change: bool = False
    ) -> Settings:
        """The operator's first values: ``config`` (an API key from the environment included) and
        the page's own settings."""
        from ..actions.loader import BUILTINS

        s = cls(
            backend=config.resolved_backend, base_url=config.base_url or "", model=config.model or "",
            api_key=config.api_key or api_key_from_env() or "", protocol=config.protocol,
            system_prompt=config.system_prompt, plugin_prompt=config.plugin_prompt,
            plugins=[p for p in config.plugins if p != INTERPRETER] or list(DEFAULT_BUILTINS),
            interpreter=INTERPRETER in config.plugins, extra_specs=[p for p in config.plugins if p not in BUILTINS],
            mcp=[os.path.abspath(p) for p in config.mcp], max_turns=config.max_turns, tool_choice=config.tool_choice,
            timeout=config.tool_timeout, model_path=config.model_path, n_ctx=config.n_ctx,
            context_tokens=config.context_tokens, threads=config.threads, gpu_layers=config.gpu_layers,
            db=db, language=language, allow_url_change=allow_url_change, approve_tools=list(config.approve_tools),
            output_schema=config.output_schema, output_type=config.output_type, output_mode=config.output_mode,
            output_retries=config.output_retries, max_total_tokens=config.max_total_tokens,
            max_tool_calls=config.max_tool_calls, record=config.record, replay=config.replay,
            replay_speed=config.replay_speed,
        )  # fmt: skip
        if config.temperature is not None:
            s.temperature = config.temperature
        # the servers of the operator's --mcp files are on at first (a visitor may switch them off)
        s.plugins += [name for name in mcp_servers(s) if name not in s.plugins]
        return s

    def agent_config(self) -> AgentConfig:
        """The agent these settings describe; its plugins are built per conversation (``build_plugins``)."""
        return AgentConfig(
            backend=self.backend, base_url=self.base_url or None, model=self.model or None, api_key=self.api_key,
            timeout=self.timeout, tool_timeout=self.timeout, model_path=self.model_path, n_ctx=self.n_ctx,
            threads=self.threads, gpu_layers=self.gpu_layers, protocol=self.protocol,
            system_prompt=self.system_prompt, plugin_prompt=self.plugin_prompt, max_turns=self.max_turns,
            tool_choice=self.tool_choice, temperature=self.temperature, context_tokens=self.context_tokens,
            approve_tools=tuple(self.approve_tools), output_schema=self.output_schema, output_type=self.output_type,
            output_mode=self.output_mode, output_retries=self.output_retries, max_total_tokens=self.max_total_tokens,
            max_tool_calls=self.max_tool_calls, record=self.record, replay=self.replay,
            replay_speed=self.replay_speed,
        )  # fmt: skip


def connection(defaults: Settings, base_url: str, visitor_key: str) -> tuple[str, str]:
    """The server URL and key a turn really uses. The operator's key stays on the server: it is
    sent only to the operator's URL, and with a key configured that URL is fixed unless the
    operator allowed changes (``liteagent web --allow-url-change``). A key a visitor typed goes
    wherever that visitor points the page."""
    if defaults.api_key and not defaults.allow_url_change:
        base_url = defaults.base_url
    base_url = base_url.strip() or defaults.base_url
    if visitor_key:
        return base_url, visitor_key
    same = base_url.rstrip("/") == defaults.base_url.strip().rstrip("/")
    return base_url, defaults.api_key if same else ""


def web_password() -> str:
    return os.environ.get(PASSWORD_ENV, "")


def url_locked(defaults: Settings) -> bool:
    return bool(defaults.api_key) and not defaults.allow_url_change


def defaults_from_env() -> Settings:
    raw = os.environ.get(DEFAULTS_ENV)
    s = Settings()
    if raw:
        data = json.loads(raw)
        for k, v in data.items():
            if hasattr(s, k) and v is not None:
                setattr(s, k, v)
    if not s.db:
        s.db = str(data_dir() / "web.sqlite3")
    return s


def plugin_choices(settings: Settings) -> list[str]:
    """Every discovered plugin: built-ins, entry points, the specs given on the command line, and
    the MCP servers of the operator's --mcp files (``mcp:NAME``; visitors cannot name files)."""
    names = [n for n in available_plugins() if n != INTERPRETER]
    return list(dict.fromkeys([*names, *settings.extra_specs, *mcp_servers(settings)]))


def mcp_servers(settings: Settings) -> dict[str, Any]:
    """``mcp:NAME`` -> the server's config, from the operator's files (errors: no entries)."""
    out: dict[str, Any] = {}
    if not settings.mcp:
        return out
    try:
        from ..mcp import load_config
    except ImportError:
        return out
    for path in settings.mcp:
        try:
            for cfg in load_config(path):
                out[f"mcp:{cfg.name}"] = cfg
        except LiteAgentError:
            continue
    return out


def resolved_protocol(settings: Settings) -> str:
    model = settings.model or (DEFAULT_MODEL_NAME if settings.backend == "local" else "")
    return get_protocol(settings.protocol, model).name


def default_prompts(protocol: str) -> tuple[str, str]:
    p = get_protocol(protocol)
    return p.system_prompt, p.plugin_prompt


def work_root() -> Path:
    root = data_dir() / "web" / "work"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)  # kernels (other uids) pass through to their own folder; no listing
    return root


def work_folder(owner: str, conversation: str) -> Path:
    """The conversation's own folder: uploads land here; the interpreter may write only here."""
    safe = re.sub(r"[^a-zA-Z0-9_-]", "", owner) or "anon"
    owner_dir = work_root() / safe
    owner_dir.mkdir(mode=0o711, exist_ok=True)
    path = owner_dir / re.sub(r"[^a-zA-Z0-9_-]", "", conversation)
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def build_plugins(settings: Settings, folder: Path, cache: dict[str, BaseAction]) -> tuple[list[BaseAction], list[str]]:
    """Plugin instances for one conversation (kept in ``cache`` so the interpreter keeps its
    state across turns), and the errors of those that failed to load."""
    wanted = list(dict.fromkeys(settings.plugins)) + ([INTERPRETER] if settings.interpreter else [])
    out: list[BaseAction] = []
    errors: list[str] = []
    names: dict[str, str] = {}
    for spec in wanted:
        if spec not in cache:
            try:
                if spec == INTERPRETER:
                    from ..actions.builtin.interpreter import PythonInterpreter

                    cache[spec] = PythonInterpreter(work_dir=folder, sandbox_root=work_root())
                elif spec.startswith("mcp:"):
                    cfg = mcp_servers(settings).get(spec)
                    if cfg is None:
                        errors.append(f"{spec} is not among the MCP servers this page was started with")
                        continue
                    from ..mcp import MCPToolkit

                    toolkit = MCPToolkit(cfg, call_timeout=settings.timeout or DEFAULT_TOOL_TIMEOUT)
                    toolkit.api_specs()  # connect now: a server that cannot be reached is a notice
                    cache[spec] = toolkit
                else:
                    cache[spec] = load_plugin(spec)[0]
            except (LiteAgentError, ToolError) as exc:
                errors.append(str(exc))
                continue
        plugin = cache[spec]
        if plugin.name in names:  # the same plugin twice (a built-in name and a file spec, say)
            errors.append(
                f"{plugin.name} is enabled twice ({names[plugin.name]} and {spec}); {names[plugin.name]} is used"
            )
            continue
        names[plugin.name] = spec
        out.append(plugin)
    return out, errors


def agent_for(settings: Settings, folder: Path, cache: dict[str, Any]) -> tuple[Agent, list[str]]:
    """One agent per configuration (kept in ``cache``, with the plugins: the interpreter keeps
    its state across turns), and the errors of plugins that failed to load."""
    plugins, errors = build_plugins(settings, folder, cache.setdefault("plugins", {}))
    key = json.dumps([asdict(settings), [id(p) for p in plugins]], sort_keys=True, default=str)
    agents: dict[str, Agent] = cache.setdefault("agents", {})
    if key not in agents:
        agents.clear()  # an older configuration's agent is not used again
        config = settings.agent_config()
        executor = ActionExecutor(plugins, timeout=config.tool_timeout or DEFAULT_TOOL_TIMEOUT)
        # a person is on the page: a tool's question waits for them (answered in its form)
        config = dataclasses.replace(
            config, approve_tools=enabled_rules(config.approve_tools, executor), ask_person="pause"
        )
        agents[key] = config.build(executor)
    return agents[key], errors


def enabled_rules(names: tuple[str, ...], executor: ActionExecutor) -> tuple[str, ...]:
    """The operator's ``approve_tools`` that name a tool or plugin of this conversation (or ``*``):
    a visitor may switch a plugin off, and a rule for a tool that is not there has nothing to
    stop (the Agent refuses a rule naming no tool of its own, as a guard against typos)."""
    plugins = {p.name for p in executor.plugins}
    return tuple(n for n in names if n == "*" or n in plugins or executor.resolve(n) is not None)


def run_state(items: list[Message]) -> controls.Tail:
    """Where the conversation's last run stands, read from its stored items (never from the page,
    so a reload or a restart of the server shows the same): done, needs_approval (``pending``
    holds the calls, and the questions tools asked), cut_off or unanswered. A record that does not match its call is a
    UsageError (fail closed: nothing is offered to run)."""
    return controls.tail(items)


@dataclass(frozen=True)
class Decision:
    """One click on the page: a waiting call approved, rejected (with the reason the model
    reads), its tool approved for the rest of the conversation, or a cut-off run continued. Each
    becomes one resume; calls left undecided keep waiting."""

    action: str  # approve | reject | always | continue | answer | decline
    call_id: str = ""
    tool: str = ""
    reason: str = ""
    answer: tuple[tuple[str, Any], ...] = ()  # a tool's question answered: the form's values

    def resume_args(self) -> dict[str, Any]:
        """The keyword arguments of ``Agent.aresume_stream`` for this decision."""
        if self.action == "approve":
            return {"approve": [self.call_id]}
        if self.action == "answer":
            return {"answers": {self.call_id: dict(self.answer)}}
        if self.action == "decline":
            return {"answers": {self.call_id: "decline"}}
        if self.action == "reject":
            return {"reject": {self.call_id: self.reason.strip()}}
        if self.action == "always":
            return {"always": [self.tool]}
        return {}


def save_upload(folder: Path, name: str, data: bytes) -> Message:
    """Store an uploaded file in the conversation's folder and announce it to the model
    (InternLM2 renders this as a ``user name=file`` turn)."""
    from ..actions.builtin import sandbox

    target = sandbox.safe_write(folder, name, data, sandbox.sandbox_uid(folder))  # never follows a planted link
    return Message("user", json.dumps({"path": str(target), "size": len(data)}, ensure_ascii=False), name="file")


def request_view(request: Any) -> dict[str, Any] | None:
    """The exact prompt or request body of the last model turn (the tutorial printed it by hand)."""
    if request is None:
        return None
    return request.to_dict()
