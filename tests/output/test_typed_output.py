"""Typed output (``Agent(output_type=T)``): modes, validation, retries, validators, streaming,
results, sessions and usage errors, against ScriptedLLM and the scripted HTTP server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from liteagent import (
    Agent,
    ErrorEvent,
    FinalAnswer,
    InMemorySession,
    ModelRetry,
    OpenAICompatibleLLM,
    ScriptedLLM,
    ScriptedReply,
    UsageError,
    tool,
)
from liteagent.output import OutputError

from ..scripted_server import ScriptedServer


# -- types and helpers ---------------------------------------------------------------------------
class Person(BaseModel):
    name: str
    age: int


@dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


CITY_SCHEMA = {
    "type": "object",
    "title": "City",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer", "minimum": 0}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


def hermes_call(arguments: object, name: str = "final_answer") -> str:
    """A hermes (qwen) tool call, as the model writes it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def native_call(arguments: object, name: str = "final_answer", call_id: str = "c1") -> dict:
    """One native (openai dialect) tool call for ScriptedReply.tool_calls."""
    return {"id": call_id, "name": name, "arguments": json.dumps(arguments)}


def contents(request) -> str:
    """All message text of one request."""
    return "\n".join(str(m.get("content") or "") for m in request.messages)


def last_content(request) -> str:
    return str(request.messages[-1].get("content") or "")


def tool_names(request) -> list[str]:
    return [t["function"]["name"] for t in request.tools or []]


def make_lookup():
    calls: list[str] = []

    @tool
    def lookup(name: str) -> dict:
        """Look a person up.

        Args:
            name: the person's name
        """
        calls.append(name)
        return {"name": name, "age": 42}

    return lookup, calls


def post_bodies(server: ScriptedServer) -> list[dict]:
    return [r["body"] for r in server.requests if r["body"] is not None]


# -- valid in one turn ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("output_type", "arguments", "expected"),
    [
        (Person, {"name": "Ada", "age": 36}, Person(name="Ada", age=36)),
        (Point, {"x": 1, "y": 2}, Point(1, 2)),
        (Movie, {"title": "Alien", "year": 1979}, {"title": "Alien", "year": 1979}),
        (CITY_SCHEMA, {"city": "Oslo", "population": 700000}, {"city": "Oslo", "population": 700000}),
        (Literal["yes", "no"], {"output": "yes"}, "yes"),
        (int, {"output": 7}, 7),
        (list[int], {"output": [1, 2, 3]}, [1, 2, 3]),
    ],
    ids=["pydantic", "dataclass", "typeddict", "schema-dict", "literal", "int", "list-int"],
)
def test_valid_final_answer_in_one_turn(output_type, arguments, expected):
    llm = ScriptedLLM([hermes_call(arguments)], model="qwen")
    result = Agent(llm, output_type=output_type).run("answer?")
    assert result.status == "ok"
    assert result.output == expected
    assert type(result.output) is type(expected)
    assert result.output_errors == []
    assert len(llm.requests) == 1
    assert "final_answer" in contents(llm.requests[0])


def test_pydantic_output_is_instance_of_the_type():
    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 36})], model="qwen")
    out = Agent(llm, output_type=Person).run("who?").output
    assert isinstance(out, Person)
    assert out.name == "Ada" and out.age == 36


def test_list_root_is_wrapped_on_the_wire_and_unwrapped_in_output():
    llm = ScriptedLLM([ScriptedReply(tool_calls=[native_call({"output": [4, 5, 6]})])], model="gpt-4o")
    result = Agent(llm, output_type=list[int]).run("numbers?")
    assert result.status == "ok"
    assert result.output == [4, 5, 6]
    assert json.loads(result.answer) == [4, 5, 6]  # the unwrapped arguments
    (final_tool,) = [t for t in llm.requests[0].tools if t["function"]["name"] == "final_answer"]
    params = final_tool["function"]["parameters"]
    assert params["required"] == ["output"]
    assert params["properties"]["output"]["type"] == "array"
    assert params["properties"]["output"]["items"] == {"type": "integer"}


def test_wrapped_root_without_output_key_is_retried():
    llm = ScriptedLLM([hermes_call({"value": 3}), hermes_call({"output": 3})], model="qwen")
    result = Agent(llm, output_type=int).run("n?")
    assert result.status == "ok" and result.output == 3
    assert "`output` field" in last_content(llm.requests[1])


