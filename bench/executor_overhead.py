"""Executor cost to validate, call and wrap a trivial API, in microseconds per call.

Target (issue 2): <= 15 us per call on the 2-core dev machine.
Run: python bench/executor_overhead.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from liteagent import ActionExecutor, BaseAction, tool_api


class Calc(BaseAction):
    """Calculator."""

    @tool_api
    def add(self, a: int, b: int = 0) -> int:
        """Add.

        Args:
            a: first
            b: second
        """
        return a + b


def per_call_us(fn, n: int = 20_000, repeat: int = 5) -> float:
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(best)


def main() -> None:
    args = {"a": 1, "b": 2}
    inline = ActionExecutor([Calc()], timeout=None)
    guarded = ActionExecutor([Calc()])  # default 60 s timeout: SIGALRM guard on the main thread
    assert inline.execute("Calc.add", args).ok and guarded.execute("Calc.add", args).ok
    raw = Calc().add
    print(f"direct method call (reference):          {per_call_us(lambda: raw(1, 2)):6.2f} us")
    print(f"execute, no timeout (validate+call+wrap): {per_call_us(lambda: inline.execute('Calc.add', args)):6.2f} us")
    print(f"execute, default 60 s timeout guard:      {per_call_us(lambda: guarded.execute('Calc.add', args)):6.2f} us")
    print(f"execute, wire name Calc__add:             {per_call_us(lambda: inline.execute('Calc__add', args)):6.2f} us")
    js = '{"a": 1}'
    print(f"execute, args as JSON string:             {per_call_us(lambda: inline.execute('Calc.add', js)):6.2f} us")

    async def many(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await guarded.aexecute("Calc.add", args)
        return (time.perf_counter() - t) / n * 1e6

    print(f"aexecute (async path, worker thread):     {asyncio.run(many(5000)):6.2f} us")
    inline.close()
    guarded.close()


if __name__ == "__main__":
    main()
