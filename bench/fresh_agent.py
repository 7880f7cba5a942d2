"""An app that builds an Agent per request (a web handler) against one reused Agent: the sync API,
the tutorial's two-turn conversation (a call, then the answer), the same minimal model as
agent_vs_lagent.py. Target (issue 20): a fresh agent's conversation <= 1.3x a reused one's.
Run: python bench/fresh_agent.py [--profile]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_vs_lagent import Replay

from liteagent import Agent, BaseAction, tool_api


class Weather(BaseAction):
    """Weather."""

    @tool_api
    def forecast(self, city: str) -> dict:
        """Forecast.

        Args:
            city: city
        """
        return {"city": city, "sky": "sunny"}


outs = ['<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>', "Sunny."]
llm = Replay(outs)
plugins = [Weather()]
a = Agent(llm, plugins, protocol="hermes")


def reused(n):
    for _ in range(n):
        a.run("q")


def fresh(n):
    for _ in range(n):
        Agent(llm, plugins, protocol="hermes").run("q")


def fresh_tools(n):
    for _ in range(n):
        Agent(llm, [Weather()], protocol="hermes").run("q")


def main() -> None:
    for f in (reused, fresh, fresh_tools):
        f(300)
    best = {f.__name__: 1e9 for f in (reused, fresh, fresh_tools)}
    for _ in range(3):  # the sides take turns: a slow spell of the machine falls on all
        for f in (reused, fresh, fresh_tools):
            for _ in range(5):
                t = time.perf_counter()
                f(1000)
                best[f.__name__] = min(best[f.__name__], (time.perf_counter() - t) / 1000 * 1e6)
    print("microseconds per two-turn conversation, best of 15 rounds of 1000")
    print(f"reused agent:                        {best['reused']:7.1f}")
    print(
        f"a new Agent per conversation:        {best['fresh']:7.1f}  ({best['fresh'] / best['reused']:.2f}x, target <= 1.3x)"
    )
    print(
        f"a new Agent and new plugin instance: {best['fresh_tools']:7.1f}  ({best['fresh_tools'] / best['reused']:.2f}x)"
    )


if __name__ == "__main__":
    if "--profile" in sys.argv:
        import cProfile
        import pstats

        cProfile.run("fresh_tools(2000)", "/tmp/fresh_agent.prof")
        pstats.Stats("/tmp/fresh_agent.prof").sort_stats("tottime").print_stats(15)
    else:
        main()