def test_answer_is_json_of_unwrapped_arguments_for_object_root():
    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 36})], model="qwen")
    result = Agent(llm, output_type=Person).run("who?")
    assert json.loads(result.answer) == {"name": "Ada", "age": 36}


# -- invalid, then valid -------------------------------------------------------------------------
def test_invalid_then_valid_names_the_path_without_echoing_the_input():
    secret = "UNIQUE-" + "q7w3" * 40
    llm = ScriptedLLM(
        [hermes_call({"name": secret, "age": "not a number"}), hermes_call({"name": "Ada", "age": 36})],
        model="qwen",
    )
    result = Agent(llm, output_type=Person).run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    assert len(llm.requests) == 2
    retry = last_content(llm.requests[1])
    assert "$.age" in retry
    assert "final_answer" in retry
    assert secret not in retry
    assert "not a number" not in retry
    # the model's own bad call is in the history, but nothing else repeats the bad value
    assert contents(llm.requests[1]).count(secret) == 1


def test_invalid_then_valid_openai_dialect_tool_message():
    secret = "SECRET-" + "z" * 120
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[native_call({"name": secret, "city": "Oslo", "population": -1, "x": 1}, call_id="c1")]
            ),
            ScriptedReply(tool_calls=[native_call({"city": "Oslo", "population": 5}, call_id="c2")]),
        ],
        model="gpt-4o",
    )
    schema = dict(CITY_SCHEMA, properties=dict(CITY_SCHEMA["properties"], name={"type": "string"}))
    result = Agent(llm, output_type=schema).run("city?")
    assert result.status == "ok" and result.output == {"city": "Oslo", "population": 5}
    tool_msg = llm.requests[1].messages[-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "c1"
    assert "$.population: must be >= 0" in tool_msg["content"]
    assert "$: unexpected field x" in tool_msg["content"]
    assert secret not in tool_msg["content"]


def test_schema_missing_fields_are_not_reported_twice():
    llm = ScriptedLLM([hermes_call({}), hermes_call({})], model="qwen")
    result = Agent(llm, output_type=CITY_SCHEMA, output_retries=0).run("city?")
    assert result.status == "invalid_output"
    messages = [str(e) for e in result.output_errors]
    assert len(messages) == len(set(messages)), messages


def test_nested_list_error_path():
    llm = ScriptedLLM([hermes_call({"output": [1, "two", 3]}), hermes_call({"output": [1, 2, 3]})], model="qwen")
    result = Agent(llm, output_type=list[int]).run("n?")
    assert result.status == "ok" and result.output == [1, 2, 3]
    retry = last_content(llm.requests[1])
    assert "$[1]:" in retry  # the path in the unwrapped value
    assert "$.output" not in retry


# -- always invalid ------------------------------------------------------------------------------
def test_always_invalid_ends_invalid_output_after_retries_plus_one():
    bad = hermes_call({"name": "Ada", "age": "old"})
    llm = ScriptedLLM([bad] * 10, model="qwen")
    result = Agent(llm, output_type=Person, output_retries=2).run("who?")
    assert result.status == "invalid_output"
    assert len(llm.requests) == 3
    assert result.output is None
    assert result.output_errors
    assert all(isinstance(e, OutputError) for e in result.output_errors)
    assert any(e.path == "$.age" for e in result.output_errors)
    assert result.error and "3 tries" in result.error
    d = result.to_dict()
    assert d["status"] == "invalid_output"
    assert d["output"] is None
    assert {"path": "$.age"}.items() <= d["output_errors"][0].items()
    assert result.output_json is None


def test_always_invalid_with_zero_retries_is_one_try():
    llm = ScriptedLLM([hermes_call({"output": "x"})] * 5, model="qwen")
    result = Agent(llm, output_type=int, output_retries=0).run("n?")
    assert result.status == "invalid_output"
    assert len(llm.requests) == 1
    assert result.output_errors and result.output_errors[0].path.startswith("$")


def test_always_invalid_text_ends_invalid_output():
    llm = ScriptedLLM(["I don't know."] * 5, model="qwen")
    result = Agent(llm, output_type=Person, output_retries=1).run("who?")
    assert result.status == "invalid_output"
    assert len(llm.requests) == 2
    assert result.output_errors


# -- real tools ----------------------------------------------------------------------------------
def test_real_tool_then_final_answer_runs_tool_once():
    lookup, calls = make_lookup()
    llm = ScriptedLLM(
        [hermes_call({"name": "Ada"}, name="lookup"), hermes_call({"name": "Ada", "age": 42})], model="qwen"
    )
    result = Agent(llm, [lookup], output_type=Person).run("how old is Ada?")
    assert result.status == "ok"
    assert result.output == Person(name="Ada", age=42)
    assert calls == ["Ada"]
    assert "42" in last_content(llm.requests[1])  # the tool's result reached the model
    assert [s.tool_calls[0].name for s in result.steps] == ["lookup", "final_answer"]


def test_final_answer_with_real_tool_in_same_reply_real_tool_not_run():
    lookup, calls = make_lookup()
    reply = hermes_call({"name": "Bob"}, name="lookup") + "\n" + hermes_call({"name": "Ada", "age": 1})
    llm = ScriptedLLM([reply], model="qwen")
    result = Agent(llm, [lookup], output_type=Person).run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=1)
    assert calls == []
    assert len(llm.requests) == 1
    rets = {r.name: r for r in result.steps[-1].results}
    assert "not run" in (rets["lookup"].error or "")
    assert rets["final_answer"].ok


