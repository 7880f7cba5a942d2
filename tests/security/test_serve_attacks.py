"""`liteagent serve` attacked (issue 23, items 5, 7, 8 and the service half of 10): a web page the
operator visits (a cross-site form POST, DNS rebinding), a plugin spelled so that the old guard
missed the shared interpreter, a model server whose error page names its URL, and a run or a body
that breaks the JSON parser's recursion. Every request goes to 127.0.0.1: a foreign site is only
a header."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")

from ..conftest import TESTS  # noqa: E402
from ..test_serve import Service, free_port  # noqa: E402

EVIL = "http://evil.example"
DEEP = 100_000


@pytest.fixture
def service(server, tmp_path):
    made: list[Service] = []

    def make(*extra: str, upstream: str | None = None, **kw: Any) -> Service:
        kw.setdefault("sessions", str(tmp_path / "sessions.sqlite3"))
        s = Service(upstream or server.url, *extra, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def send(
    s: Service, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One raw request to the service on 127.0.0.1 with exactly these headers (Host included)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    try:
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        hdrs.setdefault("Host", f"127.0.0.1:{s.port}")
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def chat_body(stream: bool = False, **extra: Any) -> bytes:
    return json.dumps(
        {"model": "liteagent", "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}
    ).encode()


def error_of(raw: bytes) -> dict[str, Any]:
    err = json.loads(raw)["error"]
    assert set(err) >= {"message", "type", "code"}, err  # the OpenAI error shape
    return err


# -- item 5: cross-site requests and DNS rebinding ---------------------------------------------


def test_a_cross_site_text_plain_post_runs_nothing(service, server):
    """A <form enctype="text/plain"> or fetch(no-cors) from a page: no preflight, so the
    service must refuse it itself."""
    server.default_reply = "ran"
    s = service()
    status, _, raw = send(s, "POST", "/v1/chat/completions", chat_body(), Content_Type="text/plain", Origin=EVIL)
    assert status in (403, 415), raw
    status, _, raw = send(s, "POST", "/v1/chat/completions", chat_body(), Content_Type="text/plain")
    assert status == 415 and "application/json" in error_of(raw)["message"]
    assert not server.completions  # the agent never ran


def test_a_foreign_origin_is_refused_even_with_json(service, server):
    server.default_reply = "ran"
    s = service()
    status, headers, raw = send(
        s, "POST", "/v1/chat/completions", chat_body(), Content_Type="application/json", Origin=EVIL
    )
    assert status == 403 and EVIL in error_of(raw)["message"]
    assert "access-control-allow-origin" not in headers
    status, _, raw = send(s, "OPTIONS", "/v1/chat/completions", Origin=EVIL, Access_Control_Request_Method="POST")
    assert status == 403
    assert not server.completions


def test_dns_rebinding_a_foreign_host_gets_421(service, server):
    """A page at evil.example:PORT whose name now resolves to 127.0.0.1: the browser sends
    Host: evil.example:PORT, same-origin to the page, so no Origin check can help."""
    server.default_reply = "secret answer"
    s = service(key=None)
    rebound = f"evil.example:{s.port}"
    for method, path, body in [("GET", "/v1/models", None), ("POST", "/v1/chat/completions", chat_body())]:
        status, _, raw = send(s, method, path, body, Host=rebound, Content_Type="application/json")
        assert status == 421, (method, raw)
        assert "evil.example" in error_of(raw)["message"]
    status, _, _ = send(s, "GET", "/v1/models", Host=f"localhost:{s.port + 1}")  # another port: not us
    assert status == 421
    assert not server.completions
    for host in (f"127.0.0.1:{s.port}", f"localhost:{s.port}"):  # the names of loopback itself
        assert send(s, "GET", "/v1/models", Host=host)[0] == 200


def test_the_same_checks_with_a_key(service, server):
    server.default_reply = "ran"
    s = service(key="k")
    auth = {"Authorization": "Bearer k"}
    assert send(s, "GET", "/v1/models", Host=f"evil.example:{s.port}", **auth)[0] == 421
    assert send(s, "POST", "/v1/chat/completions", chat_body(), Content_Type="text/plain", **auth)[0] == 415
    assert not server.completions


def test_allowed_hosts_and_origins_for_proxies_and_front_ends(service, server):
    server.default_reply = "hello"
    front = "https://app.example"
    s = service("--allowed-host", "api.example", "--allowed-origin", front)
    status, headers, _ = send(
        s, "OPTIONS", "/v1/chat/completions", Origin=front, Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="authorization, content-type",
    )  # fmt: skip
    assert status == 204
    assert headers["access-control-allow-origin"] == front
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()
    status, headers, raw = send(
        s, "POST", "/v1/chat/completions", chat_body(), Host="api.example", Origin=front,
        Content_Type="application/json; charset=utf-8",
    )  # fmt: skip
    assert status == 200, raw
    assert json.loads(raw)["choices"][0]["message"]["content"] == "hello"
    assert headers["access-control-allow-origin"] == front
    assert send(s, "GET", "/v1/models", Host="api.example:8443")[0] == 421  # exactly as allowed
    assert send(s, "GET", "/v1/models", Origin="https://other.example")[0] == 403


def test_the_official_client_still_works(service, server):
    server.replies = ["plain answer", "streamed answer"]
    c = service("--allowed-origin", "https://app.example").client()
    r = c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "plain answer"
    chunks = c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "streamed answer"
    assert [m.id for m in c.models.list().data] == ["liteagent"]


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--allowed-origin", "app.example"), ("--allowed-origin", "https://app.example/path"),
     ("--allowed-host", "http://api.example"), ("--allowed-host", "")],
)  # fmt: skip
def test_a_malformed_allowlist_entry_is_a_one_line_error(cli, server, flag, value):
    r = cli("serve", "--base-url", server.url, flag, value, "--port", str(free_port()), timeout=30)
    assert r.code == 2 and flag in r.err and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1


# -- item 7: the shared interpreter, however it is spelled or wrapped ----------------------------

SUBCLASS = """
from liteagent.actions.builtin.interpreter import PythonInterpreter

