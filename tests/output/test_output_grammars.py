"""Every answer type in ``schema_corpus`` through ``OutputSpec``: the spec builds, its value grammar
and the hermes grammar for ten real tools plus ``final_answer`` load in llama.cpp's own parser,
the examples validate (or fail with errors that never repeat the answer), what the grammar cannot
enforce is noted, the agent's grammar cache hands back the same object, and the grammars really
constrain decoding (checked token by token with the shipped model's vocabulary: no weights, no
generation)."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, Literal, TypedDict

import pytest
from pydantic import BaseModel

from ..grammar_sampler import accepts, shipped_vocab

llama_cpp = pytest.importorskip("llama_cpp")

from liteagent import ActionExecutor, Agent, ScriptedLLM, tool  # noqa: E402
from liteagent.output import OUTPUT_TOOL, WRAP_KEY, InvalidOutput, OutputSpec  # noqa: E402
from liteagent.protocols import HermesProtocol  # noqa: E402
from liteagent.protocols.grammar_schema import gbnf_loads, value_grammar  # noqa: E402

from .schema_corpus import (  # noqa: E402
    BY_NAME,
    CORPUS,
    SECRET,
    TREE_SCHEMA,
    Entry,
    tree,
)


# -- ten real tools -----------------------------------------------------------------------------
@tool
def get_weather(city: str, days: int = 1) -> str:
    """Forecast the weather of a city.

    Args:
        city: the city name
        days: how many days ahead
    """
    return f"{city}: sunny for {days} days"


@tool
def convert_currency(amount: float, source: str, target: str) -> str:
    """Convert an amount of money.

    Args:
        amount: how much
        source: the currency it is in, e.g. EUR
        target: the currency wanted
    """
    return f"{amount} {source} in {target}"


@tool
def search_docs(query: str, limit: int = 5, tags: list[str] | None = None) -> str:
    """Search the documentation.

    Args:
        query: what to look for
        limit: how many hits at most
        tags: only pages with these tags
    """
    return query


@tool
def set_alarm(hour: int, minute: int, label: str | None = None) -> str:
    """Set an alarm.

    Args:
        hour: the hour, 0 to 23
        minute: the minute
        label: what the alarm is for
    """
    return f"{hour}:{minute}"


@tool
def send_email(to: str, subject: str, body: str, urgent: bool = False) -> str:
    """Send an email.

    Args:
        to: the recipient's address
        subject: the subject line
        body: the text
        urgent: flag it as urgent
    """
    return "sent"


@tool
def translate(text: str, language: Literal["en", "fr", "de"]) -> str:
    """Translate a text.

    Args:
        text: what to translate
        language: the language wanted
    """
    return text


@tool
def add_numbers(numbers: list[float]) -> float:
    """Add numbers up.

    Args:
        numbers: the numbers
    """
    return sum(numbers)


@tool
def create_event(title: str, attendees: list[str], details: dict[str, str] | None = None) -> str:
    """Create a calendar event.

    Args:
        title: the event's title
        attendees: who is invited
        details: more about it, by field
    """
    return title


@tool
def lookup_user(user_id: int) -> dict:
    """Look a user up.

    Args:
        user_id: the user's id
    """
    return {"id": user_id}


@tool
def roll_dice(sides: int = 6, count: int = 1) -> list:
    """Roll dice.

    Args:
        sides: sides per die
        count: how many dice
    """
    return [1] * count


TOOLS = [
    get_weather,
    convert_currency,
    search_docs,
    set_alarm,
    send_email,
    translate,
    add_numbers,
    create_event,
    lookup_user,
    roll_dice,
]
EXECUTOR = ActionExecutor(TOOLS)
TEN = EXECUTOR.tool_set()


# -- helpers ------------------------------------------------------------------------------------
def params_of(spec: OutputSpec, value: Any) -> Any:
    """The final_answer tool's arguments carrying ``value``."""
    return {WRAP_KEY: value} if spec.wrapped else value


def call(name: str, args: Any) -> str:
    return '<tool_call>\n{"name": ' + json.dumps(name) + ', "arguments": ' + json.dumps(args) + "}\n</tool_call>"


def ids(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


def cases(entries: list[Entry], check: str) -> list[Any]:
    """The entries as parameters, those with a known failure of ``check`` marked xfail(strict)."""
    out = []
    for e in entries:
        reason = e.known.get(check)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(e, id=e.name, marks=marks))
    return out