def test_final_answer_with_real_tool_in_same_reply_openai_dialect():
    lookup, calls = make_lookup()
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[
                    native_call({"name": "Bob"}, name="lookup", call_id="a"),
                    native_call({"name": "Ada", "age": 1}, call_id="b"),
                ]
            )
        ],
        model="gpt-4o",
    )
    result = Agent(llm, [lookup], output_type=Person).run("who?")
    assert result.status == "ok" and result.output.name == "Ada"
    assert calls == []
    assert sorted(tool_names(llm.requests[0])) == ["final_answer", "lookup"]


def test_invalid_final_answer_with_real_tool_runs_the_tool_and_retries():
    lookup, calls = make_lookup()
    reply = hermes_call({"name": "Bob"}, name="lookup") + "\n" + hermes_call({"name": "Ada"})
    llm = ScriptedLLM([reply, hermes_call({"name": "Bob", "age": 42})], model="qwen")
    result = Agent(llm, [lookup], output_type=Person).run("who?")
    assert result.status == "ok" and result.output == Person(name="Bob", age=42)
    assert calls == ["Bob"]
    assert "$.age" in contents(llm.requests[1])


# -- text answers in tool mode -------------------------------------------------------------------
def test_text_reply_then_retry_then_valid_call():
    llm = ScriptedLLM(["Ada is 36.", hermes_call({"name": "Ada", "age": 36})], model="qwen")
    result = Agent(llm, output_type=Person).run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    retry = llm.requests[1].messages[-1]
    assert retry["role"] == "user"
    assert "Answer by calling the `final_answer` tool" in retry["content"]
    assert "$" in retry["content"]


def test_text_reply_holding_valid_json_is_accepted_in_tool_mode():
    llm = ScriptedLLM(['{"name": "Ada", "age": 36}'], model="qwen")
    result = Agent(llm, output_type=Person).run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    assert len(llm.requests) == 1


