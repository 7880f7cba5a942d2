"""Compact JSON text, fast: what ``json.dumps(value, ensure_ascii=False)`` writes.

``JSONEncoder.encode`` builds a new C encoder on every call, which costs more than encoding a
small call or result (~1 us of ~1.5). One C encoder, made once, writes the same text in ~0.6 us.
It runs without circular-reference bookkeeping (a shared marker table would go stale after an
error), so a value that holds itself is caught as a RecursionError and re-encoded the standard
way, which names the problem.

Nesting limits live here too: JSON from a model (a tool call) or a tool (its result) nested
deeper than Python's stack is refused by depth, measured in linear time, before any recursive
reader sees it.
"""

from __future__ import annotations

import json
from array import array
from itertools import accumulate
from json import encoder as _encoder
from typing import Any

_STANDARD = json.JSONEncoder(ensure_ascii=False)


def _make() -> Any:
    make = getattr(_encoder, "c_make_encoder", None)
    if make is None:  # another Python, or the C accelerator missing: the standard path
        return None
    try:
        return make(None, _STANDARD.default, _encoder.encode_basestring, None, ": ", ", ", False, False, True)
    except TypeError:  # a different C signature
        return None


_FAST = _make()


def call_object(name: str, key: str, arguments: dict[str, Any]) -> str:
    """``dumps({"name": name, key: arguments})``, without building the dict (a rendered call)."""
    return f'{{"name": {_encoder.encode_basestring(name)}, "{key}": {dumps(arguments) if arguments else "{}"}}}'


def dumps(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)``; TypeError/ValueError as it raises them, and
    :class:`TooDeep` (a ValueError) for a value nested deeper than the stack allows."""
    if _FAST is None or type(value) is str:
        return _standard(value)
    try:
        return "".join(_FAST(value, 0))
    except RecursionError:
        return _standard(value)  # a value that holds itself: ValueError("Circular reference")


def _standard(value: Any) -> str:
    try:
        return _STANDARD.encode(value)
    except RecursionError:
        raise TooDeep("the value is nested too deep to encode as JSON") from None


# -- nesting: how deep brackets go --------------------------------------------------------------
#: the deepest a tool call may nest, as the model wrote it ({"name": …, "arguments": {"a": [1]}}
#: is 3 levels). BFCL's deepest answers nest 7; the readers a call passes through use up to 4
#: Python frames a level (json-repair; deepcopy 2), so 64 levels stay far inside the
#: interpreter's 1000 frames wherever the call is read, stored or shown.
MAX_CALL_DEPTH = 64
#: the deepest a tool's JSON result may nest: data a tool fetched (a document tree, a parsed
#: syntax tree) goes deeper than a call; what reads a result back (the C JSON codec, the
#: sessions) takes one frame a level.
MAX_RESULT_DEPTH = 256

_SIGN = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 opens, -1 closes
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class TooDeep(ValueError):
    """A value nested too deep to encode (:func:`dumps`)."""


def nesting_exceeds(text: str, limit: int) -> bool:
    """Does JSON ``text`` nest brackets (outside strings) more than ``limit`` levels deep?

    Text with at most ``limit`` opening brackets cannot: two counts answer the common case.
    Otherwise one linear pass, in C but for a text with a closing bracket too many (not JSON).
    Strings are told by their quotes, so the count is exact for JSON and for whatever part of a
    text a JSON decoder reads before its first error: give it the very text the decoder gets
    (from its first bracket). What lenient readers (Python literals, repairs) make of other
    text is checked as a value: :func:`value_exceeds`.
    """
    if len(text) <= limit or text.count("[") + text.count("{") <= limit:
        return False
    return _depth(text) > limit


def _depth(text: str) -> int:
    if "\\" in text:  # escapes, so that quotes alone mark strings: \\ first, then \"
        text = text.replace("\\\\", "").replace('\\"', "")
    if '"' in text:
        text = "".join(text.split('"')[::2])  # outside strings: the even pieces
    steps = array("b", text.encode("utf-8", "surrogatepass").translate(_SIGN, _NOT_BRACKETS))
    if not steps:
        return 0
    sums = list(accumulate(steps))
    if min(sums) >= 0:
        return max(sums)
    depth = deepest = 0  # a closing bracket with none open: lenient readers skip it; so does this
    for step in steps:
        if step > 0:
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def value_exceeds(value: Any, limit: int) -> bool:
    """Does ``value`` nest dicts, lists or tuples more than ``limit`` levels deep? (no recursion)"""
    if not isinstance(value, (dict, list, tuple)):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, depth + 1))
    return False
