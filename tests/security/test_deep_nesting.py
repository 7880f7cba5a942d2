"""Tool calls nested 100 000 deep (issue 23, item 10). They once raised RecursionError out of
the run ("internal error"). A call nested past the limit (64 levels of brackets, as the model
wrote it) is a malformed call, told to the model as a tool message that names the problem, in
every dialect and on every path a call's JSON takes (JSON, code fences, Python-dict quoting,
repairs of unclosed brackets, arguments as a JSON string, bare Hermes calls, native
tool_calls). A tool's result nested past 256 levels is that tool's error, not a crash."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from typing import Any

import pytest

from liteagent import (
    ActionExecutor,
    ActionStatus,
    Agent,
    BaseAction,
    ResultItem,
    ScriptedLLM,
    ScriptedReply,
    SQLiteSession,
    tool_api,
)
from liteagent.batch.turn import one_turn
from liteagent.jsontext import MAX_CALL_DEPTH, MAX_RESULT_DEPTH, nesting_exceeds
from liteagent.llms import OpenAICompatibleLLM
from liteagent.messages import Message
from liteagent.protocols import get_protocol
from liteagent.protocols.calljson import TOO_DEEP, load_json_value

DIALECTS = ["internlm2", "hermes", "openai", "react"]
DEEP = 100_000
LIMIT_WORDS = f"more than {MAX_CALL_DEPTH} levels deep"


class Store(BaseAction):
    """Keeps data."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[Any] = []

    @tool_api
    def put(self, data: Any = None, note: str = "") -> str:
        """Keep some data.

        Args:
            data: any JSON value
            note: a remark
        """
        self.kept.append(data)
        return "kept"


def lists(n: int) -> str:
    return "[" * n + "]" * n


def dicts(n: int) -> str:
    return '{"a": ' * n + "1" + "}" * n


def call_text(dialect: str, args: str) -> str | ScriptedReply:
    """``args`` (the arguments object as text) as a call in ``dialect``."""
    if dialect == "internlm2":
        return f'<|action_start|><|plugin|>\n{{"name": "Store.put", "parameters": {args}}}<|action_end|>'
    if dialect == "hermes":
        return f'<tool_call>\n{{"name": "Store.put", "arguments": {args}}}\n</tool_call>'
    if dialect == "react":
        return f"Thought: keep it\nAction: Store.put\nAction Input: {args}"
    return ScriptedReply(tool_calls=[{"name": "Store__put", "arguments": args}])


def wire(reply: str | ScriptedReply) -> str | dict:
    """A ScriptedLLM reply as the scripted server's."""
    if isinstance(reply, str):
        return reply
    return {"text": reply.text, "tool_calls": reply.tool_calls}


def assert_refused(result, store: Store) -> None:
    """The deep call went back to the model as a malformed call; the run went on to its answer."""
    assert (result.status, result.answer) == ("ok", "Nothing kept."), (result.status, result.error)
    ret = result.steps[0].results[0]
    assert ret.status in (ActionStatus.ARGS_ERROR, ActionStatus.INVALID_ACTION)
    assert LIMIT_WORDS in (ret.error or "")
    told = [m for m in result.messages if m.role == "tool"][0].content
    assert LIMIT_WORDS in told and len(told) < 1000  # the model reads the problem, not the payload
    assert store.kept == []


