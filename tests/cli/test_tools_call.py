"""`liteagent tools` and `liteagent call`, run as the real command."""

from __future__ import annotations

import json

import pytest

from ..conftest import TESTS

SEED = TESTS / "data" / "seed_env_checker.py"
WEATHER = TESTS / "data" / "plugins" / "weather.py"


def test_tools_lagent_for_the_seed_plugin(cli):
    r = cli("tools", "--plugin", f"{SEED}:EnvChecker", "--format", "lagent")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data == [
        {
            "name": "EnvChecker",
            "description": "检查深度学习环境的插件",
            "api_list": [
                {
                    "name": "check_torch_env",
                    "description": "获取PyTorch相关环境信息",
                    "parameters": [],
                    "required": [],
                    "parameter_description": "If you call this tool, you must pass arguments in the JSON format {key: value}, where the key is the parameter name.",
                }
            ],
        }
    ]


def test_tools_openai_and_prompt(cli):
    r = cli("tools", "--plugin", f"{WEATHER}:Weather", "--format", "openai")
    assert r.code == 0
    (t,) = json.loads(r.out)
    assert t["function"]["name"] == "Weather__forecast"
    assert t["function"]["parameters"]["required"] == ["city"]
    r = cli("tools", "--plugin", f"{WEATHER}:Weather", "--format", "prompt", "--protocol", "internlm2")
    assert r.code == 0
    assert r.out.startswith('你可以使用如下工具：\n[\n    {\n        "name": "Weather.forecast"')
    assert '"name": "days"' in r.out  # optional parameters are shown
    r = cli("tools", "--plugin", f"{WEATHER}:Weather", "--format", "prompt", "--protocol", "hermes")
    assert "<tools>" in r.out and '"name": "Weather.forecast"' in r.out


def test_default_plugins_and_builtin_call(cli):
    r = cli("tools")
    assert [d["name"] for d in json.loads(r.out)] == ["EnvChecker", "ArxivSearch"]
    r = cli("call", "EnvChecker.check_torch_env")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["status"] == "success" and out["error"] is None and out["elapsed"] > 0
    assert "=== System Information ===" in out["result"][0]["content"]


def test_call_with_args_and_statuses(cli):
    r = cli("call", "Weather.forecast", "--plugin", f"{WEATHER}:Weather", "--args", '{"city": "北京", "days": "2"}')
    assert r.code == 0
    assert json.loads(r.out)["result"][0]["content"] == {"city": "北京", "days": 2, "sky": "晴"}
    assert "北京" in r.out  # unicode kept, not escaped
    r = cli("call", "Weather.nope", "--plugin", f"{WEATHER}:Weather")
    assert r.code == 1 and json.loads(r.out)["status"] == "invalid_action"
    r = cli("call", "Weather.forecast", "--plugin", f"{WEATHER}:Weather", "--args", '{"days": 1}')
    assert r.code == 1 and json.loads(r.out)["status"] == "args_error"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["tools", "--plugin", "NoSuch"], "unknown plugin 'NoSuch'"),
        (["tools", "--plugin", "nowhere/x.py:X"], "not found"),
        (["tools", "--plugin", f"{WEATHER}:NotAPlugin"], "is not a plugin"),
        (["call", "EnvChecker.check_torch_env", "--args", "{bad json"], "--args is not valid JSON"),
        (["call", "EnvChecker.check_torch_env", "--args", "[1]"], "--args must be a JSON object"),
        (["tools", "--format", "xml"], "invalid choice"),
        (["run", "hi", "--max-turns", "0"], "must be 1 or more"),
    ],
)
def test_usage_errors_one_line_exit_2(cli, args, needle):
    r = cli(*args)
    assert r.code == 2, (r.code, r.err)
    assert needle in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert "Traceback" not in r.err and r.out == ""


def test_web_rejects_an_unknown_plugin_before_starting(cli):
    r = cli("web", "--plugin", "NoSuchPlugin", "--port", "1")
    assert r.code == 2 and "unknown plugin 'NoSuchPlugin'" in r.err and len(r.err.strip().splitlines()) == 1


def test_call_accepts_every_spelling_a_user_was_shown(cli, tmp_path):
    # a tool is shown as Weather.forecast (tools, prompts), Weather__forecast (OpenAI tools, MCP);
    # through liteagent's own MCP server it becomes lite.Weather__forecast
    import sys

    config = tmp_path / "servers.json"
    serve = [sys.executable, "-m", "liteagent", "mcp", "serve", "--plugin", f"{WEATHER}:Weather"]
    config.write_text(json.dumps({"mcpServers": {"lite": {"command": serve[0], "args": serve[1:]}}}))
    for name in ("Weather.forecast", "Weather__forecast", "weather.FORECAST"):
        r = cli("call", name, "--plugin", f"{WEATHER}:Weather", "--args", '{"city": "Oslo"}')
        assert r.code == 0 and json.loads(r.out)["status"] == "success", (name, r.err)
    for name in ("lite.Weather__forecast", "lite__Weather__forecast", "lite.Weather.forecast"):
        r = cli("call", name, "--mcp", str(config), "--args", '{"city": "Oslo"}')
        out = json.loads(r.out)
        assert r.code == 0 and out["status"] == "success", (name, r.err, out)
    r = cli("call", "lite.Weather.nowcast", "--mcp", str(config), "--args", "{}")
    assert "valid tools: lite.Weather__forecast" in json.loads(r.out)["error"]  # shown one way
