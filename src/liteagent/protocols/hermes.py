"""The Hermes dialect (Qwen2.5, Qwen3, Hermes, SmolLM2): tools as JSON Schema inside
``<tools></tools>`` in the system turn, calls as ``<tool_call>{json}</tool_call>`` blocks, results
as ``<tool_response>`` in a user turn. ``<think>`` blocks are kept apart from the answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..jsontext import call_object
from ..messages import Message, ToolCall
from ..prompts import HERMES_TOOLS, SYSTEM_EN
from .base import JsonBodyScanner, ParseEvent, Protocol, Request, ScanningParser, TextReset, fill_template
from .calljson import TOO_DEEP, call_from_value, known_tools, load_json_value, parse_calls

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView


CALL_OPEN, CALL_CLOSE, THINK_OPEN, THINK_CLOSE = "<tool_call>", "</tool_call>", "<think>", "</think>"
_TEXT_MARKERS = (CALL_OPEN, CALL_CLOSE, THINK_OPEN, THINK_CLOSE, "<|im_end|>")
_BODY_MARKERS = (CALL_CLOSE, CALL_OPEN, "<|im_end|>")
_NAMED = re.compile(r'\{\s*"name"\s*:\s*"([^"\\]{1,200})"')  # a bare call's start: {"name": "Tool.api"


def tool_schemas(toolset: ToolsView) -> list[dict[str, Any]]:
    """OpenAI-style function descriptions named as the model should call them (``Tool.api``)."""
    out = []
    for api_tool, name in zip(toolset.openai_tools(), toolset.names(), strict=False):
        fn = dict(api_tool["function"], name=name)
        out.append({"type": "function", "function": fn})
    return out


class HermesProtocol(Protocol):
    name = "hermes"
    call_format_hint = '<tool_call>\n{"name": "Tool.api", "arguments": {...}}\n</tool_call>'
    call_opener = "<tool_call>"
    call_name_prefix = '\n{"name": "'
    call_closer = CALL_CLOSE
    call_separator = "\n"  # grammar.py: calls ::= call ( "\n" call ){0,7}

    def grammar(self, toolset: ToolsView | None, tool_choice: str) -> str | None:
        from .grammar import hermes_grammar_for

        return hermes_grammar_for(toolset, tool_choice)

    answer_excludes_calls = True  # grammar.py: root ::= call | answer; an answer never opens <tool_call>
    default_system_prompt = SYSTEM_EN
    default_plugin_prompt = HERMES_TOOLS

    def tools_prompt(self, toolset: ToolsView, plugin_prompt: str | None = None) -> str:
        template = self.plugin_prompt if plugin_prompt is None else plugin_prompt
        listing = "\n".join(json.dumps(t, ensure_ascii=False) for t in tool_schemas(toolset))
        return fill_template(template, listing)

    def render(self, messages: list[Message], toolset: ToolsView | None, tool_choice: str = "auto") -> Request:
        out = self.system_messages(toolset, tool_choice)
        for m in messages:
            if m.role == "assistant":
                body = m.content
                for call in m.tool_calls:
                    body += ("\n" if body else "") + render_call(call)
                out.append({"role": "assistant", "content": body})
            elif m.role == "tool":
                block = f"<tool_response>\n{m.content}\n</tool_response>"
                if out and out[-1]["role"] == "user" and out[-1]["content"].startswith("<tool_response>"):
                    out[-1]["content"] += "\n" + block
                else:
                    out.append({"role": "user", "content": block})
            elif m.role == "user" and m.name == "file":
                out.append({"role": "user", "content": f"[uploaded file] {m.content}"})
            else:
                out.append({"role": m.role, "content": m.content})
        return Request(messages=out)

    def new_parser(self, toolset: ToolsView | None = None) -> HermesParser:
        return HermesParser(known_tools(toolset))


def render_call(call: ToolCall) -> str:
    if call.error is not None:
        return call.raw
    payload = call_object(call.name, "arguments", call.arguments)
    return f"{CALL_OPEN}\n{payload}\n{CALL_CLOSE}"


class HermesParser(ScanningParser):
    """Calls in ``<tool_call>`` tags; and, as Qwen2.5 at times writes them, a whole reply that is
    one ``{"name": ..., "arguments": ...}`` object naming an offered tool. A reply that starts
    with ``{`` is held (never flashed as text) until it is known which it is."""

    def __init__(self, known: Callable[[str], bool] | None = None) -> None:
        super().__init__("text")  # text | think | call | done
        self._known = known
        #: the reply so far, while undecided (pieces: joined once, however many chunks come)
        self._lead: list[str] | None = [] if known is not None else None
        self._brace = False  # the reply's first visible character was "{"
        #: a call body ends at a marker outside its JSON strings (made at the first call)
        self._body: JsonBodyScanner | None = None
        self._strings_seen = True  # False once an unterminated string was cut at a marker

    def feed(self, chunk: str) -> list[ParseEvent]:
        lead = self._lead
        if lead is None:
            return super().feed(chunk)
        lead.append(chunk)
        if self._brace:
            return []  # maybe a bare JSON call: hold
        head = chunk.lstrip()
        if not head:
            return []
        if head[0] == "{":
            self._brace = True
            return []
        self._lead = None
        return super().feed("".join(lead))

    def finish(self) -> list[ParseEvent]:
        if self._lead is None:
            return super().finish()
        held, self._lead = "".join(self._lead), None
        out: list[ParseEvent] = []
        call = self._bare_call(held)
        if call is not None:
            self._emit_call(call, out)
        else:
            out += super().feed(held)
        return out + super().finish()

    def _bare_call(self, text: str) -> ToolCall | None:
        t = text.strip()
        if not (t.startswith("{") and t.endswith("}")) or self._known is None:
            return None
        value, err = load_json_value(t)
        if err is TOO_DEEP:  # a call to an offered tool, by its start, that cannot be read: say so
            m = _NAMED.match(t)
            return ToolCall("", {}, raw=t, error=err) if m and self._known(m.group(1)) else None
        if err is not None or not isinstance(value, dict):
            return None
        got = call_from_value(value)
        if isinstance(got, str) or not self._known(got[0]):
            return None
        return ToolCall(got[0], got[1], raw=t)

    marker_char = "<"

    def _flush(self, out: list[ParseEvent]) -> None:
        if self._state == "call" and self._body is not None and self._strings_seen:
            body = self._body.take_all(self)
            if self._body.in_string:  # a string never closed: cut at its first marker instead
                body, marker, rest = self._body.split(body)
                if marker is not None:
                    self._strings_seen = False  # markers end calls from here on: linear
                    self._close_call(body, out)
                    self._state = "call" if marker == CALL_OPEN else "done" if marker == "<|im_end|>" else "text"
                    self.buf = rest if self._state != "done" else ""
                    if self.buf:
                        self._run(out, True)
                    self._closed_upto = len(self._calls)  # closed at markers, not by the end
                    self._flush(out)
                    return
            self._close_call(body, out)
            return
        rest = self.take_all()
        if self._state == "call":
            self._close_call(rest, out)
        elif self._state == "think":
            self._emit_thinking(rest, out)
        elif self._state == "text":
            self._emit_text(rest, out)

    def _run(self, out: list[ParseEvent], final: bool) -> None:
        while self._state != "done":
            if self._state == "text":
                text, marker = self.scan(_TEXT_MARKERS)
                self._emit_text(text, out)
                if marker is None:
                    return
                if marker == CALL_OPEN:
                    self._state = "call"
                elif marker == THINK_OPEN:
                    self._state = "think"
                elif marker == THINK_CLOSE:
                    # "</think>" with no "<think>": what came before was thinking (the template
                    # opened the block in the prompt). Move it.
                    if self._text:
                        moved = "".join(self._text)
                        self._text.clear()
                        out.append(TextReset())
                        self._emit_thinking(moved, out)
                elif marker == "<|im_end|>":
                    self._state = "done"
                    self.take_all()
            elif self._state == "think":
                text, marker = self.scan((THINK_CLOSE,))
                self._emit_thinking(text, out)
                if marker is None:
                    return
                self._state = "text"
            else:
                if self._strings_seen:
                    if self._body is None:
                        self._body = JsonBodyScanner(_BODY_MARKERS)
                    body, marker = self._body.scan(self)
                else:
                    body, marker = self.scan(_BODY_MARKERS, hold=False)
                if marker is None:
                    return
                if self._body is not None:
                    self._body.reset()
                self._close_call(body, out)
                self._state = "call" if marker == CALL_OPEN else "done" if marker == "<|im_end|>" else "text"

    def _close_call(self, body: str, out: list[ParseEvent]) -> None:
        raw = f"{CALL_OPEN}{body}{CALL_CLOSE}"
        for item in parse_calls(body, self._known):
            if isinstance(item, str):
                self._emit_call(ToolCall("", {}, raw=raw, error=item), out)
            else:
                self._emit_call(ToolCall(item[0], item[1], raw=raw), out)
