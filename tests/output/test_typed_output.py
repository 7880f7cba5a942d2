"""Typed output (``Agent(output_type=T)``): validators, streaming, results, sessions, HTTP, usage errors and
edge cases, against ScriptedLLM and the scripted HTTP server."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel

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

from .typed_helpers import (
    CITY_SCHEMA,
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
