"""The embedded model copies the conversation's own words into a call's arguments.

A small model writing a call under the grammar knows *where* a value goes but often not *what* it
is: it writes ``"location": "Cuba"`` for "the weather in Quintana Roo, Mexico", or ends
``"2020 Addison Street, Berkeley, CA`` before the ", USA" the person wrote. Most argument values
are words the person wrote, so while the model writes a value inside a call's arguments, the
tokens that would copy the conversation from where the value so far matches it get a bonus added
to their logits (before the grammar and the sampler): starting a string at a word of the
conversation, going on with the words that follow the part already copied, writing a number the
conversation holds. The tool's schema guides it too (llms/mentions.py): an allowed value the person
said ("a 'Plus' Uber" for ``type: plus|comfort|black``), and going on to an optional parameter the
person named ("special request" for ``special``) rather than closing the arguments without it.
The model still decides (a bonus, not a rule): a value it means to write otherwise (a date
reformatted, a name from the tool's description) stays possible, and so does ending.

The bonus is a measured step: ``python bench/copy_bias.py --data DIR`` picks it on BFCL cases
outside the project's sample (issue 26).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .mentions import Shape, Source, child

#: a token's text longer than this is never a copy candidate (the vocabulary's longest words)
_LONGEST = 24
#: a copied value may end before these (the end of a phrase of the conversation)
_PHRASE_ENDS = frozenset(",.;:!?'\")\n")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\d)")
_LITERALS = ("true", "false", "null")


def _phrase_ends(source: str, at: int) -> bool:
    """A phrase of the source ends before ``at``: its end, a stop, or a comma before a lower-case
    word (", and", ", who"); a comma before a capital or a number goes on inside a name or an
    address ("Paris, France", "Berkeley, CA, USA")."""
    if at >= len(source):
        return True
    ch = source[at]
    if ch != ",":
        return ch in _PHRASE_ENDS
    rest = source[at + 1 :].lstrip(" ")
    return not rest or not (rest[0].isupper() or rest[0].isdigit())


class Vocabulary:
    """A model's tokens by their text (the ones that decode to whole UTF-8 text), made once."""

    def __init__(self, texts: list[bytes]) -> None:
        by_text: dict[str, list[int]] = {}
        for token, raw in enumerate(texts):
            if not raw or len(raw) > _LONGEST * 4:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(text) <= _LONGEST:
                by_text.setdefault(text, []).append(token)
        self.by_text = by_text
        self.longest = max((len(t) for t in by_text), default=0)
        #: the tokens that end a JSON string (``"`` alone or with what follows it: ``",`` ``"}``)
        self.closers = sorted({t for text, ts in by_text.items() if text.startswith('"') for t in ts})
        #: the closers that do not close the object too (``"`` ``",``), and the tokens that go on
        #: to the object's next key (``,`` ``, "``)
        self.open_closers = sorted(
            {t for text, ts in by_text.items() if text.startswith('"') and "}" not in text for t in ts}
        )
        self.commas = sorted({t for text, ts in by_text.items() if text.lstrip(" ").startswith(",") for t in ts})


class _Frame:
    __slots__ = ("is_object", "key", "keys", "schema", "shape")

    def __init__(self, is_object: bool, schema: Any, shape: Shape | None) -> None:
        self.is_object = is_object
        self.key: str | None = None  # the key whose value is being written (objects)
        self.keys: set[str] = set()  # the keys written so far (objects)
        self.schema = schema
        self.shape = shape