# -- native mode ---------------------------------------------------------------------------------
def test_native_mode_without_tools_sends_response_format_scripted():
    llm = ScriptedLLM(['{"name": "Ada", "age": 36}'], model="gpt-4o")
    result = Agent(llm, output_type=Person, output_mode="native").run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    req = llm.requests[-1]
    rf = req.extra["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["name"] == "Person"
    assert rf["json_schema"]["strict"] is False
    assert rf["json_schema"]["schema"]["required"] == ["name", "age"]
    assert not req.tools


def test_native_mode_over_http_final_body_has_response_format_and_no_tools(server):
    server.replies = ['{"city": "Oslo", "population": 700000}']
    llm = OpenAICompatibleLLM(server.url, "scripted-model", backoff=0.01)
    agent = Agent(llm, protocol="openai", output_type=CITY_SCHEMA, output_mode="native")
    result = agent.run("city?")
    assert result.status == "ok" and result.output == {"city": "Oslo", "population": 700000}
    body = post_bodies(server)[-1]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == CITY_SCHEMA
    assert body["response_format"]["json_schema"]["name"] == "City"
    assert "tools" not in body


def test_native_mode_invalid_text_with_tools_then_no_tools_and_response_format():
    lookup, calls = make_lookup()
    llm = ScriptedLLM(["Ada, 36 years old.", '{"name": "Ada", "age": 36}'], model="gpt-4o")
    result = Agent(llm, [lookup], output_type=Person, output_mode="native").run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    first, second = llm.requests
    assert tool_names(first) == ["lookup"]  # no final_answer tool in native mode
    assert "response_format" not in first.extra
    assert not second.tools
    assert second.extra["response_format"]["json_schema"]["name"] == "Person"
    assert "Your answer is not valid" in last_content(second)
    assert "one JSON value" in last_content(second)
    assert calls == []


def test_native_mode_tool_turn_is_normal_then_answer():
    lookup, calls = make_lookup()
    llm = ScriptedLLM(
        [ScriptedReply(tool_calls=[native_call({"name": "Ada"}, name="lookup")]), '{"name": "Ada", "age": 42}'],
        model="gpt-4o",
    )
    result = Agent(llm, [lookup], output_type=Person, output_mode="native").run("who?")
    assert result.status == "ok" and result.output.age == 42
    assert calls == ["Ada"]
    assert "response_format" not in llm.requests[0].extra


# -- prompted mode -------------------------------------------------------------------------------
def test_prompted_mode_reads_fenced_json_and_schema_in_system_prompt():
    llm = ScriptedLLM(['Here you go:\n```json\n{"name": "Ada", "age": 36}\n```\nBye.'], model="qwen")
    result = Agent(llm, output_type=Person, output_mode="prompted").run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    system = llm.requests[0].messages[0]
    assert system["role"] == "system"
    assert '"required": ["name", "age"]' in system["content"]
    assert "JSON Schema" in system["content"]
    assert "final_answer" not in contents(llm.requests[0])


def test_prompted_mode_reads_json_in_prose():
    llm = ScriptedLLM(['Sure! The answer is {"x": 3, "y": 4} as requested.'], model="qwen")
    result = Agent(llm, output_type=Point, output_mode="prompted").run("point?")
    assert result.status == "ok" and result.output == Point(3, 4)


def test_prompted_mode_invalid_then_valid():
    llm = ScriptedLLM(['{"x": "a", "y": 4}', '{"x": 1, "y": 4}'], model="qwen")
    result = Agent(llm, output_type=Point, output_mode="prompted").run("point?")
    assert result.status == "ok" and result.output == Point(1, 4)
    assert "$.x" in last_content(llm.requests[1])
    assert "JSON value" in last_content(llm.requests[1])


# -- validators ----------------------------------------------------------------------------------
def test_model_retry_validator_uses_the_budget():
    seen: list[Person] = []

    def adults_only(p: Person) -> Person:
        seen.append(p)
        raise ModelRetry("the person must be an adult (age 18 or more)")

    llm = ScriptedLLM([hermes_call({"name": "Kid", "age": 5})] * 5, model="qwen")
    result = Agent(llm, output_type=Person, output_validators=[adults_only], output_retries=1).run("who?")
    assert result.status == "invalid_output"
    assert len(seen) == 2 and len(llm.requests) == 2
    assert "must be an adult" in last_content(llm.requests[1])
    assert any("must be an adult" in e.message for e in result.output_errors)


def test_model_retry_validator_then_accepts():
    def adults_only(p: Person) -> Person:
        if p.age < 18:
            raise ModelRetry("must be an adult")
        return p

    llm = ScriptedLLM([hermes_call({"name": "Kid", "age": 5}), hermes_call({"name": "Ada", "age": 36})], model="qwen")
    result = Agent(llm, output_type=Person, output_validators=[adults_only]).run("who?")
    assert result.status == "ok" and result.output.name == "Ada"
    assert "must be an adult" in last_content(llm.requests[1])


def test_validator_transforms_value():
    def shout(p: Person) -> Person:
        return p.model_copy(update={"name": p.name.upper()})

    llm = ScriptedLLM([hermes_call({"name": "ada", "age": 36})], model="qwen")
    result = Agent(llm, output_type=Person, output_validators=[shout]).run("who?")
    assert result.status == "ok"
    assert result.output == Person(name="ADA", age=36)
    assert json.loads(result.output_json) == {"name": "ADA", "age": 36}


def test_validator_other_exception_ends_with_error_status():
    def broken(p: Person) -> Person:
        raise RuntimeError("database down")

    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 36})] * 3, model="qwen")
    result = Agent(llm, output_type=Person, output_validators=[broken]).run("who?")
    assert result.status == "error"
    assert result.output is None
    assert "RuntimeError" in (result.error or "") and "database down" in (result.error or "")
    assert len(llm.requests) == 1


