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
from liteagent.errors import ToolError, UsageError
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
    """The live processes whose parent is ``pid`` (whichever of its threads started them)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                kids.append(int(entry.name))
    return kids


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
    assert kids, "the stdio server runs as a child"
    tk.close()
    time.sleep(0.5)
    assert not [k for k in _children(os.getpid()) if k in kids and Path(f"/proc/{k}").exists()]


def test_stdio_server_takes_and_gives_big_messages_and_bad_lines(tmp_path):
    # Lines far past a pipe's buffer both ways, and a line that is not JSON-RPC in between: the
    # server answers each request whole and goes on.
    plugin = tmp_path / "big.py"
    plugin.write_text(
        "from liteagent import BaseAction, tool_api\n\n\n"
        "class Big(BaseAction):\n"
        '    """Big texts."""\n\n'
        "    @tool_api\n"
        "    def double(self, text: str) -> str:\n"
        '        """Twice the text.\n\n        Args:\n            text: any text\n        """\n'
        "        return text * 2\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "mcp", "serve", "--plugin", f"{plugin}:Big"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def send(obj: object) -> None:
        proc.stdin.write(json.dumps(obj).encode() + b"\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    try:
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        assert json.loads(proc.stdout.readline())["id"] == 1
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        proc.stdin.write(b"this is not json\n")
        text = "ab" * 150_000  # 300 kB in, 600 kB out
        send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "Big__double", "arguments": {"text": text}},
            }
        )
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 2 and answer["result"]["content"][0]["text"] == text * 2
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert proc.returncode == 0


def test_a_stdio_server_that_will_not_exit_is_ended_with_its_whole_group(tmp_path):
    # Closing stdin, then SIGTERM, then SIGKILL to the server's process group: a server that
    # ignores the first two, and the grandchild it started, are both gone after close().
    pid_file = tmp_path / "grandchild.pid"
    params = StdioServerParameters(command=sys.executable, args=[str(DATA / "mcp_stubborn_server.py"), str(pid_file)])
    tk = MCPToolkit(params, name="stubborn")
    try:
        assert ActionExecutor([tk]).execute("stubborn.echo", {"text": "hi"}).ok
        (server,) = _children(os.getpid())
        grandchild = int(pid_file.read_text())
        t = time.monotonic()
    finally:
        tk.close()
    assert time.monotonic() - t < 8
    deadline = time.monotonic() + 3
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(server) and not _alive(grandchild)


def test_a_server_that_never_answers_the_handshake_times_out_and_is_ended():
    mute = "import sys, time; sys.stdin.read(); time.sleep(60)"
    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=["-c", mute]), name="mute", connect_timeout=1)
    t = time.monotonic()
    try:
        with pytest.raises(ToolError, match="no answer within 1 s of connecting"):
            tk.api_specs()
        assert time.monotonic() - t < 8
        assert not _children(os.getpid())
    finally:
        tk.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


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


def test_parallel_calls_share_one_connection_and_run_together():
    # The waiting threads take turns running the connection's loop: three 1-s calls made at
    # once (the agent's parallel tool calls) take about 1 s, and answers never go astray.
    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(DEMO)]), name="demo")
    ex = ActionExecutor([tk])

    async def three() -> list:
        return await asyncio.gather(*(ex.aexecute("demo.slow", {"seconds": 1}) for _ in range(3)))

    try:
        t = time.monotonic()
        rs = asyncio.run(three())
        assert all(r.ok for r in rs) and time.monotonic() - t < 2.5, [r.error for r in rs]
        errors: list[str] = []

        def caller(k: int) -> None:
            for i in range(15):
                r = ex.execute("demo.echo", {"text": f"{k}-{i}"})
                if not (r.ok and r.result[0].content == f"echo: {k}-{i}"):
                    errors.append(f"{k}-{i}: {r.error or r.result}")

        import threading

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert not errors and not any(th.is_alive() for th in threads), errors[:3]
    finally:
        tk.close()


def test_sync_calls_from_inside_a_running_event_loop():
    # Sync code called from a coroutine (a loop already runs in this thread) still gets answers.
    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(DEMO)]), name="demo")
    ex = ActionExecutor([tk])

    async def inside() -> object:
        return ex.execute("demo.echo", {"text": "from a loop"})

    try:
        r = asyncio.run(inside())
        assert r.ok and r.result[0].content == "echo: from a loop"
    finally:
        tk.close()


def test_an_idle_connection_notices_its_server_exit_and_the_next_call_reconnects():
    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(DEMO)]), name="demo")
    ex = ActionExecutor([tk])
    try:
        assert ex.execute("demo.echo", {"text": "one"}).ok
        (child,) = _children(os.getpid())
        os.kill(child, 9)
        t = time.monotonic()
        while tk.connection.alive and time.monotonic() - t < 3:
            time.sleep(0.05)
        assert not tk.connection.alive, "no call was made, yet the exit is seen"
        again = ex.execute("demo.echo", {"text": "two"})
        assert again.ok and again.result[0].content == "echo: two"
    finally:
        tk.close()


def test_a_signal_that_ends_a_wait_leaves_the_connection_usable():
    # A tool limit (SIGALRM) or ^C ends a sync call while its thread runs the connection's loop:
    # the call is abandoned, and the next one is answered (the loop is not left held).
    import signal

    class Limit(Exception):
        pass

    def on_alarm(*_a: object) -> None:
        raise Limit

    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(DEMO)]), name="demo", call_timeout=3)
    ex = ActionExecutor([tk])
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        assert ex.execute("demo.echo", {"text": "warm"}).ok
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Limit):
            tk.connection.call_sync("slow", {"seconds": 2})
        t = time.monotonic()
        again = ex.execute("demo.echo", {"text": "after"})
        assert again.ok and again.result[0].content == "echo: after" and time.monotonic() - t < 2.5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        tk.close()


def test_stdio_speaks_the_handshake_era_and_falls_back_to_discovery(tmp_path):
    era_log = tmp_path / "eras.txt"
    modern_only = DATA / "mcp_modern_only_server.py"
    env = {"ERA_LOG": str(era_log)}
    # an SDK server (both eras): the handshake, which a pipe's long session needs no more than
    sdk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(DEMO)]), name="demo")
    try:
        assert ActionExecutor([sdk]).execute("demo.echo", {"text": "x"}).ok
        assert sdk.connection.protocol == "legacy"
    finally:
        sdk.close()
    # a server of the 2026-07-28 era only refuses the handshake: it is discovered instead
    tk = MCPToolkit(StdioServerParameters(command=sys.executable, args=[str(modern_only)], env=env), name="m")
    try:
        r = ActionExecutor([tk]).execute("m.echo", {"text": "hi"})
        assert r.ok and r.result[0].content == "echo: hi" and tk.connection.protocol == "auto"
        assert era_log.read_text().splitlines()[-1] == "tools/call modern"
    finally:
        tk.close()
    # pinned to the handshake, the same server cannot be used: a one-line error, no fallback
    pinned = MCPToolkit(
        StdioServerParameters(command=sys.executable, args=[str(modern_only)], env=env), name="m", protocol="legacy"
    )
    try:
        with pytest.raises(ToolError, match=r"cannot connect.*2026-07-28 only"):
            pinned.api_specs()
    finally:
        pinned.close()
    # a config entry names the era; a bad one is a one-line usage error
    cfg = tmp_path / "mcp.json"
    entry = {"command": sys.executable, "args": [str(modern_only)], "env": env, "protocol": "2026-07-28"}
    cfg.write_text(json.dumps({"mcpServers": {"m": entry}}))
    (server,) = load_config(cfg)
    tk = MCPToolkit(server)
    era_log.write_text("")
    try:
        assert ActionExecutor([tk]).execute("m.echo", {"text": "pinned"}).ok
        lines = era_log.read_text().splitlines()
        assert lines[-1] == "tools/call modern" and all(line.endswith(" modern") for line in lines), lines
    finally:
        tk.close()
    cfg.write_text(json.dumps({"mcpServers": {"m": {**entry, "protocol": "newest"}}}))
    with pytest.raises(UsageError, match='protocol must be "auto", "legacy" or a version'):
        load_config(cfg)


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


def test_a_stdio_servers_stderr_goes_to_its_log_and_into_errors(tmp_path, capfd):
    # A server's tracebacks are not printed over the user's terminal; they land in its log, and
    # when it cannot start, the error names its last words and the log.
    cfg = tmp_path / "mcp.json"
    servers = {
        "demo": {"command": sys.executable, "args": [str(DEMO)]},
        "broken": {"command": sys.executable, "args": ["-c", "import no_such_module_here"]},
    }
    cfg.write_text(json.dumps({"mcpServers": servers}))
    demo, broken = (MCPToolkit(c) for c in load_config(cfg))
    try:
        failed = ActionExecutor([demo]).execute("demo.fail", {"reason": "the reason"})
        assert failed.status.value == "api_error"
        demo.close()
        assert "Traceback" not in capfd.readouterr().err
        assert demo.connection.stderr.path is not None and "the reason" in demo.connection.stderr.path.read_text()
        with pytest.raises(ToolError) as err:
            broken.api_specs()
        assert "No module named 'no_such_module_here'" in str(err.value) and "broken.log" in str(err.value)
    finally:
        demo.close()
        broken.close()


def test_mcp_serve_ignores_no_flag(cli):
    # `--api-key` is the model's key: given to a plain server it would leave HTTP unprotected while
    # the user believes it keyed; every flag that would do nothing is a one-line error instead.
    keyed = cli("mcp", "serve", "--transport", "http", "--api-key", "K")
    assert keyed.code == 2 and "--server-key" in keyed.err and "Traceback" not in keyed.err
    stdio_key = cli("mcp", "serve", "--server-key", "K")
    assert stdio_key.code == 2 and "--transport http" in stdio_key.err
    model = cli("mcp", "serve", "--base-url", "http://127.0.0.1:9/v1", "--temperature", "0.2")
    assert model.code == 2 and "--base-url, --temperature" in model.err and "--agent" in model.err


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
