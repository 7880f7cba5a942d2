"""The OpenAI-native dialect: ``tools`` in the request, ``tool_calls`` in the response, ``tool``
messages with ``tool_call_id``. Names travel in their wire spelling (``Tool__api``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..messages import Message, ToolCall
from ..prompts import SYSTEM_EN
from .base import ParseEvent, Protocol, Request, StreamParser
from .calljson import TOO_DEEP, load_json_value

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView


class OpenAIProtocol(Protocol):
    name = "openai"
    default_system_prompt = SYSTEM_EN
    default_plugin_prompt = ""

    def tools_prompt(self, toolset: ToolsView, plugin_prompt: str | None = None) -> str:
        # Tools travel in the request's "tools" field; show that JSON.
        return json.dumps(toolset.openai_tools(), ensure_ascii=False, indent=2)

    def render(self, messages: list[Message], toolset: ToolsView | None, tool_choice: str = "auto") -> Request:
        out: list[dict[str, Any]] = []
        system = self.system_prompt
        if self.plugin_prompt and toolset is not None and len(toolset):
            system = f"{system}\n\n{self.plugin_prompt}" if system else self.plugin_prompt
        if system:
            out.append({"role": "system", "content": system})
        wire = {n: toolset.resolve(n).wire for n in toolset.names()} if toolset else {}  # type: ignore[union-attr]
        for m in messages:
            if m.role == "assistant":
                msg: dict[str, Any] = {"role": "assistant", "content": m.content or None}
                if m.tool_calls:
                    msg["tool_calls"] = [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {
                                "name": wire.get(c.name, c.name) or "unknown",
                                "arguments": c.raw
                                if c.error is not None
                                else json.dumps(c.arguments, ensure_ascii=False),
                            },
                        }
                        for c in m.tool_calls
                    ]
                out.append(msg)
            elif m.role == "tool":
                out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
            elif m.role == "user" and m.name == "file":
                out.append({"role": "user", "content": f"[uploaded file] {m.content}"})
            else:
                out.append({"role": m.role, "content": m.content})
        tools = toolset.openai_tools() if toolset is not None and len(toolset) else None
        return Request(messages=out, tools=tools, tool_choice=tool_choice if tools else None)

    def new_parser(self, toolset: ToolsView | None = None) -> OpenAIParser:
        return OpenAIParser()


class OpenAIParser(StreamParser):
    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[int, dict[str, Any]] = {}

    def feed(self, chunk: str) -> list[ParseEvent]:
        out: list[ParseEvent] = []
        self._emit_text(chunk, out)
        return out

    def feed_tool_delta(self, index: int, id: str | None, name: str | None, arguments: str | None) -> None:
        slot = self._pending.setdefault(index, {"id": "", "name": [], "args": []})
        if id:
            slot["id"] = id
        if name:
            slot["name"].append(name)  # pieces joined once: a name sent in many deltas stays linear
        if arguments:
            slot["args"].append(arguments)

    def finish(self) -> list[ParseEvent]:
        out: list[ParseEvent] = []
        if self._finished:
            return out
        for index in sorted(self._pending):
            slot = self._pending[index]
            args_text = "".join(slot["args"])
            name = "".join(slot["name"])
            if not name:
                self._emit_call(
                    ToolCall("", {}, id=slot["id"], raw=args_text, error="the tool call has no function name"), out
                )
                continue
            if not args_text.strip():
                self._emit_call(ToolCall(name, {}, id=slot["id"], raw=args_text), out)
                continue
            value, err = load_json_value(args_text)
            if err is None and not isinstance(value, dict):
                err = f"got {type(value).__name__}"
            if err is not None:
                why = err if err is TOO_DEEP else f"arguments are not a JSON object ({err})"
                self._emit_call(ToolCall(name, {}, id=slot["id"], raw=args_text, error=why), out)
            else:
                self._emit_call(ToolCall(name, value, id=slot["id"], raw=args_text), out)
        if self._calls:  # native calls have no end marker: the last may be cut by a token limit
            self._open_from = len(self._calls) - 1
        self._finished = True
        return out
