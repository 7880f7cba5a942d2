"""`liteagent serve` (issue 14) with the official `openai` client on loopback: a scripted model
server behind it, real processes, real SQLite and Redis stores."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

openai = pytest.importorskip("openai")

from .conftest import TESTS  # noqa: E402

WEATHER = TESTS / "data" / "plugins" / "weather.py"
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, upstream: str, *extra: str, key: str | None = None, sessions: str | None = None) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "liteagent", "serve", "--port", str(self.port), "--base-url", upstream,
                "--model", "scripted-model", "--protocol", "hermes", "--plugin", f"{WEATHER}:Weather", *extra]  # fmt: skip
        if key:
            args += ["--server-key", key]
        if sessions:
            args += ["--sessions", sessions]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{self.port}/v1"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.proc.stderr.read() if self.proc.stderr else "serve died") from None
                time.sleep(0.1)
        raise RuntimeError("liteagent serve did not start")

    def client(self, key: str = "none", **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=30, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def service(server, tmp_path):
    made: list[Service] = []

    def make(*extra: str, **kw) -> Service:
        kw.setdefault("sessions", str(tmp_path / "sessions.sqlite3"))
        s = Service(server.url, *extra, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def bodies(server):
    return [r["body"] for r in server.requests if r["body"]]


def test_workers_share_the_session_store(service, server):
    server.replies = ["Hi, Bo.", "You are Bo."]
    s = service("--workers", "2")
    c = s.client()
    c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "I am Bo."}], user="w-1")
    r = c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "Who?"}], user="w-1")
    assert r.choices[0].message.content == "You are Bo."
    sent = [m["content"] for m in bodies(server)[-1]["messages"] if m["role"] != "system"]
    assert sent == ["I am Bo.", "Hi, Bo.", "Who?"]


def test_non_stream_answer_with_a_server_side_tool(service, server):
    server.replies = [CALL, "Sunny in Oslo."]
    r = service().client().chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "Oslo?"}])
    assert r.choices[0].message.content == "Sunny in Oslo." and r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.tool_calls is None  # the server ran the tool: nothing for the client to run
    assert r.usage is not None
    assert "tool_response" in json.dumps(bodies(server)[-1]) and "Oslo" in json.dumps(
        bodies(server)[-1]
    )  # the result reached the model


def test_stream_concatenates_to_the_answer_with_tool_progress(service, server):
    server.replies = [CALL, "Sunny in Oslo, all week."]
    stream = (
        service()
        .client()
        .chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "Oslo?"}], stream=True)
    )
    text, progress, finishes = "", [], []
    for chunk in stream:  # the stock loop never breaks on our extra field
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        extra = (chunk.model_extra or {}).get("x_liteagent")
        if extra:
            progress.append(extra)
        if chunk.choices and chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    assert text == "Sunny in Oslo, all week."
    assert [p["type"] for p in progress] == ["tool_call", "tool_result"]
    assert progress[0]["name"] == "Weather.forecast" and progress[1]["status"] == "success"
    assert finishes == ["stop"]


def test_a_conversation_continues_across_two_processes_sharing_sqlite(service, server, tmp_path):
    server.replies = ["Hello, Ann.", "Your name is Ann."]
    first = service()
    first.client().chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "I am Ann."}], extra_headers={"X-Session-Id": "s-1"}
    )
    first.stop()
    second = service()
    r = second.client().chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "Who am I?"}], extra_headers={"X-Session-Id": "s-1"}
    )
    assert r.choices[0].message.content == "Your name is Ann."
    sent = [m["content"] for m in bodies(server)[-1]["messages"] if m["role"] != "system"]
    assert sent == ["I am Ann.", "Hello, Ann.", "Who am I?"]


@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_a_conversation_continues_across_two_processes_sharing_redis(service, server, redis_url):
    server.replies = ["Noted: blue.", "Blue."]
    a = service(sessions=redis_url)
    b = service(sessions=redis_url)
    a.client().chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "My color is blue."}], user="conv-7"
    )
    r = b.client().chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "My color?"}], user="conv-7"
    )
    assert r.choices[0].message.content == "Blue."
    sent = [m["content"] for m in bodies(server)[-1]["messages"] if m["role"] != "system"]
    assert sent == ["My color is blue.", "Noted: blue.", "My color?"]


def test_keys_and_sessions_bound_to_them(service, server, tmp_path):
    server.replies = ["ok", "ok"]
    db = str(tmp_path / "shared.sqlite3")
    one = service(key="key-one", sessions=db)
    two = service(key="key-two", sessions=db)
    with pytest.raises(openai.AuthenticationError):
        one.client("wrong").chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "hi"}])
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as missing:  # no Authorization header at all
        urllib.request.urlopen(f"{one.url}/models", timeout=5)
    assert missing.value.code == 401
    one.client("key-one").chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "hi"}], extra_headers={"X-Session-Id": "mine"}
    )
    with pytest.raises(openai.NotFoundError):
        two.client("key-two").chat.completions.create(
            model="liteagent", messages=[{"role": "user", "content": "hi"}], extra_headers={"X-Session-Id": "mine"}
        )
    assert [m.id for m in one.client("key-one").models.list().data] == ["liteagent"]


def test_bad_requests_are_refused_clearly(service, server):
    s = service("--max-body", "2000")
    c = s.client()
    with pytest.raises(openai.APIStatusError) as big:
        c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "x" * 5000}])
    assert big.value.status_code == 413
    with pytest.raises(openai.BadRequestError, match="client-side tools"):
        c.chat.completions.create(
            model="liteagent",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        )


def test_a_run_past_its_time_limit(service, server):
    server.delay = 3.0
    server.replies = ["late", "late"]
    s = service("--run-timeout", "1")
    with pytest.raises(openai.APIStatusError) as slow:
        s.client().chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "hi"}])
    assert slow.value.status_code == 504
    # a stream ends with an error a stock client raises (not an empty answer that looks normal)
    with pytest.raises(openai.APIError, match="within 1 s") as streamed:
        list(
            s.client().chat.completions.create(
                model="liteagent", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    assert not isinstance(streamed.value, openai.APIConnectionError)


def test_a_client_that_disconnects_cancels_its_run(service, server):
    server.delay = 1.5
    server.replies = [CALL, "never read"]
    s = service()
    stream = s.client().chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "Oslo?"}], stream=True
    )
    next(iter(stream))  # the role chunk
    stream.close()  # gone mid-run
    time.sleep(4)
    assert len(bodies(server)) <= 1  # the second model call never happened


def _wait_routed(url: str, tries: int = 1200) -> None:
    import urllib.error
    import urllib.request

    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered 200")


def test_the_same_app_on_ray_serve(server, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[serve]')")
    from ray import serve

    from liteagent import AgentConfig
    from liteagent.serve import ServeConfig
    from liteagent.serve.ray import deployment

    server.replies = [CALL, "Sunny (via Ray)."]
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        agent = AgentConfig(
            base_url=server.url, model="scripted-model", protocol="hermes", plugins=[f"{WEATHER}:Weather"]
        )  # travels to the replica as JSON
        app = deployment(ServeConfig(agent, sessions=str(tmp_path / "ray.sqlite3"))).bind()
        serve.run(app, route_prefix="/", blocking=False)
        _wait_routed(f"http://127.0.0.1:{port}/health")  # the proxy learns the route after run() returns
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=180)
        r = client.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "Oslo?"}])
        assert r.choices[0].message.content == "Sunny (via Ray)."
    finally:
        serve.shutdown()
        ray.shutdown()


def test_the_interpreter_is_refused_not_shared_between_callers(cli, server):
    r = cli("serve", "--base-url", server.url, "--plugin", "PythonInterpreter", "--port", str(free_port()))
    assert r.code == 2 and "PythonInterpreter" in r.err and "Traceback" not in r.err


def test_each_request_is_one_log_line_with_its_session_turns_tools_and_tokens(service, server):
    server.replies = [CALL, "Sunny in Oslo."]
    s = service()
    r = s.client().chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "Oslo?"}], user="log-1"
    )
    s.stop()
    log = s.proc.stderr.read() if s.proc.stderr else ""
    (line,) = [x for x in log.splitlines() if r.id in x]
    assert "session=log-1" in line and "turns=2" in line and "tool_calls=1" in line and "status=ok" in line
    assert "tokens_in=20" in line and "tokens_out=" in line and "ms=" in line


PROGRESS_PLUGIN = '''
import os
import time
from liteagent import ToolContext, tool


@tool
def survey(ctx: ToolContext) -> str:
    """Survey the area, in three legs."""
    ctx.report_progress(1, 3, "leg 1")
    for _ in range(300):  # the client saw leg 1 while this runs, and said so (a file)
        if os.path.exists(os.environ["SEEN_FLAG"]):
            break
        time.sleep(0.05)
    else:
        return "nobody saw leg 1 in time"
    ctx.report_progress(2, 3, "leg 2")
    ctx.report_progress(3, 3, "leg 3")
    return "surveyed"
'''


def test_a_tools_progress_streams_while_it_runs(service, server, tmp_path, monkeypatch):
    plugin = tmp_path / "survey.py"
    plugin.write_text(PROGRESS_PLUGIN)
    flag = tmp_path / "seen"
    monkeypatch.setenv("SEEN_FLAG", str(flag))  # the service inherits it
    server.replies = ['<tool_call>{"name": "survey", "arguments": {}}</tool_call>', "Surveyed."]
    stream = (
        service("--plugin", f"{plugin}:survey")
        .client()
        .chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "Survey?"}], stream=True)
    )
    seen: list[tuple[str, float]] = []
    text = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        extra = (chunk.model_extra or {}).get("x_liteagent")
        if extra:
            seen.append((extra["type"], extra.get("progress", 0)))
            if extra["type"] == "tool_progress":
                flag.touch()  # the tool goes on only once its first progress reached the client
        if extra and extra["type"] == "tool_result":
            assert extra["text"] == "surveyed", extra  # it went on: leg 1 came while it ran
    kinds = [k for k, _ in seen]
    assert text == "Surveyed."
    assert kinds == ["tool_call", "tool_progress", "tool_progress", "tool_progress", "tool_result"], kinds
    assert [p for k, p in seen if k == "tool_progress"] == [1, 2, 3]