class _JsonState:
    """Where the call's JSON is, one character at a time: inside which containers (with their
    schemas), whether a string is a key or a value inside the arguments (depth two or more), what
    scalar is being written, and whether a value has just ended."""

    __slots__ = (
        "after_value",
        "escape",
        "expect_key",
        "expect_value",
        "in_string",
        "is_key",
        "is_value",
        "scalar",
        "shape_of",
        "stack",
        "tool",
        "value",
    )

    def __init__(self, shape_of: Any = None) -> None:
        self.shape_of = shape_of  # the guide (a CopyBias): .tool_schema(name) and .shape(schema); None: no schemas
        self.stack: list[_Frame] = []
        self.in_string = False
        self.escape = False
        self.is_value = False
        self.is_key = False
        self.expect_key = False
        self.after_value = False  # a value of the innermost container has just ended
        self.expect_value = False  # a value inside the arguments starts next
        self.value: list[str] = []  # the string written so far (as written: JSON escapes kept)
        self.scalar: list[str] = []  # a number or literal being written inside the arguments
        self.tool: str | None = None  # the call's name, once written

    def _push(self, is_object: bool) -> None:
        schema = None
        if len(self.stack) == 1:  # the call's arguments
            schema = self.shape_of.tool_schema(self.tool) if self.shape_of else None
        elif self.stack:
            top = self.stack[-1]
            schema = child(top.schema, top.key if top.is_object else None)
        shape = self.shape_of.shape(schema) if self.shape_of and is_object and schema is not None else None
        self.stack.append(_Frame(is_object, schema, shape))

    def _string_ended(self) -> None:
        text = "".join(self.value)
        top = self.stack[-1] if self.stack else None
        if self.is_key and top is not None:
            top.key = text
            top.keys.add(text)
            self.expect_key = False
        elif top is not None and len(self.stack) == 1 and top.key == "name":
            try:
                self.tool = json.loads(f'"{text}"')
            except ValueError:
                self.tool = text
        else:
            self.after_value = True

    def feed(self, text: str) -> None:
        for ch in text:
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
                    self._string_ended()
                    self.is_value = self.is_key = False
                    self.value.clear()
                    continue
                self.value.append(ch)
                continue
            if ch not in " \n\t":
                self.expect_value = False
            if ch == '"':
                if not self.stack:  # a quote outside the call's JSON (prose): not ours
                    continue
                self.in_string = True
                self.is_key = self.stack[-1].is_object and self.expect_key
                self.is_value = not self.is_key and len(self.stack) >= 2
                self.after_value = False
                self.scalar.clear()
            elif ch == "{":
                self._push(True)
                self.expect_key = True
                self.after_value = False
            elif ch == "[":
                if self.stack:
                    self._push(False)
                    self.expect_value = len(self.stack) >= 2
                self.after_value = False
            elif ch in "}]":
                if self.stack:
                    self.stack.pop()
                self.expect_key = False
                self.after_value = bool(self.stack)
                self.scalar.clear()
            elif ch == "," and self.stack:
                self.expect_key = self.stack[-1].is_object
                self.expect_value = not self.expect_key and len(self.stack) >= 2
                self.after_value = False
                self.scalar.clear()
            elif ch in " \n\t:":
                if self.scalar:
                    self.scalar.clear()
                    self.after_value = True
                if ch == ":" and len(self.stack) >= 2:
                    self.expect_value = True
            elif len(self.stack) >= 2:
                self.scalar.append(ch)

    @property
    def depth(self) -> int:
        return len(self.stack)


