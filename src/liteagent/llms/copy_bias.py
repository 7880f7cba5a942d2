"""The embedded model copies the conversation's own words into a call's string arguments.

A small model writing a call under the grammar knows *where* a value goes but often not *what* it
is: it writes ``"location": "Cuba"`` for "the weather in Quintana Roo, Mexico", or ends
``"2020 Addison Street, Berkeley, CA`` before the ", USA" the person wrote. Most argument values
are words the person wrote, so while the model writes a string value inside a call's arguments,
the tokens that would copy the conversation from where the value so far matches it get a bonus
added to their logits (before the grammar and the sampler): starting a value at a word of the
conversation, or going on with the words that follow the part already copied. The model still
decides (a bonus, not a rule): a value it means to write otherwise (a date reformatted, a name
from the tool's description) stays possible, and so does ending the string.

The bonus is a measured step: ``python bench/copy_bias.py --data DIR`` picks it on BFCL cases
outside the project's sample (issue 26).
"""

from __future__ import annotations

from typing import Any

#: a token's text longer than this is never a copy candidate (the vocabulary's longest words)
_LONGEST = 24
#: a copied value may end before these (the end of a phrase of the conversation)
_PHRASE_ENDS = frozenset(",.;:!?'\")\n")


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


class _JsonState:
    """Where the call's JSON is, one character at a time: inside which containers, and whether
    the string being written is a value inside the arguments (depth two or more)."""

    __slots__ = ("escape", "expect_key", "in_string", "is_value", "stack", "value")

    def __init__(self) -> None:
        self.stack: list[str] = []  # the open containers: "{" or "["
        self.in_string = False
        self.escape = False
        self.is_value = False
        self.expect_key = False
        self.value: list[str] = []  # the argument string written so far (as written: JSON escapes kept)

    def feed(self, text: str) -> None:
        for ch in text:
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
                    if not self.is_value and self.stack and self.stack[-1] == "{":
                        self.expect_key = False  # a key was written: its value comes next
                    self.is_value = False
                    self.value.clear()
                    continue
                if self.is_value:
                    self.value.append(ch)
                continue
            if ch == '"':
                if not self.stack:  # a quote outside the call's JSON (prose): not ours
                    continue
                self.in_string = True
                key = self.stack[-1] == "{" and self.expect_key
                self.is_value = not key and len(self.stack) >= 2
            elif ch == "{":
                self.stack.append("{")
                self.expect_key = True
            elif ch == "[":
                if self.stack:
                    self.stack.append("[")
            elif ch in "}]":
                if self.stack:
                    self.stack.pop()
                self.expect_key = False
            elif ch == "," and self.stack:
                self.expect_key = self.stack[-1] == "{"


class CopyBias:
    """A logits processor (``llama.generate(logits_processor=[...])``): ``feed`` it each piece
    of the reply as it is written; it adds ``bonus`` to the tokens that copy ``source``."""

    def __init__(self, vocab: Vocabulary, source: str, bonus: float) -> None:
        self.vocab, self.source, self.bonus = vocab, source, bonus
        self.state = _JsonState()
        # where a value may start: each word of the source (after a space, quote or bracket)
        self._starts = [
            i for i, ch in enumerate(source) if not ch.isspace() and (i == 0 or not source[i - 1].isalnum())
        ]

    def feed(self, piece: str) -> None:
        self.state.feed(piece)

    def candidates(self) -> set[int]:
        """The tokens that go on copying the source from here (empty outside an argument string)."""
        state = self.state
        if not state.in_string or not state.is_value or state.escape:
            return set()
        source, by_text, longest = self.source, self.vocab.by_text, self.vocab.longest
        written = "".join(state.value)
        if written:
            ends = []
            at = source.find(written)
            while at != -1:
                ends.append(at + len(written))
                at = source.find(written, at + 1)
        else:
            ends = self._starts
        out: set[int] = set()
        if written and any(end == len(source) or source[end] in _PHRASE_ENDS for end in ends):
            out.update(self.vocab.closers)  # the copy may end here: where the person's phrase ends
        for end in ends:
            for n in range(1, min(longest, len(source) - end) + 1):
                piece = source[end : end + n]
                if '"' in piece or "\\" in piece or "\n" in piece:
                    break  # would end or escape the JSON string: the model writes those itself
                tokens = by_text.get(piece)
                if tokens:
                    out.update(tokens)
        return out

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        picked = self.candidates()
        if picked:
            scores[list(picked)] += self.bonus
        return scores


__all__ = ["CopyBias", "Vocabulary"]
