"""liteagent's MCP client, seen from an MCP server (the official SDK's MCPServer, in process and
over stdio): what the server asks during a call is answered by the agent that made it (its own
model samples, its ask_person answers forms, its hooks see progress), roots are the configured
folders, log lines reach liteagent's log, a tool the server adds later is callable, and the client
names itself."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

from liteagent import ActionExecutor, Agent, ScriptedLLM
from liteagent.actions.context import Elicited
from liteagent.hooks import RunHooks
from liteagent.mcp import MCPServerConfig, MCPToolkit


class City(BaseModel):
    city: str


def _server() -> MCPServer:
    mcp = MCPServer("caps")

    @mcp.tool()
    async def summarize(text: str, ctx: Context) -> str:
        """Summarise a text with the client's model."""
        from mcp.types import SamplingMessage, TextContent

        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(text=f"Summarise: {text}"))],
            max_tokens=50,
            related_request_id=ctx.request_id,
        )
        return f"summary={result.content.text}"

    @mcp.tool()
    async def where(ctx: Context) -> str:
        """Ask the person for a city."""
        answer = await ctx.elicit("Which city?", schema=City)
        return f"{answer.action}:{getattr(getattr(answer, 'data', None), 'city', '')}"

    @mcp.tool()
    async def work(ctx: Context) -> str:
        """Work in three steps."""
        for i in range(3):
            await ctx.report_progress(i + 1, 3, f"step {i + 1}")
        await ctx.info("worked hard")  # a log line for the client
        return "worked"

    @mcp.tool()
    async def folders(ctx: Context) -> str:
        """The client's roots."""
        roots = await ctx.session.list_roots()
        return ",".join(str(r.uri) for r in roots.roots)

    @mcp.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool named later."""

        def later() -> str:
            """Added at run time."""
            return "I am new"

        mcp.add_tool(later)
        await ctx.session.send_tool_list_changed()
        return "grown"

    return mcp


class Seen(RunHooks):
    def __init__(self) -> None:
        self.progress: list[tuple] = []

    def tool_progress(self, run, turn, call_id, tool, progress, total, message) -> None:
        self.progress.append((tool, progress, total, message))


def _call(tool: str, args: str = "{}") -> str:
    return f'<tool_call>{{"name": "caps__{tool}", "arguments": {args}}}</tool_call>'


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_agents_model_answers_sampling_and_its_person_answers_forms(tmp_path, monkeypatch):
    monkeypatch.setenv("LITEAGENT_DATA_DIR", str(tmp_path))
    kit = MCPToolkit(_server(), name="caps", protocol="legacy")
    llm = ScriptedLLM(
        [_call("summarize", '{"text": "a long story"}'), "A SHORT STORY", _call("where"), _call("work"), "done"]
    )
    hooks = Seen()
    asked: list[tuple[str, dict]] = []

    def person(message: str, schema: dict) -> Elicited:
        asked.append((message, schema))
        return Elicited("accept", {"city": "Oslo"})

    agent = Agent(llm, plugins=[kit], protocol="hermes", hooks=[hooks], ask_person=person)
    result = agent.run("go")
    kit.close()
    tools = [m for m in result.messages if m.role == "tool"]
    assert result.status == "ok" and result.answer == "done", result
    assert tools[0].content == "summary=A SHORT STORY"  # the agent's model's own reply
    assert "Summarise: a long story" in str(llm.requests[1].messages or llm.requests[1].prompt)
    assert tools[1].content == "accept:Oslo" and asked[0][0] == "Which city?"
    assert asked[0][1]["properties"]["city"]["type"] == "string"
    assert [p[1:] for p in hooks.progress] == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert hooks.progress[0][0] == "caps__work"  # the call as the model named it
    assert "[info] worked hard" in (tmp_path / "mcp-logs" / "caps.log").read_text()  # its log file, not the terminal


@pytest.mark.parametrize("protocol", ["legacy", "auto"])  # requests back; the 2026 wire's input-required retries
def test_liteagent_to_liteagent_questions_go_through_both_wires(protocol):
    """A liteagent plugin behind `mcp serve` asks through its ToolContext; a liteagent agent answers."""
    from liteagent import tool
    from liteagent.actions.context import ToolContext
    from liteagent.mcp.server import build_server

    @tool
    async def plan(goal: str, ctx: ToolContext) -> str:
        """Plan with the caller's model, confirm with the caller's person.

        Args:
            goal: what to plan
        """
        await ctx.areport_progress(1, 2, "thinking")
        idea = await ctx.asample(f"Plan: {goal}", max_tokens=30)
        ok = await ctx.aelicit(f"Go with {idea}?", {"type": "object", "properties": {"yes": {"type": "boolean"}}})
        await ctx.areport_progress(2, 2, "done")
        return f"{idea} / {ok.action} {ok.content}"

    kit = MCPToolkit(build_server(ActionExecutor([plan])), name="remote", protocol=protocol)
    llm = ScriptedLLM([_call_on("remote", "plan", '{"goal": "a trip"}'), "TRAIN", "planned"])
    hooks = Seen()
    agent = Agent(
        llm, plugins=[kit], protocol="hermes", hooks=[hooks], ask_person=lambda m, s: Elicited("accept", {"yes": True})
    )
    result = agent.run("go")
    kit.close()
    tool_msg = next(m for m in result.messages if m.role == "tool")
    assert result.answer == "planned" and tool_msg.content == "TRAIN / accept {'yes': True}", tool_msg
    assert [p[1] for p in hooks.progress][-1] == 2


def _call_on(server: str, tool: str, args: str = "{}") -> str:
    return f'<tool_call>{{"name": "{server}__{tool}", "arguments": {args}}}</tool_call>'


def test_nobody_to_ask_declines_and_roots_are_the_configured_folders(tmp_path):
    kit = MCPToolkit(_server(), name="caps", protocol="legacy")
    kit.connection.callbacks.roots = [str(tmp_path)]
    ex = ActionExecutor([kit])
    declined = ex.execute("caps.where", {})
    roots = ex.execute("caps.folders", {})
    kit.close()
    assert declined.ok and declined.result[0].content == "decline:"
    assert roots.ok and roots.result[0].content == tmp_path.as_uri()


def test_a_tool_the_server_adds_later_is_callable_in_the_same_process():
    kit = MCPToolkit(_server(), name="caps", protocol="legacy")
    ex = ActionExecutor([kit])
    assert "caps.later" not in ex.names()
    assert ex.execute("caps.grow", {}).ok
    added = ex.execute("caps.later", {})
    kit.close()
    assert added.ok and added.result[0].content == "I am new"
    assert "caps.later" in ex.names() and any(t["function"]["name"] == "caps__later" for t in ex.openai_tools())


def test_the_client_names_itself_liteagent_and_config_roots_are_read(tmp_path):
    from liteagent import __version__

    seen = {}
    mcp = MCPServer("who")

    @mcp.tool()
    async def whoami(ctx: Context) -> str:
        """Who is asking."""
        info = ctx.session.client_params.client_info
        seen["caps"] = ctx.session.client_capabilities
        return f"{info.name} {info.version}"

    kit = MCPToolkit(mcp, name="who", protocol="legacy")
    ret = ActionExecutor([kit]).execute("who.whoami", {})
    kit.close()
    assert ret.result[0].content == f"liteagent {__version__}"
    caps = seen["caps"]
    assert caps.sampling is not None and caps.elicitation is not None and caps.roots is not None
    cfg = MCPServerConfig("x", url="http://127.0.0.1:1/mcp", roots=(str(tmp_path),))
    assert MCPToolkit(cfg).connection.callbacks.roots == [str(tmp_path)]


def test_an_answer_that_does_not_fit_the_form_is_refused_and_defaults_fill_gaps():
    from liteagent.mcp.client_host import form_errors, with_defaults

    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer", "default": 30}, "name": {"type": "string"}},
        "required": ["name"],
    }
    assert with_defaults({"name": "Ada"}, schema) == {"name": "Ada", "age": 30}
    assert form_errors({"name": "Ada", "age": 30}, schema) is None
    assert "age" in form_errors({"name": "Ada", "age": "old"}, schema)
    assert "name" in form_errors({"age": 3}, schema)


def test_config_entries_take_roots_and_oauth(tmp_path):
    import json

    from liteagent.errors import UsageError
    from liteagent.mcp import load_config

    f = tmp_path / "servers.json"
    f.write_text(json.dumps({"mcpServers": {"a": {"url": "http://127.0.0.1:9/mcp", "auth": "oauth", "roots": ["~"]}}}))
    (cfg,) = load_config(f)
    assert cfg.auth == "oauth" and cfg.roots == ("~",)
    for bad, says in (
        ({"command": "x", "auth": "oauth"}, "for HTTP servers"),
        ({"url": "http://h/mcp", "auth": "basic"}, 'auth must be "oauth"'),
        ({"url": "http://h/mcp", "roots": "/tmp"}, "roots must be a list"),
        ({"url": "http://h/mcp", "sampling": "maybe"}, "sampling must be"),
        ({"url": "http://h/mcp", "auth": "oauth", "client_metadata_url": "http://x"}, "https://"),
    ):
        f.write_text(json.dumps({"mcpServers": {"a": bad}}))
        with pytest.raises(UsageError, match=says):
            load_config(f)


def test_sampling_is_limited_per_connection():
    from liteagent.mcp import client_host

    kit = MCPToolkit(_server(), name="caps", protocol="legacy")
    kit.connection.callbacks.samples = client_host.MAX_SAMPLES
    ret = ActionExecutor([kit]).execute("caps.summarize", {"text": "x"})
    kit.close()
    assert not ret.ok or "at most" in str(ret.result[0].content)
    assert "at most 100 sampling requests" in (ret.error or str(ret.result[0].content))


def test_structured_content_is_held_to_the_tools_output_schema():
    import mcp.types as t
    from mcp.server import Server

    out_schema = {"type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"]}

    async def list_tools(ctx, params):
        return t.ListToolsResult(
            tools=[
                t.Tool(name="good", input_schema={"type": "object"}, output_schema=out_schema),
                t.Tool(name="bad", input_schema={"type": "object"}, output_schema=out_schema),
            ]
        )

    async def call_tool(ctx, params):
        data = {"temp": 21.5} if params.name == "good" else {"temp": "warm"}
        return t.CallToolResult(content=[t.TextContent(text=str(data))], structured_content=data)

    kit = MCPToolkit(Server("typed", on_list_tools=list_tools, on_call_tool=call_tool), name="typed", protocol="legacy")
    ex = ActionExecutor([kit])
    good, bad, again = ex.execute("typed.good", {}), ex.execute("typed.bad", {}), ex.execute("typed.good", {})
    kit.close()
    assert good.ok and good.result[-1].content == {"temp": 21.5}
    assert not bad.ok and "outside its output schema" in bad.error and "warm" in bad.error
    assert again.ok  # the connection was not dropped for it


@pytest.mark.parametrize(
    ("policy", "person", "expect"),
    [
        ("deny", None, "does not let this server ask its model"),
        ("ask", "decline", "the person did not let this server ask the model"),
        ("ask", "accept", "summary=MODEL SAYS"),
    ],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sampling_by_the_entrys_policy(policy, person, expect):
    kit = MCPToolkit(_server(), name="caps", protocol="legacy")
    kit.connection.callbacks.sampling_policy = policy
    asked: list[str] = []

    def ask(message: str, schema: dict) -> Elicited:
        asked.append(message)
        return Elicited(person or "decline")

    llm = ScriptedLLM(
        ['<tool_call>{"name": "caps__summarize", "arguments": {"text": "x"}}</tool_call>', "MODEL SAYS", "ok"]
    )
    result = Agent(llm, plugins=[kit], protocol="hermes", ask_person=ask).run("go")
    kit.close()
    tool = next(m.content for m in result.messages if m.role == "tool")
    assert expect in tool, tool
    if policy == "ask":
        assert "The MCP server caps asks the model" in asked[0] and "Summarise: x" in asked[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_servers_question_for_a_person_who_answers_later_stops_the_run_and_the_call_is_made_again(tmp_path):
    """ask_person="pause" (the web chat, `liteagent serve`): the server's form comes back as the
    run's pending question; the answer, given from the session, reaches the server on the call's
    second making."""
    from liteagent import SQLiteSession

    kit = MCPToolkit(_server(), name="caps", protocol="legacy")
    try:
        llm = ScriptedLLM([_call("where"), "done"])
        agent = Agent(llm, plugins=[kit], protocol="hermes", ask_person="pause")
        session = SQLiteSession("c", tmp_path / "s.db")
        r = agent.run("where to?", session=session)
        assert r.status == "needs_input", r
        (p,) = r.pending
        assert p.question["message"] == "Which city?" and p.question["schema"]["properties"]["city"]["type"] == "string"
        r = agent.resume(session, answers={p.id: {"city": "Oslo"}})
        assert r.status == "ok" and r.answer == "done"
        assert [m.content for m in r.messages if m.role == "tool"] == ["accept:Oslo"]
    finally:
        kit.close()
