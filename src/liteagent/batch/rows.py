"""What one row becomes: a whole agent run, or (a row with its own ``tools``) one model turn whose
calls are recorded, not executed. Shared by the local and the Ray backends."""

from __future__ import annotations

from typing import Any

from ..agent import Agent
from ..sessions import InMemorySession
from .runner import Row, RowFn, history_of


def row_processor(agent: Agent, build_with_plugins: Any = None) -> RowFn:
    """``process(row)`` for ``agent``; rows naming ``plugins`` get an agent with those (built by
    ``build_with_plugins(specs)``, once per set)."""
    from ..evals.tools import toolset_from_schemas
    from .turn import one_turn

    agents: dict[tuple[str, ...], Agent] = {}

    async def process(row: Row) -> dict[str, Any]:
        history, question = history_of(row)
        tools = row.get("tools")
        if tools:
            if not isinstance(tools, list):
                raise ValueError('"tools" must be a list of JSON Schema function descriptions')
            protocol = await agent._ensure_protocol()
            from ..messages import Message

            rec = await one_turn(
                agent.llm,
                protocol,
                toolset_from_schemas(tools),
                [*history, Message("user", question)],
                agent.config,
                tool_choice=agent.tool_choice,
                constrain=agent.constrain_calls,
            )
            return {
                "answer": rec.text,
                "status": "ok" if not rec.malformed else "malformed_call",
                "steps": [
                    {"tool_calls": [{"name": n, "arguments": a} for n, a in rec.calls], "malformed": rec.malformed}
                ],
                "usage": rec.usage,
                "elapsed": round(rec.elapsed, 6),
                "error": None,
            }
        runner = agent
        specs = row.get("plugins")
        if specs:
            key = tuple(str(s) for s in specs)
            if key not in agents:
                if build_with_plugins is None:
                    raise ValueError('this runner takes no per-row "plugins"')
                agents[key] = build_with_plugins(list(key))
            runner = agents[key]
        result = await runner.arun(question, InMemorySession(items=history))
        out = result.to_dict()
        out.pop("messages", None)
        return out

    return process
