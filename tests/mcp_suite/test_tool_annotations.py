"""What an MCP server says of its tools and their results is kept (issue 24): a tool's ``title``
and annotations (an idempotent or read-only tool may run again after a crash, a destructive one
needs approval), content annotations on result items (an item for the person only is not given to
the model), and ``liteagent mcp serve`` passes them on to its own clients (the official SDK's
server and client on both ends, in process)."""

from __future__ import annotations

import asyncio

import mcp.types as t
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from liteagent import ActionExecutor, Agent, ScriptedLLM
from liteagent.mcp import MCPToolkit
from liteagent.mcp.server import build_server


def _server() -> MCPServer:
    mcp = MCPServer("notes")

    @mcp.tool(
        title="Read a note",
        annotations=t.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    def read_note(name: str) -> list[t.TextContent]:
        """Read a note."""
        return [
            t.TextContent(text=f"note {name}: buy milk", annotations=t.Annotations(audience=["assistant", "user"])),
            t.TextContent(text="(shown in your notes app)", annotations=t.Annotations(audience=["user"], priority=0.2)),
        ]

    @mcp.tool(annotations=t.ToolAnnotations(destructive_hint=True))
    def burn(name: str) -> list[t.TextContent]:
        """Burn a note."""
        return [t.TextContent(text="the note is ash", annotations=t.Annotations(audience=["user"]))]

    @mcp.tool()
    def plain(name: str) -> str:
        """A tool that says nothing of itself."""
        return name

    return mcp


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_titles_annotations_and_content_annotations_are_kept_and_passed_on():
    kit = MCPToolkit(_server(), name="notes", protocol="legacy")
    try:
        executor = ActionExecutor([kit])
        read, burn, plain = (executor.resolve(f"notes.{n}").spec for n in ("read_note", "burn", "plain"))
        assert read.title == "Read a note"
        assert read.annotations == {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False}
        assert read.idempotent and not plain.idempotent and not burn.idempotent  # what resume may run again
        assert burn.needs_approval is True and not read.needs_approval
        assert plain.title is None and plain.annotations is None

        ret = executor.execute("notes.read_note", {"name": "shop"})
        assert [i.annotations for i in ret.result] == [
            {"audience": ["assistant", "user"]},
            {"audience": ["user"], "priority": 0.2},
        ]
        assert ret.format_for_model() == "note shop: buy milk"  # the person's line is not the model's
        burnt = executor.execute("notes.burn", {"name": "shop"})
        assert "for the person only" in burnt.format_for_model() and "ash" not in burnt.format_for_model()
        assert burnt.to_dict()["result"][0]["annotations"] == {"audience": ["user"]}

        llm = ScriptedLLM(['<tool_call>{"name": "notes__read_note", "arguments": {"name": "x"}}</tool_call>', "ok"])
        Agent(llm, [kit], protocol="hermes").run("read x")
        assert "shown in your notes app" not in str(llm.prompts[-1]) and "note x: buy milk" in str(llm.prompts[-1])

        async def relist():  # liteagent mcp serve, in front of the same toolkit: what its clients see
            async with Client(build_server(executor), mode="legacy") as c:
                listed = {x.name: x for x in (await c.list_tools()).tools}
                called = await c.call_tool("notes__read_note", {"name": "shop"})
                return listed, called

        listed, called = asyncio.run(relist())
        assert listed["notes__read_note"].title == "Read a note"
        assert listed["notes__read_note"].annotations.read_only_hint is True
        assert listed["notes__read_note"].annotations.idempotent_hint is True
        assert listed["notes__burn"].annotations.destructive_hint is True
        assert listed["notes__plain"].title is None and listed["notes__plain"].annotations is None
        assert [c.annotations.audience for c in called.content] == [["assistant", "user"], ["user"]]
        assert called.content[1].annotations.priority == 0.2
    finally:
        kit.close()
