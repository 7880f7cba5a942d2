"""`liteagent serve` through the official openai client, against a scripted model server (a
separate process each: client, service and model do not share a GIL).

(a) 50 concurrent streamed conversations, two model calls each (a tool call, then the answer),
    the model server answering after 500 ms: target wall time <= 1.3 x the ideal 1 s.
(b) the service's own latency added to a non-streamed request (the model answering at once):
    p50 and p99 of (through the service) - (straight to the model server); target p50 <= 5 ms.
(c) resident memory of the service after each 2 000 of 10 000 requests: target flat.
Run: python bench/serve.py
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
WEATHER = TESTS / "data" / "plugins" / "weather.py"
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    script = json.dumps({"2": CALL, "*": "Sunny in Oslo."})  # 2 messages (system, question): call; else answer
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "scripted_server.py"), "--delay", str(delay), "--by-messages", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()  # type: ignore[union-attr]


def service(upstream: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "serve", "--port", str(port), "--base-url", upstream, "--model",
         "scripted-model", "--protocol", "hermes", "--plugin", f"{WEATHER}:Weather"],
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/v1"


def rss_mb(pid: int) -> float:
    return int(open(f"/proc/{pid}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_concurrent(n: int = 50) -> None:
    model, upstream = model_server(0.5)
    svc, url = service(upstream)
    try:

        async def one(client: openai.AsyncOpenAI) -> str:
            stream = await client.chat.completions.create(
                model="liteagent", messages=[{"role": "user", "content": "Oslo?"}], stream=True
            )
            text = ""
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            return text

        async def all_of_them() -> float:
            client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
            await one(client)  # warm-up
            t = time.perf_counter()
            texts = await asyncio.gather(*(one(client) for _ in range(n)))
            wall = time.perf_counter() - t
            assert all(x == "Sunny in Oslo." for x in texts), set(texts)
            await client.close()
            return wall

        wall = asyncio.run(all_of_them())
        print(
            f"(a) {n} concurrent streamed conversations x 2 model calls (500 ms each): {wall:.3f} s = {wall:.2f} x ideal 1.0 s"
        )
    finally:
        svc.terminate()
        model.terminate()


def bench_latency(n: int = 10_000) -> None:
    model, upstream = model_server(0.0)
    svc, url = service(upstream)
    try:
        through = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        direct = openai.OpenAI(base_url=upstream, api_key="none", max_retries=0)
        msgs = [{"role": "user", "content": "Oslo?"}]
        for _ in range(20):
            through.chat.completions.create(model="liteagent", messages=msgs)
            direct.chat.completions.create(model="scripted-model", messages=msgs)
        # one request through the service = two model calls (the tool, then the answer): subtract two direct ones
        svc_ms, direct_ms, marks = [], [], []
        for i in range(1, n + 1):
            t = time.perf_counter()
            through.chat.completions.create(model="liteagent", messages=msgs)
            svc_ms.append((time.perf_counter() - t) * 1000)
            if i <= 500:
                t = time.perf_counter()
                direct.chat.completions.create(model="scripted-model", messages=msgs)
                direct_ms.append((time.perf_counter() - t) * 1000)
            if i % 2000 == 0:
                marks.append((i, rss_mb(svc.pid)))
        d50 = statistics.median(direct_ms)
        added = sorted(x - 2 * d50 for x in svc_ms)
        p50, p99 = added[len(added) // 2], added[int(len(added) * 0.99)]
        print(f"(b) {n} non-streamed requests (2 model calls and a tool each); a direct model call takes {d50:.2f} ms:")
        print(f"    service's own latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p50 <= 5 ms)")
        print("(c) service RSS: " + ", ".join(f"{i // 1000}k: {m:.0f} MB" for i, m in marks))
    finally:
        svc.terminate()
        model.terminate()


if __name__ == "__main__":
    bench_concurrent()
    bench_latency()
