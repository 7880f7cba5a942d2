"""Typed output (``Agent(output_type=T)``) by mode: valid in one turn, invalid then valid, always invalid,
real tools beside the final answer, text answers, native and prompted modes."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from liteagent import (
    Agent,
    OpenAICompatibleLLM,
    ScriptedLLM,
    ScriptedReply,
)
from liteagent.output import OutputError

from .typed_helpers import (
    CITY_SCHEMA,
    Movie,
    Person,
    Point,
    contents,
    hermes_call,
    last_content,
    make_lookup,
    native_call,
    post_bodies,
    tool_names,
)


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
