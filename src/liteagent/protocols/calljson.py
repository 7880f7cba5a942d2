"""Reading the JSON of a call the way models really write it.

Tried in order: JSON (raw control characters inside strings allowed: models write code and
e-mails with literal newlines and tabs); Python literal syntax (single quotes, True/None); then
the json-repair library (trailing commas, unclosed brackets). Text with no JSON object in it is
never "repaired" into a call. Junk after the first complete object (a brace too many, prose
before the end marker) is dropped only when that object names a real tool. A call nested deeper
than ``MAX_CALL_DEPTH`` is refused before any reader recurses into it (:data:`TOO_DEEP`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

import json_repair

from ..jsontext import MAX_CALL_DEPTH, nesting_exceeds, value_exceeds

#: why a call nested too deep is not read (the model reads it, and can write the call again)
TOO_DEEP = (
    f"the call nests brackets more than {MAX_CALL_DEPTH} levels deep, more than any tool takes; "
    "write its arguments with less nesting"
)
#: JSON nested d deep takes at least 2d characters, so what a JSON decoder accepts from a text
#: this short nests no deeper than the limit (and what lenient readers make of one is checked as a
#: value): the two counts, ~0.2 us, are left to longer calls
_SHORT = 2 * MAX_CALL_DEPTH + 1
_LENIENT = json.JSONDecoder(strict=False)  # literal newlines and tabs inside strings are fine
#: its scanner, called directly where ``raw_decode`` would wrap it (StopIteration: no value there)
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = _LENIENT.scan_once  # type: ignore[attr-defined]

_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n?(.*?)\n?```\s*$", re.S)
_OPEN_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n")
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][\w-]*)\s*:(?!//)")


def strip_fences(text: str) -> str:
    """``​```json\\n{…}\\n```​`` -> ``{…}``; an unclosed opening fence is dropped too."""
    m = _FENCE.match(text)
    if m:
        return m.group(1)
    m = _OPEN_FENCE.match(text)
    if m:
        return text[m.end() :]
    return text


def load_json_value(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, why it cannot be read); :data:`TOO_DEEP` for nesting past the
    limit (checked on the very text each decoder reads, and on what lenient readers return)."""
    t = text.strip()
    if t[:1] == "{":  # the common case: plain JSON, and nothing after it
        if len(t) > _SHORT and nesting_exceeds(t, MAX_CALL_DEPTH):
            return None, TOO_DEEP
        try:
            value, end = _SCAN_ONCE(t, 0)
            if end == len(t):
                return value, None
        except (StopIteration, json.JSONDecodeError):
            pass
    t = strip_fences(t).strip()
    if not t:
        return None, "the call is empty"
    start = min((i for i in (t.find("{"), t.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None, "no JSON object found"
    t = t[start:]
    if len(t) > _SHORT and nesting_exceeds(t, MAX_CALL_DEPTH):
        return None, TOO_DEEP
    try:
        return _LENIENT.decode(t), None
    except json.JSONDecodeError as exc:
        first_error = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    try:
        value = ast.literal_eval(t)  # Python's parser stops at 200 levels (a SyntaxError)
        if isinstance(value, (dict, list)):
            return (None, TOO_DEEP) if value_exceeds(value, MAX_CALL_DEPTH) else (value, None)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    # Bare keys ({city: "x"}) are common; quote them, then allow only silent structural repairs
    # (trailing commas, raw newlines, missing commas or closing brackets). A repair that had to
    # guess a value (json-repair logs it) is refused: we never invent arguments.
    quoted = _BARE_KEY.sub(r'\1"\2":', t)
    for candidate in dict.fromkeys((t, quoted)):
        try:  # json-repair turns its own RecursionError into a ValueError
            value, log = json_repair.repair_json(candidate, return_objects=True, logging=True)
        except Exception:
            continue
        if not log and isinstance(value, (dict, list)) and value:
            return (None, TOO_DEEP) if value_exceeds(value, MAX_CALL_DEPTH) else (value, None)
    return None, f"invalid JSON: {first_error}"


def call_from_value(value: Any) -> tuple[str, dict[str, Any]] | str:
    """(name, arguments) from one decoded call object, or an error message."""
    if type(value) is dict and "function" not in value:  # the common call: {"name": ..., "parameters": {...}}
        named, given = value.get("name"), value.get("parameters")
        if type(named) is str and type(given) is dict:
            stripped = named.strip()
            if stripped:
                return stripped, given
    if not isinstance(value, dict):
        return f'a call must be a JSON object with "name" and "parameters", got {type(value).__name__}'
    obj = value
    if isinstance(obj.get("function"), dict):  # {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return 'the call has no "name" (expected {"name": "Tool.api", "parameters": {...}})'
    args: Any = {}
    for key in ("parameters", "arguments", "args", "params"):
        if key in obj:
            args = obj[key]
            break
    if isinstance(args, str):
        decoded, err = load_json_value(args) if args.strip() else ({}, None)
        if err is not None:
            return err if err is TOO_DEEP else f"the arguments of {name} are not a JSON object ({err})"
        args = decoded
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f"the parameters of {name} must be a JSON object, got {type(args).__name__}"
    return name.strip(), args


def first_json_value(text: str) -> tuple[Any, str] | None:
    """The first complete JSON value in ``text`` (after any code fence) and what follows it;
    None where there is none, or it nests too deep."""
    t = strip_fences(text.strip()).strip()
    start = min((i for i in (t.find("{"), t.find("[")) if i >= 0), default=-1)
    if start < 0 or (len(t) - start > _SHORT and nesting_exceeds(t[start:], MAX_CALL_DEPTH)):
        return None  # too deep: load_json_value says so
    try:
        value, end = _LENIENT.raw_decode(t, start)
    except json.JSONDecodeError:
        return None
    return value, t[end:]


def parse_calls(text: str, known: Callable[[str], bool] | None = None) -> list[tuple[str, dict[str, Any]] | str]:
    """Every call in one block: an object, or a list of objects (several calls). ``known`` says
    whether a name is a real tool: then junk after the first complete object is dropped."""
    t = text.strip()
    if t[:1] == "{" and len(t) <= _SHORT:  # the common call: one short object (load_json_value's first case)
        try:
            value, end = _SCAN_ONCE(t, 0)
            if end == len(t):
                return [call_from_value(value)]
        except (StopIteration, json.JSONDecodeError):
            pass
    value, err = load_json_value(text)
    if err is not None and known is not None:
        first = first_json_value(text)
        if first is not None and isinstance(first[0], dict):
            call = call_from_value(first[0])
            if not isinstance(call, str) and known(call[0]):
                return [call]
    if err is not None:
        return [err]
    if isinstance(value, list):
        if not value:
            return ["the call list is empty"]
        return [call_from_value(v) for v in value]
    return [call_from_value(value)]


def known_tools(toolset: Any) -> Callable[[str], bool] | None:
    """``name -> is it a real tool`` for a tool set (None without one)."""
    if toolset is None:
        return None
    contains = getattr(toolset, "__contains__", None)
    if contains is not None:  # a ToolSet: ``name in toolset`` resolves aliases too
        return contains  # type: ignore[no-any-return]

    def known(name: str) -> bool:
        return toolset.resolve(name) is not None

    return known
