"""The embedded model's grammar for every JSON Schema a tool may have: BFCL's (raw and as offered),
and the JSON Schema features llama.cpp's converter does not read. Each grammar is loaded by
llama.cpp's own parser, and what it accepts is checked token by token with the shipped model's
vocabulary (no weights read, no generation)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..grammar_sampler import accepts, shipped_vocab

llama_cpp = pytest.importorskip("llama_cpp")

from liteagent.evals.bfcl import offered_tool  # noqa: E402
from liteagent.evals.tools import toolset_from_schemas  # noqa: E402
from liteagent.protocols.grammar import hermes_grammar_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = [ROOT / "data" / "bfcl_sample", ROOT.parents[1] / "shared" / "bfcl"]
FIXTURE = ROOT / "fixtures" / "bfcl_verdicts.jsonl.gz"


def loads(grammar: str) -> bool:
    """llama.cpp's grammar parser (what the sampler runs) accepts it."""
    sampler = llama_cpp.llama_sampler_init_grammar(None, grammar.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def bfcl_functions() -> Iterator[tuple[str, dict[str, Any]]]:
    for folder in DATA:
        for path in sorted(folder.glob("BFCL_v4_*.json")) if folder.is_dir() else []:
            category = path.stem.removeprefix("BFCL_v4_")
            for line in path.read_text(encoding="utf-8").splitlines():
                for f in json.loads(line).get("function") or [] if line.strip() else []:
                    yield category, f
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as fh:
        next(fh)  # the header
        for line in fh:
            case = json.loads(line)
            for f in case.get("functions") or []:
                yield case["category"], f


def test_every_bfcl_schema_yields_a_grammar_llama_cpp_loads():
    seen: set[str] = set()
    bad: list[str] = []
    for category, f in bfcl_functions():
        # as BFCL writes it ("dict", "float", "any", Java types, no root type) and as offered
        for tool in (f, offered_tool(f, category)):
            key = json.dumps(tool, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            try:
                g = hermes_grammar_for(toolset_from_schemas([tool]), "auto")
                assert g is not None and loads(g), "llama.cpp does not load it"
                assert "schema not converted" not in g, g.splitlines()[0]
            except Exception as exc:
                bad.append(f"{category} {f['name']}: {type(exc).__name__}: {str(exc)[:120]}")
    assert len(seen) > 3000
    assert not bad, f"{len(bad)} of {len(seen)}: " + "\n".join(bad[:10])


@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    yield from shipped_vocab()


def call_grammar(params: dict[str, Any]) -> str:
    g = hermes_grammar_for(toolset_from_schemas([{"name": "f", "parameters": params}]), "required")
    assert g is not None and loads(g)
    return g


def call(args: Any) -> str:
    return '<tool_call>\n{"name": "f", "arguments": ' + json.dumps(args) + "}\n</tool_call>"


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


CASES: list[tuple[str, dict[str, Any], list[Any], list[Any]]] = [
    # name, parameters, arguments the grammar must allow, arguments it must refuse
    ("any", obj(x={"type": "any"}), [{"x": 5}, {"x": "s"}, {"x": [1, {"a": None}]}, {"x": {"k": True}}], [{}]),
    (
        "bfcl dict/float/tuple",
        {
            "type": "dict",
            "properties": {
                "d": {"type": "dict"},
                "f": {"type": "float"},
                "t": {"type": "tuple", "items": {"type": "integer"}},
            },
            "required": ["d", "f", "t"],
        },
        [{"d": {"a": 1}, "f": 1.5, "t": [1, 2]}],
        [{"d": 1, "f": 1.5, "t": [1]}, {"d": {}, "f": "x", "t": []}],
    ),
    (
        "missing type",
        {"properties": {"x": {"description": "no type"}, "y": {"items": {"type": "integer"}}}, "required": ["x", "y"]},
        [{"x": 1, "y": [2]}, {"x": "a", "y": []}],
        [{"x": 1, "y": ["a"]}],
    ),
    (
        "nested object",
        obj(o=obj(p=obj(q={"type": "integer"}))),
        [{"o": {"p": {"q": 3}}}],
        [{"o": {"p": {"q": "3"}}}, {"o": {"p": {}}}],
    ),
    (
        "array of objects",
        obj(a={"type": "array", "items": obj(n={"type": "string"}, v={"type": "number"})}),
        [{"a": [{"n": "x", "v": 1}, {"n": "y", "v": 2.5}]}, {"a": []}],
        [{"a": [{"n": "x"}]}, {"a": [{"n": 1, "v": 1}]}],
    ),
    (
        "anyOf",
        obj(u={"anyOf": [{"type": "integer"}, obj(k={"type": "string"})]}),
        [{"u": 1}, {"u": {"k": "v"}}],
        [{"u": "s"}, {"u": {"k": 1}}],
    ),
    (
        "oneOf with siblings",
        obj(
            u={
                "type": "object",
                "properties": {"kind": {"type": "string"}},
                "oneOf": [{"required": ["kind"]}, {"properties": {"id": {"type": "integer"}}, "required": ["id"]}],
            }
        ),
        [{"u": {"kind": "a"}}, {"u": {"id": 3}}],
        [{"u": {"id": "3"}}],
    ),
    (
        "type list",
        obj(t={"type": ["string", "null"]}, n={"type": ["integer", "array"], "items": {"type": "boolean"}}),
        [{"t": None, "n": 1}, {"t": "x", "n": [True]}],
        [{"t": 1, "n": 1}, {"t": "x", "n": [1]}],
    ),
    ("nullable", obj(t={"type": "integer", "nullable": True}), [{"t": None}, {"t": 2}], [{"t": "2"}]),
    (
        "enums",
        obj(e={"type": "string", "enum": ["a b", 'q"t']}, i={"enum": [1, None, "x"]}),
        [{"e": "a b", "i": 1}, {"e": 'q"t', "i": None}],
        [{"e": "c", "i": 1}, {"e": "a b", "i": 2}],
    ),
    ("empty enum dropped", obj(e={"type": "string", "enum": []}), [{"e": "anything"}], [{"e": 1}]),
    ("const", obj(c={"const": "fixed"}), [{"c": "fixed"}], [{"c": "other"}]),
    (
        "additionalProperties schema",
        {"type": "object", "additionalProperties": {"type": "integer"}},
        [{"a": 1, "b": 2}, {}],
        [{"a": "1"}],
    ),
    (
        "additionalProperties true",
        {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": True},
        [{"x": 1, "y": [1]}, {}],
        [],
    ),
    ("no extras by default", obj(x={"type": "integer"}), [{"x": 1}], [{"x": 1, "y": 2}]),
    (
        "allOf",
        {"allOf": [obj(a={"type": "integer"}), obj(b={"type": "string"})]},
        [{"a": 1, "b": "x"}],
        [{"a": 1}, {"a": "1", "b": "x"}],
    ),
    (
        "local $ref",
        {
            "type": "object",
            "$defs": {"P": obj(n={"type": "string"})},
            "properties": {"p": {"$ref": "#/$defs/P"}, "q": {"$ref": "#/$defs/P"}},
            "required": ["p"],
        },
        [{"p": {"n": "x"}}, {"p": {"n": "x"}, "q": {"n": "y"}}],
        [{"p": {"n": 1}}],
    ),
    (
        "recursive $ref",
        {
            "type": "object",
            "definitions": {
                "node": {
                    "type": "object",
                    "properties": {
                        "v": {"type": "integer"},
                        "kids": {"type": "array", "items": {"$ref": "#/definitions/node"}},
                    },
                    "required": ["v"],
                }
            },
            "properties": {"tree": {"$ref": "#/definitions/node"}},
            "required": ["tree"],
        },
        [{"tree": {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}}],
        [{"tree": {"v": "1"}}],
    ),
    ("remote $ref", obj(r={"$ref": "https://example.com/s.json"}), [{"r": 1}, {"r": "x"}], []),
    (
        "not and uniqueItems",
        obj(
            n={"type": "integer", "not": {"const": 3}},
            u={"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        ),
        [{"n": 3, "u": [1, 1]}],
        [{"n": "3", "u": [1]}],
    ),
    (
        "long pattern",
        obj(p={"type": "string", "pattern": "^(" + "|".join(f"w{i}" for i in range(300)) + ")$"}),
        [{"p": "w1"}],
        [{"p": 1}],
    ),
    ("unreadable pattern", obj(p={"type": "string", "pattern": "^(?!x)(?<=a)\\p{L}+$"}), [{"p": "abc"}], []),
    (
        "long maxLength",
        obj(s={"type": "string", "maxLength": 100000}, t={"type": "string", "minLength": 2, "maxLength": 3}),
        [{"s": "x" * 500, "t": "ab"}],
        [{"s": "x", "t": "a"}, {"s": "x", "t": "abcd"}],
    ),
    (
        "bounded arrays",
        obj(
            a={"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
            b={"type": "array", "items": {"type": "integer"}, "maxItems": 5000},
        ),
        [{"a": [1], "b": []}, {"a": [1, 2, 3], "b": [1] * 30}],
        [{"a": [], "b": []}, {"a": [1, 2, 3, 4], "b": []}],
    ),
    (
        "prefixItems",
        obj(p={"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False}),
        [{"p": [1, "a"]}],
        [{"p": ["a", 1]}, {"p": [1]}],
    ),
    (
        "formats",
        obj(d={"type": "string", "format": "date"}, e={"type": "string", "format": "email"}),
        [{"d": "2024-01-31", "e": "a@b.c"}],
        [{"d": "31/01/2024", "e": "a"}][:0],
    ),
    ("not an object at the root", {"type": "string"}, [{"any": 1}], []),
]


@pytest.mark.parametrize("name,params,good,bad", CASES, ids=[c[0] for c in CASES])
def test_schema_features_make_grammars_that_fit(vocab, name, params, good, bad):
    g = call_grammar(params)
    for args in good:
        assert accepts(vocab, g, call(args)), (name, args)
    for args in bad:
        assert not accepts(vocab, g, call(args)), (name, args)


def test_a_tool_whose_schema_cannot_be_converted_takes_any_arguments(vocab, monkeypatch, caplog):
    from liteagent.protocols import grammar_schema

    def broken(self, schema, name):
        raise AssertionError("Unrecognized schema: simulated converter gap")

    params = obj(x={"type": "integer"})
    tools = toolset_from_schemas([{"name": "f", "parameters": params}, {"name": "g", "parameters": params}])
    real_visit = grammar_schema.Converter.visit
    calls = iter(range(1_000_000))

    def fail_first_tool(self, schema, name):
        if name.startswith("tool0-args") and next(calls) == 0:
            return broken(self, schema, name)
        return real_visit(self, schema, name)

    monkeypatch.setattr(grammar_schema.Converter, "visit", fail_first_tool)
    with caplog.at_level(logging.WARNING, logger="liteagent.grammar"):
        g = hermes_grammar_for(tools, "required")
    assert g is not None and loads(g)
    assert "# f: schema not converted (AssertionError: Unrecognized schema" in g
    assert "schema not converted" in caplog.text
    assert accepts(vocab, g, call({"x": "not an int", "y": [1]}))  # f: any arguments object
    g_call = call({"x": 1}).replace('"f"', '"g"')
    assert accepts(vocab, g, g_call) and not accepts(vocab, g, g_call.replace("1", '"1"'))


def test_the_embedded_model_decodes_unconstrained_when_a_grammar_does_not_load(caplog):
    """A grammar llama.cpp cannot parse used to become a null sampler in the chain (a crash)."""
    from liteagent.llms.base import GenerationConfig
    from liteagent.llms.local import LocalLLM
    from liteagent.request import Request

    llm = LocalLLM()
    request = Request(messages=[{"role": "user", "content": "Say hi."}], grammar='root ::= "a" (')

    async def reply() -> str:
        return "".join([c.text or "" async for c in llm.astream(request, GenerationConfig(max_tokens=4))])

    with caplog.at_level(logging.WARNING, logger="liteagent.grammar"):
        text = asyncio.run(reply())
    assert text.strip()
    assert "does not load the request's grammar" in caplog.text


def test_a_tool_without_arguments_takes_an_empty_object(vocab):
    g = call_grammar({"type": "object", "properties": {}})
    assert accepts(vocab, g, call({})) and not accepts(vocab, g, call({"type": "x"}))