# -- the attack, through the API --------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("payload", [lists(DEEP), dicts(DEEP), "[" * DEEP], ids=["lists", "dicts", "unclosed"])
def test_a_call_nested_100000_deep_is_a_malformed_call_in_every_dialect(dialect, payload):
    store = Store()
    reply = call_text(dialect, '{"data": ' + payload + "}")
    agent = Agent(ScriptedLLM([reply, "Nothing kept."]), [store], protocol=dialect)
    assert_refused(agent.run("Keep this."), store)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_driver_and_the_event_stream_survive_it(dialect):
    store = Store()
    reply = call_text(dialect, '{"data": ' + lists(DEEP) + "}")
    llm = ScriptedLLM([reply, "Nothing kept."] * 3, chunk_size=4096)
    agent = Agent(llm, [store], protocol=dialect)
    events = list(agent.stream("Keep this."))
    call = next(e for e in events if e.type == "tool_call").call
    assert call.error == TOO_DEEP and call.raw  # the model's own text is kept, as written
    assert events[-1].type == "final"
    assert_refused(asyncio.run(agent.arun("Keep this.")), store)

    async def go():
        return [e async for e in agent.astream("Keep this.")]

    assert asyncio.run(go())[-1].type == "final"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_session_keeps_the_malformed_call_and_reopens(dialect, tmp_path):
    store = Store()
    session = SQLiteSession("deep", tmp_path / "s.sqlite3")
    reply = call_text(dialect, '{"data": ' + dicts(DEEP) + "}")
    agent = Agent(ScriptedLLM([reply, "Nothing kept.", "Still nothing."]), [store], protocol=dialect)
    assert_refused(agent.run("Keep this.", session=session), store)
    again = SQLiteSession("deep", tmp_path / "s.sqlite3")
    items = asyncio.run(again.get_items())
    assert [m.role for m in items] == ["user", "assistant", "tool", "assistant"]
    assert items[1].tool_calls[0].error == TOO_DEEP
    assert agent.run("And now?", session=again).status == "ok"  # re-rendered from the session


# -- every way a call's JSON is read ----------------------------------------------------------
def parse(dialect: str, text: str, seed: int | None = None):
    parser = get_protocol(dialect).new_parser(ActionExecutor([Store()]).tool_set())
    if seed is None:
        parser.feed(text)
    else:
        rng, i = random.Random(seed), 0
        while i < len(text):
            n = rng.randint(1, 4000)
            parser.feed(text[i : i + n])
            i += n
    parser.finish()
    return parser.result()


SHAPES = {
    "fenced": lambda d: "```json\n" + d + "\n```",
    "python quoting": lambda d: "{'name': 'Store.put', 'parameters': {'data': " + lists(DEEP) + ", 'ok': True}}",
    "unclosed (repair)": lambda d: '{"name": "Store.put", "parameters": {"data": ' + "[" * DEEP,
    "arguments as a JSON string": lambda d: json.dumps({"name": "Store.put", "arguments": d}),
    "a list of calls": lambda d: '[{"name": "Store.put", "parameters": {}}, ' + d + "]",
    "junk after it": lambda d: d + "}} and then some",
    # quotes of another kind hide closing brackets from a JSON-only count: the Python reader's
    # value (150 deep: under its own limit of 200) is checked as a value
    "python quoting, hidden closers": lambda d: (
        "{'name': 'Store.put', 'parameters': {'s': '" + "]" * 300 + "', 'data': " + lists(150) + "}}"
    ),
}


def deep_call() -> str:
    return '{"name": "Store.put", "parameters": {"data": ' + lists(DEEP) + "}}"


