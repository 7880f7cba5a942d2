"""``liteagent serve`` with a client's ``response_format``: the official ``openai`` client against
the real service (a subprocess), the model a scripted server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

openai = pytest.importorskip("openai")
pydantic = pytest.importorskip("pydantic")

from ..test_serve import bodies  # noqa: E402


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: int
    summary: str


def final(args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "final_answer", "arguments": args}) + "\n</tool_call>"


CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'
GOOD = {"city": "Oslo", "temperature_c": 21, "summary": "sunny"}


def test_parse_with_a_pydantic_model_gets_the_validated_object(service, server):
    server.replies = [CALL, final(GOOD)]
    c = service().client()
    r = c.chat.completions.parse(
        model="liteagent", messages=[{"role": "user", "content": "Weather in Oslo?"}], response_format=Weather
    )
    assert r.choices[0].message.parsed == Weather(**GOOD)
    assert json.loads(r.choices[0].message.content) == GOOD
    assert r.choices[0].finish_reason == "stop"
    sent = bodies(server)
    assert any(
        t["function"]["name"] == "final_answer" for t in sent[0].get("tools") or []
    ) or "final_answer" in json.dumps(
        sent[0]
    )  # the model was offered the final-answer tool (in the prompt, for the hermes dialect)
    assert "Weather.forecast" in json.dumps(sent[0])  # and the real tool, on the same turn


def test_an_invalid_answer_goes_back_with_the_field_and_is_retried(service, server):
    secret = "x7-unique-" * 20
    server.replies = [final({"city": secret, "temperature_c": "warm", "summary": "s"}), final(GOOD)]
    c = service().client()
    r = c.chat.completions.create(
        model="liteagent",
        messages=[{"role": "user", "content": "Oslo?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": Weather.model_json_schema()}},
    )
    assert json.loads(r.choices[0].message.content) == GOOD
    retry = json.dumps(bodies(server)[-1]["messages"][-1])
    assert "temperature_c" in retry and "integer" in retry
    assert bodies(server)[-1]["messages"][-1]["content"].count(secret) == 0  # the bad input is not echoed back


def test_json_object_and_stream(service, server):
    server.replies = [final({"a": 1}), final({"b": [1, 2]})]
    c = service().client()
    r = c.chat.completions.create(
        model="liteagent", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"}
    )
    assert json.loads(r.choices[0].message.content) == {"a": 1}
    stream = c.chat.completions.create(
        model="liteagent",
        messages=[{"role": "user", "content": "y"}],
        response_format={"type": "json_object"},
        stream=True,
    )
    text, finishes = "", []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.choices and chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    assert json.loads(text) == {"b": [1, 2]} and finishes == ["stop"]  # whole, validated: no raw call text


def test_invalid_output_is_an_error_not_an_answer(service, server):
    server.replies = ["no json here"] * 3
    c = service().client()
    with pytest.raises(openai.APIStatusError) as err:
        c.chat.completions.create(
            model="liteagent",
            messages=[{"role": "user", "content": "x"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": Weather.model_json_schema()},
            },
        )
    assert err.value.status_code == 502 and "output type" in str(err.value)


@pytest.mark.parametrize(
    ("fmt", "words"),
    [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "json_schema.schema"),
        ({"type": "json_schema", "json_schema": {"schema": {"type": "nonsense"}}}, "not valid JSON Schema"),
    ],
)
def test_a_bad_response_format_is_a_400(service, server, fmt, words):
    c = service().client()
    with pytest.raises(openai.BadRequestError) as err:
        c.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "x"}], response_format=fmt)
    assert words in str(err.value)
    assert not bodies(server)  # the model was never asked
