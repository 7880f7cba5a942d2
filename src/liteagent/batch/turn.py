"""One model turn whose calls are recorded, not executed: for tools known only by their schemas
(BFCL cases, batch rows with their own ``tools``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..actions.tooldefs import ToolSet
from ..llms.base import LLM, GenerationConfig
from ..messages import Message
from ..protocols import Protocol


@dataclass
class TurnRecord:
    text: str
    calls: list[tuple[str, dict[str, Any]]]
    malformed: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)


async def one_turn(
    llm: LLM, protocol: Protocol, tools: ToolSet, history: list[Message], config: GenerationConfig | None = None
) -> TurnRecord:
    """The model's reply to ``history`` with ``tools`` offered: its text and calls (names as the
    tool set spells them; unreadable calls in ``malformed``)."""
    t0 = time.perf_counter()
    request = protocol.render(history, tools, "auto")
    if llm.supports_grammar:
        request.grammar = protocol.grammar(tools, "auto")
    parser = protocol.new_parser(tools)
    usage: dict[str, int] = {}
    async for chunk in llm.astream(request, config):
        if chunk.text:
            parser.feed(chunk.text)
        if chunk.thinking:
            parser.feed_thinking(chunk.thinking)
        for d in chunk.tool_calls or []:
            parser.feed_tool_delta(d.index, d.id, d.name, d.arguments)
        for k, v in (chunk.usage or {}).items():
            usage[k] = usage.get(k, 0) + v
    parser.finish()
    reply = parser.result()
    calls: list[tuple[str, dict[str, Any]]] = []
    malformed: list[str] = []
    for c in reply.calls:
        if c.error is not None:
            malformed.append(c.error)
            continue
        known = tools.resolve(c.name)
        calls.append((known.name if known is not None else c.name, c.arguments))
    return TurnRecord(reply.text, calls, malformed, time.perf_counter() - t0, usage)
