"""Sync tools on an event loop (``ActionExecutor.aexecute``): a tool whose runs are known to be
quick runs on the loop (no thread hop, ~0.1-0.2 ms saved a call); any other runs in a worker
thread, so a slow tool never holds up other conversations or the other calls of one reply."""

from __future__ import annotations

import asyncio
import threading
import time

from liteagent import ActionExecutor, tool
from liteagent.actions.executor import FAST_CALL_S, FAST_RUNS

seen: list[str] = []
delay = {"s": 0.0}


@tool
def where(tag: str) -> str:
    """Note the thread it runs on.

    Args:
        tag: a label
    """
    seen.append(threading.current_thread().name)
    if delay["s"]:
        time.sleep(delay["s"])
    return tag


@tool
def nap(seconds: float) -> str:
    """Sleep.

    Args:
        seconds: how long
    """
    time.sleep(seconds)
    return "rested"


async def _busy_loop_calls(ex: ActionExecutor, n: int) -> None:
    other = asyncio.create_task(asyncio.sleep(10))  # another conversation: the loop is not idle
    try:
        for i in range(n):
            assert (await ex.aexecute("where", {"tag": str(i)})).ok
    finally:
        other.cancel()


def test_a_quick_tool_runs_on_the_loop_after_its_first_runs_and_a_slow_one_never():
    seen.clear()
    delay["s"] = 0.0
    ex = ActionExecutor([where])
    asyncio.run(_busy_loop_calls(ex, FAST_RUNS + 3))
    loop_thread = threading.main_thread().name
    assert all(name != loop_thread for name in seen[:FAST_RUNS]), seen  # unknown yet: threads
    assert seen[FAST_RUNS:] == [loop_thread] * 3, seen  # known quick: on the loop

    # it turns slow: one run on the loop shows it, and it goes back to threads for good
    seen.clear()
    delay["s"] = FAST_CALL_S * 5
    asyncio.run(_busy_loop_calls(ex, 3))
    assert seen[0] == loop_thread and all(name != loop_thread for name in seen[1:]), seen
    delay["s"] = 0.0
    seen.clear()
    asyncio.run(_busy_loop_calls(ex, FAST_RUNS + 2))
    assert all(name != loop_thread for name in seen), seen
    ex.close()


def test_slow_calls_of_one_reply_still_run_at_once():
    ex = ActionExecutor([nap])

    async def reply() -> float:
        t = time.perf_counter()
        results = await asyncio.gather(*(ex.aexecute("nap", {"seconds": 0.3}) for _ in range(3)))
        assert all(r.ok for r in results)
        return time.perf_counter() - t

    for _ in range(FAST_RUNS + 1):  # however often it has run, it is never taken for quick
        assert asyncio.run(reply()) < 0.8
    ex.close()
