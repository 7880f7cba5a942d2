"""The tutorial's code blocks run with only ``lagent`` renamed to ``liteagent`` (issue 25, item 4):
its plugin saved where the tutorial saves it, its chatbot (``Internlm2Agent`` with the tutorial's
``Internlm2Protocol(tool=...)``), ``chat().response`` and ``stream_chat()``, against a real HTTP
server on 127.0.0.1 standing in for lmdeploy; prompts byte-identical to Lagent's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from liteagent import ScriptedLLM, UsageError
from liteagent.llms import OpenAICompatibleLLM

from .conftest import TESTS
from .scripted_server import ScriptedServer
from .test_agent_http import GOLDEN, Weather

CALL = '<|action_start|><|plugin|>\n{"name": "EnvChecker.check_torch_env", "parameters": {}}<|action_end|>\n'


def tutorial_chatbot(model, action_list=None):
    """The tutorial's ``StreamlitUI.initialize_chatbot()`` block, with ``lagent`` renamed."""
    from liteagent.actions import ActionExecutor
    from liteagent.agents.internlm2_agent import Internlm2Agent, Internlm2Protocol

    return Internlm2Agent(
        llm=model,
        plugin_executor=ActionExecutor(actions=action_list) if action_list else None,
        protocol=Internlm2Protocol(
            tool=dict(
                begin="{start_token}{name}\n",
                start_token="<|action_start|>",
                name_map=dict(plugin="<|plugin|>", interpreter="<|interpreter|>"),
                belong="assistant",
                end="<|action_end|>\n",
            ),
        ),
        max_turn=7,
    )


def test_the_tutorials_chatbot_sends_lagents_exact_prompts_to_an_lmdeploy_like_server(server: ScriptedServer):
    server.replies = [
        '我来查一下。<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "上海", "days": "2"}}',
        "上海未来两天晴。",
    ]
    weather = Weather()
    chatbot = tutorial_chatbot(OpenAICompatibleLLM(server.url, "scripted-model", backoff=0.01), [weather])
    ret = chatbot.chat("上海天气怎么样？")
    assert ret.response == "上海未来两天晴。" and ret.state == 0 and ret.errmsg is None
    assert weather.calls == [{"city": "上海", "days": 2}]
    (action,) = ret.actions
    assert action.type == "Weather.forecast" and action.args == {"city": "上海", "days": "2"}  # as the model wrote them
    assert action.state == 0 and action.thought == "我来查一下。"
    assert action.result == [{"type": "json", "content": {"city": "上海", "days": 2, "sky": "晴 ☀"}}]
    first, second = (r["body"] for r in server.requests if r["body"] is not None)
    assert first["prompt"] == (GOLDEN / "internlm2_turn1.txt").read_text(encoding="utf-8")
    assert second["prompt"] == (GOLDEN / "internlm2_turn2.txt").read_text(encoding="utf-8")
    assert [s["role"] for s in ret.inner_steps] == ["language", "tool", "environment", "language"]
    assert ret.inner_steps[1] == {
        "role": "tool",
        "content": {"name": "Weather.forecast", "parameters": {"city": "上海", "days": "2"}},
        "name": "plugin",
    }


def test_stream_chat_yields_lagents_states_and_the_history_goes_on():
    from liteagent.actions.env_checker import EnvChecker  # the tutorial's second import block, renamed
    from liteagent.schema import AgentStatusCode

    llm = ScriptedLLM([CALL, "你的环境没有 GPU。"])
    chatbot = tutorial_chatbot(llm, [EnvChecker()])
    history = [
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好！有什么可以帮你？"},
        {"role": "user", "content": "检查一下我的环境"},
    ]
    seen = list(chatbot.stream_chat(history))
    states = [r.state for r in seen]
    assert states[0] == AgentStatusCode.PLUGIN_START and seen[0].response == {
        "name": "EnvChecker.check_torch_env",
        "parameters": {},
    }
    assert AgentStatusCode.PLUGIN_RETURN in states and states[-1] == AgentStatusCode.END
    streaming = [r.response for r in seen if r.state == AgentStatusCode.STREAM_ING]
    assert streaming and streaming[-1] == "你的环境没有 GPU。"
    last = seen[-1]
    assert last.response == "你的环境没有 GPU。" and last.actions[0].type == "EnvChecker.check_torch_env"
    assert "PyTorch" in last.actions[0].format_result()
    # the earlier turns reached the model as the conversation, in InternLM2's template
    prompt = llm.requests[0].prompt
    assert "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n你好！有什么可以帮你？<|im_end|>\n" in prompt
    assert prompt.endswith("<|im_start|>user\n检查一下我的环境<|im_end|>\n<|im_start|>assistant\n")
    # Lagent's web demo keeps inner_steps as history: a next question sees the call and its result
    llm2 = ScriptedLLM(["好的。"])
    chatbot._llm = llm2
    follow = [*history, *last.inner_steps, {"role": "user", "content": "谢谢"}]
    assert chatbot.chat(follow).response == "好的。"
    again = llm2.requests[0].prompt
    assert '<|action_start|><|plugin|>\n{"name": "EnvChecker.check_torch_env", "parameters": {}}<|action_end|>' in again
    assert "<|im_start|>environment name=<|plugin|>\n=== PyTorch Environment ===" in again