@pytest.mark.parametrize("dialect", ["internlm2", "hermes"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_reader_refuses_the_depth(dialect, shape):
    body = SHAPES[shape](deep_call())
    if shape == "arguments as a JSON string":
        body = SHAPES[shape]('{"data": ' + lists(DEEP) + "}")
    text = (
        f"<|action_start|><|plugin|>\n{body}<|action_end|>"
        if dialect == "internlm2"
        else f"<tool_call>\n{body}\n</tool_call>"
    )
    for seed in (None, 1, 2):  # in chunks as whole
        reply = parse(dialect, text, seed)
        assert [c.error for c in reply.calls] == [TOO_DEEP], (shape, seed)


@pytest.mark.parametrize("shape", ["junk after it", "fenced", "unclosed (repair)"])
def test_react_refuses_the_depth(shape):
    args = SHAPES[shape]('{"data": ' + lists(DEEP) + "}") if shape != "unclosed (repair)" else "{'data': " + "[" * DEEP
    reply = parse("react", f"Action: Store.put\nAction Input: {args}")
    assert [c.error for c in reply.calls] == [TOO_DEEP]


def test_a_bare_hermes_call_nested_too_deep_is_a_malformed_call():
    # Qwen2.5 at times writes a call as the whole reply, no tags: one naming an offered tool that
    # nests too deep is reported, not shown as 200 kB of brackets in the answer
    reply = parse("hermes", '{"name": "Store.put", "arguments": {"data": ' + lists(DEEP) + "}}", seed=3)
    assert [c.error for c in reply.calls] == [TOO_DEEP] and reply.text == ""
    other = parse("hermes", '{"name": "not_a_tool", "arguments": {"data": ' + lists(DEEP) + "}}")
    assert other.calls == [] and other.text.startswith('{"name": "not_a_tool"')


# -- the limit, exactly; and no false alarms ---------------------------------------------------
def test_the_limit_is_64_levels_of_the_call_as_written():
    at = '{"name": "Store.put", "parameters": {"data": ' + lists(MAX_CALL_DEPTH - 2) + "}}"
    past = '{"name": "Store.put", "parameters": {"data": ' + lists(MAX_CALL_DEPTH - 1) + "}}"
    assert load_json_value(at)[1] is None
    assert load_json_value(past) == (None, TOO_DEEP)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deep_but_allowed_arguments_run(dialect):
    store = Store()
    value = json.loads(lists(40))
    agent = Agent(ScriptedLLM([call_text(dialect, json.dumps({"data": value})), "Kept."]), [store], protocol=dialect)
    result = agent.run("Keep this.")
    assert result.steps[0].results[0].ok and store.kept == [value]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_brackets_inside_strings_and_wide_data_are_not_depth(dialect):
    store = Store()
    note = "([{" * 300 + '\\"]' * 50 + "}])" * 10 + "\\\\"  # as JSON text: escapes included
    wide = [[i, [i, {"k": [i]}]] for i in range(3000)]
    args = '{"note": "' + note + '", "data": ' + json.dumps(wide) + "}"
    agent = Agent(ScriptedLLM([call_text(dialect, args), "Kept."]), [store], protocol=dialect)
    result = agent.run("Keep this.")
    assert result.steps[0].results[0].ok, result.steps[0].results[0].error
    assert store.kept == [wide]


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        ("[" * 65, True),
        ("[" * 64, False),
        ('["' + "[" * 100 + '"]', False),
        ('["\\\\", ' + lists(65) + "]", True),  # an escaped backslash ends its string
        ('["\\"' + "[" * 100 + '"]', False),  # an escaped quote does not
        ("]" * 100 + "[" * 65, True),  # closing brackets with none open cannot hide depth
        ("{" * 40 + "[" * 40, True),
    ],
)
def test_the_depth_count(text, deeper):
    assert nesting_exceeds(text, 64) is deeper


# -- the real HTTP client and the CLI ----------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
def test_over_http_in_every_dialect(server, dialect):
    server.chunk_size = 64  # 200 kB in 3000 stream events
    server.replies = [wire(call_text(dialect, '{"data": ' + lists(DEEP) + "}")), "Nothing kept."]
    store = Store()
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model"), [store], protocol=dialect)
    result = agent.run("Keep this.")
    assert_refused(result, store)
    second = json.dumps(server.completions[1], ensure_ascii=False)
    assert LIMIT_WORDS in second  # what the model was sent back


def test_cli_run_recovers_and_reports_a_model_that_keeps_nesting(cli, server):
    call = '<tool_call>{"name": "EnvChecker.check_torch_env", "arguments": {"x": ' + lists(DEEP) + "}}</tool_call>"
    server.chunk_size = 4096
    server.replies = [call, "No nesting."]
    base = ["run", "--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes"]
    r = cli(*base, "--plugin", "EnvChecker", "Check.")
    assert (r.code, r.out, r.err) == (0, "No nesting.\n", "")
    server.replies = []
    server.default_reply = call
    r = cli(*base, "--plugin", "EnvChecker", "Check.")
    assert r.code == 1 and r.out == "" and "Traceback" not in r.err
    assert r.err.count("\n") == 1 and r.err.startswith("liteagent: error: ") and LIMIT_WORDS in r.err


