"""What one row becomes: a whole agent run, or (a row with its own ``tools``) one model turn whose
calls are recorded, not executed. Shared by the local and the Ray backends.

A dataset is untrusted input: whoever wrote it chooses no code. A row's ``plugins`` may only
narrow the plugins the operator enabled (by their names); no spec from data is ever loaded."""

from __future__ import annotations

import copy
from typing import Any

from ..actions.executor import ActionExecutor
from ..agent import Agent
from ..messages import Message
from ..sessions import InMemorySession
from .runner import Row, RowFn, history_of


def narrowed(agent: Agent, names: Any) -> Agent:
    """``agent`` with only the enabled plugins that ``names`` (a row's ``plugins``) lists.

    Raises ValueError for anything that is not the name of an enabled plugin: a file path, a
    module path or an unknown name is refused, never imported."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError('"plugins" must be a list of names of the plugins enabled for this batch')
    enabled = {p.name: p for p in agent.executor.plugins}
    folded = {n.lower(): p for n, p in enabled.items()}
    chosen = []
    for name in names:
        plugin = enabled.get(name.strip()) or folded.get(name.strip().lower())
        if plugin is None:
            shown = ", ".join(enabled) or "none"
            raise ValueError(
                f'"plugins": {name[:80]!r} is not an enabled plugin (enabled: {shown}); a row may only '
                "name plugins the batch was started with, never load code"
            )
        if plugin not in chosen:
            chosen.append(plugin)
    clone = copy.copy(agent)
    clone.executor = ActionExecutor(chosen, timeout=agent.executor.timeout,
                                    max_result_chars=agent.executor.max_result_chars)  # fmt: skip
    return clone


def row_processor(agent: Agent) -> RowFn:
    """``process(row)`` for ``agent``; rows naming ``plugins`` get a copy of it with only those
    of its plugins (made once per set)."""
    from ..evals.tools import toolset_from_schemas
    from .turn import one_turn

    agents: dict[tuple[str, ...], Agent] = {}

    async def process(row: Row) -> dict[str, Any]:
        history, question = history_of(row)
        tools = row.get("tools")
        if tools:
            if not isinstance(tools, list):
                raise ValueError('"tools" must be a list of JSON Schema function descriptions')
            rec = await one_turn(agent, toolset_from_schemas(tools), [*history, Message("user", question)])
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
        names = row.get("plugins")
        if names is not None:
            key = tuple(map(str, names)) if isinstance(names, list) else (repr(names),)
            if key not in agents:
                agents[key] = narrowed(agent, names)
            runner = agents[key]
        result = await runner.arun(question, InMemorySession(items=history))
        out = result.to_dict()
        out.pop("messages", None)
        return out

    return process
