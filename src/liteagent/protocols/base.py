"""What a dialect is: how messages and tools become a request, and how model text becomes
answer text and calls, incrementally."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..events import TextDelta, TextReset, ThinkingDelta, ToolCallEvent
from ..messages import Message, ToolCall
from ..request import Request

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView


# -- parser events: the agent passes them on as its own events -----------------------------
ParseEvent = TextDelta | ThinkingDelta | TextReset | ToolCallEvent


@dataclass(slots=True)
class ParsedReply:
    """One model reply, read: answer text, calls (malformed ones carry ``error``), thinking."""

    text: str
    calls: list[ToolCall]
    thinking: str = ""
    #: the last call was closed only by the end of the reply (no end marker): if the reply was
    #: cut off at the token limit, that call is incomplete
    open_call: bool = False

    @property
    def valid_calls(self) -> list[ToolCall]:
        return [c for c in self.calls if c.error is None]

    @property
    def malformed(self) -> list[ToolCall]:
        return [c for c in self.calls if c.error is not None]


class StreamParser(ABC):
    """Reads one reply chunk by chunk. Cost is linear in the reply's length."""

    #: set where only the reply is wanted (``Agent.run``): the helpers below then make no events
    #: (``feed``/``finish`` return empty lists), the reply read is the same
    quiet = False

    def __init__(self) -> None:
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._calls: list[ToolCall] = []
        self._finished = False
        self._open_from = -1  # index of the first call closed only by the end of the reply

    @abstractmethod
    def feed(self, chunk: str) -> list[ParseEvent]: ...

    @abstractmethod
    def finish(self) -> list[ParseEvent]: ...

    def feed_tool_delta(self, index: int, id: str | None, name: str | None, arguments: str | None) -> None:
        """Native tool-call fragments (openai dialect); text dialects ignore them."""

    def feed_thinking(self, text: str) -> list[ParseEvent]:
        """Reasoning text a server sends apart from the content (``reasoning_content``)."""
        self._thinking.append(text)
        return [] if self.quiet else [ThinkingDelta(text)]

    # helpers for subclasses
    def _emit_text(self, text: str, out: list[ParseEvent]) -> None:
        if text:
            self._text.append(text)
            if not self.quiet:
                out.append(TextDelta(text))

    def _emit_thinking(self, text: str, out: list[ParseEvent]) -> None:
        if text:
            self._thinking.append(text)
            if not self.quiet:
                out.append(ThinkingDelta(text))

    def _emit_call(self, call: ToolCall, out: list[ParseEvent]) -> None:
        call.id = call.id or f"call_{len(self._calls)}"
        self._calls.append(call)
        if not self.quiet:
            out.append(ToolCallEvent(call))

    def result(self) -> ParsedReply:
        text, thinking = self._text, self._thinking
        return ParsedReply(
            (text[0] if len(text) == 1 else "".join(text)).strip(),
            list(self._calls),
            ("".join(thinking).strip() if thinking else ""),
            0 <= self._open_from < len(self._calls),
        )

    def parse(self, text: str) -> ParsedReply:
        """Whole-text parsing: the same as feeding it in any chunks."""
        self.feed(text)
        self.finish()
        return self.result()


class _Plan(NamedTuple):
    pivot: str | None  # the first character all markers share, if they do ("<")
    ordered: tuple[str, ...]  # longest first: the longest wins where several start together
    first: re.Pattern[str]  # the earliest marker (alternatives longest first)
    tail: re.Pattern[str]  # the longest proper marker prefix at the end of a text
    longest: int


_PLANS: dict[tuple[str, ...], _Plan] = {}
_BY_ID: dict[int, tuple[tuple[str, ...], _Plan]] = {}


def _plan(markers: tuple[str, ...]) -> _Plan:
    plan = _PLANS.get(markers)
    if plan is None:
        ordered = tuple(sorted(markers, key=len, reverse=True))
        firsts = {m[0] for m in markers}
        prefixes = {m[:k] for m in markers for k in range(1, len(m))}
        alternation = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
        plan = _PLANS[markers] = _Plan(
            firsts.pop() if len(firsts) == 1 else None,
            ordered,
            re.compile("|".join(re.escape(m) for m in ordered)),
            re.compile(f"(?:{alternation})\\Z"),
            len(ordered[0]),
        )
    return plan