def test_the_web_demos_settings_are_read_at_each_chat():
    from liteagent.actions import ActionExecutor
    from liteagent.actions.env_checker import EnvChecker

    llm = ScriptedLLM(["一", "二"])
    chatbot = tutorial_chatbot(llm)
    chatbot.chat("x")
    assert "<|plugin|>" not in llm.requests[0].prompt  # no plugins chosen
    chatbot._action_executor = ActionExecutor(actions=[EnvChecker()])  # as Lagent's web demo sets them
    chatbot._protocol.meta_prompt = "你是助手。"
    chatbot._protocol.plugin_prompt = "工具：\n{prompt}"
    chatbot.chat("y")
    prompt = llm.requests[1].prompt
    assert prompt.startswith("<|im_start|>system\n你是助手。<|im_end|>\n<|im_start|>system name=<|plugin|>\n工具：\n[")
    assert "EnvChecker.check_torch_env" in prompt


def test_the_tutorials_own_plugin_without_torch_reports_it_missing():
    # the tutorial's EnvChecker, saved as a file with its import line renamed
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS / 'data')!r})\n"
        "sys.modules['torch'] = None  # not installed\n"
        "from seed_env_checker import EnvChecker\n"
        "from liteagent.actions import ActionExecutor\n"
        "ret = ActionExecutor([EnvChecker()]).execute('EnvChecker.check_torch_env', {})\n"
        "print(ret.status.value, '|', ret.error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    status, error = out.stdout.strip().split(" | ", 1)
    assert status == "api_error" and "torch" in error and "Traceback" not in out.stderr


def test_bad_settings_are_one_line_errors_not_ignored():
    from liteagent.agents.internlm2_agent import Internlm2Agent, Internlm2Protocol

    with pytest.raises(UsageError, match="start_token='<<' is not InternLM2's template"):
        Internlm2Protocol(tool=dict(start_token="<<"))
    with pytest.raises(UsageError, match="few_shot"):
        Internlm2Protocol(few_shot=[[{"role": "user", "content": "x"}]])
    with pytest.raises(UsageError, match="takes a liteagent model"):
        Internlm2Agent(llm="internlm2_5-7b-chat")
    chatbot = Internlm2Agent(ScriptedLLM(["a"]))
    with pytest.raises(UsageError, match="unknown option 'do_sample'"):
        chatbot.chat("x", do_sample=True)
    with pytest.raises(UsageError, match="last message must be the user's question"):
        chatbot.chat([{"role": "assistant", "content": "x"}])


def test_a_model_server_that_is_down_is_an_error_state_with_its_reason():
    from liteagent.schema import AgentStatusCode

    chatbot = tutorial_chatbot(OpenAICompatibleLLM("http://127.0.0.1:9", "m", max_retries=0))
    ret = chatbot.chat("x")
    assert ret.state == AgentStatusCode.SERVER_ERR and "127.0.0.1:9" in (ret.errmsg or "")
    assert ret.response == ""
    last = list(chatbot.stream_chat("x"))[-1]
    assert last.state == AgentStatusCode.SERVER_ERR and last.errmsg


def test_an_interpreter_executor_joins_the_plugins():
    from liteagent.actions import ActionExecutor, IPythonInterpreter
    from liteagent.actions.env_checker import EnvChecker
    from liteagent.agents.internlm2_agent import Internlm2Agent

    llm = ScriptedLLM(["ok"])
    chatbot = Internlm2Agent(
        llm,
        plugin_executor=ActionExecutor([EnvChecker()]),
        interpreter_executor=ActionExecutor([IPythonInterpreter()]),
    )
    assert chatbot.chat("x").response == "ok"
    prompt = llm.requests[0].prompt
    assert "<|im_start|>system name=<|interpreter|>\n" in prompt and "EnvChecker.check_torch_env" in prompt
