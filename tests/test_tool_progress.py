"""A running tool's progress among a run's events (`with_tool_progress`: the web chat and
`liteagent serve` read runs this way): each report comes while its tool still runs."""

from __future__ import annotations

import asyncio
import threading
import time

from liteagent import Agent, ScriptedLLM, ToolContext, tool
from liteagent.agent_host import ToolProgress, with_tool_progress
from liteagent.events import FinalAnswer, ToolResultEvent

SEEN = threading.Event()
LATE: list[str] = []


@tool
def survey(ctx: ToolContext) -> str:
    """Survey in two legs; the second starts once the first was seen."""
    ctx.report_progress(1, 2, "leg 1")
    if not SEEN.wait(20):
        return "nobody saw leg 1 while it ran"
    try:
        ctx.report_progress(2, 2, "leg 2")
    except Exception as exc:  # its run was closed meanwhile
        LATE.append(str(exc))
        raise
    return "surveyed"


def test_each_report_comes_while_its_tool_runs():
    SEEN.clear()
    llm = ScriptedLLM(['<tool_call>{"name": "survey", "arguments": {}}</tool_call>', "Done."])
    agent = Agent(llm, plugins=[survey], protocol="hermes")

    async def go() -> list[object]:
        got: list[object] = []
        async for ev in with_tool_progress(agent.astream("survey it")):
            got.append(ev)
            if isinstance(ev, ToolProgress) and ev.progress == 1:
                SEEN.set()
        return got

    events = asyncio.run(go())
    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [(p.tool, p.progress, p.total, p.message, p.fraction) for p in progress] == [
        ("survey", 1, 2, "leg 1", 0.5),
        ("survey", 2, 2, "leg 2", 1.0),
    ]
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.result.result[0].content == "surveyed"
    assert isinstance(events[-1], FinalAnswer) and events[-1].answer == "Done."


def test_closing_the_reader_early_ends_the_run():
    SEEN.clear()
    llm = ScriptedLLM(['<tool_call>{"name": "survey", "arguments": {}}</tool_call>', "Done."])
    agent = Agent(llm, plugins=[survey], protocol="hermes")

    async def go() -> None:
        events = with_tool_progress(agent.astream("survey it"))
        async for ev in events:
            if isinstance(ev, ToolProgress):
                break
        await events.aclose()

    asyncio.run(go())  # its loop ends here: the tool's next report must not wait on it for ever
    SEEN.set()  # only now does the tool go on to its next report (while the loop ran, it might still be heard)
    assert len(llm.requests) == 1  # the model was not asked again after the reader left
    for _ in range(200):
        if LATE:
            break
        time.sleep(0.05)
    assert LATE and "has ended" in LATE[0]  # the tool's thread was told, not left hanging
