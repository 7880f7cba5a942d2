"""The ReAct dialect: Thought / Action / Action Input / Observation / Final Answer, for any chat
model. One action per reply: after its input (the first complete JSON value) everything the
model went on to invent (``Observation:``, ``Response:``, even a ``Final Answer``) is dropped,
except that a further ``Action:`` is not dropped silently: it comes back as a call that was not
run, so the model reads that it was not (and may write it again as its next step).
Once ``Final Answer:`` has begun, the rest is answer text, call syntax included. Code fences
around the whole block (copied from the prompt's format block) are ignored.

Why not run the second action too: classic ReAct is one action per step, each followed by the
Observation of that action; a second action written before the first one's Observation was
chosen without it (often on a result the model guessed), and the calls of one reply run
concurrently, so "in order" could not be promised. The first runs; its Observation is its own."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from ..messages import Message, ToolCall
from ..prompts import REACT_TOOLS, SYSTEM_EN
from .base import ParseEvent, Protocol, Request, ScanningParser, fill_template
from .calljson import TOO_DEEP, first_json_value, load_json_value

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView


THOUGHT, ACTION, INPUT, OBS, FINAL = "Thought:", "Action:", "Action Input:", "Observation:", "Final Answer:"
_MARKERS = (THOUGHT, ACTION, INPUT, OBS, FINAL)
_MARKER_START = re.compile("[TAOF]")  # the first letters of the markers
_FENCE_LINE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$\n?", re.M)
_FENCE_ONLY = re.compile(r"[ \t]*```[\w+-]*[ \t]*")
#: what the model is told of an action after the reply's first (the engine prefixes "could not
#: be read" to every call error: this says what really happened)
NOT_RUN = (
    "it was not run. ReAct takes one Action per reply and only the first one ({first}) ran: "
    "read its Observation, then write this Action again as your next step if you still need it"
)


class ReActProtocol(Protocol):
    name = "react"
    call_format_hint = 'Action: Tool.api\nAction Input: {"key": "value"}'
    default_system_prompt = SYSTEM_EN
    default_plugin_prompt = REACT_TOOLS

    def tools_prompt(self, toolset: ToolsView, plugin_prompt: str | None = None) -> str:
        template = self.plugin_prompt if plugin_prompt is None else plugin_prompt
        lines = []
        for desc in toolset.api_descriptions():
            api = toolset.resolve(desc["name"])
            params = json.dumps(dict(api.parameters) if api else {}, ensure_ascii=False)
            lines.append(f"{desc['name']}: {desc['description']} Arguments (JSON Schema): {params}")
        listing = "\n".join(lines)
        text = fill_template(template, listing)
        return text.replace("{tool_names}", ", ".join(toolset.names()))

    def render(self, messages: list[Message], toolset: ToolsView | None, tool_choice: str = "auto") -> Request:
        out = self.system_messages(toolset, tool_choice)
        for m in messages:
            if m.role == "assistant":
                out.append({"role": "assistant", "content": render_assistant(m)})
            elif m.role == "tool":
                out.append({"role": "user", "content": f"{OBS} {m.content}"})
            else:
                out.append({"role": m.role, "content": m.content})
        return Request(messages=out, stop=[OBS])

    def new_parser(self, toolset: ToolsView | None = None) -> ReActParser:
        return ReActParser()


def render_assistant(m: Message) -> str:
    parts = []
    if m.thinking:
        parts.append(f"{THOUGHT} {m.thinking}")
    for call in m.tool_calls:
        if call.error is not None:
            parts.append(call.raw)
        else:
            parts.append(f"{ACTION} {call.name}\n{INPUT} {json.dumps(call.arguments, ensure_ascii=False)}")
    if not m.tool_calls and m.content:
        parts.append(f"{FINAL} {m.content}")
    return "\n".join(parts)


class ReActParser(ScanningParser):
    """Plain text before any marker is held: it is the answer only if no marker ever comes."""

    text_state = "final"

    def __init__(self) -> None:
        super().__init__("pre")  # pre | thought | action | input | final | skip (after the action) | done
        self._pre: list[str] = []
        self._action = ""
        self._field: list[str] = []
        self._tline = ""  # the thought's current, incomplete line (fence lines are dropped whole)
        self._first = ""  # the name of the reply's action, once it is complete (the one that runs)

    def _plain(self, chunk: str) -> bool:
        return not _MARKER_START.search(chunk)

    def _flush(self, out: list[ParseEvent]) -> None:
        self._consume(self.take_all(), out)
        self._end_section(out)
        if self._state == "pre":  # no marker at all: the whole reply is the answer
            self._emit_text("".join(self._pre), out)

    def _run(self, out: list[ParseEvent], final: bool) -> None:
        while self._state != "done":
            if self._state == "final":  # the answer: markers after it are its text
                self._emit_text(self.take_all(), out)
                return
            text, marker = self.scan(_MARKERS, hold=True)
            self._consume(text, out)
            if marker is None:
                return
            called = self._end_section(out, marker)
            if self._first or called:  # the action is complete: what follows is invented, but
                # a further Action is reported as not run (never dropped silently)
                self._state = "action" if marker == ACTION else "input" if marker == INPUT and self._action else "skip"
                continue
            if marker == OBS:  # an Observation with no action before it: the reply is over
                self._state = "done"
                self.take_all()
                return
            if self._state == "pre" and self._pre:
                thought = _FENCE_LINE.sub("", "".join(self._pre))
                if thought.strip():
                    self._emit_thinking(thought, out)
                self._pre.clear()
            self._state = {THOUGHT: "thought", ACTION: "action", INPUT: "input", FINAL: "final"}[marker]

    def _consume(self, text: str, out: list[ParseEvent]) -> None:
        if not text:
            return
        if self._state == "pre":
            self._pre.append(text)
        elif self._state == "thought":
            *lines, self._tline = (self._tline + text).split("\n")
            kept = "".join(line + "\n" for line in lines if not _FENCE_ONLY.fullmatch(line))
            if kept:
                self._emit_thinking(kept, out)
        elif self._state == "final":
            self._emit_text(text, out)
        elif self._state in ("action", "input"):
            self._field.append(text)

    def _end_section(self, out: list[ParseEvent], next_marker: str | None = None) -> bool:
        """Close the open section; True when it completed the reply's action."""
        if self._state == "thought":
            rest, self._tline = self._tline, ""
            if rest and not _FENCE_ONLY.fullmatch(rest):
                self._emit_thinking(rest, out)
            return False
        if self._state == "skip":
            return False
        if self._state == "action":
            lines = _FENCE_LINE.sub("", "".join(self._field)).strip().splitlines()
            name = lines[0].strip().strip("`") if lines else ""
            self._field.clear()
            if next_marker == INPUT:
                self._action = name
                return False
            if name:  # an Action with no Action Input: no arguments
                self._call(ToolCall(name, {}, raw=f"{ACTION} {name}"), out)
            else:
                self._call(ToolCall("", {}, raw=ACTION, error="Action names no tool"), out)
            return True
        if self._state == "input":
            body = "".join(self._field).strip()
            self._field.clear()
            name, self._action = self._action, ""
            raw = f"{ACTION} {name}\n{INPUT} {body}"
            if not name:
                self._call(ToolCall("", {}, raw=raw, error="Action Input without an Action naming the tool"), out)
                return True
            if not _FENCE_LINE.sub("", body).strip():  # "Action Input:" alone: no arguments
                self._call(ToolCall(name, {}, raw=raw), out)
                return True
            first = first_json_value(body)  # what the model wrote after it is not the tool's
            if first is not None:
                value, err = first[0], None
            else:
                value, err = load_json_value(body)
            if err is None and not isinstance(value, dict):
                err = f"got {type(value).__name__}"
            if err is not None:
                why = err if err is TOO_DEEP else f"Action Input is not a JSON object ({err})"
                self._call(ToolCall(name, {}, raw=raw, error=why), out)
            else:
                self._call(ToolCall(name, value, raw=raw), out)
            return True
        return False

    def _call(self, call: ToolCall, out: list[ParseEvent]) -> None:
        """The reply's first action runs; one after it comes back as not run (with an error)."""
        if not self._first:
            self._first = call.name or "?"
            self._emit_call(call, out)
        else:
            self._emit_call(
                ToolCall(call.name, call.arguments, raw=call.raw, error=NOT_RUN.format(first=self._first)), out
            )