SECRETS = [e for e in CORPUS if e.secret]
NOTED = [e for e in CORPUS if e.notes]


# -- the corpus itself --------------------------------------------------------------------------
def test_the_corpus_covers_what_it_says():
    assert len(CORPUS) >= 36
    schemas = [e for e in CORPUS if e.is_schema]
    assert len(schemas) >= 10
    text = json.dumps([e.output_type for e in schemas])
    for keyword in ("$defs", "$ref", "anyOf", "enum", "const", "allOf", "uniqueItems", '"not"', "pattern"):
        assert keyword in text, keyword
    for fmt in ("date", "email", "uuid"):
        assert f'"format": "{fmt}"' in text, fmt
    assert len(SECRETS) >= 5
    assert {"uniqueItems is not enforced", "'not' is not enforced"} <= {n for e in NOTED for n in e.notes}


# -- building -----------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", CORPUS, ids=ids(CORPUS))
def test_the_spec_builds(entry: Entry):
    spec = OutputSpec(entry.output_type)
    assert spec.mode == "tool"
    assert isinstance(spec.schema, dict) and spec.schema
    recursive = "$defs" in spec.schema  # a recursive type keeps its refs (inlining it would not end)
    assert recursive or "$ref" not in json.dumps(spec.schema), "refs are inlined"
    # a root that is not an object is wrapped, an object with properties is not (an object without
    # declared properties, dict[str, int], may go either way)
    if spec.schema.get("type") != "object":
        assert spec.wrapped
    elif isinstance(spec.schema.get("properties"), dict):
        assert not spec.wrapped
    if spec.wrapped:
        assert spec.params == {
            "type": "object",
            "properties": {WRAP_KEY: spec.schema},
            "required": [WRAP_KEY],
            "additionalProperties": False,
        }
    else:
        assert spec.params is spec.schema
    assert spec.name and spec.final_def().name == OUTPUT_TOOL
    assert OutputSpec(entry.output_type).key == spec.key  # the same type: the same caches


@pytest.mark.parametrize("entry", CORPUS, ids=ids(CORPUS))
def test_the_value_grammar_loads_and_is_cached(entry: Entry):
    """It loads: converted, or the fallback (any JSON value) with a note saying so."""
    spec = OutputSpec(entry.output_type)
    grammar, notes = value_grammar(spec.schema)
    assert gbnf_loads(grammar)
    if any(n.startswith("schema not converted") for n in notes):
        assert grammar.startswith("root ::= ") and "answer-value-5" in grammar  # any value: six shapes
    first = spec.value_grammar()
    assert first == grammar and spec.value_grammar() is first


@pytest.mark.parametrize("entry", cases(CORPUS, "converts"))
def test_the_value_grammar_is_converted(entry: Entry):
    """Every corpus entry is meant to convert (no fallback to any JSON value)."""
    _, notes = value_grammar(OutputSpec(entry.output_type).schema)
    assert not [n for n in notes if n.startswith("schema not converted")], notes


@pytest.mark.parametrize("entry", NOTED, ids=ids(NOTED))
def test_what_the_grammar_cannot_enforce_is_noted(entry: Entry, caplog):
    spec = OutputSpec(entry.output_type)
    _, notes = value_grammar(spec.schema)
    for expected in entry.notes:
        assert any(expected in n for n in notes), (expected, notes)
    with caplog.at_level(logging.WARNING, logger="liteagent.output"):
        spec.value_grammar()
        spec.value_grammar()
    said = [r.getMessage() for r in caplog.records if "not enforced while decoding" in r.getMessage()]
    assert len(said) == 1, "said once per spec"
    assert all(expected in said[0] for expected in entry.notes)


def test_schemas_without_loosened_keywords_have_no_notes():
    for name in ("optional_fields", "json_defs_ref", "json_const", "int_range", "number_range", "json_formats"):
        _, notes = value_grammar(OutputSpec(BY_NAME[name].output_type).schema)
        assert notes == [], (name, notes)


