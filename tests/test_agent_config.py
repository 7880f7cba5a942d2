"""AgentConfig: the one description every app builds its agent from, as plain data (JSON) that
travels to worker processes, Ray replicas and Ray Data actors."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from liteagent import Agent, AgentConfig, OpenAICompatibleLLM, UsageError
from liteagent.cli import build_parser
from liteagent.cli.config import agent_config, serve_config
from liteagent.cli.errors import cli_words

SRC = Path(__file__).resolve().parents[1] / "src" / "liteagent"
WEATHER = "tests/data/plugins/weather.py"

FULL = AgentConfig(
    backend="openai", base_url="http://127.0.0.1:9/v1", model="internlm2_5-7b-chat", api_key="sk-secret",
    timeout=30.0, model_path="m.gguf", n_ctx=2048, threads=2, gpu_layers=-1, protocol="internlm2",
    system_prompt="你好", plugin_prompt="tools: {prompt}", plugins=("EnvChecker", f"{WEATHER}:Weather"),
    mcp=("servers.json",), max_turns=3, tool_choice="required", temperature=0.5, context_tokens=8192,
    tool_timeout=5.0,
)  # fmt: skip


def test_a_config_goes_through_json_and_back_unchanged():
    data = json.loads(json.dumps(FULL.to_dict(secrets=True)))
    assert AgentConfig.from_dict(data) == FULL
    assert AgentConfig.from_dict({}) == AgentConfig()  # left out: the defaults


def test_the_api_key_stays_out_of_logs():
    assert "sk-secret" not in repr(FULL) and "sk-secret" not in str(FULL)
    assert "api_key" not in FULL.to_dict()  # the default: safe to log
    assert AgentConfig.from_dict(FULL.to_dict()).api_key is None  # a process without it reads the environment


def test_lists_become_tuples_so_a_config_is_hashable_and_immutable():
    c = AgentConfig(plugins=["EnvChecker"], mcp=["a.json"])
    assert c.plugins == ("EnvChecker",) and c.mcp == ("a.json",)
    assert hash(c) == hash(AgentConfig(plugins=("EnvChecker",), mcp=("a.json",)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.max_turns = 2  # type: ignore[misc]
    assert dataclasses.replace(c, protocol="react").protocol == "react"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"max_turns": 0}, "`max_turns=` 0 must be 1 or more"),
        ({"max_turns": "8"}, "`max_turns=` must be a whole number"),
        ({"max_turns": True}, "`max_turns=` must be a whole number"),
        ({"temperature": 3}, "`temperature=` 3 must be between 0 and 2"),
        ({"protocol": "chatml"}, "`protocol=` 'chatml': choose one of auto, internlm2, hermes"),
        ({"backend": "vllm"}, "`backend=` 'vllm': choose one of local, openai"),
        ({"tool_choice": "always"}, "`tool_choice=` 'always': choose one of auto, required, none"),
        ({"plugins": "EnvChecker"}, "`plugins=` must be a list of strings"),
        ({"timeout": 0}, "`timeout=` 0 must be more than 0 seconds"),
        ({"tool_timeout": -1.0}, "`tool_timeout=` -1.0 must be more than 0 seconds"),
        ({"n_ctx": 0}, "`n_ctx=` 0 must be 1 or more"),
        ({"base_url": 8000}, "`base_url=` must be a string"),
    ],
)
def test_a_bad_value_is_a_one_line_usage_error_naming_the_setting(values, words):
    with pytest.raises(UsageError) as exc:
        AgentConfig.from_dict(values)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_an_unknown_setting_is_refused_not_dropped():
    with pytest.raises(UsageError, match="unknown agent setting 'max_turn'"):
        AgentConfig.from_dict({"max_turn": 3})
    with pytest.raises(UsageError, match="JSON object"):
        AgentConfig.from_dict(["max_turns", 3])  # type: ignore[arg-type]


def test_the_command_line_says_its_flags_for_the_same_errors():
    with pytest.raises(UsageError) as exc:
        AgentConfig(plugins=("EnvChecker",), tool_timeout=-1)
    assert cli_words(str(exc.value)).startswith("--timeout -1")
    with pytest.raises(UsageError) as exc:
        AgentConfig(backend="openai").build()
    assert cli_words(str(exc.value)) == "--backend openai needs --base-url, e.g. --base-url http://127.0.0.1:23333/v1"


def test_flags_become_a_config():
    args = build_parser().parse_args(
        ["run", "q", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--protocol", "hermes",
         "--plugin", "EnvChecker", "--plugin", f"{WEATHER}:Weather", "--timeout", "7", "--max-turns", "3",
         "--tool-choice", "required", "--temperature", "0.3", "--context-tokens", "4000", "--api-key", "k"]
    )  # fmt: skip
    assert agent_config(args) == AgentConfig(
        base_url="http://127.0.0.1:9/v1", model="m", protocol="hermes", plugins=("EnvChecker", f"{WEATHER}:Weather"),
        timeout=7.0, tool_timeout=7.0, max_turns=3, tool_choice="required", temperature=0.3, context_tokens=4000,
        api_key="k",
    )  # fmt: skip


def test_a_subcommand_without_a_flag_keeps_the_default():
    tools = agent_config(build_parser().parse_args(["tools", "--plugin", "EnvChecker"]))
    assert tools == AgentConfig(plugins=("EnvChecker",))
    call = agent_config(build_parser().parse_args(["call", "EnvChecker", "--timeout", "3"]))
    assert call == AgentConfig(timeout=3.0, tool_timeout=3.0)


def test_serve_flags_become_a_service_config_that_travels_whole():
    from liteagent.serve import ServeConfig

    args = build_parser().parse_args(
        ["serve", "--base-url", "http://127.0.0.1:9/v1", "--server-key", "KEY", "--sessions", "redis://h:6379/0",
         "--allowed-host", "api.example.com", "--max-body", "2000", "--run-timeout", "9"]
    )  # fmt: skip
    config = serve_config(args)
    assert config.agent.base_url == "http://127.0.0.1:9/v1" and config.allowed_hosts == ("api.example.com",)
    assert ServeConfig.from_dict(json.loads(json.dumps(config.to_dict(secrets=True)))) == config
    assert "KEY" not in repr(config) and "server_key" not in config.to_dict()
    with pytest.raises(UsageError, match=r"`allowed_origins=` 'app\.example'"):
        ServeConfig(allowed_origins=("app.example",))


def test_build_makes_the_executor_and_the_agent():
    agent = dataclasses.replace(FULL, plugins=(f"{WEATHER}:Weather",), mcp=()).build()
    try:
        assert isinstance(agent, Agent) and isinstance(agent.llm, OpenAICompatibleLLM)
        assert agent.llm.api_key == "sk-secret" and agent.llm.timeout == 30.0
        assert [p.name for p in agent.executor.plugins] == ["Weather"] and agent.executor.timeout == 5.0
        assert (agent.protocol.name, agent.max_turns, agent.tool_choice) == ("internlm2", 3, "required")
        assert agent.protocol.system_prompt == "你好" and agent.context_tokens == 8192
    finally:
        agent.executor.close()


def test_the_plugin_rules_hold():
    default = AgentConfig().build_executor()
    assert [p.name for p in default.plugins] == [
        "EnvChecker",
        "ArxivSearch",
    ]  # no specs: the built-ins needing no configuration
    mine = AgentConfig(plugins=(f"{WEATHER}:Weather",)).build_executor()
    assert [p.name for p in mine.plugins] == ["Weather"]  # specs: exactly those
    for executor in (default, mine):
        executor.close()


def test_the_dialect_is_known_without_a_server_where_the_name_says_it():
    assert AgentConfig().dialect().name == "hermes"  # the embedded SmolLM2
    assert AgentConfig(model="internlm2_5-7b-chat").dialect().name == "internlm2"
    assert AgentConfig(base_url="http://127.0.0.1:9/v1").dialect().name == "hermes"  # unknown: hermes


def test_the_web_chat_builds_from_a_config_and_never_falls_back_to_the_environment_key(monkeypatch):
    from liteagent.web.runtime import Settings

    monkeypatch.setenv("LITEAGENT_API_KEY", "operator-env-key")
    config = AgentConfig(
        base_url="http://127.0.0.1:9/v1", plugins=("PythonInterpreter", "EnvChecker", f"{WEATHER}:Weather"),
        timeout=4.0, tool_timeout=4.0, n_ctx=1024, temperature=0.7,
    )  # fmt: skip
    defaults = Settings.from_config(config, db="w.sqlite3")
    assert defaults.api_key == "operator-env-key"  # the operator's, kept on the server
    assert defaults.interpreter and defaults.plugins == ["EnvChecker", f"{WEATHER}:Weather"]
    assert defaults.extra_specs == [f"{WEATHER}:Weather"] and defaults.timeout == 4.0 and defaults.n_ctx == 1024
    public = defaults.public()
    assert "api_key" not in public and "operator-env-key" not in json.dumps(public)
    # a visitor's page pointed elsewhere gets no key: "" is none, not the environment's
    visitor = dataclasses.replace(defaults, base_url="http://127.0.0.1:10/v1", api_key="")
    llm = visitor.agent_config().build_llm()
    assert isinstance(llm, OpenAICompatibleLLM) and llm.api_key == "" and llm.timeout == 4.0


def test_no_library_package_imports_the_cli():
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "cli") or path.name == "__main__.py":
            continue
        package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: -node.level] if node.level else []  # __init__ counts as a module
                names = [".".join([*base, node.module or ""]).strip(".")]
                names += [f"{names[0]}.{a.name}" for a in node.names]
            assert not any(n == "liteagent.cli" or n.startswith("liteagent.cli.") for n in names), (path, names)
