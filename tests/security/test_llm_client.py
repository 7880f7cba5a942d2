"""The model client against servers that misbehave (issue 9): cut-off streams, token limits,
bodies that are not OpenAI's, trickling and silent servers. Each once gave a silently short
answer with exit 0, or hung."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable

import pytest

from liteagent import Agent, OpenAICompatibleLLM
from liteagent.errors import LLMError

MODELS = b'{"object": "list", "data": [{"id": "m", "object": "model"}]}'


class RawServer:
    """An HTTP server on 127.0.0.1 whose POST answer is whatever ``respond(conn)`` writes."""

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        self.respond = respond
        self.posts = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(rest) < length:
                rest += conn.recv(65536)
            if head.startswith(b"GET /v1/models"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             + f"Content-Length: {len(MODELS)}\r\n\r\n".encode() + MODELS)  # fmt: skip
                return
            self.posts += 1
            try:
                self.respond(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def sse_head(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")


def event(text: str, finish: str | None = None) -> bytes:
    e = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    return b"data: " + json.dumps(e).encode() + b"\n\n"


@pytest.fixture
def raw():
    servers: list[RawServer] = []

    def make(respond):
        s = RawServer(respond)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def agent_for(url: str, **kw) -> Agent:
    return Agent(OpenAICompatibleLLM(url, "m", max_retries=1, backoff=0.01, **kw), [], protocol="hermes")


def test_a_stream_cut_off_mid_answer_is_an_error_not_a_short_answer(raw, cli):
    def respond(conn):
        sse_head(conn)
        conn.sendall(event("The capita"))  # then the connection closes: no finish_reason, no [DONE]

    srv = raw(respond)
    r = agent_for(srv.url).run("Capital of France?")
    assert r.status == "error" and "broke off" in (r.error or "")
    assert r.answer == ""
    res = cli("run", "--base-url", srv.url, "--model", "m", "--plugin", "EnvChecker", "Capital of France?")
    assert res.code == 1 and "The capita" not in res.out and "broke off" in res.err


def test_a_stream_that_breaks_before_any_text_is_retried_once_logged(raw, caplog):
    calls = {"n": 0}

    def respond(conn):
        calls["n"] += 1
        sse_head(conn)
        if calls["n"] > 1:
            conn.sendall(event("Paris.", "stop") + b"data: [DONE]\n\n")

    srv = raw(respond)
    with caplog.at_level("WARNING", logger="liteagent.llm"):
        r = agent_for(srv.url).run("Capital of France?")
    assert r.status == "ok" and r.answer == "Paris."
    assert any("broke off" in m for m in caplog.messages)  # never a silent retry


def test_finish_reason_length_is_reported(raw, cli):
    def respond(conn):
        sse_head(conn)
        conn.sendall(event("The capital of France is Pa", "length") + b"data: [DONE]\n\n")

    srv = raw(respond)
    r = agent_for(srv.url).run("Capital of France?")
    assert r.status == "truncated" and "token limit" in (r.error or "")
    assert r.answer == "The capital of France is Pa"
    res = cli("run", "--base-url", srv.url, "--model", "m", "--plugin", "EnvChecker", "Capital of France?")
    assert res.code == 1 and "cut off" in res.err


@pytest.mark.parametrize(
    ("ctype", "body"),
    [("text/html", b"<html><body>Login required</body></html>"), ("text/plain", b"upstream says hello")],
)
@pytest.mark.parametrize("stream", [True, False])
def test_a_200_that_is_not_openai_names_its_content_type(raw, ctype, body, stream):
    def respond(conn):
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    srv = raw(respond)
    r = agent_for(srv.url, stream=stream).run("hi")
    assert r.status == "error" and ctype in (r.error or ""), r.error


def test_a_trickling_server_meets_the_deadline(raw):
    stop = threading.Event()

    def respond(conn):
        sse_head(conn)
        while not stop.is_set():
            conn.sendall(b":")  # one byte of SSE comment a second: never a full event
            time.sleep(0.5)

    srv = raw(respond)
    t0 = time.monotonic()
    try:
        r = agent_for(srv.url, timeout=2.0).run("hi")
    finally:
        stop.set()
    took = time.monotonic() - t0
    assert r.status == "error" and "2 s in all" in (r.error or ""), r.error
    assert took < 10, took  # a bound on a hang, not a speed figure


def test_a_silent_server_fails_once_at_its_timeout_not_four_times(raw):
    stop = threading.Event()

    def respond(conn):
        stop.wait(30)

    srv = raw(respond)
    t0 = time.monotonic()
    try:
        with pytest.raises(LLMError):
            agent = Agent(OpenAICompatibleLLM(srv.url, "m", timeout=30, read_timeout=1.5), [], protocol="hermes")
            r = agent.run("hi")
            raise LLMError(r.error or "")
    finally:
        stop.set()
    assert time.monotonic() - t0 < 6  # one read timeout (1.5 s), no retries of it
    assert srv.posts == 1


def test_escape_sequences_from_the_model_never_reach_the_terminal(raw, cli):
    evil = "ok \x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobyBoaQ==\x07 \x9b31m done\x07"

    def respond(conn):
        sse_head(conn)
        conn.sendall(event(evil, "stop") + b"data: [DONE]\n\n")

    srv = raw(respond)
    res = cli("run", "--base-url", srv.url, "--model", "m", "--plugin", "EnvChecker", "hi")
    assert res.code == 0
    assert "\x1b" not in res.out and "\x9b" not in res.out and "\x07" not in res.out
    assert "ok" in res.out and "done" in res.out
