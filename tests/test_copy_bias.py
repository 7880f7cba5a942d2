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
    assert picked(bias) == {","}  # a comma before a capital goes on inside the name: "..., Mexico"
    bias.feed(", Mexico")
    assert {'"', '",', '"}'} <= picked(bias)  # go on, or end where the person's phrase ends


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

    import liteagent.llms.local as local
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
        return first_call_arguments(fn, question, rule)["food_item"]

    assert food(shipped) == "chicken dish"
    assert food(CallRule(shipped.threshold, shipped.name_weight, shipped.more_margin, 0.0)) != "chicken dish"


# The schema's guide (llms/mentions.py): allowed values and optional parameters the person named.

UBER = {
    "type": "object",
    "required": ["loc", "type"],
    "properties": {
        "loc": {"type": "string"},
        "type": {"type": "string", "enum": ["plus", "comfort", "black"]},
        "time": {"type": "integer"},
        "special": {"type": "string", "default": "none"},
        "mode": {"type": "string", "enum": ["AIR_DRY", "COOL"]},
    },
}
NAMED_TEXTS = [
    *TEXTS,
    "pl",
    "us",
    "plus",
    "com",
    "fort",
    "special",
    "spec",
    "mode",
    "time",
    ", ",
    ', "',
    "7",
    "8",
    "78",
]
NAMED_VOCAB = Vocabulary([t.encode() for t in NAMED_TEXTS])


def named_picked(bias: CopyBias) -> tuple[set[str], set[str]]:
    copy, named = bias.collect()
    return {NAMED_TEXTS[t] for t in copy}, {NAMED_TEXTS[t] for t in named}


def test_what_the_person_names_of_a_schema():
    from liteagent.llms.mentions import Shape, Source

    source = Source("A 'Plus' Uber in air dry mode from Baker Street, with my special requests, id 78")
    shape = Shape(UBER, source)
    assert shape.order == ["loc", "type", "time", "special", "mode"]  # required first: the grammar's order
    assert shape.values == {"type": ["plus"], "mode": ["AIR_DRY"]}  # case, "_" and plurals aside
    assert shape.named == {"type", "special", "mode"}  # "time" is not said; "loc" neither
    assert shape.still_named(set(), None)
    assert shape.still_named({"loc", "type", "special"}, "special")  # "mode" may still follow
    assert not shape.still_named({"loc", "type", "mode"}, "mode")  # past them: the grammar's order
    assert not Source("a blackboard").says("black") and not Source("is on").says("on")  # words, and not too short


def test_an_allowed_value_the_person_said_gets_the_named_bonus():
    bias = CopyBias(NAMED_VOCAB, "I need a 'Plus' Uber from Quintana Roo", 3.0, {"uber": UBER}, 12.0)
    bias.feed('<tool_call>\n{"name": "uber", "arguments": {"loc": "Quintana Roo", "type": "')
    copy, named = named_picked(bias)
    assert {"pl", "plus"} <= named and "com" not in named | copy  # "Plus" said, "comfort" not
    bias.feed("pl")
    assert "us" in named_picked(bias)[1]
    bias.feed("us")
    copy, named = named_picked(bias)
    assert {'"', '",', '"}'} <= named  # written whole: it may end (nothing named is left after it)
    scores = np.zeros(len(NAMED_TEXTS), dtype=np.float32)
    out = bias(None, scores)
    assert out[NAMED_TEXTS.index('"')] == pytest.approx(12.0)


def test_a_named_optional_parameter_is_not_left_out():
    source = "Uber from Quintana Roo, with my special request, in comfort"
    bias = CopyBias(NAMED_VOCAB, source, 3.0, {"uber": UBER}, 12.0)
    bias.feed('<tool_call>\n{"name": "uber", "arguments": {"loc": "Quintana Roo')
    copy, named = named_picked(bias)
    # the phrase ends ("Roo, with"): it may close, but not close the arguments before "special"
    assert {'"', '",'} <= copy and '"}' not in copy | named
    bias.feed('", "type": "comfort"')
    copy, named = named_picked(bias)
    assert {",", ", ", ', "'} <= named  # go on to the named key rather than "}"
    bias.feed(', "')
    copy, named = named_picked(bias)
    assert {"spec", "special"} <= named and "time" not in named  # the key the person named
    bias.feed('special": "none"}')
    assert named_picked(bias) == (set(), set())  # the arguments are closed


