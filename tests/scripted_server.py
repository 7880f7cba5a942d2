"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for exact-byte protocol tests.

It serves /v1/models, /v1/completions and /v1/chat/completions (SSE streaming or not), answers
from a script of replies, and records every request body. A reply may be a string, a dict
``{"text": ..., "tool_calls": [...]}``, ``{"status": 500}`` (an error response), or a callable
taking the request body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | dict[str, Any] | Callable[[dict[str, Any]], Any]


class ScriptedServer:
    def __init__(self, replies: list[Reply] | None = None, models: tuple[str, ...] = ("scripted-model",),
                 delay: float = 0.0, chunk_size: int = 4) -> None:
        self.replies: list[Reply] = list(replies or [])
        self.models = models
        self.delay = delay
        self.chunk_size = chunk_size
        self.requests: list[dict[str, Any]] = []  # {"path", "body", "headers"}
        self.default_reply: Reply | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 1024
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def completions(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("completions")]

    def _next_reply(self, body: dict[str, Any]) -> Any:
        with self._lock:
            if self.replies:
                reply = self.replies.pop(0)
            elif self.default_reply is not None:
                reply = self.default_reply
            else:
                return {"status": 500, "error": "the scripted server has no reply left"}
        return reply(body) if callable(reply) else reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "body": None, "headers": dict(self.headers)})
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                path = self.path.rstrip("/")
                if path not in ("/v1/completions", "/v1/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if body.get("model") not in server.models:
                    self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                reply = server._next_reply(body)
                if server.delay:
                    time.sleep(server.delay)
                if isinstance(reply, dict) and "status" in reply:
                    self._json(reply["status"], {"error": {"message": reply.get("error", "scripted failure")}})
                    return
                text = reply if isinstance(reply, str) else reply.get("text", "")
                tool_calls = [] if isinstance(reply, str) else reply.get("tool_calls", [])
                chat = path.endswith("chat/completions")
                if body.get("stream"):
                    self._stream(text, tool_calls, chat)
                else:
                    self._whole(text, tool_calls, chat)

            def _whole(self, text: str, tool_calls: list[dict[str, Any]], chat: bool) -> None:
                usage = {"prompt_tokens": 10, "completion_tokens": max(1, len(text) // 4), "total_tokens": 10 + max(1, len(text) // 4)}
                if chat:
                    msg: dict[str, Any] = {"role": "assistant", "content": text or None}
                    if tool_calls:
                        msg["tool_calls"] = [_tc(i, c) for i, c in enumerate(tool_calls)]
                    choice = {"index": 0, "message": msg, "finish_reason": "tool_calls" if tool_calls else "stop"}
                else:
                    choice = {"index": 0, "text": text, "finish_reason": "stop"}
                self._json(200, {"id": "x", "object": "chat.completion" if chat else "text_completion",
                                 "choices": [choice], "usage": usage})

            def _stream(self, text: str, tool_calls: list[dict[str, Any]], chat: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                n = server.chunk_size
                for i in range(0, len(text), n):
                    piece = text[i:i + n]
                    choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
                    self._event({"choices": [dict(choice, finish_reason=None)]})
                for i, c in enumerate(tool_calls):
                    tc = _tc(i, c)
                    args = tc["function"]["arguments"]
                    half = len(args) // 2
                    self._event({"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": i, "id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": args[:half]}}
                    ]}, "finish_reason": None}]})
                    self._event({"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": i, "function": {"arguments": args[half:]}}
                    ]}, "finish_reason": None}]})
                last = {"index": 0, "delta": {}, "finish_reason": "tool_calls" if tool_calls else "stop"}
                if not chat:
                    last = {"index": 0, "text": "", "finish_reason": "stop"}
                self._event({"choices": [last], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def _tc(i: int, c: dict[str, Any]) -> dict[str, Any]:
    args = c.get("arguments", {})
    return {"id": c.get("id", f"call_{i}"), "type": "function",
            "function": {"name": c["name"], "arguments": args if isinstance(args, str) else json.dumps(args)}}