# -- eval's one turn ---------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
def test_one_turn_records_the_call_as_malformed(dialect):
    tools = ActionExecutor([Store()]).tool_set()
    llm = ScriptedLLM([call_text(dialect, '{"data": ' + dicts(DEEP) + "}")])
    rec = asyncio.run(one_turn(Agent(llm, protocol=dialect), tools, [Message("user", "Keep this.")]))
    assert rec.calls == [] and rec.malformed == [TOO_DEEP]


# -- the executor: arguments as text, results nested past the stack ----------------------------
def test_arguments_given_as_text_are_checked_too():
    ex = ActionExecutor([Store()])
    r = ex.execute("Store.put", '{"data": ' + lists(DEEP) + "}")
    assert r.status is ActionStatus.ARGS_ERROR and LIMIT_WORDS in (r.error or "")


def nest(n: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(n - 1):
        value = {"a": value}
    return value


def nest_lists(n: int) -> list:
    value: list = []
    for _ in range(n - 1):
        value = [value]
    return value


@dataclasses.dataclass
class Node:
    child: Any = None


def deep_node(n: int) -> Node:
    node = Node()
    for _ in range(n):
        node = Node(node)
    return node


class Deep(BaseAction):
    """Returns nested data, in every shape a tool may return."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth

    @tool_api
    def fetch(self, shape: str = "dict") -> Any:
        """Fetch nested data.

        Args:
            shape: dict, list, lagent_json, lagent_text, item, items or dataclass
        """
        d = self.depth
        return {
            "dict": lambda: nest(d),
            "list": lambda: nest_lists(d),
            "lagent_json": lambda: {"json": nest(d)},
            "lagent_text": lambda: {"text": nest_lists(d)},
            "item": lambda: ResultItem.json(nest(d)),
            "items": lambda: [ResultItem.text("nested:"), ResultItem.json(nest(d))],
            "dataclass": lambda: deep_node(d),
        }[shape]()


SHAPES_OUT = ["dict", "list", "lagent_json", "lagent_text", "item", "items", "dataclass"]


@pytest.mark.parametrize("shape", SHAPES_OUT)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_result_nested_100000_deep_is_the_tools_error_not_a_crash(dialect, shape, tmp_path):
    args = json.dumps({"shape": shape})
    call = (
        ScriptedReply(tool_calls=[{"name": "Deep__fetch", "arguments": args}])
        if dialect == "openai"
        else call_text(dialect, args).replace("Store.put", "Deep.fetch")  # type: ignore[union-attr]
    )
    agent = Agent(ScriptedLLM([call, "It was too deep."] * 2), [Deep(DEEP)], protocol=dialect)
    session = SQLiteSession("r", tmp_path / "r.sqlite3")
    result = agent.run("Fetch.", session=session)
    assert (result.status, result.answer) == ("ok", "It was too deep.")
    ret = result.steps[0].results[0]
    assert ret.status is ActionStatus.API_ERROR and f"more than {MAX_RESULT_DEPTH} levels" in (ret.error or "")
    json.dumps(result.to_dict())  # what `run --json` and the service write
    assert asyncio.run(agent.arun("Fetch.")).steps[0].results[0].status is ActionStatus.API_ERROR


def test_a_result_at_the_limit_is_passed_on_and_stored(tmp_path):
    agent = Agent(
        ScriptedLLM(['<tool_call>{"name": "Deep.fetch", "arguments": {}}</tool_call>', "Fine."]),
        [Deep(MAX_RESULT_DEPTH)],
        protocol="hermes",
    )
    session = SQLiteSession("r", tmp_path / "r.sqlite3")
    result = agent.run("Fetch.", session=session)
    assert result.steps[0].results[0].ok
    items = asyncio.run(SQLiteSession("r", tmp_path / "r.sqlite3").get_items())
    assert items[2].result is not None and items[2].result.result[0].content == nest(MAX_RESULT_DEPTH)
    over = ActionExecutor([Deep(MAX_RESULT_DEPTH + 1)]).execute("Deep.fetch", {})
    assert over.status is ActionStatus.API_ERROR