@pytest.mark.parametrize("entry", CORPUS, ids=ids(CORPUS))
def test_the_hermes_grammar_for_ten_tools_and_the_answer_loads(entry: Entry):
    spec = OutputSpec(entry.output_type)
    tools = spec.with_tools(TEN)
    assert tools.names() == [*TEN.names(), OUTPUT_TOOL] and len(tools) == 11
    assert spec.with_tools(TEN) is tools
    grammar = HermesProtocol().grammar(tools, "required")
    assert grammar is not None and gbnf_loads(grammar)
    assert "schema not converted" not in grammar, [ln for ln in grammar.splitlines() if ln.startswith("#")]
    assert "root ::= calls\n" in grammar  # required: no plain answer
    final = HermesProtocol().grammar(spec.final_only(), "required")
    assert final is not None and gbnf_loads(final)


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", CORPUS, ids=ids(CORPUS))
def test_the_valid_example_validates(entry: Entry):
    spec = OutputSpec(entry.output_type)
    value = spec.validate(entry.valid)
    # the same through the final_answer call's arguments (wrapped roots: the plain value inside)
    again = spec.validate(spec.from_arguments(params_of(spec, entry.valid)))
    assert spec.dump(again) == spec.dump(value)
    assert spec.dump(spec.validate(spec.dump(value))) == spec.dump(value)  # a dumped answer is valid too
    if entry.is_schema:
        assert value == entry.valid  # a schema's answer is the JSON value itself


@pytest.mark.parametrize("entry", CORPUS, ids=ids(CORPUS))
def test_the_invalid_example_is_refused(entry: Entry):
    spec = OutputSpec(entry.output_type)
    with pytest.raises(InvalidOutput) as info:
        spec.validate(entry.invalid)
    errors = info.value.errors
    assert errors
    for e in errors:
        assert e.path.startswith("$") and e.message.strip()
    with pytest.raises(InvalidOutput):
        spec.validate(spec.from_arguments(params_of(spec, entry.invalid)))


@pytest.mark.parametrize("entry", cases(SECRETS, "no_echo"))
def test_errors_never_repeat_the_value(entry: Entry):
    spec = OutputSpec(entry.output_type)
    with pytest.raises(InvalidOutput) as info:
        spec.validate(entry.invalid)
    head = SECRET[:16]  # not even truncated
    for e in info.value.errors:
        assert head not in e.message, e.message[:120]
        assert head not in e.path
    assert head not in str(info.value)


def test_a_wrapped_answer_must_come_in_its_field_alone():
    spec = OutputSpec(BY_NAME["list_int"].output_type)
    assert spec.wrapped
    for args in ({}, {"output": [1], "extra": 1}, {"answer": [1]}):
        with pytest.raises(InvalidOutput) as info:
            spec.from_arguments(args)
        assert info.value.errors[0].path == "$"


# -- the agent's grammar cache ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nested_models", "recursive_tree", "json_long_pattern", "list_int", "union_models"])
def test_the_agent_builds_each_grammar_once(name: str):
    entry = BY_NAME[name]
    agent = Agent(ScriptedLLM([]), EXECUTOR, protocol="hermes", output_type=entry.output_type)
    assert agent.output is not None
    tools = agent.output.with_tools(agent.executor.tool_set())
    assert agent.output.with_tools(agent.executor.tool_set()) is tools
    first = agent.grammar(agent.protocol, "required", tools)
    assert first is not None and gbnf_loads(first)
    assert agent.grammar(agent.protocol, "required", tools) is first
    # another agent answering with the same type shares it (the same ToolSet.key)
    other = Agent(ScriptedLLM([]), EXECUTOR, protocol="hermes", output_type=entry.output_type)
    assert other.output is not None and other.output is not agent.output
    other_tools = other.output.with_tools(other.executor.tool_set())
    assert other_tools is not tools and other_tools.key == tools.key
    assert other.grammar(other.protocol, "required", other_tools) is first
    # the plain tools and the answer alone are other grammars, each cached too
    plain = agent.grammar(agent.protocol, "required")
    assert plain is not None and plain != first and agent.grammar(agent.protocol, "required") is plain
    only = agent.grammar(agent.protocol, "required", agent.output.final_only())
    assert only is not None and only != first
    assert agent.grammar(agent.protocol, "required", agent.output.final_only()) is only