def test_validator_other_exception_on_text_answer_ends_with_error_status():
    def broken(p: Point) -> Point:
        raise RuntimeError("boom")

    llm = ScriptedLLM(['{"x": 1, "y": 2}'], model="qwen")
    result = Agent(llm, output_type=Point, output_mode="prompted", output_validators=[broken]).run("p?")
    assert result.status == "error" and "boom" in (result.error or "")


# -- streaming -----------------------------------------------------------------------------------
def test_stream_last_event_is_final_answer_with_output():
    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 36})], model="qwen", chunk_size=7)
    events = list(Agent(llm, output_type=Person).stream("who?"))
    last = events[-1]
    assert isinstance(last, FinalAnswer)
    assert isinstance(last.output, Person) and last.output.age == 36
    assert last.result.status == "ok"


def test_stream_invalid_output_ends_with_error_event():
    llm = ScriptedLLM([hermes_call({"output": "x"})] * 3, model="qwen")
    events = list(Agent(llm, output_type=int, output_retries=1).stream("n?"))
    last = events[-1]
    assert isinstance(last, ErrorEvent)
    assert last.kind == "invalid_output"
    assert last.result.status == "invalid_output" and last.result.output_errors


# -- results -------------------------------------------------------------------------------------
def test_to_dict_and_output_json_for_typed_agent():
    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 36})], model="qwen")
    result = Agent(llm, output_type=Person).run("who?")
    d = result.to_dict()
    assert d["output"] == {"name": "Ada", "age": 36}
    assert d["output_errors"] == []
    json.dumps(d)  # JSON-serializable
    assert json.loads(result.output_json) == {"name": "Ada", "age": 36}


def test_untyped_agent_output_is_answer_and_to_dict_has_no_output():
    llm = ScriptedLLM(["Hello there."], model="qwen")
    result = Agent(llm).run("hi")
    assert result.status == "ok"
    assert result.output == result.answer == "Hello there."
    d = result.to_dict()
    assert "output" not in d and "output_errors" not in d
    assert result.output_json is None
    assert "final_answer" not in contents(llm.requests[0])


def test_with_output_returns_typed_copy():
    llm = ScriptedLLM(["plain", hermes_call({"x": 1, "y": 2})], model="qwen")
    base = Agent(llm)
    typed = base.with_output(Point)
    assert typed is not base
    assert base.output is None
    assert base.run("a").output == "plain"
    result = typed.run("b")
    assert result.output == Point(1, 2)
    assert "final_answer" in contents(llm.requests[1])


def test_session_continues_after_typed_answer():
    session = InMemorySession()
    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 36}), hermes_call({"name": "Bob", "age": 40})], model="qwen")
    agent = Agent(llm, output_type=Person)
    first = agent.run("first?", session=session)
    second = agent.run("second?", session=session)
    assert first.status == "ok" and second.status == "ok"
    assert second.output == Person(name="Bob", age=40)
    msgs = llm.requests[1].messages
    roles = [m["role"] for m in msgs]
    assert roles[-1] == "user" and msgs[-1]["content"] == "second?"
    # the first question, the final-answer call and its result are in the history
    text = contents(llm.requests[1])
    assert "first?" in text and '"Ada"' in text and "Answer accepted." in text