def _held_from(buf: str, plan: _Plan) -> int:
    """Where the possible start of a marker begins at the end of ``buf`` (len(buf): nowhere)."""
    start = max(0, len(buf) - plan.longest + 1)
    if plan.pivot is not None:
        j = buf.find(plan.pivot, start)
        while j >= 0:
            tail = buf[j:]
            if any(m.startswith(tail) for m in plan.ordered):
                return j
            j = buf.find(plan.pivot, j + 1)
        return len(buf)
    hit = plan.tail.search(buf, start)
    return hit.start() if hit else len(buf)


class MarkerScanner:
    """Finds the earliest of some markers in a stream, holding back only a possible marker prefix.

    ``scan(markers)`` returns (text before the marker, marker) or (releasable text, None). With
    ``hold=False`` (inside a call body) unreleased text is kept until a marker or ``take_all``.
    The window searched stays small: total cost is linear in the stream's length.
    """

    def __init__(self) -> None:
        self.buf = ""
        self._kept: list[str] = []  # body text already known to hold no marker

    def push(self, chunk: str) -> None:
        self.buf += chunk

    def scan(self, markers: tuple[str, ...], hold: bool = True) -> tuple[str, str | None]:
        buf = self.buf
        if not buf:
            return "", None
        known = _BY_ID.get(id(markers))  # by identity: hashing the tuple costs more than the search
        if known is not None and known[0] is markers:
            plan = known[1]
        else:
            if len(_BY_ID) > 256:
                _BY_ID.clear()
            plan = _plan(markers)
            _BY_ID[id(markers)] = (markers, plan)  # the tuple is kept: its id is not reused
        hit = plan.first.search(buf)
        if hit is not None:
            at, found = hit.start(), hit.group()
            before = buf[:at]
            if self._kept:
                before = "".join(self._kept) + before
                self._kept = []
            self.buf = buf[at + len(found) :]
            return before, found
        cut = _held_from(buf, plan)
        released = buf[:cut]
        self.buf = buf[cut:]
        if hold:
            return released, None
        if released:
            self._kept.append(released)
        return "", None

    def take_all(self) -> str:
        rest = "".join(self._kept) + self.buf
        self._kept, self.buf = [], ""
        return rest


_IN_STRING = re.compile(r'["\\]')
#: per marker set: the markers longest first, the first of them (longest first where several
#: start together), and a quote or a marker's start
_BODY_PLANS: dict[tuple[str, ...], tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str]]] = {}


def _body_plan(markers: tuple[str, ...]) -> tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str]]:
    plan = _BODY_PLANS.get(markers)
    if plan is None:
        ordered = tuple(sorted(markers, key=len, reverse=True))
        firsts = "".join(sorted({m[0] for m in markers} - {'"', "\\"}))
        plan = _BODY_PLANS[markers] = (
            ordered,
            re.compile("|".join(re.escape(m) for m in ordered)),
            re.compile(f'["{re.escape(firsts)}]'),
        )
    return plan