class MyPython(PythonInterpreter):
    '''A renamed interpreter.'''
"""

WRAPPER = """
from liteagent import BaseAction, tool_api
from liteagent.actions.builtin.interpreter import PythonInterpreter

class Calc(BaseAction):
    '''Arithmetic, by a Python kernel held inside.'''

    def __init__(self):
        super().__init__()
        self.kernel = PythonInterpreter()

    @tool_api
    def calc(self, expr: str) -> str:
        '''Compute.

        Args:
            expr: an expression
        '''
        return str(self.kernel.run(expr))
"""


@pytest.mark.parametrize(
    "spec",
    ["liteagent.actions.builtin.interpreter:PythonInterpreter", " PythonInterpreter", "PythonInterpreter ",
     "subclass", "wrapper"],
)  # fmt: skip
def test_the_interpreter_is_refused_however_it_is_named(cli, server, tmp_path, spec):
    if spec in ("subclass", "wrapper"):
        path = tmp_path / f"{spec}.py"
        path.write_text(SUBCLASS if spec == "subclass" else WRAPPER)
        spec = str(path)  # the whole file: every plugin in it
    r = cli("serve", "--base-url", server.url, "--plugin", spec, "--port", str(free_port()), timeout=30)
    assert r.code == 2, r.err  # (the old guard let it start: this timed out)
    assert "PythonInterpreter" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


# -- item 8: the model server's URL and error page stay in the log ---------------------------------


class HtmlErrorServer:
    """A model server on 127.0.0.1 that lists a model and then answers 502 with an HTML page
    naming its own URL (a proxy's error page)."""

    def __init__(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, ctype: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Retry-After", "0.01")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, "application/json", b'{"object": "list", "data": [{"id": "scripted-model"}]}')

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(502, "text/html", outer.page.encode())

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.page = f"<html><body>Bad gateway: upstream-secret-9f3 behind {self.url}</body></html>"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def html_502() -> Iterator[HtmlErrorServer]:
    s = HtmlErrorServer()
    yield s
    s.close()


def _leaks(text: str, upstream: HtmlErrorServer) -> bool:
    return upstream.url.split("/v1")[0] in text or "upstream-secret" in text or "<html" in text


def test_a_model_server_error_page_reaches_the_log_not_the_client(service, html_502):
    s = service(upstream=html_502.url)
    c = s.client()
    with pytest.raises(openai.APIStatusError) as whole:
        c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "hi"}])
    assert whole.value.status_code == 502
    assert not _leaks(str(whole.value.message) + json.dumps(whole.value.body), html_502)
    assert "request id chatcmpl-" in whole.value.message
    got: list[Any] = []
    with pytest.raises(openai.APIError) as streamed:  # not an empty answer that looks normal
        for chunk in c.chat.completions.create(
            model="liteagent", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            got.append(chunk)
    assert not any(ch.choices and ch.choices[0].finish_reason == "stop" for ch in got)
    assert not _leaks(str(streamed.value.message) + json.dumps(streamed.value.body), html_502)
    assert "request id chatcmpl-" in streamed.value.message
    _, _, raw = send(s, "POST", "/v1/chat/completions", chat_body(stream=True), Content_Type="application/json")
    assert not _leaks(raw.decode(), html_502) and raw.rstrip().endswith(b"data: [DONE]")
    s.stop()
    log = s.proc.stderr.read() if s.proc.stderr else ""
    assert "upstream-secret-9f3" in log and html_502.url in log  # the operator sees what happened
    rid = whole.value.message.split("request id ")[1].rstrip(")")
    assert rid in log


# -- item 10 (service half): runs and bodies that break the JSON parser's recursion -----------------

NESTED_CALL = (
    '<tool_call>{"name": "Weather.forecast", "arguments": {"city": ' + "[" * DEEP + "]" * DEEP + "}}</tool_call>"
)


def test_a_run_that_raises_mid_stream_still_ends_the_stream(service, server):
    server.replies = [NESTED_CALL, "Could not read that call.", NESTED_CALL, "Could not read that call."]
    s = service()
    status, _, raw = send(s, "POST", "/v1/chat/completions", chat_body(stream=True), Content_Type="application/json")
    assert status == 200
    events = [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]", raw[-500:]  # the connection did not just close
    for e in events[:-1]:
        assert "Traceback" not in e and "RecursionError" not in e
        error = json.loads(e).get("error")
        if error:
            assert "request id chatcmpl-" in error["message"]
    status, _, raw = send(s, "POST", "/v1/chat/completions", chat_body(), Content_Type="application/json")
    assert status in (200, 500), raw  # a normal answer (the call refused), or a JSON error
    assert "Traceback" not in raw.decode() and (status == 200 or "request id" in error_of(raw)["message"])


def test_a_body_nested_too_deep_gets_a_clear_400(service, server):
    s = service()
    deep = (
        b'{"model": "liteagent", "messages": [{"role": "user", "content": "hi"}], "x": '
        + b"[" * DEEP
        + b"]" * DEEP
        + b"}"
    )
    status, _, raw = send(s, "POST", "/v1/chat/completions", deep, Content_Type="application/json")
    assert status == 400, raw[:300]
    assert "nested" in error_of(raw)["message"]
    assert not server.completions


def test_an_unexpected_error_in_a_stream_ends_it_with_an_error_chunk(tmp_path):
    """Whatever a run raises, a stock client gets an APIError and the stream its [DONE] (an
    in-process app around an agent that fails mid-answer)."""
    import asyncio

    import uvicorn

    from liteagent.events import TextDelta
    from liteagent.serve import create_app, store_from_url

    class Breaking:
        async def astream(self, question: str, session: Any) -> Any:
            yield TextDelta("half an ans")
            raise RecursionError("maximum recursion depth exceeded /secret/path")

        async def arun(self, question: str, session: Any) -> Any:
            raise RuntimeError("boom /secret/path")

    store = store_from_url(str(tmp_path / "s.sqlite3"), tmp_path / "d.sqlite3")
    port = free_port()
    config = uvicorn.Config(create_app(Breaking(), store), host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if srv.started:
                break
            threading.Event().wait(0.05)
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=30)
        text = ""
        with pytest.raises(openai.APIError) as streamed:
            for ch in c.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}], stream=True):
                text += (ch.choices[0].delta.content or "") if ch.choices else ""
        assert text == "half an ans" and not isinstance(streamed.value, openai.APIConnectionError)
        assert "/secret" not in streamed.value.message and "request id" in streamed.value.message
        with pytest.raises(openai.InternalServerError) as whole:
            c.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
        assert "/secret" not in whole.value.message and "request id" in whole.value.message
    finally:
        srv.should_exit = True
        thread.join(10)


