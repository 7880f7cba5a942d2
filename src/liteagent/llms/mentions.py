"""What the person named of a tool's arguments: the optional parameters and the allowed values
(``enum``) the conversation mentions, read from the tool's JSON Schema (the copy bias's guide
through an arguments object: llms/copy_bias.py).

A small model writing a call leaves out the parameters it was not made to write ("find Offbeat
genre movies by Tim Burton" -> only ``directed_by``) and picks an allowed value it likes better
than the one the person said ("a 'Plus' type Uber" -> ``"comfort"``). A parameter is *named* when
one of its allowed values is said in the conversation ("Plus", "air dry" for ``AIR_DRY``), or when
every word of its name is ("special request" for ``special``, "in the cast" for ``cast``). Words
are compared lower-cased, ``_``/``-`` and camelCase read as word breaks, a plural ``s`` aside.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: a name's word shorter than this says too little to count ("id", "to")
_SHORTEST = 3


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(_CAMEL.sub(" ", text))]


class Source:
    """The conversation's words, to look names and values up in."""

    def __init__(self, text: str) -> None:
        self.words = words(text)
        self.joined = f" {' '.join(self.words)} "
        self.vocab = set(self.words)

    def says(self, phrase: str) -> bool:
        """The phrase's words appear in a row (``AIR_DRY`` in "air dry mode")."""
        ws = words(phrase)
        return bool(ws) and len("".join(ws)) >= _SHORTEST and f" {' '.join(ws)} " in self.joined

    def has_word(self, word: str) -> bool:
        return word in self.vocab or word + "s" in self.vocab or (word.endswith("s") and word[:-1] in self.vocab)


class Shape:
    """One object schema as the grammar writes it: its keys in order (the required ones first, then
    the optional ones, each in declared order: llama.cpp's converter), and which are named."""

    __slots__ = ("named", "order", "properties", "values")

    def __init__(self, schema: Mapping[str, Any], source: Source) -> None:
        props = schema.get("properties")
        self.properties: Mapping[str, Any] = props if isinstance(props, Mapping) else {}
        required = schema.get("required")
        required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
        self.order = [k for k in self.properties if k in required] + [k for k in self.properties if k not in required]
        #: key -> its allowed values that the conversation says
        self.values: dict[str, list[str]] = {}
        self.named: set[str] = set()
        for key, sub in self.properties.items():
            said = named_values(sub, source)
            if said:
                self.values[key] = said
            long_words = [w for w in words(key) if len(w) >= _SHORTEST]
            if said or (long_words and all(source.has_word(w) for w in long_words)):
                self.named.add(key)

    def still_named(self, written: set[str], last: str | None) -> bool:
        """A named key the grammar still lets follow (after ``last``, not written yet)."""
        start = self.order.index(last) + 1 if last in self.order else 0
        return any(k in self.named and k not in written for k in self.order[start:])


def named_values(schema: Any, source: Source) -> list[str]:
    """The schema's allowed string values (``enum``) that the conversation says."""
    if not isinstance(schema, Mapping):
        return []
    enum = schema.get("enum")
    if not isinstance(enum, list):
        items = schema.get("items")  # a list of allowed values
        return named_values(items, source) if isinstance(items, Mapping) else []
    return [v for v in enum if isinstance(v, str) and source.says(v)]


def child(schema: Any, key: str | None) -> Any:
    """The schema of a value inside ``schema``: the property ``key`` of an object, else the items
    of an array (None where the schema does not say)."""
    if not isinstance(schema, Mapping):
        return None
    if key is not None:
        props = schema.get("properties")
        return props.get(key) if isinstance(props, Mapping) else None
    return schema.get("items")


__all__ = ["Shape", "Source", "child", "named_values", "words"]
