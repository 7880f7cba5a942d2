"""Typed answers: what a run's final answer must be (``Agent(output_type=T)``), how the model is
asked for it, and how its answer is read and validated.

An :class:`OutputSpec` is made once per agent from a Python type (a pydantic model, a dataclass,
a TypedDict, ``list[...]``, a ``Literal``, a plain type: validated by pydantic's ``TypeAdapter``)
or a JSON Schema dict (validated by ``jsonschema``, Draft 2020-12, formats checked). Modes:

- ``tool``: a ``final_answer`` tool whose parameters are the output's schema (a root that is not
  an object is wrapped as ``{"output": ...}``); calling it ends the run. Real tools stay callable.
- ``native``: ``response_format: {"type": "json_schema", ...}``, only on a turn with no tools.
- ``prompted``: the schema in the instructions; fenced or chatty JSON is still read.

``auto`` is ``tool``, which every dialect speaks. Errors name the field and what is wrong, never
the value the model wrote (an answer may be large, or hostile).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .errors import ModelRetry, UsageError

if typing.TYPE_CHECKING:
    from .actions.tooldefs import ToolDef, ToolSet

log = logging.getLogger("liteagent.output")

MODES = ("auto", "tool", "native", "prompted")
#: the final-answer tool's name (a real tool may not take it)
OUTPUT_TOOL = "final_answer"
#: the one field a root that is not an object is wrapped in
WRAP_KEY = "output"
#: errors shown to the model at once (the first ones; the rest are counted)
MAX_SHOWN = 8


@dataclasses.dataclass(frozen=True, slots=True)
class OutputError:
    """One reason an answer is not valid: where (a field path, ``$`` for the whole answer) and
    what is wrong. Never holds the value itself."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidOutput(Exception):
    """An answer that does not fit the output type: its errors."""

    def __init__(self, errors: list[OutputError]) -> None:
        super().__init__("; ".join(map(str, errors[:MAX_SHOWN])))
        self.errors = errors


Validator = Callable[[Any], Any]


