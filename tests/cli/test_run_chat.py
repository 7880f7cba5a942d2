"""`liteagent run` and `liteagent chat` as the real command, against the scripted server."""

from __future__ import annotations

import json

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"


def test_run_json_trace(cli, server):
    server.replies = [
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "杭州"}}',
        "杭州晴。",
    ]
    r = cli(
        "run",
        "杭州天气？",
        "--json",
        "--base-url",
        server.url,
        "--model",
        "scripted-model",
        "--protocol",
        "internlm2",
        "--plugin",
        f"{WEATHER}:Weather",
    )
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["answer"] == "杭州晴。" and out["status"] == "ok" and out["protocol"] == "internlm2"
    (step, final) = out["steps"]
    assert step["tool_calls"] == [{"name": "Weather.forecast", "arguments": {"city": "杭州"}, "id": "call_0"}]
    assert step["results"][0]["status"] == "success"
    assert step["results"][0]["result"][0]["content"]["sky"] == "晴"
    assert final["tool_calls"] == []


def test_run_plain_answer(cli, server):
    server.replies = ["Just text."]
    r = cli("run", "hi", "--base-url", server.url)
    assert r.code == 0 and r.out == "Just text.\n"


def test_run_without_server_is_one_line_exit_1(cli, free_port):
    url = f"http://127.0.0.1:{free_port}/v1"
    r = cli("run", "hi", "--base-url", url)
    assert r.code == 1
    assert "Traceback" not in r.err
    line = r.err.strip()
    assert len(line.splitlines()) == 1
    assert f"cannot reach the model server at {url}" in line and "lmdeploy serve api_server" in line


def test_run_max_turns_exit_1(cli, server):
    server.default_reply = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "X"}}</tool_call>'
    r = cli("run", "x", "--json", "--base-url", server.url, "--max-turns", "2", "--plugin", f"{WEATHER}:Weather")
    assert r.code == 1
    out = json.loads(r.out)
    assert out["status"] == "max_turns" and len(out["steps"]) == 2
    assert r.err.strip().startswith("liteagent: error: stopped after 2 model turns")  # and one line for people


def test_run_json_without_server_still_prints_json_and_one_line(cli, free_port):
    r = cli("run", "hi", "--json", "--base-url", f"http://127.0.0.1:{free_port}/v1")
    assert r.code == 1 and json.loads(r.out)["status"] == "error"
    assert len(r.err.strip().splitlines()) == 1 and "cannot reach the model server" in r.err


def test_chat_session(cli, server, tmp_path):
    server.replies = [
        '<tool_call>{"name": "shout", "arguments": {"text": "hey"}}</tool_call>',
        "Done: HEY",
        "Second answer",
    ]
    save = tmp_path / "c.json"
    script = f"/tools\nshout hey\n/save {save}\n/reset\n/load {save}\nand again\n/bogus\n/exit\n"
    r = cli("chat", "--base-url", server.url, "--plugin", f"{WEATHER}:shout", stdin=script)
    assert r.code == 0, r.err
    assert "shout: Shout text." in r.out
    assert "tool call · shout" in r.out and "HEY" in r.out and "success" in r.out
    assert "Done: HEY" in r.out and "Second answer" in r.out
    assert "saved 4 items" in r.out and "loaded 4 items" in r.out
    assert "unknown command /bogus" in r.err
    saved = json.loads(save.read_text(encoding="utf-8"))
    assert [m["role"] for m in saved["items"]] == ["user", "assistant", "tool", "assistant"]
    # the reloaded history was sent with the next question
    last = [x["body"] for x in server.requests if x["body"]][-1]
    assert [m["role"] for m in last["messages"]][-3:] == ["user", "assistant", "user"]


def test_chat_survives_server_errors(cli, free_port):
    r = cli("chat", "--base-url", f"http://127.0.0.1:{free_port}/v1", stdin="hello\n/exit\n")
    assert r.code == 0
    assert "cannot reach the model server" in r.err and "Traceback" not in r.err


def test_library_errors_name_arguments_and_the_cli_names_flags(cli, free_port):
    from liteagent import Agent, OpenAICompatibleLLM

    url = f"http://127.0.0.1:{free_port}/v1"
    r = Agent(OpenAICompatibleLLM(url, "m", max_retries=0), [], protocol="hermes").run("hi")
    assert r.status == "error" and "`base_url=`" in r.error and "--base-url" not in r.error
    res = cli("run", "--base-url", url, "--model", "m", "hi")
    assert res.code == 1 and "--base-url" in res.err and "base_url=" not in res.err


def test_max_tokens_reaches_the_server_and_a_cut_answer_names_the_flag(cli, server):
    cut = [
        {"choices": [{"index": 0, "delta": {"content": "The answer is lo"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        "[DONE]",
    ]
    server.replies = [{"sse": cut}]
    r = cli("run", "x", "--json", "--base-url", server.url, "--max-tokens", "7")
    body = [q["body"] for q in server.requests if q["body"]][-1]
    assert body["max_tokens"] == 7
    out = json.loads(r.out)
    assert r.code == 1 and out["status"] == "truncated" and "--max-tokens" in out["error"]
    bad = cli("run", "x", "--base-url", server.url, "--max-tokens", "0")
    assert bad.code == 2 and "--max-tokens" in bad.err and "Traceback" not in bad.err
