"""The embedded model (SmolLM2-135M-Instruct Q8_0, llama-cpp-python on the CPU).

Prints: load time, prompt and generation tokens/s, peak RSS, time-to-first-token of turn 1 vs
turn 2 of a tool-using conversation (target: turn 2 <= 5 % of turn 1), and how often the model
chooses right between calling a tool and answering with tool_choice=auto on a small labelled set.
Run: python bench/local_model.py [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import time

from liteagent import ActionExecutor, BaseAction, tool_api
from liteagent.actions.builtin.arxiv import ArxivSearch
from liteagent.actions.loader import load_plugin
from liteagent.agent import Agent
from liteagent.llms.local import LocalLLM, default_threads, load_model, q8_copy, shipped_model


class Weather(BaseAction):
    """Weather forecasts for cities."""

    @tool_api
    def forecast(self, city: str, days: int = 1) -> str:
        """Forecast the weather of a city.

        Args:
            city: the city name
            days: how many days ahead
        """
        return f"{city}: sunny, 21 C"


# the benchmark never reaches the internet: a call to ArxivSearch fails fast on loopback
LOCAL_ONLY = "http://127.0.0.1:9/api/query"

LABELLED = [  # (question, should it call a tool?)
    ("What's the weather in Paris tomorrow?", True),
    ("Will it rain in London this week?", True),
    ("Check my GPU and CUDA setup.", True),
    ("Is PyTorch installed with CUDA on this machine?", True),
    ("Find arXiv papers about retrieval augmented generation.", True),
    ("What is 2 + 2?", False),
    ("Say hello in French.", False),
    ("Who wrote Romeo and Juliet?", False),
    ("Translate 'thank you' into Spanish.", False),
    ("What colour is the sky on a clear day?", False),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ns = ap.parse_args()
    threads = ns.threads or default_threads()
    t = time.perf_counter()
    path = q8_copy(shipped_model())
    print(f"model file: {path.name} (Q8_0 copy ready in {time.perf_counter() - t:.2f} s), threads: {threads}")
    loaded = load_model(path, 4096, threads, 0)
    print(f"load time: {loaded.load_seconds:.2f} s")
    llama = loaded.llama
    toks = llama.tokenize(("The quick brown fox jumps over the lazy dog. " * 100).encode())[:1000]
    llama.reset()
    t = time.perf_counter()
    llama.eval(toks)
    prompt_tps = len(toks) / (time.perf_counter() - t)
    n, t = 0, time.perf_counter()
    for _ in llama.generate(toks[:32], temp=0.7):
        n += 1
        if n >= 128:
            break
    gen_tps = n / (time.perf_counter() - t)
    print(f"prompt reading: {prompt_tps:.0f} tok/s   generation: {gen_tps:.0f} tok/s")

    llm = LocalLLM(n_threads=threads)
    scenarios = {
        "Weather + EnvChecker": [Weather(), *load_plugin("EnvChecker")],
        "Weather + the CLI's default tools (EnvChecker, ArxivSearch)": [
            Weather(),
            *load_plugin("EnvChecker"),
            ArxivSearch(base_url=LOCAL_ONLY),
        ],
    }
    for label, plugins in scenarios.items():
        executor = ActionExecutor(plugins)
        llama.reset()  # cold: nothing cached
        agent = Agent(llm, executor, tool_choice="required", max_turns=3)
        llm.stats.clear()
        agent.run("What's the weather in Paris?")
        turn1, turn2 = llm.stats[0], llm.stats[1]
        n = len(llm.stats)
        agent.run("And in Rome?")
        q2 = llm.stats[n]
        print(f"tool-using conversation ({label}, tool_choice=required):")
        for name, st in (
            ("turn 1 (cold: system + tool prompt)", turn1),
            ("turn 2 (after the tool result)", turn2),
            ("next question, turn 1", q2),
        ):
            print(
                f"  {name:38s} TTFT {st['ttft_seconds'] * 1000:6.0f} ms  prompt {int(st['prompt_tokens'])} tokens, "
                f"{int(st['reused_tokens'])} reused  ({st['ttft_seconds'] / turn1['ttft_seconds'] * 100:5.1f} % of turn 1)"
            )
    right = 0
    executor2 = ActionExecutor([Weather(), *load_plugin("EnvChecker"), ArxivSearch(base_url=LOCAL_ONLY)])
    for question, should_call in LABELLED:
        res = Agent(llm, executor2, tool_choice="auto", max_turns=1).run(question)
        right += bool(res.steps and res.steps[0].tool_calls) == should_call
    print(f"tool_choice=auto, call-or-answer decision right: {right}/{len(LABELLED)} (5 need a tool, 5 do not)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