class CopyBias:
    """A logits processor (``llama.generate(logits_processor=[...])``): ``feed`` it each piece
    of the reply as it is written; it adds ``bonus`` to the tokens that copy ``source`` (and, given
    the tools' schemas by name, to the allowed values and optional keys the source names)."""

    def __init__(
        self,
        vocab: Vocabulary,
        source: str,
        bonus: float,
        tools: Mapping[str, Mapping[str, Any]] | None = None,
        named_bonus: float = 0.0,
    ) -> None:
        self.vocab, self.source, self.bonus = vocab, source, bonus
        # the schema-named keys and values (never less than a copy's)
        self.named_bonus = max(bonus, named_bonus or 0.0)
        self.tools = dict(tools or {}) if named_bonus > 0 else {}  # no named bonus: the schemas are not read
        self.words = Source(source)
        self._shapes: dict[int, Shape] = {}
        self.state = _JsonState(self)
        # where a value may start: each word of the source (after a space, quote or bracket)
        self._starts = [
            i for i, ch in enumerate(source) if not ch.isspace() and (i == 0 or not source[i - 1].isalnum())
        ]
        self._numbers = list(dict.fromkeys(m.group(0) for m in _NUMBER.finditer(source)))

    # the state's guide (the schemas)
    def tool_schema(self, name: str | None) -> Any:
        return self.tools.get(name) if name is not None else None

    def shape(self, schema: Any) -> Shape | None:
        if not isinstance(schema, Mapping) or not isinstance(schema.get("properties"), Mapping):
            return None
        shape = self._shapes.get(id(schema))
        if shape is None:
            shape = self._shapes[id(schema)] = Shape(schema, self.words)
        return shape

    def feed(self, piece: str) -> None:
        self.state.feed(piece)

    def _pieces(self, text: str, out: set[int]) -> None:
        """The tokens that write a beginning of ``text``."""
        by_text = self.vocab.by_text
        for n in range(1, min(self.vocab.longest, len(text)) + 1):
            tokens = by_text.get(text[:n])
            if tokens:
                out.update(tokens)

    def _more_named(self) -> bool:
        """The innermost object still has a named key to write (and the grammar lets it follow)."""
        top = self.state.stack[-1] if self.state.stack else None
        return bool(top and top.is_object and top.shape and top.shape.still_named(top.keys, top.key))

    def candidates(self) -> set[int]:
        """The tokens that go on copying the source (or writing what the schema's named) from here."""
        copy, named = self.collect()
        return copy | named

    def collect(self) -> tuple[set[int], set[int]]:
        """The tokens that copy the source, and the tokens that write a key or allowed value the
        source names (or go on towards one: a comma rather than the object's end)."""
        state = self.state
        copy: set[int] = set()
        named: set[int] = set()
        if state.escape or state.depth < 2:
            return copy, named
        more = self._more_named()
        if state.in_string:
            top = state.stack[-1]
            if state.is_key and top.shape is not None:
                written = "".join(state.value)
                for key in top.shape.named - top.keys:
                    if key.startswith(written) and key != written:
                        self._pieces(key[len(written) :], named)
            elif state.is_value:
                self._string_candidates(copy, named, more)
            return copy, named
        if state.scalar:
            written = "".join(state.scalar)
            for number in self._numbers:
                if number.startswith(written) and number != written:
                    self._pieces(number[len(written) :], copy)
            if more and (written in self._numbers or written in _LITERALS):
                named.update(self.vocab.commas)
        elif state.expect_value:  # a number the conversation holds (the grammar keeps it to numbers' places)
            for number in self._numbers:  # not " 12" (a token where " 1" is not: it would favour one number)
                self._pieces(number, copy)
        elif state.after_value and more:
            named.update(self.vocab.commas)
        return copy, named

    def _string_candidates(self, copy: set[int], named: set[int], more: bool) -> None:
        state = self.state
        source, by_text, longest = self.source, self.vocab.by_text, self.vocab.longest
        written = "".join(state.value)
        top = state.stack[-1]
        said = top.shape.values.get(top.key, []) if top.is_object and top.shape and top.key else []
        for value in said:  # an allowed value the person said
            escaped = json.dumps(value, ensure_ascii=False)[1:-1]
            if escaped == written:
                named.update(self.vocab.open_closers if more else self.vocab.closers)
            elif escaped.startswith(written):
                self._pieces(escaped[len(written) :], named)
        if written:
            ends = []
            at = source.find(written)
            while at != -1:
                ends.append(at + len(written))
                at = source.find(written, at + 1)
        else:
            ends = self._starts
        if written and any(_phrase_ends(source, end) for end in ends):
            # the copy may end here, where the person's phrase ends (going on to a named key, not
            # closing the object before it: the comma after it gets the named bonus)
            copy.update(self.vocab.open_closers if more else self.vocab.closers)
        for end in ends:
            for n in range(1, min(longest, len(source) - end) + 1):
                piece = source[end : end + n]
                if '"' in piece or "\\" in piece or "\n" in piece:
                    break  # would end or escape the JSON string: the model writes those itself
                tokens = by_text.get(piece)
                if tokens:
                    copy.update(tokens)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        copy, named = self.collect()
        if named:
            scores[list(named)] += self.named_bonus
            copy -= named
        if copy:
            scores[list(copy)] += self.bonus
        return scores


__all__ = ["CopyBias", "Vocabulary"]
