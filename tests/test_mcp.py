"""MCP both ways (issue 13), on loopback with the official SDK: liteagent's plugins served (in
memory, over stdio, over HTTP), MCP servers' tools used as plugins, timeouts, crashes, lifecycle,
and the agent calling an MCP tool in every dialect, from the CLI too."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters

from liteagent import ActionExecutor, Agent, BaseAction, ScriptedLLM, tool_api
from liteagent.mcp import MCPServerConfig, MCPToolkit, load_config
from liteagent.mcp.server import build_server

DATA = Path(__file__).resolve().parent / "data"
DEMO = DATA / "mcp_demo_server.py"
WEATHER = DATA / "plugins" / "weather.py"
sys.path.insert(0, str(DATA))
import mcp_demo_server  # noqa: E402


class Calc(BaseAction):
    """Calculator."""

    @tool_api
    def add(self, a: int, b: int = 0) -> dict:
        """Add two numbers.

        Args:
            a: first
            b: second
        """
        return {"sum": a + b}

    @tool_api
    def boom(self) -> str:
        """Always raises."""
        raise RuntimeError("the calculator broke")


# -- the server ------------------------------------------------------------------------------------
def test_in_memory_client_sees_exact_schemas_and_right_results():
    executor = ActionExecutor([Calc()])

    async def go():
        async with Client(build_server(executor)) as c:
            tools = (await c.list_tools()).tools
            listed = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                }
                for t in tools
            ]
            assert listed == executor.openai_tools()  # exactly `liteagent tools --format openai`
            good = await c.call_tool("Calc__add", {"a": 2, "b": 3})
            bad = await c.call_tool("Calc__add", {"a": "two"})
            raising = await c.call_tool("Calc__boom", {})
            unknown = await c.call_tool("Nope__x", {})
            return good, bad, raising, unknown

    good, bad, raising, unknown = asyncio.run(go())
    assert not good.is_error and good.structured_content == {"sum": 5}
    assert bad.is_error and "args_error" in bad.content[0].text and "a" in bad.content[0].text
    assert raising.is_error and "the calculator broke" in raising.content[0].text
    assert unknown.is_error and "unknown tool" in unknown.content[0].text


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_stdio_server_as_a_child_lists_calls_and_leaves_nothing():
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "liteagent", "mcp", "serve", "--plugin", f"{WEATHER}:Weather"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    tk = MCPToolkit(params, name="w")
    ex = ActionExecutor([tk])
    assert "w.Weather__forecast" in ex.names()
    r = ex.execute("w.Weather__forecast", {"city": "Oslo"})
    assert r.ok and "Oslo" in r.result[0].content
    kids = _children(os.getpid())
    tk.close()
    time.sleep(0.5)
    assert not [k for k in _children(os.getpid()) if k in kids and Path(f"/proc/{k}").exists()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_server_needs_its_key(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "mcp", "serve", "--transport", "http", "--port", str(port),
         "--plugin", f"{WEATHER}:Weather", "--server-key", "k3y"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mcp"
        cfg = tmp_path / "mcp.json"
        cfg.write_text(json.dumps({"mcpServers": {"w": {"url": url, "headers": {"Authorization": "Bearer k3y"}}}}))
        tk = MCPToolkit(load_config(cfg)[0])
        r = ActionExecutor([tk]).execute("w.Weather__forecast", {"city": "Rome"})
        assert r.ok and "Rome" in r.result[0].content
        tk.close()
        nokey = MCPToolkit(MCPServerConfig("x", url=url), connect_timeout=5)
        with pytest.raises(Exception, match=r"cannot connect|401|no answer"):
            nokey.api_specs()
        nokey.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the client ------------------------------------------------------------------------------------
def test_text_image_and_structured_content_from_an_sdk_server():
    tk = MCPToolkit(mcp_demo_server.server, name="demo")
    ex = ActionExecutor([tk])
    try:
        text = ex.execute("demo.echo", {"text": "hi"})
        image = ex.execute("demo.picture", {})
        stats = ex.execute("demo.stats", {"numbers": [1, 2.5]})
        failed = ex.execute("demo.fail", {"reason": "nope"})
        assert text.ok and text.result[0].content == "echo: hi"
        img = [i for i in image.result if i.type == "image"]
        assert img and open(img[0].content, "rb").read().startswith(b"\x89PNG")
        assert stats.ok and {"count": 2, "sum": 3.5} in [i.content for i in stats.result if i.type == "json"]
        assert failed.status.value == "api_error"
        assert ex.execute("demo.stats", {"numbers": "x"}).status.value == "args_error"  # checked against the schema
    finally:
        tk.close()


def test_mcp_calls_never_run_on_a_busy_event_loop():
    # An MCP call's time is the server's: however fast it has been, on a loop with other work it
    # goes to a worker thread (a server that hangs must not freeze every conversation).
    import threading

    tk = MCPToolkit(mcp_demo_server.server, name="demo")
    ex = ActionExecutor([tk])
    callers: list[str] = []
    real = tk.connection.call_sync

    def spy(*a, **kw):
        callers.append(threading.current_thread().name)
        return real(*a, **kw)

    tk.connection.call_sync = spy  # type: ignore[method-assign]

    async def many() -> None:
        other = asyncio.create_task(asyncio.sleep(10))
        try:
            for _ in range(8):
                assert (await ex.aexecute("demo.echo", {"text": "hi"})).ok
        finally:
            other.cancel()

    try:
        asyncio.run(many())
        assert len(callers) == 8 and threading.main_thread().name not in callers, callers
    finally:
        tk.close()


def test_a_slow_tool_times_out_and_the_agent_goes_on():
    tk = MCPToolkit(mcp_demo_server.server, name="demo", call_timeout=0.5)
    llm = ScriptedLLM(
        ['<tool_call>{"name": "demo.slow", "arguments": {"seconds": 10}}</tool_call>', "It was too slow."]
    )
    try:
        t = time.monotonic()
        r = Agent(llm, [tk], protocol="hermes").run("wait")
        assert time.monotonic() - t < 2.5
        assert r.steps[0].results[0].status.value in ("timeout", "api_error") and r.answer == "It was too slow."
    finally:
        tk.close()


def test_a_server_killed_mid_call_is_an_error_not_a_hang():
    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(DEMO)]), name="demo", call_timeout=5)
    ex = ActionExecutor([tk])
    try:
        t = time.monotonic()
        r = ex.execute("demo.crash", {})
        assert not r.ok and time.monotonic() - t < 8
        again = ex.execute("demo.echo", {"text": "back"})  # the next call reconnects
        assert again.ok and again.result[0].content == "echo: back"
    finally:
        tk.close()


def test_a_stdio_child_gets_only_its_configured_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    cfg = tmp_path / "mcp.json"
    cfg.write_text(
        json.dumps(
            {"mcpServers": {"demo": {"command": sys.executable, "args": [str(DEMO)], "env": {"MY_SETTING": "42"}}}}
        )
    )
    tk = MCPToolkit(load_config(cfg)[0])
    ex = ActionExecutor([tk])
    try:
        assert ex.execute("demo.environment", {"name": "MY_SETTING"}).result[0].content == "42"
        assert (
            ex.execute("demo.environment", {"name": "OPENAI_API_KEY"}).result == []
            or ex.execute("demo.environment", {"name": "OPENAI_API_KEY"}).result[0].content == ""
        )
    finally:
        tk.close()


def test_open_in_one_task_close_in_another_and_out_of_order():
    a = MCPToolkit(mcp_demo_server.server, name="a")
    b = MCPToolkit(mcp_demo_server.server, name="b")

    async def opener():
        await asyncio.get_running_loop().run_in_executor(None, a.api_specs)
        await asyncio.get_running_loop().run_in_executor(None, b.api_specs)
        ex = ActionExecutor([a, b])
        return await ex.aexecute("a.echo", {"text": "x"}), await ex.aexecute("b.echo", {"text": "y"})

    async def closer():
        await asyncio.get_running_loop().run_in_executor(None, a.close)
        await asyncio.get_running_loop().run_in_executor(None, b.close)

    ra, rb = asyncio.run(opener())
    assert ra.ok and rb.ok
    b.close()  # out of order, and twice: harmless
    asyncio.run(closer())


@pytest.mark.parametrize(
    "dialect, call",
    [
        ("internlm2", '<|action_start|><|plugin|>\n{"name": "demo.echo", "parameters": {"text": "hi"}}<|action_end|>'),
        ("hermes", '<tool_call>{"name": "demo.echo", "arguments": {"text": "hi"}}</tool_call>'),
        ("react", 'Action: demo.echo\nAction Input: {"text": "hi"}'),
        ("openai", None),
    ],
)
def test_the_agent_calls_an_mcp_tool_in_every_dialect(dialect, call):
    from liteagent.llms import ScriptedReply

    reply = call if call else ScriptedReply(tool_calls=[{"name": "demo__echo", "arguments": {"text": "hi"}}])
    tk = MCPToolkit(mcp_demo_server.server, name="demo")
    llm = ScriptedLLM([reply, "It said echo: hi."])
    try:
        r = Agent(llm, [tk], protocol=dialect).run("echo hi")
        assert r.steps[0].results[0].ok and r.steps[0].results[0].result[0].content == "echo: hi"
        assert "demo" in json.dumps(llm.requests[0].to_dict(), ensure_ascii=False)  # the tool was shown
    finally:
        tk.close()


def test_cli_run_and_tools_with_mcp(cli, server, tmp_path):
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [str(DEMO)]}}}))
    tools = cli("tools", "--mcp", str(cfg), "--format", "openai")
    assert tools.code == 0, tools.err
    assert "demo__echo" in tools.out and "demo__stats" in tools.out
    server.replies = ['<tool_call>{"name": "demo.echo", "arguments": {"text": "from the CLI"}}</tool_call>', "Done."]
    r = cli("run", "echo it", "--base-url", server.url, "--mcp", str(cfg), "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["steps"][0]["results"][0]["result"][0]["content"] == "echo: from the CLI"
    bad = cli("tools", "--mcp", str(tmp_path / "missing.json"))
    assert bad.code == 2 and "no such file" in bad.err


def test_the_agent_itself_served_as_the_ask_tool():
    executor = ActionExecutor([Calc()])
    llm = ScriptedLLM(['<tool_call>{"name": "Calc.add", "arguments": {"a": 40, "b": 2}}</tool_call>', "It is 42."])
    agent = Agent(llm, executor, protocol="hermes")

    async def go():
        async with Client(build_server(executor, agent)) as c:
            names = [t.name for t in (await c.list_tools()).tools]
            answer = await c.call_tool("ask", {"question": "40 + 2?"})
            empty = await c.call_tool("ask", {"question": " "})
            return names, answer, empty

    names, answer, empty = asyncio.run(go())
    assert "ask" in names and "Calc__add" in names
    assert not answer.is_error and answer.content[0].text == "It is 42."
    assert empty.is_error
