"""Agent framework overhead and streaming cost, with ScriptedLLM (no network, no model).

(a) per LLM turn, a two-turn conversation with one plugin call: targets <= 15 us (run),
    <= 35 us (stream). Lagent 0.2.4 measured on the same machine: 68 us and 175 us.
(b) streaming a final answer of 1k, 16k, 256k and 1M characters in 1-character chunks:
    target <= 2 us per chunk, flat across sizes. Lagent: about 40 us per chunk.
Run: python bench/agent_overhead.py [--protocol internlm2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from executor_overhead import Calc  # the same trivial tool as the executor benchmark

from liteagent import ActionExecutor, BaseAction, tool_api
from liteagent.agent import Agent
from liteagent.llms import ScriptedLLM

CALLS = {
    "internlm2": '<|action_start|><|plugin|>\n{"name": "Calc.add", "parameters": {"a": 1, "b": 2}}',
    "hermes": '<tool_call>\n{"name": "Calc.add", "arguments": {"a": 1, "b": 2}}\n</tool_call>',
    "react": 'Thought: add\nAction: Calc.add\nAction Input: {"a": 1, "b": 2}',
}
FINAL = {"internlm2": "3", "hermes": "3", "react": "Final Answer: 3"}


class AsyncCalc(BaseAction):
    """Calculator (async API: runs on the event loop, no worker thread)."""

    name = "Calc"

    @tool_api
    async def add(self, a: int, b: int = 0) -> int:
        """Add.

        Args:
            a: first
            b: second
        """
        return a + b


def make_agent(protocol: str, outputs: list[str], executor: ActionExecutor) -> Agent:
    return Agent(ScriptedLLM(outputs), executor, protocol=protocol)


async def turn_overhead(protocol: str, conversations: int, streaming: bool, plugin: type = Calc) -> float:
    executor = ActionExecutor([plugin()], timeout=None)
    outputs = [CALLS[protocol], FINAL[protocol]]
    agents = [make_agent(protocol, outputs, executor) for _ in range(conversations)]
    t = time.perf_counter()
    for agent in agents:
        if streaming:
            async for _ in agent.astream("1+2?"):
                pass
        else:
            await agent.arun("1+2?")
    elapsed = time.perf_counter() - t
    return elapsed / (conversations * 2) * 1e6  # two LLM turns each


async def stream_cost(protocol: str, size: int) -> float:
    text = ("x" * size) if protocol != "react" else "Final Answer: " + "x" * size
    agent = Agent(ScriptedLLM([text], chunk_size=1), ActionExecutor([Calc()]), protocol=protocol)
    n = 0
    t = time.perf_counter()
    async for _ev in agent.astream("go"):
        n += 1
    elapsed = time.perf_counter() - t
    return elapsed / len(text) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="all", choices=["all", *CALLS])
    ap.add_argument("--conversations", type=int, default=2000)
    ns = ap.parse_args()
    protocols = list(CALLS) if ns.protocol == "all" else [ns.protocol]
    print("(a) framework overhead per LLM turn (ScriptedLLM, 2-turn conversation with one call)")
    for label, plugin in (("async tool", AsyncCalc), ("sync tool, worker thread", Calc)):
        print(f"  with an {label}:" if label.startswith("a") else f"  with a {label}:")
        for p in protocols:
            run_us = statistics.median(asyncio.run(turn_overhead(p, ns.conversations, False, plugin)) for _ in range(3))
            stream_us = statistics.median(
                asyncio.run(turn_overhead(p, ns.conversations, True, plugin)) for _ in range(3)
            )
            print(f"    {p:10s} run: {run_us:6.1f} us/turn   stream: {stream_us:6.1f} us/turn")
    print("(b) streaming a final answer in 1-character chunks (async stream)")
    for p in protocols:
        cells = []
        for size in (1_000, 16_000, 256_000, 1_000_000):
            cells.append(f"{size // 1000:>5}k: {asyncio.run(stream_cost(p, size)):5.2f} us/chunk")
        print(f"    {p:10s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
