"""The agent loop through the API a user calls, side by side with Lagent 0.2.4, in one run.

The tutorial's scenario: InternLM2 dialect, the tutorial's ``EnvChecker.check_torch_env`` as an
ordinary sync ``@tool_api`` returning a small dict, a scripted model that calls it once and then
answers, default executor settings; N conversations (default 2000), the best of 5 rounds on each
side. Figures are microseconds per LLM turn (two turns per conversation), and per chunk for a
1-character-chunk final answer. Both sides get the same minimal model (``Replay``: replays its
replies, keeps nothing), and take turns (3 passes each): figures on a shared VM swing by half
between moments, and a slow moment must not fall on one side only.

Lagent runs in its own virtual environment (it pins old dependencies):
    python -m venv /tmp/lagent-venv && /tmp/lagent-venv/bin/pip install lagent==0.2.4 cachetools
Run: python bench/agent_vs_lagent.py [--n 2000] [--lagent-python /tmp/lagent-venv/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator

from liteagent import Agent, BaseAction, tool_api
from liteagent.llms.base import LLM, Chunk, GenerationConfig
from liteagent.protocols.base import Request
from liteagent.sessions import InMemorySession

CALL = '<|action_start|><|plugin|>\n{"name": "EnvChecker.check_torch_env", "parameters": {}}<|action_end|>'
ANSWER = "You have no GPU; PyTorch runs on the CPU."


class EnvChecker(BaseAction):
    """检查深度学习环境的插件"""

    @tool_api
    def check_torch_env(self) -> dict:
        """获取PyTorch相关环境信息"""
        return {"torch_version": "2.1.2", "cuda_available": False, "cuda_device_count": 0}


class Replay(LLM):
    """The model both sides get: replays its outputs in turn, whole or in chunks, and keeps
    nothing (Lagent's side below is the same; ScriptedLLM would also record every request)."""

    sync_streaming = True
    model = "replay"

    def __init__(self, outputs: list[str], chunk: int | None = None) -> None:
        self.outputs, self.i, self.chunk = outputs, 0, chunk

    def stream_sync(self, request: Request, config: GenerationConfig | None = None) -> Iterator[Chunk]:
        out = self.outputs[self.i % len(self.outputs)]
        self.i += 1
        if self.chunk:
            for k in range(0, len(out), self.chunk):
                yield Chunk(text=out[k : k + self.chunk])
            yield Chunk(finish_reason="stop")
        else:
            yield Chunk(text=out, finish_reason="stop")

    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        for chunk in self.stream_sync(request, config):
            yield chunk


ROUNDS = 5  # each figure: the best of this many rounds of N conversations, on both sides
PASSES = 3  # the sides take turns this many times


def per_turn(seconds: float, n: int) -> float:
    return seconds / (2 * n) * 1e6


def best(measure: Callable[[], float], n: int) -> float:
    return min(per_turn(measure(), n) for _ in range(ROUNDS))


def liteagent_figures(n: int, full: bool = True) -> dict[str, float]:
    out: dict[str, float] = {}
    agent = Agent(Replay([CALL, ANSWER]), [EnvChecker()], protocol="internlm2")
    result = agent.run("检查环境")  # warm-up, and a check that it really calls
    assert result.answer == ANSWER and result.steps[0].results[0].ok, result

    def run() -> float:
        t = time.perf_counter()
        for _ in range(n):
            agent.run("检查环境")
        return time.perf_counter() - t

    def stream() -> float:
        t = time.perf_counter()
        for _ in range(n):
            for _ev in agent.stream("检查环境"):
                pass
        return time.perf_counter() - t

    async def arun() -> float:
        t = time.perf_counter()
        for _ in range(n):
            await agent.arun("检查环境")
        return time.perf_counter() - t

    async def astream() -> float:
        t = time.perf_counter()
        for _ in range(n):
            async for _ev in agent.astream("检查环境"):
                pass
        return time.perf_counter() - t

    out["sync run"] = best(run, n)
    out["sync stream"] = best(stream, n)
    out["arun"] = best(lambda: asyncio.run(arun()), n)
    out["astream"] = best(lambda: asyncio.run(astream()), n)
    if not full:
        return out

    # in a session (the conversation grows: the prompt is re-rendered from it every turn)
    session = InMemorySession()
    m = min(n, 200)
    t = time.perf_counter()
    for _ in range(m):
        agent.run("检查环境", session=session)
    out[f"sync run, one {m}-question session"] = per_turn(time.perf_counter() - t, m)

    for size in (1_000, 16_000, 256_000, 1_000_000):
        chunked = Agent(Replay(["x" * size], chunk=1), [EnvChecker()], protocol="internlm2")
        t = time.perf_counter()
        for _ev in chunked.stream("long"):
            pass
        out[f"sync stream, 1-char chunks, {size:>9,} chars (per chunk)"] = (time.perf_counter() - t) / size * 1e6
    return out


LAGENT = r'''
import json, sys, time
from lagent.actions import ActionExecutor, BaseAction, tool_api
from lagent.agents.internlm2_agent import Internlm2Agent, Internlm2Protocol
from lagent.llms.base_llm import BaseModel
from lagent.schema import ModelStatusCode

CALL, ANSWER, N, ROUNDS = json.loads(sys.argv[1])


class EnvChecker(BaseAction):
    """检查深度学习环境的插件"""

    @tool_api
    def check_torch_env(self) -> dict:
        """获取PyTorch相关环境信息"""
        return {"torch_version": "2.1.2", "cuda_available": False, "cuda_device_count": 0}


class Scripted(BaseModel):
    def __init__(self, outputs, chunk=None):
        self.outputs, self.i, self.chunk = outputs, 0, chunk

    def chat(self, inputs, **kw):
        out = self.outputs[self.i % len(self.outputs)]
        self.i += 1
        return out

    def stream_chat(self, inputs, **kw):
        out = self.chat(inputs)
        if self.chunk:
            for k in range(1, len(out) + 1):
                yield ModelStatusCode.STREAM_ING, out[:k], None
        else:
            yield ModelStatusCode.STREAM_ING, out, None
        yield ModelStatusCode.END, out, None


def agent(outputs, chunk=None):
    return Internlm2Agent(Scripted(outputs, chunk), ActionExecutor([EnvChecker()]), protocol=Internlm2Protocol())


out = {}
a = agent([CALL, ANSWER])
r = a.chat("检查环境")
assert r.response == ANSWER and r.actions, r


def run():
    t = time.perf_counter()
    for _ in range(N):
        a.chat("检查环境")
    return (time.perf_counter() - t) / (2 * N) * 1e6


def stream():
    t = time.perf_counter()
    for _ in range(N):
        for _r in a.stream_chat("检查环境"):
            pass
    return (time.perf_counter() - t) / (2 * N) * 1e6


out["sync run"] = min(run() for _ in range(ROUNDS))
out["sync stream"] = min(stream() for _ in range(ROUNDS))
size = 4_000  # Lagent re-parses the whole text at every chunk: quadratic, so a short answer
a = agent(["x" * size], chunk=1)
t = time.perf_counter()
for _r in a.stream_chat("long"):
    pass
out[f"sync stream, 1-char chunks, {size:>9,} chars (per chunk)"] = (time.perf_counter() - t) / size * 1e6
print(json.dumps(out))
'''


def lagent_figures(python: str, n: int) -> dict[str, float] | str:
    if not os.path.exists(python):
        return f"Lagent not found at {python} (see this file's docstring)"
    r = subprocess.run(
        [python, "-c", LAGENT, json.dumps([CALL, ANSWER, n, ROUNDS])], capture_output=True, text=True, timeout=1800
    )
    if r.returncode != 0:
        return "Lagent failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="conversations (default 2000)")
    ap.add_argument("--lagent-python", default=os.environ.get("LAGENT_PYTHON", "/tmp/lagent-venv/bin/python"))
    args = ap.parse_args()
    # The two sides take turns, PASSES times each, and each figure is its best: a slow spell of
    # the machine (a shared VM's neighbours) then falls on both, not on one.
    ours: dict[str, float] = {}
    theirs: dict[str, float] | str = {}
    for p in range(PASSES):
        for key, value in liteagent_figures(args.n, full=p == 0).items():
            ours[key] = min(value, ours.get(key, value))
        got = lagent_figures(args.lagent_python, args.n)
        if isinstance(got, str):
            theirs = got
            break
        assert isinstance(theirs, dict)
        for key, value in got.items():
            theirs[key] = min(value, theirs.get(key, value))
    print(
        f"{args.n} conversations, {PASSES} passes per side taking turns x {ROUNDS} rounds each (the best), "
        "2 LLM turns per conversation; microseconds per LLM turn (per chunk where marked)"
    )
    print(f"{'API':58} {'liteagent':>10} {'Lagent 0.2.4':>13} {'ratio':>7}")
    for key, value in ours.items():
        other = theirs.get(key) if isinstance(theirs, dict) else None
        ratio = f"{value / other:.2f}x" if other else ""
        shown = f"{other:13.2f}" if other is not None else f"{'—':>13}"
        print(f"{key:58} {value:10.2f} {shown} {ratio:>7}")
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            if key not in ours:
                print(f"{key:58} {'—':>10} {value:13.2f}")
    else:
        print(theirs)


if __name__ == "__main__":
    sys.exit(main())