def test_different_answer_types_get_different_grammars():
    a = Agent(ScriptedLLM([]), EXECUTOR, protocol="hermes", output_type=BY_NAME["int_range"].output_type)
    b = a.with_output(BY_NAME["number_range"].output_type)
    assert a.output is not None and b.output is not None
    ga = a.grammar(a.protocol, "required", a.output.with_tools(a.executor.tool_set()))
    gb = b.grammar(b.protocol, "required", b.output.with_tools(b.executor.tool_set()))
    assert ga != gb and '\\"age\\"' in ga and '\\"confidence\\"' in gb


# -- the grammars really constrain decoding -----------------------------------------------------
@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    yield from shipped_vocab()


def test_the_matcher_itself(vocab):
    grammar = 'root ::= "a" [0-9]{1,2}'
    assert accepts(vocab, grammar, "a1") and accepts(vocab, grammar, "a12")
    assert (
        not accepts(vocab, grammar, "a") and not accepts(vocab, grammar, "a123") and not accepts(vocab, grammar, "b1")
    )


@pytest.mark.parametrize("entry", cases(CORPUS, "value_accepts_valid"))
def test_the_value_grammar_allows_the_valid_example(vocab, entry: Entry):
    spec = OutputSpec(entry.output_type)
    assert accepts(vocab, spec.value_grammar(), json.dumps(spec.dump(spec.validate(entry.valid))))


REJECTED = [e for e in CORPUS if e.grammar_rejects]
LOOSENED = [e for e in CORPUS if not e.grammar_rejects and "value_accepts_valid" not in e.known]


@pytest.mark.parametrize("entry", cases(REJECTED, "value_rejects_invalid"))
def test_the_value_grammar_refuses_the_invalid_example(vocab, entry: Entry):
    spec = OutputSpec(entry.output_type)
    assert not accepts(vocab, spec.value_grammar(), json.dumps(entry.invalid))


@pytest.mark.parametrize("entry", LOOSENED, ids=ids(LOOSENED))
def test_what_the_grammar_loosens_is_left_to_validation(vocab, entry: Entry):
    """A superset, never a subset: the grammar lets the invalid example through, validation refuses it."""
    spec = OutputSpec(entry.output_type)
    assert accepts(vocab, spec.value_grammar(), json.dumps(entry.invalid))
    with pytest.raises(InvalidOutput):
        spec.validate(entry.invalid)


@pytest.mark.parametrize("entry", cases(CORPUS, "hermes_constrains"))
def test_the_hermes_grammar_constrains_the_final_answer_call(vocab, entry: Entry):
    spec = OutputSpec(entry.output_type)
    grammar = HermesProtocol().grammar(spec.with_tools(TEN), "required")
    assert grammar is not None
    valid = spec.dump(spec.validate(entry.valid))
    assert accepts(vocab, grammar, call(OUTPUT_TOOL, params_of(spec, valid)))
    if entry.grammar_rejects:
        assert not accepts(vocab, grammar, call(OUTPUT_TOOL, params_of(spec, entry.invalid)))
    if spec.wrapped:  # the bare value, not in its field
        assert not accepts(vocab, grammar, call(OUTPUT_TOOL, valid))


def test_the_hermes_grammar_still_takes_the_real_tools(vocab):
    spec = OutputSpec(BY_NAME["nested_models"].output_type)
    grammar = HermesProtocol().grammar(spec.with_tools(TEN), "required")
    assert grammar is not None
    good = [
        call("get_weather", {"city": "Oslo"}),
        call("get_weather", {"city": "Oslo", "days": 3}),
        call("translate", {"text": "hi", "language": "fr"}),
        call("add_numbers", {"numbers": [1, 2.5]}),
        call("create_event", {"title": "x", "attendees": ["a", "b"], "details": {"room": "4"}}),
        call("roll_dice", {}),
    ]
    for text in good:
        assert accepts(vocab, grammar, text), text
    bad = [
        call("get_weather", {"days": 3}),  # city is required
        call("translate", {"text": "hi", "language": "es"}),
        call("lookup_user", {"user_id": "7"}),
        call("delete_everything", {}),
        "The answer is 42.",  # required: a call, not text
    ]
    for text in bad:
        assert not accepts(vocab, grammar, text), text
    both = call("get_weather", {"city": "Oslo"}) + "\n" + call(OUTPUT_TOOL, BY_NAME["nested_models"].valid)
    assert accepts(vocab, grammar, both)  # parallel calls, one per block


