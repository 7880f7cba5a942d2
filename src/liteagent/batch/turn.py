"""One model turn whose calls are recorded, not executed: for tools known only by their schemas
(BFCL cases, batch rows with their own ``tools``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..actions.tooldefs import ToolSet
from ..events import TextDelta
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
    #: generation was stopped once the reply was settled as an answer (``calls_only``): ``text``
    #: is its beginning only
    cut: bool = False


async def one_turn(
    llm: LLM,
    protocol: Protocol,
    tools: ToolSet,
    history: list[Message],
    config: GenerationConfig | None = None,
    calls_only: bool = False,
    tool_choice: str = "auto",
    constrain: bool = True,
) -> TurnRecord:
    """The model's reply to ``history`` with ``tools`` offered: its text and calls (names as the
    tool set spells them; unreadable calls in ``malformed``). ``tool_choice`` and ``constrain``
    as the agent's (``Agent.tool_choice``, ``Agent.constrain_calls``).

    ``calls_only`` (scoring calls, as ``eval`` does): where decoding is constrained by a grammar
    under which an answer can hold no call (``protocol.answer_excludes_calls``), generation stops
    at the answer's first visible text, since no call can follow; the record is marked ``cut``."""
    t0 = time.perf_counter()
    request = protocol.render(history, tools, tool_choice)
    if llm.supports_grammar and constrain:
        request.grammar = protocol.grammar(tools, tool_choice)
    parser = protocol.new_parser(tools)
    usage: dict[str, int] = {}
    settles = calls_only and request.grammar is not None and protocol.answer_excludes_calls
    cut = False
    stream = llm.astream(request, config)
    async for chunk in stream:
        if chunk.text:
            events = parser.feed(chunk.text)
            if settles and any(isinstance(e, TextDelta) and e.text.strip() for e in events):
                cut = True
                break
        if chunk.thinking:
            parser.feed_thinking(chunk.thinking)
        for d in chunk.tool_calls or []:
            parser.feed_tool_delta(d.index, d.id, d.name, d.arguments)
        for k, v in (chunk.usage or {}).items():
            usage[k] = usage.get(k, 0) + v
    if cut:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()  # the model stops generating
    parser.finish()
    reply = parser.result()
    calls: list[tuple[str, dict[str, Any]]] = []
    malformed: list[str] = []
    for c in reply.calls:
        if c.error is not None:
            malformed.append(c.error)
            continue
        # scoring takes the name as written (BFCL fails CALC_AREA for calc_area); a recorded
        # batch row gets the tool the agent would have run
        known = tools.resolve_exact(c.name) if calls_only else tools.resolve(c.name)
        calls.append((known.name if known is not None else c.name, c.arguments))
    return TurnRecord(reply.text, calls, malformed, time.perf_counter() - t0, usage, cut)