class JsonBodyScanner:
    """Finds the end marker of a call whose body is JSON, skipping markers inside JSON strings:
    a model may write ``"</tool_call>"`` as an argument (the grammar allows it), and that text
    does not end the call. Incremental and linear: each character is looked at once (a possible
    marker prefix or an escape at the end of what came so far, at most twice).

    A body whose string never closes reaches the end of the reply: ``split`` then cuts it at its
    first marker, as a reader that ignores strings would (a malformed call stays one call)."""

    def __init__(self, markers: tuple[str, ...]) -> None:
        self.markers, self._first, self._outside = _body_plan(markers)
        self._parts: list[str] = []
        self.in_string = False

    def scan(self, scanner: MarkerScanner) -> tuple[str, str | None]:
        """(the body, its end marker) once one comes outside a string, else ("", None) with
        the text so far kept here (the scanner holds only a possible marker's start)."""
        buf = scanner.buf
        if not self._parts and not self.in_string:
            # the common call, whole in the buffer: its first marker, outside any string when
            # no backslash comes before it and its quotes pair up (one search, no loop here:
            # 9.3 µs for a small Hermes call through the loop below, 7.0 with this)
            hit = self._first.search(buf)
            if hit is not None:
                j = hit.start()
                body = buf[:j]
                if "\\" not in body and not body.count('"') & 1:
                    found = hit.group()
                    scanner.buf = buf[j + len(found) :]
                    return body, found
        i, n = 0, len(buf)
        while i < n:
            if self.in_string:
                m = _IN_STRING.search(buf, i)
                if m is None:
                    i = n
                elif m.group() == "\\":
                    if m.end() >= n:  # the escaped character has not come yet
                        i = m.start()
                        break
                    i = m.end() + 1
                else:
                    self.in_string, i = False, m.end()
                continue
            m = self._outside.search(buf, i)
            if m is None:
                i = n
                break
            j = m.start()
            if buf[j] == '"':
                self.in_string, i = True, j + 1
                continue
            for marker in self.markers:
                if buf.startswith(marker, j):
                    body = "".join(self._parts) + buf[:j]
                    self._parts.clear()
                    scanner.buf = buf[j + len(marker) :]
                    return body, marker
            tail = buf[j:]
            if any(len(tail) < len(mk) and mk.startswith(tail) for mk in self.markers):
                i = j  # maybe a marker's start: wait for more
                break
            i = j + 1
        if i:
            self._parts.append(buf[:i])
            scanner.buf = buf[i:]
        return "", None

    def take_all(self, scanner: MarkerScanner) -> str:
        body = "".join(self._parts) + scanner.take_all()
        self._parts.clear()
        return body

    def reset(self) -> None:
        self._parts.clear()
        self.in_string = False

    def split(self, body: str) -> tuple[str, str | None, str]:
        """An unterminated body cut at its first marker: (body, marker, the rest)."""
        at = min(((body.find(m), -len(m), m) for m in self.markers if m in body), default=None)
        if at is None:
            return body, None, ""
        return body[: at[0]], at[2], body[at[0] + len(at[2]) :]


class ScanningParser(StreamParser, MarkerScanner):
    """A parser driven by a :class:`MarkerScanner` and a small state machine. It is its own
    scanner (``self.scan``, ``self.buf``): one object per model turn, not two.

    Subclasses implement ``_run`` (advance through what the scanner holds) and ``_flush`` (close
    whatever is open at the end). Text in ``text_state`` that ``_plain`` says cannot start a
    marker skips the scanner: the common case of answer text costs one check per chunk.
    """

    text_state = "text"
    #: the one character every marker starts with, where there is one: text without it is plain
    marker_char: str | None = None

    def __init__(self, state: str) -> None:
        # StreamParser's fields, set here: a parser is made per model turn, and calls cost
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._calls: list[ToolCall] = []
        self._finished = False
        self._open_from = -1
        self._closed_upto = 0  # calls that _flush closed at an end marker (not by the reply's end)
        self.buf, self._kept = "", []  # MarkerScanner's
        self._state = state
        # read on every chunk: as instance attributes (through an instance a class attribute
        # costs about four times as much to read)
        self.quiet = False
        self._text_state, self._marker_char = self.text_state, self.marker_char

    def _plain(self, chunk: str) -> bool:
        """Can this text (in ``text_state``, nothing held) hold no marker? (``marker_char``)"""
        return self.marker_char is not None and self.marker_char not in chunk

    @abstractmethod
    def _run(self, out: list[ParseEvent], final: bool) -> None: ...

    @abstractmethod
    def _flush(self, out: list[ParseEvent]) -> None: ...

    def _whole(self, chunk: str) -> list[ParseEvent] | None:
        """A chunk read whole, in ``text_state`` with nothing held, where it is one the dialect
        knows at a glance (one whole call, as a reply that is not streamed brings it): its events,
        the parser left as the scanner would leave it. None: the scanner reads it."""
        return None

    def feed(self, chunk: str) -> list[ParseEvent]:
        if self._state == self._text_state and not self.buf:
            mc = self._marker_char
            if (mc not in chunk) if mc is not None else self._plain(chunk):
                self._text.append(chunk)
                return [] if self.quiet else [TextDelta(chunk)]
            whole = self._whole(chunk)
            if whole is not None:
                return whole
        out: list[ParseEvent] = []
        if self._state != "done" and chunk:
            self.buf += chunk
            self._run(out, False)
        return out

    def finish(self) -> list[ParseEvent]:
        out: list[ParseEvent] = []
        if self._finished:
            return out
        if self.buf:
            self._run(out, True)
        n = len(self._calls)
        self._flush(out)
        if self._closed_upto > n:
            n = self._closed_upto
        if len(self._calls) > n:  # the reply ended inside a call: no end marker closed it
            self._open_from = n
        self._finished, self._state = True, "done"
        return out


