"""The ToolContext host of a tool call made by liteagent's own agent: a question for a model is
answered by the agent's own model (in its dialect, within its reply limit); a question for the
person goes to the agent's ``ask_person`` (the chat's prompt), else to whoever runs the agent
(behind ``liteagent mcp serve --agent``: that server's client), else it is declined; progress
goes to the run's hooks (``RunHooks.tool_progress``: the timeline of ``run -v``) and the log."""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from typing import Any

from .actions.context import HOST, Elicited, LocalHost, LogLevel, ToolHost
from .errors import ToolError
from .llms.base import GenerationConfig
from .messages import Message

#: where the progress of the tools of runs started in this context also goes (``liteagent serve``
#: streams it to its client): ``(call_id, tool, progress, total, message)``, from any thread
PROGRESS: contextvars.ContextVar[Callable[..., None] | None] = contextvars.ContextVar(
    "liteagent_tool_progress", default=None
)


class AgentHost(LocalHost):
    def __init__(self, agent: Any, drive: Any, call_id: str, tool: str, outer: ToolHost | None) -> None:
        super().__init__(tool)
        self.agent, self.drive, self.call_id, self.outer = agent, drive, call_id, outer
        self.sink = PROGRESS.get()  # read now: the call may run on another thread

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self.sink is not None:
            self.sink(self.call_id, self.tool, progress, total, message)
        hooks = self.drive.hooks
        if hooks is not None:
            hooks.call(
                "tool_progress", self.drive.info, self.drive.turn, self.call_id, self.tool, progress, total, message
            )
        if self.outer is not None:
            await self.outer.progress(progress, total, message)
        elif hooks is None and self.sink is None:
            await super().progress(progress, total, message)

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None:
        if self.outer is not None:
            await self.outer.log(level, data, logger)
        else:
            await super().log(level, data, logger)

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, system: str | None) -> str:
        agent = self.agent
        protocol = await agent._ensure_protocol()
        turns = [Message("system", system)] if system else []
        turns += [
            Message("assistant" if m.get("role") == "assistant" else "user", str(m.get("content", "")))
            for m in messages
        ]
        request = protocol.render(turns, None)
        limit = agent.config.max_tokens
        config = GenerationConfig(
            temperature=agent.config.temperature, max_tokens=min(max_tokens, limit) if limit else max_tokens
        )
        text = []
        try:
            async for chunk in agent.llm.astream(request, config):
                text.append(chunk.text)
        except Exception as exc:
            raise ToolError(f"the agent's model could not answer ({exc})") from None
        return "".join(text).strip()

    async def elicit(self, message: str, schema: dict[str, Any]) -> Elicited:
        ask = getattr(self.agent, "ask_person", None)
        if ask is not None:
            answer = ask(message, schema)
            if inspect.isawaitable(answer):
                answer = await answer
            return answer if isinstance(answer, Elicited) else Elicited("decline")
        if self.outer is not None:
            return await self.outer.elicit(message, schema)
        return await super().elicit(message, schema)


def host_for(agent: Any, drive: Any, call_id: str, tool: str) -> Any:
    """Set the host of one tool call (returns the token to reset)."""
    return HOST.set(AgentHost(agent, drive, call_id, tool, HOST.get()))


__all__ = ["AgentHost", "host_for"]
