"""The embedded model's copy bias (llms/copy_bias.py): while it writes a string value inside a call's
arguments, the tokens that copy the conversation's words get a bonus, and so does ending the string
where the person's phrase ends; nowhere else."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liteagent.llms.copy_bias import CopyBias, Vocabulary

TEXTS = ["Quint", "ana", " Roo", ",", " Mexico", "Cuba", '"', '",', '"}', "{", ":", " ", "name", "weather", "x\\"]
VOCAB = Vocabulary([t.encode() for t in TEXTS])
SOURCE = "What's the weather in Quintana Roo, Mexico?"


def tok(text: str) -> int:
    return TEXTS.index(text)


def picked(bias: CopyBias) -> set[str]:
    return {TEXTS[t] for t in bias.candidates()}


def test_nothing_outside_an_argument_value():
    bias = CopyBias(VOCAB, SOURCE, 3.0)
    bias.feed('<tool_call>\n{"name": "')
    assert picked(bias) == set()  # the tool's name: the grammar's, not a copy
    bias.feed('weather", "arguments": {"')
    assert picked(bias) == set()  # a key


def test_a_value_starts_at_a_word_and_goes_on_with_what_follows():
    bias = CopyBias(VOCAB, SOURCE, 3.0)
    bias.feed('<tool_call>\n{"name": "weather", "arguments": {"location": "')
    assert {"Quint", "weather"} <= picked(bias)
    assert "ana" not in picked(bias) and "Cuba" not in picked(bias)
    bias.feed("Quint")
    assert picked(bias) == {"ana"}
    bias.feed("ana Roo")
    assert picked(bias) == {",", '"', '",', '"}'}  # go on, or end where the person's phrase ends
    bias.feed(", Mexico")
    assert {'"', '",', '"}'} <= picked(bias)


def test_the_bonus_is_added_to_those_tokens_only():
    bias = CopyBias(VOCAB, SOURCE, 3.0)
    bias.feed('{"name": "weather", "arguments": {"location": "Quint')
    scores = np.zeros(len(TEXTS), dtype=np.float32)
    out = bias(None, scores)
    assert out[tok("ana")] == pytest.approx(3.0)
    assert out.sum() == pytest.approx(3.0)


def test_a_value_gone_off_the_conversation_gets_nothing_and_a_closed_one_resets():
    bias = CopyBias(VOCAB, SOURCE, 3.0)
    bias.feed('{"name": "weather", "arguments": {"location": "Cuba')
    assert picked(bias) == set()
    bias.feed('", "unit": "')
    assert "Quint" in picked(bias)  # the next value starts afresh


def test_values_in_lists_and_nested_objects_count_and_escapes_are_not_copied():
    bias = CopyBias(VOCAB, 'say x\\"Quintana', 3.0)
    bias.feed('{"name": "w", "arguments": {"places": ["Quint')
    assert picked(bias) == {"ana"}
    bias.feed('ana", {"k": "')
    assert "Quint" in picked(bias)
    assert "x\\" not in picked(bias)  # a backslash or quote is the model's own JSON to write


def test_the_embedded_model_copies_the_dish_the_person_named():
    """BFCL live_simple_21-4-1 under required: without the bonus the 135M model writes "chicken" for
    the person's 'chicken dish' (wrong by BFCL's checker); with the shipped bonus it copies it."""
    import asyncio

    import liteagent.llms.local as local
    from liteagent import Agent
    from liteagent.batch.turn import one_turn
    from liteagent.evals.bfcl import offered_tool
    from liteagent.evals.tools import toolset_from_schemas
    from liteagent.messages import Message
    from liteagent.request import CallRule

    fn = {
        "name": "change_food",
        "description": "Modifies the food item based on the customer's request, such as changing the spice level.",
        "parameters": {
            "type": "dict",
            "required": ["food_item", "modification_request"],
            "properties": {
                "food_item": {"type": "string", "description": "The name of the food item to be modified."},
                "modification_request": {
                    "type": "string",
                    "description": "Specific modification request, such as 'extra spicy'.",
                },
            },
        },
    }
    question = "I'd like to modify my order by making the dish called 'chicken dish' to a new spice level 'extra spicy', please."
    shipped = local.SHIPPED_CALL_RULES["hermes"]
    assert shipped.copy_bonus > 0

    def food(rule: CallRule) -> object:
        llm = local.LocalLLM(call_rules={"hermes": rule})
        agent = Agent(llm, [], tool_choice="required")
        rec = asyncio.run(
            one_turn(
                agent,
                toolset_from_schemas([offered_tool(fn, "live_simple")]),
                [Message("user", question)],
                calls_only=True,
            )
        )
        return json.loads(json.dumps(rec.calls))[0][1]["food_item"]

    assert food(shipped) == "chicken dish"
    assert food(CallRule(shipped.threshold, shipped.name_weight, shipped.more_margin, 0.0)) != "chicken dish"
