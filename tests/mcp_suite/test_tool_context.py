"""A plugin's ToolContext: the same plugin reports progress, logs, samples and elicits behind
`liteagent mcp serve` (the official SDK's client on the other end) and inside liteagent's own
executor (logs, no model to sample, every question declined)."""

from __future__ import annotations

import asyncio
import json
import logging

import mcp.types as t
import pytest
from mcp import Client

from liteagent import ActionExecutor, BaseAction, tool, tool_api
from liteagent.actions.context import ToolContext
from liteagent.mcp.server import build_server


@tool
def slow_sum(a: int, b: int, ctx: ToolContext) -> int:
    """Add two numbers, slowly.

    Args:
        a: first
        b: second
    """
    for step in range(3):
        ctx.report_progress(step + 1, 3, f"step {step + 1}")
    ctx.log(f"adding {a} and {b}", level="notice")
    return a + b


@tool
async def ask_name(ctx: ToolContext) -> str:
    """Ask the person their name."""
    answer = await ctx.aelicit("Your name?", {"type": "object", "properties": {"name": {"type": "string"}}})
    return f"{answer.action}:{answer.content.get('name', '')}"


@tool
def summarise(text: str, ctx: ToolContext) -> str:
    """Summarise a text with the caller's model.

    Args:
        text: what to summarise
    """
    return ctx.sample(f"Summarise: {text}", max_tokens=20)


class Toolkit(BaseAction):
    """A toolkit whose API takes the context too."""

    @tool_api
    async def tick(self, n: int, ctx: ToolContext) -> str:
        """Count to n.

        Args:
            n: how far
        """
        for i in range(n):
            await ctx.areport_progress(i + 1, n)
        return "done"


def test_the_context_is_not_part_of_the_schema():
    ex = ActionExecutor([slow_sum, ask_name, Toolkit()])
    tools = {f["function"]["name"]: f["function"]["parameters"] for f in ex.openai_tools()}
    assert tools["slow_sum"]["properties"].keys() == {"a", "b"} and tools["slow_sum"]["required"] == ["a", "b"]
    assert tools["ask_name"]["properties"] == {}
    assert tools["Toolkit__tick"]["properties"].keys() == {"n"}
    assert ex.resolve("slow_sum").spec.may_run_inline is False  # it may wait on its caller: never on a loop


def test_inside_liteagent_progress_and_logs_go_to_the_log_and_questions_are_declined(caplog):
    ex = ActionExecutor([slow_sum, ask_name, summarise])
    with caplog.at_level(logging.INFO, logger="liteagent.tools"):
        ret = ex.execute("slow_sum", {"a": 2, "b": 3})
        asked = ex.execute("ask_name", {})
        sampled = ex.execute("summarise", {"text": "x"})
        aret = asyncio.run(ex.aexecute("slow_sum", {"a": 1, "b": 1}, alone=True))
    assert ret.ok and ret.result[0].content == 5 and aret.ok and aret.result[0].content == 2
    assert "progress slow_sum: 3/3 · step 3" in caplog.text and "adding 2 and 3" in caplog.text
    assert asked.ok and asked.result[0].content == "decline:"
    assert not sampled.ok and "no model can be asked" in sampled.error


def test_an_async_tool_calling_the_sync_form_gets_a_clear_error():
    @tool
    async def wrong(ctx: ToolContext) -> str:
        """Misuse the context."""
        ctx.report_progress(1)
        return "x"

    ret = asyncio.run(ActionExecutor([wrong]).aexecute("wrong", {}))
    assert not ret.ok and "must await ctx.areport_progress" in ret.error