def test_session_continues_after_typed_answer_openai_dialect():
    session = InMemorySession()
    llm = ScriptedLLM(
        [
            ScriptedReply(tool_calls=[native_call({"output": 1}, call_id="a")]),
            ScriptedReply(tool_calls=[native_call({"output": 2}, call_id="b")]),
        ],
        model="gpt-4o",
    )
    agent = Agent(llm, output_type=int)
    assert agent.run("one?", session=session).output == 1
    assert agent.run("two?", session=session).output == 2
    msgs = llm.requests[1].messages
    # every assistant tool call has its tool result (a consistent conversation for the server)
    call_ids = [tc["id"] for m in msgs if m["role"] == "assistant" for tc in m.get("tool_calls") or []]
    result_ids = [m["tool_call_id"] for m in msgs if m["role"] == "tool"]
    assert call_ids == result_ids == ["a"]


# -- HTTP, openai dialect, tool mode -------------------------------------------------------------
def test_tool_mode_over_http_openai_dialect(server):
    lookup, calls = make_lookup()
    server.replies = [
        {"tool_calls": [{"id": "t1", "name": "lookup", "arguments": {"name": "Ada"}}]},
        {"tool_calls": [{"id": "t2", "name": "final_answer", "arguments": {"name": "Ada", "age": "x"}}]},
        {"tool_calls": [{"id": "t3", "name": "final_answer", "arguments": {"name": "Ada", "age": 42}}]},
    ]
    llm = OpenAICompatibleLLM(server.url, "scripted-model", backoff=0.01)
    result = Agent(llm, [lookup], protocol="openai", output_type=Person).run("Ada?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=42)
    assert calls == ["Ada"]
    bodies = post_bodies(server)
    assert len(bodies) == 3
    names = sorted(t["function"]["name"] for t in bodies[0]["tools"])
    assert names == ["final_answer", "lookup"]
    final = next(t for t in bodies[0]["tools"] if t["function"]["name"] == "final_answer")
    assert final["function"]["parameters"]["required"] == ["name", "age"]
    assert "response_format" not in bodies[0]
    tool_msg = bodies[2]["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "t2"
    assert "$.age" in tool_msg["content"]


# -- usage errors --------------------------------------------------------------------------------
def test_real_tool_named_final_answer_is_usage_error():
    @tool
    def final_answer(text: str) -> str:
        """Answer.

        Args:
            text: the answer
        """
        return text

    llm = ScriptedLLM([], model="qwen")
    with pytest.raises(UsageError, match="final_answer"):
        Agent(llm, [final_answer], output_type=Person)
    Agent(llm, [final_answer])  # untyped: fine


@pytest.mark.parametrize("kwargs", [{"output_mode": "json"}, {"output_retries": -1}])
def test_bad_settings_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen"), output_type=Person, **kwargs)


def test_validators_without_output_type_is_usage_error():
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen"), output_validators=[lambda v: v])


def test_with_output_negative_retries_is_usage_error():
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen")).with_output(Person, output_retries=-1)


def test_invalid_json_schema_dict_is_usage_error():
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen"), output_type={"type": "nope"})


# -- more modes and edges ------------------------------------------------------------------------
def test_native_mode_over_http_invalid_text_with_tools_then_response_format(server):
    lookup, calls = make_lookup()
    server.replies = ["Ada is thirty-six.", '{"name": "Ada", "age": 36}']
    llm = OpenAICompatibleLLM(server.url, "scripted-model", backoff=0.01)
    agent = Agent(llm, [lookup], protocol="openai", output_type=Person, output_mode="native")
    result = agent.run("who?")
    assert result.status == "ok" and result.output == Person(name="Ada", age=36)
    first, second = post_bodies(server)
    assert [t["function"]["name"] for t in first["tools"]] == ["lookup"]
    assert "response_format" not in first
    assert "tools" not in second
    assert second["response_format"]["json_schema"]["schema"]["required"] == ["name", "age"]
    assert second["messages"][-1]["role"] == "user"
    assert calls == []


def test_native_mode_next_question_offers_tools_again():
    lookup, _ = make_lookup()
    session = InMemorySession()
    llm = ScriptedLLM(["no json", '{"name": "Ada", "age": 36}', '{"name": "Bob", "age": 40}'], model="gpt-4o")
    agent = Agent(llm, [lookup], output_type=Person, output_mode="native")
    assert agent.run("one?", session=session).output.name == "Ada"
    assert agent.run("two?", session=session).output.name == "Bob"
    third = llm.requests[2]
    assert tool_names(third) == ["lookup"]
    assert "response_format" not in third.extra


def test_native_mode_tool_choice_none_asks_for_the_value_at_once():
    lookup, _ = make_lookup()
    llm = ScriptedLLM(['{"name": "Ada", "age": 36}'], model="gpt-4o")
    result = Agent(llm, [lookup], output_type=Person, output_mode="native", tool_choice="none").run("who?")
    assert result.status == "ok"
    assert not llm.requests[0].tools
    assert llm.requests[0].extra["response_format"]["type"] == "json_schema"


def test_prompted_mode_keeps_a_custom_system_prompt():
    llm = ScriptedLLM(['{"x": 1, "y": 2}'], model="qwen")
    Agent(llm, output_type=Point, output_mode="prompted", system_prompt="Be terse.").run("p?")
    system = llm.requests[0].messages[0]["content"]
    assert system.startswith("Be terse.")
    assert '"required": ["x", "y"]' in system


def test_tool_mode_requires_a_call_over_openai_dialect():
    llm = ScriptedLLM([ScriptedReply(tool_calls=[native_call({"output": True})])], model="gpt-4o")
    result = Agent(llm, output_type=bool).run("ok?")
    assert result.output is True
    assert llm.requests[0].tool_choice == "required"
    assert tool_names(llm.requests[0]) == ["final_answer"]


def test_text_and_call_failures_share_the_retry_budget():
    llm = ScriptedLLM(["nope", hermes_call({"output": "x"}), hermes_call({"output": 1})], model="qwen")
    result = Agent(llm, output_type=int, output_retries=1).run("n?")
    assert result.status == "invalid_output"
    assert len(llm.requests) == 2


def test_max_turns_below_retries_ends_max_turns():
    llm = ScriptedLLM([hermes_call({"output": "x"})] * 5, model="qwen")
    result = Agent(llm, output_type=int, output_retries=5, max_turns=2).run("n?")
    assert result.status == "max_turns"
    assert len(llm.requests) == 2


def test_value_error_in_validator_is_a_retry():
    def positive(n: int) -> int:
        if n <= 0:
            raise ValueError("must be positive")
        return n

    llm = ScriptedLLM([hermes_call({"output": -3}), hermes_call({"output": 3})], model="qwen")
    result = Agent(llm, output_type=int, output_validators=[positive]).run("n?")
    assert result.status == "ok" and result.output == 3
    assert "must be positive" in last_content(llm.requests[1])


def test_validators_run_in_order_on_the_validated_value():
    seen: list[object] = []

    def first(n: int) -> int:
        seen.append(n)
        return n + 1

    def second(n: int) -> int:
        seen.append(n)
        return n * 10

    llm = ScriptedLLM([hermes_call({"output": "2"})], model="qwen")  # lax: "2" validates as 2
    result = Agent(llm, output_type=int, output_validators=[first, second]).run("n?")
    assert seen == [2, 3]
    assert result.output == 30 and result.output_json == "30"


def test_schema_dict_validator_receives_dict():
    got: list[object] = []
    llm = ScriptedLLM([hermes_call({"city": "Oslo", "population": 1})], model="qwen")
    result = Agent(llm, output_type=CITY_SCHEMA, output_validators=[lambda d: got.append(d) or d]).run("c?")
    assert result.status == "ok"
    assert got == [{"city": "Oslo", "population": 1}]


def test_nested_model_error_path():
    class Address(BaseModel):
        city: str

    class Customer(BaseModel):
        name: str
        address: Address

    llm = ScriptedLLM(
        [
            hermes_call({"name": "Ada", "address": {"city": 5}}),
            hermes_call({"name": "Ada", "address": {"city": "Oslo"}}),
        ],
        model="qwen",
    )
    result = Agent(llm, output_type=Customer).run("c?")
    assert result.output.address.city == "Oslo"
    assert "$.address.city" in last_content(llm.requests[1])


def test_output_json_keeps_non_ascii():
    llm = ScriptedLLM([hermes_call({"name": "李雷", "age": 30})], model="qwen")
    result = Agent(llm, output_type=Person).run("who?")
    assert result.output_json == '{"name": "李雷", "age": 30}'


def test_str_output_type_accepts_a_plain_text_answer():
    llm = ScriptedLLM(["hello"], model="qwen")
    result = Agent(llm, output_type=str).run("greet")
    assert result.status == "ok" and result.output == "hello"
    assert result.to_dict()["output"] == "hello"


def test_literal_bare_word_text_is_accepted():
    llm = ScriptedLLM(["no"], model="qwen")
    result = Agent(llm, output_type=Literal["yes", "no"]).run("ok?")
    assert result.status == "ok" and result.output == "no"


def test_cut_off_text_answer_is_sent_back():
    llm = ScriptedLLM(
        [ScriptedReply(text='{"name": "A', finish_reason="length"), hermes_call({"output": 1})], model="qwen"
    )
    result = Agent(llm, output_type=int).run("n?")
    assert result.status == "ok" and result.output == 1
    assert "cut off" in last_content(llm.requests[1])


def test_arun_and_astream():
    import asyncio

    llm = ScriptedLLM(["not json", hermes_call({"name": "Ada", "age": 36})], model="qwen")
    result = asyncio.run(Agent(llm, output_type=Person).arun("who?"))
    assert result.status == "ok" and isinstance(result.output, Person)

    async def last_event():
        agent = Agent(ScriptedLLM([hermes_call({"x": 1, "y": 2})], model="qwen"), output_type=Point)
        return [e async for e in agent.astream("p?")][-1]

    ev = asyncio.run(last_event())
    assert isinstance(ev, FinalAnswer) and ev.output == Point(1, 2)


def test_resume_after_approval_ends_with_typed_output():
    ran: list[str] = []

    @tool(needs_approval=True)
    def delete(name: str) -> str:
        """Delete a person.

        Args:
            name: who
        """
        ran.append(name)
        return "deleted"

    session = InMemorySession()
    llm = ScriptedLLM(
        [hermes_call({"name": "Bob"}, name="delete"), hermes_call({"name": "Bob", "age": 0})], model="qwen"
    )
    agent = Agent(llm, [delete], output_type=Person)
    paused = agent.run("delete Bob", session=session)
    assert paused.status == "needs_approval" and ran == []
    result = agent.resume(session, approve=[paused.pending[0].id])
    assert result.status == "ok" and result.output == Person(name="Bob", age=0)
    assert ran == ["Bob"]


def test_final_answer_is_never_gated_by_approvals():
    lookup, _ = make_lookup()
    llm = ScriptedLLM([hermes_call({"name": "Ada", "age": 1})], model="qwen")
    result = Agent(llm, [lookup], output_type=Person, approvals={"*": True}).run("who?")
    assert result.status == "ok" and result.output.name == "Ada"


def test_with_output_rejects_a_tool_named_final_answer():
    @tool
    def final_answer(text: str) -> str:
        """Answer.

        Args:
            text: the answer
        """
        return text

    agent = Agent(ScriptedLLM([], model="qwen"), [final_answer])
    with pytest.raises(UsageError, match="final_answer"):
        agent.with_output(Person)


def test_with_output_bad_mode_is_usage_error():
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen")).with_output(Person, output_mode="xml")


def test_output_type_without_schema_is_usage_error():
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen"), output_type=object())


# -- bugs ----------------------------------------------------------------------------------------
def test_unreadable_final_answer_call_spends_output_retries_hermes():
    bad = '<tool_call>\n{"name": "final_answer", "arguments": [1, 2]}\n</tool_call>'
    llm = ScriptedLLM([bad] * 5, model="qwen")
    result = Agent(llm, output_type=list[int], output_retries=0).run("n?")
    assert result.status == "invalid_output"
    assert len(llm.requests) == 1
    assert result.output_errors


def test_unreadable_final_answer_call_spends_output_retries_openai():
    bad = ScriptedReply(tool_calls=[{"id": "a", "name": "final_answer", "arguments": "{not json"}])
    llm = ScriptedLLM([bad] * 5, model="gpt-4o")
    result = Agent(llm, output_type=Person, output_retries=0).run("who?")
    assert result.status == "invalid_output"
    assert len(llm.requests) == 1
    assert "could not be read" in result.output_errors[0].message


def test_with_output_non_int_retries_is_usage_error():
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([], model="qwen")).with_output(Person, output_retries="2")
