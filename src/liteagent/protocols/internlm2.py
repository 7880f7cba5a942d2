"""The InternLM2 / InternLM2.5-chat dialect (what lmdeploy serves and Lagent spoke).

Raw prompt to /v1/completions with special tokens kept; calls are
``<|action_start|><|plugin|>\\n{json}<|action_end|>`` and ``<|action_start|><|interpreter|>\\n code``;
results come back as ``environment`` turns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..jsontext import call_object
from ..messages import Message, ToolCall
from ..prompts import INTERPRETER_CN, META_CN, PLUGIN_CN
from .base import (
    JsonBodyScanner,
    ParseEvent,
    Protocol,
    Request,
    ScanningParser,
    fill_template,
    render_cache,
)
from .calljson import known_tools, parse_calls

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView


START, END, IM_END, IM_START = "<|action_start|>", "<|action_end|>", "<|im_end|>", "<|im_start|>"
PLUGIN, INTERP = "<|plugin|>", "<|interpreter|>"
STOP_WORDS = [IM_END, END]
_ASSISTANT = f"{IM_START}assistant\n"
API_PREFIX = (
    "This is the subfunction for tool '{tool_name}', you can use this tool. "
    "The description of this function is: \n{description}"
)

_TEXT_MARKERS = (START, PLUGIN, INTERP, IM_END, END, IM_START)
_PLUGIN_CALL = START + PLUGIN
_BODY_FROM, _BODY_TO = len(_PLUGIN_CALL), -len(END)  # a whole call's JSON, between its markers
_WHOLE_MIN = _BODY_FROM - _BODY_TO
_BODY_MARKERS = (END, IM_END, START, IM_START)


def interpreter_api(toolset: ToolsView | None) -> str | None:
    """The API that ``<|interpreter|>`` calls run: a plugin marked ``interpreter = True``."""
    return toolset.interpreter if toolset is not None else None


def turn(role: str, content: str, name: str | None = None) -> str:
    head = f"{role} name={name}" if name else role
    return f"{IM_START}{head}\n{content}{IM_END}\n"


class InternLM2Protocol(Protocol):
    name = "internlm2"
    call_format_hint = '<|action_start|><|plugin|>\n{"name": "Tool.api", "parameters": {...}}<|action_end|>'
    default_system_prompt = META_CN
    default_plugin_prompt = PLUGIN_CN
    default_interpreter_prompt = INTERPRETER_CN

    def __init__(
        self,
        system_prompt: str | None = None,
        plugin_prompt: str | None = None,
        interpreter_prompt: str | None = None,
    ) -> None:
        super().__init__(system_prompt, plugin_prompt)
        self.interpreter_prompt = self.default_interpreter_prompt if interpreter_prompt is None else interpreter_prompt
        self._last_prefix: tuple[Any, ...] | None = None
        self._last_parser_args: tuple[Any, ...] | None = None

    def tool_list(self, toolset: ToolsView) -> list[dict]:
        interp = interpreter_api(toolset)
        out = []
        for desc in toolset.api_descriptions():
            if desc["name"] == interp:
                continue
            desc["description"] = API_PREFIX.format(
                tool_name=desc["name"].split(".")[0], description=desc["description"]
            )
            out.append(desc)
        return out

    def tools_prompt(self, toolset: ToolsView, plugin_prompt: str | None = None) -> str:
        template = self.plugin_prompt if plugin_prompt is None else plugin_prompt
        listing = json.dumps(self.tool_list(toolset), ensure_ascii=False, indent=4)
        return fill_template(template, listing)

    def render(self, messages: list[Message], toolset: ToolsView | None, tool_choice: str = "auto") -> Request:
        # the system turns, rendered once per (prompts, tools): byte-stable across turns
        last = self._last_prefix
        if (
            last is not None
            and last[0] is toolset
            and last[1] == tool_choice
            and last[2] is self.system_prompt
            and last[3] is self.plugin_prompt
            and last[4] is self.interpreter_prompt
        ):
            prefix, interp = last[5]  # the same tools and prompts as the last turn: no key to build
        else:
            prefix, interp = self._prefix(toolset, tool_choice)
        render_message = self.render_message
        parts = [prefix]
        for m in messages:
            parts.append(render_message(m, interp))
        parts.append(_ASSISTANT)
        # by position (prompt, messages, tools, tool_choice, stop, extra): keywords cost more
        return Request("".join(parts), None, None, None, list(STOP_WORDS), {"skip_special_tokens": False})

    def _prefix(self, toolset: ToolsView | None, tool_choice: str) -> tuple[str, str | None]:
        """The system turns for these tools and prompts (``render`` keeps the last ones)."""
        use_tools = toolset is not None and tool_choice != "none" and len(toolset) > 0
        value = self._cached_prefix(toolset if use_tools else None)
        self._last_prefix = (
            toolset,
            tool_choice,
            self.system_prompt,
            self.plugin_prompt,
            self.interpreter_prompt,
            value,
        )
        return value

    def _cached_prefix(self, toolset: ToolsView | None) -> tuple[str, str | None]:
        key = (
            "internlm2-prefix",
            toolset.key if toolset else None,
            self.system_prompt,
            self.plugin_prompt,
            self.interpreter_prompt,
        )
        return render_cache(key, lambda: self._render_prefix(toolset))  # type: ignore[no-any-return]

    def _render_prefix(self, toolset: ToolsView | None) -> tuple[str, str | None]:
        parts: list[str] = []
        if self.system_prompt:
            parts.append(turn("system", self.system_prompt))
        interp = interpreter_api(toolset)
        if interp and self.interpreter_prompt:
            parts.append(turn("system", self.interpreter_prompt, INTERP))
        if toolset is not None and self.plugin_prompt and self.tool_list(toolset):
            parts.append(turn("system", self.tools_prompt(toolset), PLUGIN))
        return "".join(parts), interp

    def render_message(self, m: Message, interp: str | None) -> str:
        if m.role == "user" and m.name is None:
            return f"{IM_START}user\n{m.content}{IM_END}\n"
        if m.role == "assistant":
            body = m.content
            for call in m.tool_calls:
                body += render_call(call)
            return turn("assistant", body)
        if m.role == "tool":
            name = INTERP if (interp and m.name == interp) or m.name == "interpreter" else PLUGIN
            return turn("environment", m.content, name)
        if m.role == "user" and m.name == "file":
            return turn("user", m.content, "file")
        return turn(m.role, m.content, m.name if m.role == "system" and m.name else None)

    def new_parser(self, toolset: ToolsView | None = None) -> InternLM2Parser:
        last = self._last_parser_args
        if last is None or last[0] is not toolset:  # worked out once per tool set
            last = self._last_parser_args = (
                toolset,
                interpreter_api(toolset) or "PythonInterpreter",
                known_tools(toolset),
            )
        return InternLM2Parser(last[1], last[2])


def render_call(call: ToolCall) -> str:
    if call.error is not None:
        raw = call.raw
        return raw if raw.rstrip().endswith(END) else f"{raw}{END}\n"
    if call.kind == "interpreter":
        code = call.arguments.get("command", "")
        return f"{START}{INTERP}\n{code}{END}\n"
    payload = call_object(call.name, "parameters", call.arguments)
    return f"{START}{PLUGIN}\n{payload}{END}\n"


_CODE_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(.*?)(?:\n?```\s*)?$", re.S)


class InternLM2Parser(ScanningParser):
    """States: text -> (after <|action_start|>) -> body (plugin | interpreter) -> text ..."""

    def __init__(self, interpreter_name: str = "PythonInterpreter", known: Callable[[str], bool] | None = None) -> None:
        self._known = known
        # ScanningParser's fields, set here (one call less: a parser is made per model turn)
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._calls: list[ToolCall] = []
        self._finished = False
        self._open_from = -1
        self._closed_upto = 0
        self.buf, self._kept = "", []  # MarkerScanner's
        self._state = "text"  # text | start | body | after (a call) | done
        self.quiet = False
        self._text_state, self._marker_char = "text", self.marker_char
        self.interpreter_name = interpreter_name
        self._kind = "plugin"
        self._raw_head = ""
        #: a plugin call's JSON body ends at a marker outside its strings (made at the first call)
        self._body: JsonBodyScanner | None = None
        self._strings_seen = True  # False once an unterminated string was cut at a marker

    marker_char = "<"

    def _whole(self, chunk: str) -> list[ParseEvent] | None:
        """A chunk that is one whole plugin call, ``<|action_start|><|plugin|>{json}<|action_end|>``
        with no ``<`` in the JSON, no backslash and its quotes paired: the scanner would find the
        call's end at the end marker, and read its body as :meth:`_close_call` does here."""
        if (  # (str methods: a regular expression for this costs more)
            len(chunk) >= _WHOLE_MIN
            and chunk.startswith(_PLUGIN_CALL)
            and chunk.endswith(END)
            and "\\" not in chunk
            and not chunk.count('"') & 1
        ):
            body = chunk[_BODY_FROM:_BODY_TO]
            if "<" not in body:
                out: list[ParseEvent] = []
                self._kind, self._raw_head = "plugin", _PLUGIN_CALL
                self._close_call(body, out)
                self._state = "after"  # as after any end marker
                return out
        return None

    def _json_body(self) -> JsonBodyScanner | None:
        if self._kind != "plugin" or not self._strings_seen:
            return None  # interpreter code is not JSON: its quotes say nothing
        if self._body is None:
            self._body = JsonBodyScanner(_BODY_MARKERS)
        return self._body

    def _flush(self, out: list[ParseEvent]) -> None:
        if self._state == "start":  # "<|action_start|>" then nothing readable
            self._state = "body"
        json_body = self._json_body() if self._state == "body" else None
        if json_body is not None:
            body = json_body.take_all(self)
            if json_body.in_string:  # a string never closed: cut at its first marker instead
                body, marker, rest = json_body.split(body)
                if marker is not None:
                    self._strings_seen = False  # markers end calls from here on: linear
                    self._after_body(body, marker, out)
                    self.buf = rest if self._state != "done" else ""
                    if self.buf:
                        self._run(out, True)
                    self._closed_upto = len(self._calls)  # closed at markers, not by the end
                    self._flush(out)
                    return
            self._close_call(body, out)
        elif self._state == "body":
            self._close_call(self.take_all(), out)
        elif self._state in ("text", "after") and (self.buf or self._kept):
            self._emit_text(self.take_all(), out)

    def _run(self, out: list[ParseEvent], final: bool) -> None:
        while True:
            if self._state == "text":
                if not self.buf:
                    return
                text, marker = self.scan(_TEXT_MARKERS)
                if text:
                    self._emit_text(text, out)
                if marker is None:
                    return
                if marker == START:
                    self._state, self._raw_head = "start", START
                elif marker in (PLUGIN, INTERP):  # <|action_start|> missing
                    self._begin_body(marker)
                elif marker in (IM_END, IM_START):
                    self._state = "done"
                    self.take_all()
                    return
                # a stray <|action_end|> is dropped
            elif self._state == "after":
                if not self.buf:
                    return
                if self.buf.startswith("\n"):
                    self.buf = self.buf[1:]
                self._state = "text"
            elif self._state == "start":
                buf = self.buf.lstrip()
                marker = PLUGIN if buf.startswith(PLUGIN) else INTERP if buf.startswith(INTERP) else None
                if marker is not None:
                    self.buf = buf[len(marker) :]
                    self._begin_body(marker)
                elif (buf and not (PLUGIN.startswith(buf) or INTERP.startswith(buf))) or final:
                    self.buf = buf
                    self._kind, self._state = "plugin", "body"  # <|action_start|>{json}: a plugin call
                else:
                    return
            elif self._state == "body":
                json_body = self._json_body()
                if json_body is not None:
                    body, marker = json_body.scan(self)
                else:
                    body, marker = self.scan(_BODY_MARKERS, hold=False)
                if marker is None:
                    return
                if json_body is not None:
                    json_body.reset()
                self._after_body(body, marker, out)
                if self._state == "done":
                    return
            else:
                return

    def _after_body(self, body: str, marker: str, out: list[ParseEvent]) -> None:
        """Close the call that ``marker`` ended, and go where the marker leads."""
        self._close_call(body, out)
        if marker == START:
            self._state, self._raw_head = "start", START
        elif marker in (IM_END, IM_START):
            self._state = "done"
            self.take_all()
        else:
            self._state = "after"  # the newline after <|action_end|> is the template's, in any chunk

    def _begin_body(self, marker: str) -> None:
        self._kind = "plugin" if marker == PLUGIN else "interpreter"
        self._raw_head = (self._raw_head if self._state == "start" else "") + marker
        self._state = "body"

    def _close_call(self, body: str, out: list[ParseEvent]) -> None:
        head = self._raw_head or START
        if head == START:
            head = START + (PLUGIN if self._kind == "plugin" else INTERP)
        raw = f"{head}{body}"
        self._raw_head = ""
        self._state = "text"
        if self._kind == "interpreter":
            m = _CODE_FENCE.match(body)
            code = (m.group(1) if m else body).strip("\n")
            if not code.strip():
                self._emit_call(
                    ToolCall(
                        self.interpreter_name,
                        {},
                        raw=raw,
                        kind="interpreter",
                        error="the interpreter call holds no code",
                    ),
                    out,
                )
            else:
                self._emit_call(ToolCall(self.interpreter_name, {"command": code}, raw=raw, kind="interpreter"), out)
            return
        for item in parse_calls(body, self._known):
            if isinstance(item, str):
                self._emit_call(ToolCall("", {}, raw=raw, error=item), out)
            else:
                self._emit_call(ToolCall(item[0], item[1], "", raw), out)  # (name, arguments, id, raw)
