"""One model turn whose calls are recorded, not executed: for tools known only by their schemas
(BFCL cases, batch rows with their own ``tools``). The turn is the engine's
(``Agent.arecord_turn``), made as in every run: context fitting, the dialect's grammar, the
cut-off guard; this module turns it into a record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LLMError
from ..events import ErrorEvent, FinalAnswer, TextDelta, TextReset

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolSet
    from ..agent import Agent
    from ..messages import Message


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


async def one_turn(agent: Agent, tools: ToolSet, history: list[Message], calls_only: bool = False) -> TurnRecord:
    """The model's reply to ``history`` with ``tools`` offered: its text and calls (names as the
    tool set spells them; unreadable calls in ``malformed``), with the agent's dialect, tool
    choice and grammar. Raises LLMError when the model server fails.

    ``calls_only`` (scoring calls, as ``eval`` does): names are taken as written (no case folding),
    and where decoding is constrained by a grammar under which an answer can hold no call
    (``protocol.answer_excludes_calls``), generation stops at the answer's first visible text,
    since no call can follow; the record is marked ``cut``."""
    t0 = time.perf_counter()
    protocol = await agent.aresolve_protocol()
    settles = (
        calls_only
        and agent.llm.supports_grammar
        and agent.constrain_calls
        and protocol.answer_excludes_calls
        and agent.grammar(protocol, agent.tool_choice, tools) is not None
    )
    said: list[str] = []
    final: Any = None
    events = agent.arecord_turn(history, tools)
    try:
        async for ev in events:
            kind = type(ev)
            if kind is TextDelta:
                said.append(ev.text)  # type: ignore[union-attr]
                if settles and ev.text.strip():  # type: ignore[union-attr]
                    break  # closing the events ends the model's reply
            elif kind is TextReset:
                said.clear()
            elif kind is FinalAnswer or kind is ErrorEvent:
                final = ev
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    if final is None:  # stopped at the answer's first words
        return TurnRecord("".join(said), [], [], time.perf_counter() - t0, {}, cut=True)
    if isinstance(final, ErrorEvent):
        raise LLMError(final.message)
    result = final.result
    calls: list[tuple[str, dict[str, Any]]] = []
    malformed: list[str] = []
    for c in result.steps[0].tool_calls if result.steps else []:
        if c.error is not None:
            malformed.append(c.error)
            continue
        # scoring takes the name as written (BFCL fails CALC_AREA for calc_area); a recorded
        # batch row gets the tool the agent would have run
        known = tools.resolve_exact(c.name) if calls_only else tools.resolve(c.name)
        calls.append((known.name if known is not None else c.name, c.arguments))
    return TurnRecord(result.answer, calls, malformed, time.perf_counter() - t0, dict(result.usage))