_RENDER_CACHE: dict[Any, Any] = {}


def render_cache(key: Any, make: Any) -> Any:
    """A small process-wide cache for rendered prompt pieces (bounded; cleared when full)."""
    value = _RENDER_CACHE.get(key)
    if value is None:
        if len(_RENDER_CACHE) > 256:
            _RENDER_CACHE.clear()
        value = _RENDER_CACHE[key] = make()
    return value


def fill_template(template: str, listing: str) -> str:
    """Put the tool listing where ``{prompt}`` stands (after the text when it does not)."""
    return template.replace("{prompt}", listing) if "{prompt}" in template else f"{template}\n{listing}"


class Protocol(ABC):
    """A model family's dialect."""

    name: str = ""
    default_system_prompt: str = ""
    default_plugin_prompt: str = ""
    #: how a call must look, told to a model whose call could not be read
    call_format_hint: str = "a tool call whose arguments are a JSON object"
    #: what a reply that calls starts with (its first token's probability decides auto, where read)
    call_opener: str | None = None
    #: what follows the opener up to the tool's name (its name's probability says how well it fits)
    call_name_prefix: str = ""
    #: what ends a call, and what goes between two calls of one reply (where the reply's calls
    #: are decoded one by one: :class:`liteagent.request.CallEnds`)
    call_closer: str | None = None
    call_separator: str = ""
    #: under this dialect's grammar a reply is either calls or an answer, and an answer holds no
    #: call: once its first visible text is out, the reply will make no call
    answer_excludes_calls: bool = False

    def __init__(self, system_prompt: str | None = None, plugin_prompt: str | None = None) -> None:
        self.system_prompt = self.default_system_prompt if system_prompt is None else system_prompt
        self.plugin_prompt = self.default_plugin_prompt if plugin_prompt is None else plugin_prompt

    @abstractmethod
    def render(self, messages: list[Message], toolset: ToolsView | None, tool_choice: str = "auto") -> Request: ...

    @abstractmethod
    def tools_prompt(self, toolset: ToolsView, plugin_prompt: str | None = None) -> str:
        """The text that tells the model its tools (empty where tools travel natively)."""

    @abstractmethod
    def new_parser(self, toolset: ToolsView | None = None) -> StreamParser: ...

    def grammar(self, toolset: ToolsView | None, tool_choice: str) -> str | None:
        """A GBNF grammar that constrains decoding to this dialect's answers and well-formed calls
        (``tool_choice`` auto, required, none, or ``answer``: tools shown, calls barred), for
        backends that support one; None where the dialect is not constrained."""
        return None

    def parse(self, text: str, toolset: ToolsView | None = None) -> ParsedReply:
        return self.new_parser(toolset).parse(text)

    def system_messages(self, toolset: ToolsView | None, tool_choice: str) -> list[dict[str, Any]]:
        """The chat dialects' system turn: the system prompt, then the tools prompt."""
        system = self.system_prompt
        if toolset is not None and len(toolset) and tool_choice != "none" and self.plugin_prompt:
            tools = self.cached_tools_prompt(toolset)
            system = f"{system}\n\n{tools}" if system else tools
        return [{"role": "system", "content": system}] if system else []

    def cached_tools_prompt(self, toolset: ToolsView) -> str:
        """``tools_prompt`` rendered once per (dialect, prompt, toolset state) in this process:
        a byte-stable prompt prefix, and no JSON encoding on the hot path."""
        key = (type(self), toolset.key, self.plugin_prompt)
        return render_cache(key, lambda: self.tools_prompt(toolset))