def test_nothing_named_leaves_the_copy_as_it_was():
    bias = CopyBias(NAMED_VOCAB, "Uber from Quintana Roo.", 3.0, {"uber": UBER}, 12.0)
    bias.feed('{"name": "uber", "arguments": {"loc": "Quintana Roo')
    copy, named = named_picked(bias)
    assert {'"', '",', '"}'} <= copy and not named  # a plain copy may close the object too
    other = CopyBias(NAMED_VOCAB, "special", 3.0, {"uber": UBER}, 12.0)
    other.feed('{"name": "another", "arguments": {"loc": "x", "')
    assert named_picked(other)[1] == set()  # a tool without a schema here names nothing


def test_a_number_of_the_conversation_goes_on_where_it_started():
    bias = CopyBias(NAMED_VOCAB, "wait up to 78 seconds, id 6E123", 3.0, {"uber": UBER}, 12.0)
    bias.feed('{"name": "uber", "arguments": {"loc": "x", "type": "plus", "time": ')
    assert {"7", "78"} <= named_picked(bias)[0] and "8" not in named_picked(bias)[0]  # "6E123" is no number
    bias.feed("7")
    assert named_picked(bias)[0] == {"8"}


def test_the_embedded_model_writes_the_parameter_the_person_named():
    """BFCL live_simple_0-0-0 under required: the 135M model leaves out the optional ``special``
    the person asked for ("black as their special request"); with the shipped named bonus it writes
    it, with the value said."""

    import liteagent.llms.local as local
    from liteagent.evals.bfcl import TEMPERATURE
    from liteagent.request import CallRule

    fn = {
        "name": "get_user_info",
        "description": "Retrieve details for a specific user by their unique identifier.",
        "parameters": {
            "type": "dict",
            "required": ["user_id"],
            "properties": {
                "user_id": {"type": "integer", "description": "The unique identifier of the user."},
                "special": {
                    "type": "string",
                    "description": "Any special information or parameters that need to be considered.",
                    "default": "none",
                },
            },
        },
    }
    question = "Can you retrieve the details for the user with the ID 7890, who has black as their special request?"
    shipped = local.SHIPPED_CALL_RULES["hermes"]
    assert shipped.named_bonus > shipped.copy_bonus > 0

    def arguments(rule: CallRule) -> dict:
        return first_call_arguments(fn, question, rule, TEMPERATURE)

    assert arguments(shipped) == {"user_id": 7890, "special": "black"}
    plain = CallRule(shipped.threshold, shipped.name_weight, shipped.more_margin, shipped.copy_bonus)
    assert "special" not in arguments(plain)


def first_call_arguments(fn: dict, question: str, rule: object, temperature: float | None = None) -> dict:
    """The arguments of the embedded model's first call to the BFCL function ``fn`` under required,
    as liteagent eval offers it, with the backend's call rule ``rule``."""
    import asyncio

    import liteagent.llms.local as local
    from liteagent import Agent
    from liteagent.batch.turn import one_turn
    from liteagent.evals.bfcl import offered_tool
    from liteagent.evals.tools import toolset_from_schemas
    from liteagent.messages import Message

    llm = local.LocalLLM(call_rules={"hermes": rule})
    agent = Agent(llm, [], tool_choice="required", temperature=temperature)
    tools = toolset_from_schemas([offered_tool(fn, "live_simple")])
    rec = asyncio.run(one_turn(agent, tools, [Message("user", question)], calls_only=True))
    return json.loads(json.dumps(rec.calls))[0][1]