# -- known bugs (see each reason) ---------------------------------------------------------------
def test_a_pattern_llama_cpp_can_read_is_enforced():
    from liteagent.protocols.grammar_schema import pattern_loads

    assert pattern_loads(r"^[A-Z]{3}-[0-9]{3}$")
    _, notes = value_grammar({"type": "string", "pattern": r"^[A-Z]{3}-[0-9]{3}$"})
    assert notes == []


@pytest.mark.parametrize("schema", [{"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}])
def test_a_primitive_root_gets_its_own_value_grammar(schema: dict[str, Any]):
    grammar, notes = value_grammar(schema)
    assert gbnf_loads(grammar) and notes == []


def test_a_max_length_above_2000_still_bounds_the_string(vocab):
    spec = OutputSpec({"type": "object", "properties": {"s": {"type": "string", "maxLength": 5000}}, "required": ["s"]})
    grammar = HermesProtocol().grammar(spec.final_only(), "required")
    assert grammar is not None and gbnf_loads(grammar)
    assert accepts(vocab, grammar, call(OUTPUT_TOOL, {"s": "x" * 5000}))
    assert not accepts(vocab, grammar, call(OUTPUT_TOOL, {"s": "x" * 5600}))


def test_a_recursive_json_schema_is_validated_at_every_depth():
    import jsonschema

    spec = OutputSpec(TREE_SCHEMA)
    deep_bad = tree(20, {"v": "not an int"})
    assert list(jsonschema.Draft202012Validator(TREE_SCHEMA).iter_errors(deep_bad))  # jsonschema refuses it
    with pytest.raises(InvalidOutput):
        spec.validate(deep_bad)


def test_a_definitions_ref_is_enforced():
    schema = {
        "type": "object",
        "definitions": {"P": {"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n"]}},
        "properties": {"p": {"$ref": "#/definitions/P"}},
        "required": ["p"],
    }
    spec = OutputSpec(schema)
    with pytest.raises(InvalidOutput):
        spec.validate({"p": 5})


def test_a_root_ref_is_enforced():
    schema = {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"$ref": "#"}}, "required": ["v"]}
    spec = OutputSpec(schema)
    with pytest.raises(InvalidOutput):
        spec.validate({"v": 1, "next": {"v": "x"}})


def test_a_const_object_with_a_title_key_is_kept():
    schema = {
        "type": "object",
        "properties": {"c": {"const": {"title": "A", "n": 1}}, "r": {"$ref": "#/$defs/X"}},
        "$defs": {"X": {"type": "integer"}},
        "required": ["c", "r"],
    }
    spec = OutputSpec(schema)
    assert spec.validate({"c": {"title": "A", "n": 1}, "r": 1})
    with pytest.raises(InvalidOutput):
        spec.validate({"c": {"n": 1}, "r": 1})


class Tri(BaseModel):
    v: int
    a: Tri | None = None
    b: Tri | None = None
    c: Tri | None = None


def test_a_recursive_model_with_three_children_has_a_small_schema():
    spec = OutputSpec(Tri)
    assert len(json.dumps(spec.schema)) < 1_000_000


@pytest.mark.parametrize("name", ["dict_str_int", "json_dict"])
def test_a_huge_dict_key_is_not_repeated_whole(name: str):
    output_type = (
        BY_NAME["dict_str_int"].output_type
        if name == "dict_str_int"
        else {"type": "object", "additionalProperties": {"type": "integer"}}
    )
    spec = OutputSpec(output_type)
    key = SECRET * 70
    with pytest.raises(InvalidOutput) as info:
        spec.validate({key: "not an int"})
    assert len(str(info.value)) < 1_000


class Meta(TypedDict):
    key: str


@dataclasses.dataclass
class Tagged:
    meta: Meta


@pytest.mark.xfail(
    sys.version_info < (3, 12),
    strict=True,
    reason="on Python < 3.12 actions.schema.portable_hint converts a typing.TypedDict at the root or in "
    "generic arguments only: one inside a dataclass makes pydantic refuse the type (UsageError)",
)
def test_a_typeddict_inside_a_dataclass():
    spec = OutputSpec(Tagged)
    assert spec.validate({"meta": {"key": "x"}}).meta == {"key": "x"}
