"""Concurrency and recovery figures, against the scripted OpenAI-compatible server on 127.0.0.1.

(c) 256 concurrent conversations, two LLM calls each, the server answering after 500 ms:
    target wall time <= 1.3 x the ideal 1 s.
(d) one reply with three calls to a tool that sleeps 1 s: target <= 1.2 s for the turn.
(e) LLM calls spent per malformed reply, for the malformed-call cases of the parser tests
    followed by a corrected reply: target no extra call where the reply is repairable, exactly
    one where it is not (Lagent resends the identical prompt until max_turn and never recovers).
(f) 10 000 sequential sync ``Agent.run`` calls against the server (no delay): resident memory
    and open files after each thousand must stay flat (the reused loop keeps one connection).
Run: python bench/agent_concurrency.py
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
from liteagent import ActionExecutor, BaseAction, tool_api  # noqa: E402
from liteagent.agent import Agent  # noqa: E402
from liteagent.llms import OpenAICompatibleLLM, ScriptedLLM  # noqa: E402
from liteagent.sessions import InMemorySession  # noqa: E402


class Weather(BaseAction):
    """Weather."""

    @tool_api
    def forecast(self, city: str) -> str:
        """Forecast.

        Args:
            city: city name
        """
        return f"{city}: sunny"

    @tool_api
    def slow(self, n: int) -> int:
        """Sleep one second.

        Args:
            n: id
        """
        time.sleep(1.0)
        return n


CALL = '<tool_call>\n{"name": "Weather.forecast", "arguments": {"city": "Paris"}}\n</tool_call>'


def bench_concurrent(n: int = 256, delay: float = 0.5) -> None:
    # The server runs in its own process: sharing this process's GIL would measure the test
    # server, not the agent.
    script = json.dumps({"2": CALL, "*": "Paris is sunny."})
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "scripted_server.py"), "--delay", str(delay), "--by-messages", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    llm = OpenAICompatibleLLM(url, "scripted-model")
    executor = ActionExecutor([Weather()])

    async def main() -> float:
        agent = Agent(llm, executor, protocol="hermes")  # one agent, n conversations
        await llm.resolve_model()
        t = time.perf_counter()
        results = await asyncio.gather(*(agent.arun("Weather in Paris?", InMemorySession()) for _ in range(n)))
        wall = time.perf_counter() - t
        assert all(r.answer == "Paris is sunny." for r in results), {r.status for r in results}
        await llm.aclose()
        return wall

    wall = asyncio.run(main())
    ideal = 2 * delay
    print(
        f"(c) {n} concurrent conversations x 2 LLM calls, server delay {delay * 1000:.0f} ms: "
        f"wall {wall:.3f} s = {wall / ideal:.2f} x ideal {ideal:.1f} s"
    )
    proc.terminate()
    proc.wait()


def bench_parallel_calls() -> None:
    reply = "".join(f'<tool_call>{{"name": "Weather.slow", "arguments": {{"n": {i}}}}}</tool_call>' for i in range(3))
    agent = Agent(ScriptedLLM([reply, "done"]), [Weather()], protocol="hermes")
    r = agent.run("go")
    print(f"(d) one reply with three 1-second tool calls: turn took {r.steps[0].elapsed:.3f} s")


MALFORMED = {
    # repairable: the parser reads them, no extra LLM call is needed
    "missing <|action_end|>": (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "X"}}',
        True,
    ),
    "missing <|action_start|>": (
        '<|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "X"}}<|action_end|>',
        True,
    ),
    "arguments for parameters": (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "arguments": {"city": "X"}}<|action_end|>',
        True,
    ),
    "JSON in code fences": (
        '<|action_start|><|plugin|>\n```json\n{"name": "Weather.forecast", "parameters": {"city": "X"}}\n```<|action_end|>',
        True,
    ),
    "Python-dict quoting": (
        "<|action_start|><|plugin|>\n{'name': 'Weather.forecast', 'parameters': {'city': 'X'}}<|action_end|>",
        True,
    ),
    "trailing commas": (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "X",},}<|action_end|>',
        True,
    ),
    "raw newline in string": (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "X\nY"}}<|action_end|>',
        True,
    ),
    "bare keys": (
        '<|action_start|><|plugin|>\n{name: "Weather.forecast", parameters: {city: "X"}}<|action_end|>',
        True,
    ),
    # unrecoverable: reported back to the model, which corrects itself on the next call
    "prose instead of JSON": ("<|action_start|><|plugin|>\nI will look up the weather<|action_end|>", False),
    "value missing": (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {city: }}<|action_end|>',
        False,
    ),
    "no name": ('<|action_start|><|plugin|>\n{"parameters": {"city": "X"}}<|action_end|>', False),
    "unknown tool": (
        '<|action_start|><|plugin|>\n{"name": "Weather.nowcast", "parameters": {"city": "X"}}<|action_end|>',
        False,
    ),
    "bad argument type": (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": ["X"]}}<|action_end|>',
        False,
    ),
}
GOOD = '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "X"}}'


def bench_malformed() -> None:
    print("(e) LLM calls until the tool runs, per malformed reply (1 = no extra call):")
    ok = True
    for label, (reply, repairable) in MALFORMED.items():
        llm = ScriptedLLM([reply, GOOD, "answer", "answer"])
        agent = Agent(llm, [Weather()], protocol="internlm2")
        r = agent.run("weather?")
        ran_at = next(i + 1 for i, s in enumerate(r.steps) if any(x.ok for x in s.results))
        expected = 1 if repairable else 2
        ok &= ran_at == expected
        print(f"    {label:28s} {ran_at} call(s)  (target {expected})")
    print(f"    all at target: {ok}")


def bench_sequential_sync(n: int = 10_000) -> None:
    import os
    import resource

    script = json.dumps({"2": CALL, "*": "Paris is sunny."})
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "scripted_server.py"), "--by-messages", script], stdout=subprocess.PIPE, text=True
    )
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    agent = Agent(OpenAICompatibleLLM(url, "scripted-model"), [Weather()], protocol="hermes")
    marks = []
    t = time.perf_counter()
    for i in range(1, n + 1):
        r = agent.run("Weather in Paris?")
        assert r.answer == "Paris is sunny.", r.error
        if i % 1000 == 0:
            rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            marks.append((i, rss, len(os.listdir("/proc/self/fd"))))
    wall = time.perf_counter() - t
    proc.terminate()
    proc.wait()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(f) {n} sequential sync runs (2 HTTP turns each) in {wall:.1f} s ({wall / n * 1e3:.2f} ms/run):")
    print("    after run:  " + "  ".join(f"{i // 1000:>2}k" for i, _, _ in marks))
    print("    RSS MB:     " + "  ".join(f"{m:3.0f}" for _, m, _ in marks) + f"   (peak {peak:.0f})")
    print("    open files: " + "  ".join(f"{f:3d}" for _, _, f in marks))


if __name__ == "__main__":
    bench_sequential_sync()
    bench_concurrent()
    bench_parallel_calls()
    bench_malformed()