class OutputSpec:
    """What a final answer must be, and the ways to ask for it and read it.

    Args:
        output_type: a Python type, or a JSON Schema dict (``result.output`` is then a dict, or
            whatever JSON value the schema allows).
        mode: auto, tool, native or prompted.
        validators: callables of the validated value, run on final answers only, in order; each
            returns the value (changed or not) or raises :class:`ModelRetry` (the model is told
            why and tries again) or ``ValueError`` (the same).
        name: what the schema is called in ``response_format`` and the instructions.
    """

    def __init__(
        self,
        output_type: Any,
        mode: str = "auto",
        validators: Iterable[Validator] = (),
        name: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"output_mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.output_type = output_type
        self.mode = "tool" if mode == "auto" else mode
        self.validators = tuple(validators)
        for v in self.validators:
            if not callable(v):
                raise UsageError(f"output_validators takes callables, not {type(v).__name__}")
        self._adapter: Any = None
        self._checker: Any = None
        self._validation_schema: dict[str, Any] | None = None
        if isinstance(output_type, Mapping):
            self._validation_schema = copy.deepcopy(dict(output_type))  # validated as written
            self.schema = _checked_schema(dict(output_type))
            self.name = name or _schema_name(self.schema)
        else:
            self.schema, self._adapter = _type_schema(output_type)
            self.name = name or _type_name(output_type)
        self.wrapped = self.schema.get("type") != "object"
        if self.wrapped:
            inner = {k: v for k, v in self.schema.items() if k != "$defs"}
            self.params: dict[str, Any] = {
                "type": "object",
                "properties": {WRAP_KEY: inner},
                "required": [WRAP_KEY],
                "additionalProperties": False,
            }
            if "$defs" in self.schema:  # refs resolve from the root
                self.params["$defs"] = self.schema["$defs"]
        else:
            self.params = self.schema
        # what identifies this spec's tool, grammar and prompts (the same text: the same caches)
        self.key = ("output", json.dumps(self.params, sort_keys=True, default=str), self.name)
        self._noted = False
        self._with: dict[Any, ToolSet] = {}  # by the real tools' key
        self._value_grammar: str | None = None

    # -- the final-answer tool -----------------------------------------------------------------
    def final_def(self) -> ToolDef:
        from types import MappingProxyType

        from .actions.schema import JsonSchemaApiSpec, lagent_api_dict
        from .actions.tooldefs import ToolDef

        desc = self.description()
        api = JsonSchemaApiSpec.from_schema(OUTPUT_TOOL, desc, self.params, None)
        return ToolDef(
            OUTPUT_TOOL,
            OUTPUT_TOOL,
            desc,
            MappingProxyType(copy.deepcopy(self.params)),
            "plugin",
            MappingProxyType(lagent_api_dict(api, OUTPUT_TOOL, desc)),
        )

    def with_tools(self, tools: ToolSet) -> ToolSet:
        """The real tools and the final-answer tool (made once per tool set)."""
        made = self._with.get(tools.key)
        if made is None:
            if tools.resolve_exact(OUTPUT_TOOL) is not None:
                raise UsageError(f"a tool is named {OUTPUT_TOOL}, the name a typed agent's answer takes: rename it")
            if len(self._with) >= 32:
                self._with.clear()
            made = self._with[tools.key] = tools.plus(self.final_def(), self.key)
        return made

    def final_only(self) -> ToolSet:
        """The final-answer tool alone (no real tools on this turn)."""
        from .actions.tooldefs import EMPTY_TOOLS

        return self.with_tools(EMPTY_TOOLS)

    def is_final(self, tools: ToolSet, name: str) -> bool:
        """Does a call by this name end the run with the answer?"""
        if name == OUTPUT_TOOL:
            return True
        d = tools.resolve(name) if name else None
        return d is not None and d.name == OUTPUT_TOOL

    def value_grammar(self) -> str:
        """A grammar for the answer alone, as one JSON value (native mode on a model that
        decodes under one); what it cannot enforce is said once."""
        grammar = self._value_grammar
        if grammar is None:
            from .protocols.grammar_schema import value_grammar

            grammar, notes = value_grammar(self.schema)
            self._value_grammar = grammar
            self.grammar_notes(notes)
        return grammar

    def check_grammar(self) -> None:
        """Say once what the final-answer tool's grammar cannot enforce (tool mode)."""
        if not self._noted:
            from .protocols.grammar_schema import Normalizer

            norm = Normalizer(copy.deepcopy(self.params))
            norm.arguments()
            self.grammar_notes(norm.notes)
            self._noted = True

    # -- asking for it -------------------------------------------------------------------------
    def description(self) -> str:
        what = "the answer" if not self.wrapped else f"the answer in its `{WRAP_KEY}` field"
        return (
            f"Give your final answer ({self.name}). Call this once you have what you need; its arguments are "
            f"{what}, and the run ends with it."
        )

    def instructions(self) -> str:
        """What the system prompt says in this mode."""
        if self.mode == "tool":
            return (
                f"When you have the answer, call the `{OUTPUT_TOOL}` tool with it (never answer in plain text); "
                f"its parameters are the answer's schema."
            )
        schema = json.dumps(self.schema, ensure_ascii=False)
        return (
            f"Your final answer must be one JSON value ({self.name}) that fits this JSON Schema, and nothing "
            f"else: {schema}"
        )

    def response_format(self) -> dict[str, Any]:
        """OpenAI's ``response_format`` for a turn with no tools (native mode)."""
        return {
            "type": "json_schema",
            "json_schema": {"name": _wire_name(self.name), "schema": self.schema, "strict": False},
        }

    def grammar_notes(self, notes: list[str]) -> None:
        """Say once what the grammar cannot enforce (validation still checks it)."""
        if notes and not self._noted:
            self._noted = True
            log.warning("output schema %s, not enforced while decoding: %s", self.name, "; ".join(notes))

    # -- reading it ----------------------------------------------------------------------------
    def from_arguments(self, arguments: Mapping[str, Any]) -> Any:
        """The answer in a final-answer call's arguments (unwrapped)."""
        if self.wrapped:
            if set(arguments) != {WRAP_KEY}:
                missing = WRAP_KEY not in arguments
                raise InvalidOutput(
                    [OutputError("$", f"the answer goes in the `{WRAP_KEY}` field" + ("" if missing else " alone"))]
                )
            return arguments[WRAP_KEY]
        return dict(arguments)

    def from_text(self, text: str) -> Any:
        """The answer in a text reply: the whole text as JSON, a fenced block, or the first JSON
        value in prose; a bare word where the answer is a string."""
        stripped = text.strip()
        if not stripped:
            raise InvalidOutput([OutputError("$", "the reply is empty: give the answer as JSON")])
        found = _json_in_text(stripped)
        if found is _NOTHING:
            if self._string_like():
                return _unquote(stripped)
            raise InvalidOutput([OutputError("$", "the reply holds no JSON value: give the answer as JSON")])
        if self.wrapped and isinstance(found, dict) and set(found) == {WRAP_KEY}:
            return found[WRAP_KEY]
        return found

    def validate(self, data: Any) -> Any:
        """The validated value (a ``T`` instance, or the JSON value for a schema), user validators
        run; raises InvalidOutput. A validator's other exceptions propagate (a bug in it, not in
        the answer)."""
        if self._adapter is not None:
            import pydantic

            try:
                value = self._adapter.validate_python(data)
            except pydantic.ValidationError as exc:
                raise InvalidOutput(_pydantic_errors(exc)) from None
        else:
            errors = self._schema_errors(data)
            if errors:
                raise InvalidOutput(errors)
            value = data
        for check in self.validators:
            try:
                value = check(value)
            except ModelRetry as exc:
                raise InvalidOutput([OutputError("$", _one_line(str(exc)) or "rejected by a validator")]) from None
            except ValueError as exc:
                raise InvalidOutput([OutputError("$", _one_line(str(exc)) or "rejected by a validator")]) from None
        return value

    def dump(self, value: Any) -> Any:
        """A validated value as JSON data."""
        if self._adapter is not None:
            return self._adapter.dump_python(value, mode="json")
        return value

    def _schema_errors(self, data: Any) -> list[OutputError]:
        checker = self._checker
        if checker is None:
            import jsonschema

            checker = self._checker = jsonschema.Draft202012Validator(
                self._validation_schema or self.schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
        found = sorted(checker.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        return list(dict.fromkeys(_jsonschema_error(e) for e in found))  # one per missing field set

    def _string_like(self) -> bool:
        s = self.schema
        if s.get("type") == "string":
            return True
        enum = s.get("enum")
        return isinstance(enum, list) and bool(enum) and all(isinstance(x, str) for x in enum)


def as_spec(
    output_type: Any, mode: str = "auto", validators: Iterable[Validator] = (), name: str | None = None
) -> OutputSpec | None:
    """An OutputSpec, or None for plain text (``output_type=None``; ``str`` is a typed answer
    whose value is a string, given through the final-answer tool in tool mode)."""
    if isinstance(output_type, OutputSpec):
        return output_type
    if output_type is None:
        if mode not in MODES:
            raise UsageError(f"output_mode must be one of {', '.join(MODES)}, not {mode!r}")
        if tuple(validators):
            raise UsageError("output_validators need an output_type")
        return None
    return OutputSpec(output_type, mode, validators, name)


def retry_prompt(errors: Sequence[OutputError], how: str) -> str:
    """What the model reads after an invalid answer: each error (path and message), then how to
    answer again."""
    shown = "\n".join(f"- {e}" for e in errors[:MAX_SHOWN])
    more = f"\n(and {len(errors) - MAX_SHOWN} more)" if len(errors) > MAX_SHOWN else ""
    return f"Your answer is not valid:\n{shown}{more}\n{how}"


# -- schemas ------------------------------------------------------------------------------------
def _type_schema(tp: Any) -> tuple[dict[str, Any], Any]:
    import pydantic

    from .actions.schema import clean_schema, portable_hint

    try:
        adapter = pydantic.TypeAdapter(portable_hint(tp))
        raw = adapter.json_schema()
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise UsageError(f"output_type {_type_name(tp)} has no JSON Schema: {_one_line(str(exc))[:200]}") from None
    defs = raw.get("$defs", {})
    if _recursive(defs):  # inlining would not end: the refs stay, the root is its definition
        schema = _untitled(raw)
        root = schema.get("$ref")
        if isinstance(root, str) and set(schema) == {"$ref", "$defs"}:
            schema = {**schema["$defs"].get(root.rsplit("/", 1)[-1], {}), "$defs": schema["$defs"]}
    else:
        schema = clean_schema(raw, defs)
    if not isinstance(schema, dict):
        raise UsageError(f"output_type {_type_name(tp)} has no JSON Schema")
    return schema, adapter


def _refs(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref.rsplit("/", 1)[-1])
        for v in node.values():
            out |= _refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= _refs(v)
    return out


def _recursive(defs: Any) -> bool:
    """Does a definition refer to itself, directly or through others? (inlining it would not end)"""
    if not isinstance(defs, dict) or not defs:
        return False
    edges = {name: _refs(body) for name, body in defs.items()}

    def reaches(start: str) -> bool:
        seen: set[str] = set()
        todo = list(edges.get(start, ()))
        while todo:
            n = todo.pop()
            if n == start:
                return True
            if n not in seen:
                seen.add(n)
                todo.extend(edges.get(n, ()))
        return False

    return any(reaches(name) for name in edges)


def _untitled(node: Any, in_properties: bool = False) -> Any:
    """pydantic's schema without its generated ``title`` keys (a property named title stays)."""
    if isinstance(node, list):
        return [_untitled(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {
        k: _untitled(v, k in ("properties", "$defs"))
        for k, v in node.items()
        if in_properties or k != "title" or not isinstance(v, str)
    }


def _checked_schema(schema: dict[str, Any]) -> dict[str, Any]:
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the root"
        raise UsageError(
            f"the output schema is not valid JSON Schema (at {where}): {_one_line(exc.message)[:200]}"
        ) from None
    defs = schema.get("$defs", {})
    root = schema.get("$ref")
    if _recursive(defs) and isinstance(root, str) and root.startswith("#/$defs/") and set(schema) <= _ROOT_REF_KEYS:
        target = defs.get(root.rsplit("/", 1)[-1])  # the root is its definition (the refs stay)
        if isinstance(target, dict):
            return copy.deepcopy({**target, "$defs": defs})
    if "$ref" in json.dumps(schema) and not _recursive(defs) and _local_refs(schema):
        from .actions.schema import clean_schema

        inlined = clean_schema(copy.deepcopy(schema), defs)
        return inlined if isinstance(inlined, dict) else schema
    return copy.deepcopy(schema)  # what the model is shown; validation reads the schema as written


_ROOT_REF_KEYS = {"$ref", "$defs", "$schema", "$id", "title", "description"}


def _local_refs(schema: dict[str, Any]) -> bool:
    """Are all refs ``#/$defs/NAME`` with a definition (what inlining resolves)?"""
    defs = schema.get("$defs")
    names = _refs(schema)
    text = json.dumps(schema)
    return isinstance(defs, dict) and names <= set(defs) and text.count('"$ref"') == text.count('"#/$defs/')


def _type_name(tp: Any) -> str:
    name = getattr(tp, "__name__", None)
    if isinstance(name, str) and typing.get_origin(tp) is None:
        return name
    return re.sub(r"\btyping\.|\b[a-z_]+\.", "", str(tp)) or "answer"


def _schema_name(schema: dict[str, Any]) -> str:
    title = schema.get("title")
    return title if isinstance(title, str) and title.strip() else "answer"


def _wire_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "answer"


# -- errors -------------------------------------------------------------------------------------
def _path(parts: Iterable[Any]) -> str:
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            key = str(p)
            out += f".{key if len(key) <= 40 else key[:37] + '...'}"  # a key is the model's text too
    return out


def _pydantic_errors(exc: Any) -> list[OutputError]:
    out = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = [p for p in e.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-"))]
        kind, ctx = e.get("type", ""), e.get("ctx") or {}
        if kind == "union_tag_invalid":  # pydantic's message repeats the tag the model wrote
            msg = f"{ctx.get('discriminator', 'the tag')} must be one of {ctx.get('expected_tags', '')}"
        elif kind == "union_tag_not_found":
            msg = f"{ctx.get('discriminator', 'the tag')} is missing"
        else:
            msg = str(e.get("msg", "invalid"))
        out.append(OutputError(_path(loc), _one_line(msg)[:300]))
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonschema_error(e: Any) -> OutputError:
    """jsonschema's message names the value it judged; this one names only the rule."""
    kw, rule = e.validator, e.validator_value
    path = _path(e.absolute_path)
    if kw == "required":
        missing = [r for r in rule if isinstance(e.instance, dict) and r not in e.instance]
        return OutputError(path, f"missing required field {', '.join(map(str, missing)) or _short(rule)}")
    if kw == "additionalProperties" and isinstance(e.instance, dict):
        known = set(e.schema.get("properties") or {})
        extra = sorted(str(k) for k in e.instance if k not in known)
        return OutputError(path, f"unexpected field {', '.join(extra)[:200]}")
    messages = {
        "type": lambda: f"must be of type {' or '.join(rule) if isinstance(rule, list) else rule}",
        "enum": lambda: f"must be one of {_short(rule)}",
        "const": lambda: f"must be {_short(rule)}",
        "minimum": lambda: f"must be >= {rule}",
        "maximum": lambda: f"must be <= {rule}",
        "exclusiveMinimum": lambda: f"must be > {rule}",
        "exclusiveMaximum": lambda: f"must be < {rule}",
        "multipleOf": lambda: f"must be a multiple of {rule}",
        "minLength": lambda: f"must be at least {rule} characters",
        "maxLength": lambda: f"must be at most {rule} characters",
        "pattern": lambda: f"must match the pattern {_short(rule)}",
        "format": lambda: f"must be a valid {rule}",
        "minItems": lambda: f"must have at least {rule} items",
        "maxItems": lambda: f"must have at most {rule} items",
        "uniqueItems": lambda: "items must be unique",
        "minProperties": lambda: f"must have at least {rule} fields",
        "maxProperties": lambda: f"must have at most {rule} fields",
        "anyOf": lambda: "matches none of the allowed shapes",
        "oneOf": lambda: "must match exactly one of the allowed shapes",
        "not": lambda: "is a value the schema excludes",
    }
    make = messages.get(kw)
    return OutputError(path, make() if make is not None else f"fails the schema's {kw!r} rule")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- JSON in text -------------------------------------------------------------------------------
_NOTHING = object()
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.S)
_DECODER = json.JSONDecoder()


def _json_in_text(text: str) -> Any:
    """The JSON value a reply holds: all of it, a fenced block, or the first object or array in
    prose (the longest that parses). ``_NOTHING`` when there is none."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block)
        except ValueError:
            continue
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = _DECODER.raw_decode(text, i)
            except ValueError:
                continue
            return value
    return _NOTHING


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1]
    return text


__all__ = [
    "MODES",
    "OUTPUT_TOOL",
    "WRAP_KEY",
    "InvalidOutput",
    "OutputError",
    "OutputSpec",
    "as_spec",
    "retry_prompt",
]