# -- MCP over HTTP: Host and Origin checked for any bound address, the interpreter refused ----------
def _mcp_http_status(port: int, extra: list[str], headers: dict[str, str]) -> int:
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "mcp", "serve", "--transport", "http", "--port", str(port),
         "--plugin", f"{TESTS / 'data' / 'plugins' / 'weather.py'}:Weather", *extra],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}).encode()
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # loopback only, always
                conn.request("POST", "/mcp", body=body, headers={
                    "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})  # fmt: skip
                status = conn.getresponse().status
                conn.close()
                return status
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stderr.read() if proc.stderr else "mcp serve died")
                time.sleep(0.1)
        pytest.fail("liteagent mcp serve did not start")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    "bind, headers, want",
    [
        ("127.0.0.1", {"Host": "evil.example:{port}"}, 421),
        ("0.0.0.0", {"Host": "evil.example:{port}"}, 421),  # the SDK checks only loopback binds
        ("127.0.0.1", {"Host": "127.0.0.1:{port}", "Origin": "http://localhost:1"}, 403),  # another local page
        ("0.0.0.0", {"Host": "evil.example:{port}", "Origin": "http://evil.example:{port}"}, 421),
        ("0.0.0.0", {"Host": "127.0.0.1:{port}"}, 200),
    ],
)
def test_mcp_http_refuses_rebinding_hosts_and_foreign_pages(bind, headers, want):
    pytest.importorskip("mcp")
    port = free_port()
    sent = {k: v.format(port=port) for k, v in headers.items()}
    assert _mcp_http_status(port, ["--host", bind], sent) == want


def test_mcp_http_lets_the_operator_allow_a_proxy_name_and_a_page():
    pytest.importorskip("mcp")
    port = free_port()
    flags = ["--allowed-host", "mcp.example.com", "--allowed-origin", "https://app.example.com"]
    headers = {"Host": "mcp.example.com", "Origin": "https://app.example.com"}
    assert _mcp_http_status(port, flags, headers) == 200


def test_mcp_http_refuses_the_interpreter_stdio_keeps_it(cli):
    pytest.importorskip("mcp")
    spec = "liteagent.actions.builtin.interpreter:PythonInterpreter"
    r = cli("mcp", "serve", "--transport", "http", "--port", str(free_port()), "--plugin", spec)
    assert r.code == 2 and "liteagent mcp serve --transport http does not offer PythonInterpreter" in r.err
    assert "Traceback" not in r.err
    r = cli("mcp", "serve", "--allowed-host", "x.example", "--plugin", "EnvChecker")
    assert r.code == 2 and "--allowed-host is for the HTTP transport" in r.err
