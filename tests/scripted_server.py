"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for exact-byte protocol tests.

It serves /v1/models, /v1/completions and /v1/chat/completions (SSE streaming or not), answers
from a script of replies, and records every request body. A reply may be a string, a dict
``{"text": ..., "tool_calls": [...]}``, ``{"status": 500}`` (an error response), ``{"sse": [events]}``
(exactly those stream events: dicts, or strings such as "[DONE]"), ``{"body": {...}}`` (exactly
that whole reply), or a callable taking the request body. It runs on asyncio in a thread of its
own (thousands of concurrent connections are cheap), or standalone:
``python tests/scripted_server.py --help``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

Reply = str | dict[str, Any] | Callable[[dict[str, Any]], Any]
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ScriptedServer:
    def __init__(
        self,
        replies: list[Reply] | None = None,
        models: tuple[str, ...] = ("scripted-model",),
        delay: float = 0.0,
        chunk_size: int = 4,
        port: int = 0,
    ) -> None:
        self.replies: list[Reply] = list(replies or [])
        self.models = models
        self.delay = delay
        self.chunk_size = chunk_size
        self.requests: list[dict[str, Any]] = []  # {"path", "body", "headers"}
        self.default_reply: Reply | None = None
        self.in_flight = 0  # model requests being answered now (the delay), and the most at once
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(4096)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def start(self) -> ScriptedServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot() -> None:
            self._server = await asyncio.start_server(self._handle, sock=self._sock, backlog=4096)
            self._ready.set()

        self._loop.run_until_complete(boot())
        self._loop.run_forever()
        # shut down: stop listening, end open connections, close the loop
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for t in pending:
            t.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._sock.close()

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

    # -- HTTP/1.1, the little of it the clients need -------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().title()] = v.strip()
                length = int(headers.get("Content-Length") or 0)
                raw = await reader.readexactly(length) if length else b""
                keep_alive = await self._route(method, path, headers, raw, writer)
                if not keep_alive or headers.get("Connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            try:
                writer.close()
            except Exception:
                pass

    async def _route(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        body = json.loads(raw or b"{}") if method == "POST" else None
        self.requests.append({"path": path, "body": body, "headers": headers})
        p = path.rstrip("/")
        if method == "GET":
            if p == "/v1/models":
                return await self._json(
                    writer, 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
                )
            return await self._json(writer, 404, {"error": {"message": f"no route {path}"}})
        if p not in ("/v1/completions", "/v1/chat/completions"):
            return await self._json(writer, 404, {"error": {"message": f"no route {path}"}})
        assert body is not None
        if body.get("model") not in self.models:
            return await self._json(
                writer, 404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
            )
        reply = self._next_reply(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if isinstance(reply, dict) and "sse" in reply:  # exactly these events, as a misbehaving server sends
            await self._raw_stream(writer, reply["sse"])
            return True
        if isinstance(reply, dict) and "body" in reply:  # exactly this whole reply
            return await self._json(writer, 200, reply["body"])
        if isinstance(reply, dict) and "status" in reply:
            return await self._json(
                writer, reply["status"], {"error": {"message": reply.get("error", "scripted failure")}}
            )
        text = reply if isinstance(reply, str) else reply.get("text", "")
        tool_calls = [] if isinstance(reply, str) else reply.get("tool_calls", [])
        chat = p.endswith("chat/completions")
        if body.get("stream"):
            await self._stream(writer, text, tool_calls, chat)
            return True
        return await self._whole(writer, text, tool_calls, chat)

    async def _json(self, writer: asyncio.StreamWriter, status: int, payload: Any) -> bool:
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        writer.write(head + data)
        await writer.drain()
        return True

    async def _whole(
        self, writer: asyncio.StreamWriter, text: str, tool_calls: list[dict[str, Any]], chat: bool
    ) -> bool:
        usage = {
            "prompt_tokens": 10,
            "completion_tokens": max(1, len(text) // 4),
            "total_tokens": 10 + max(1, len(text) // 4),
        }
        choice: dict[str, Any]
        if chat:
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_calls:
                msg["tool_calls"] = [_tc(i, c) for i, c in enumerate(tool_calls)]
            choice = {"index": 0, "message": msg, "finish_reason": "tool_calls" if tool_calls else "stop"}
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
        return await self._json(
            writer,
            200,
            {
                "id": "x",
                "object": "chat.completion" if chat else "text_completion",
                "choices": [choice],
                "usage": usage,
            },
        )

    async def _stream(
        self, writer: asyncio.StreamWriter, text: str, tool_calls: list[dict[str, Any]], chat: bool
    ) -> None:
        events: list[dict[str, Any]] = []
        n = self.chunk_size
        for i in range(0, len(text), n):
            piece = text[i : i + n]
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            events.append({"choices": [dict(choice, finish_reason=None)]})
        for i, c in enumerate(tool_calls):
            tc = _tc(i, c)
            args = tc["function"]["arguments"]
            half = len(args) // 2
            events.append(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": i,
                                        "id": tc["id"],
                                        "type": "function",
                                        "function": {"name": tc["function"]["name"], "arguments": args[:half]},
                                    }
                                ]
                            },
                            "finish_reason": None,
                        }
                    ]
                }
            )
            events.append(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]},
                            "finish_reason": None,
                        }
                    ]
                }
            )
        last: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": "tool_calls" if tool_calls else "stop"}
        if not chat:
            last = {"index": 0, "text": "", "finish_reason": "stop"}
        events.append({"choices": [last], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
        # chunked transfer encoding on a kept-alive connection, as uvicorn (vLLM, lmdeploy) sends it
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        payloads = [b"data: " + json.dumps(ev).encode() + b"\n\n" for ev in events]
        payloads.append(b"data: [DONE]\n\n")
        for data in payloads:  # one chunk per event: the client sees a real stream
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _raw_stream(self, writer: asyncio.StreamWriter, events: list[Any]) -> None:
        """``data:`` lines of exactly ``events`` (a dict as JSON, a string as is: "[DONE]")."""
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for ev in events:
            data = b"data: " + (ev if isinstance(ev, str) else json.dumps(ev)).encode() + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _tc(i: int, c: dict[str, Any]) -> dict[str, Any]:
    args = c.get("arguments", {})
    return {
        "id": c.get("id", f"call_{i}"),
        "type": "function",
        "function": {"name": c["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
    }


def main() -> None:
    """Run standalone (benchmarks use a separate process, so client and server don't share a GIL).

    ``--by-messages '{"2": "reply when 2 messages were sent", "*": "otherwise"}'``
    """
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--by-messages", default='{"*": "ok"}')
    ns = ap.parse_args()
    table = json.loads(ns.by_messages)

    def reply(body: dict[str, Any]) -> str:
        n = str(len(body.get("messages") or []))
        return table.get(n, table.get("*", ""))

    server = ScriptedServer(delay=ns.delay, port=ns.port)
    server.default_reply = reply
    server.start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