def _serve(*tools):
    return build_server(ActionExecutor(list(tools)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", ["legacy", "auto"])  # the handshake wire's requests; the 2026 wire's retries
def test_behind_mcp_serve_progress_logs_sampling_and_elicitation_reach_the_client(mode):
    progress: list[tuple[float, float | None, str | None]] = []
    logs: list[tuple[str, object]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    async def on_log(params: t.LoggingMessageNotificationParams) -> None:
        logs.append((params.level, params.data))

    async def on_sample(ctx, params: t.CreateMessageRequestParams) -> t.CreateMessageResult:
        asked = params.messages[0].content.text
        return t.CreateMessageResult(role="assistant", content=t.TextContent(text=f"<{asked}>"), model="scripted")

    async def on_elicit(ctx, params) -> t.ElicitResult:
        assert params.message == "Your name?"
        return t.ElicitResult(action="accept", content={"name": "Ada"})

    async def go():
        async with Client(
            _serve(slow_sum, ask_name, summarise, Toolkit()),
            logging_callback=on_log,
            log_level="debug",
            sampling_callback=on_sample,
            elicitation_callback=on_elicit,
            mode=mode,
        ) as c:
            added = await c.call_tool("slow_sum", {"a": 2, "b": 3}, progress_callback=on_progress)
            ticked = await c.call_tool("Toolkit__tick", {"n": 2}, progress_callback=on_progress)
            named = await c.call_tool("ask_name", {})
            summed = await c.call_tool("summarise", {"text": "long"})
            return added, ticked, named, summed

    added, ticked, named, summed = asyncio.run(go())
    assert not added.is_error and added.content[0].text == "5"
    assert progress[:3] == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert progress[3:] == [(1, 2, None), (2, 2, None)] and ticked.content[0].text == "done"
    assert ("notice", "adding 2 and 3") in logs
    assert named.content[0].text == "accept:Ada"
    assert summed.content[0].text == "<Summarise: long>"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_client_without_elicitation_or_sampling_gets_a_declined_question_and_a_clear_error(mode):
    async def go():
        async with Client(_serve(ask_name, summarise), mode=mode) as c:
            return await c.call_tool("ask_name", {}), await c.call_tool("summarise", {"text": "x"})

    named, summed = asyncio.run(go())
    assert named.content[0].text == "decline:"
    assert summed.is_error and "declared no sampling" in summed.content[0].text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_log_lines_below_the_clients_level_are_not_sent():
    logs: list[str] = []

    async def on_log(params: t.LoggingMessageNotificationParams) -> None:
        logs.append(params.level)

    async def go():
        async with Client(_serve(slow_sum), logging_callback=on_log, mode="legacy") as c:
            await c.set_logging_level("warning")
            await c.call_tool("slow_sum", {"a": 1, "b": 1})
            await c.set_logging_level("notice")
            await c.call_tool("slow_sum", {"a": 1, "b": 1})

    asyncio.run(go())
    assert logs == ["notice"]


def test_an_elicitation_schema_must_be_an_object():
    ctx = ToolContext("x")
    with pytest.raises(ValueError, match="JSON Schema object"):
        ctx.elicit("?", {"type": "string"})


@pytest.mark.parametrize(("mode", "answer"), [("legacy", "accept:Ada"), ("auto", "decline:")])
def test_the_agent_behind_ask_puts_its_tools_questions_to_the_mcp_clients_person(mode, answer):
    from liteagent import Agent, ScriptedLLM

    llm = ScriptedLLM(['<tool_call>{"name": "ask_name", "arguments": {}}</tool_call>', lambda req: "fine"])
    agent = Agent(llm, plugins=[ask_name], protocol="hermes")
    server = build_server(ActionExecutor([ask_name]), agent=agent)

    async def on_elicit(ctx, params) -> t.ElicitResult:
        return t.ElicitResult(action="accept", content={"name": "Ada"})

    async def go():
        async with Client(server, elicitation_callback=on_elicit, mode=mode) as c:
            return await c.call_tool("ask", {"question": "what is my name?"})

    result = asyncio.run(go())
    assert not result.is_error and result.content[0].text == "fine", result
    sent = json.dumps(llm.requests[-1].messages or llm.requests[-1].prompt)
    assert answer in sent  # the tool's result the agent's model read
