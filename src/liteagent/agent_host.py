"""The ToolContext host of a tool call made by liteagent's own agent: a question for a model is
answered by the agent's own model (in its dialect, within its reply limit); a question for the
person goes to the agent's ``ask_person`` (the chat's prompt), else to whoever runs the agent
(behind ``liteagent mcp serve --agent``: that server's client), else it is declined; progress
goes to the run's hooks (``RunHooks.tool_progress``: the timeline of ``run -v``) and the log."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .actions.context import HOST, Elicited, InputNeeded, LocalHost, LogLevel, ToolHost
from .errors import ToolError
from .llms.base import GenerationConfig
from .messages import Message

#: where the progress of the tools of runs started in this context also goes (``liteagent serve``
#: streams it to its client): ``(call_id, tool, progress, total, message)``, from any thread
PROGRESS: contextvars.ContextVar[Callable[..., None] | None] = contextvars.ContextVar(
    "liteagent_tool_progress", default=None
)


class AgentHost(LocalHost):
    """``answers``: the person's answers to this call's questions so far (a call that asked a
    person who answers later runs again from its start: its n-th question gets the n-th answer);
    ``question``: what it asked that nobody has answered yet (the run then stops for it)."""

    def __init__(
        self,
        agent: Any,
        drive: Any,
        call_id: str,
        tool: str,
        outer: ToolHost | None,
        answers: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(tool)
        self.agent, self.drive, self.call_id, self.outer = agent, drive, call_id, outer
        self.sink = PROGRESS.get()  # read now: the call may run on another thread
        self.answers = answers or []
        self.asked = 0
        self.question: dict[str, Any] | None = None

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self.sink is not None:
            self.sink(self.call_id, self.tool, progress, total, message)
        hooks = self.drive.hooks
        if hooks is not None:
            hooks.tool_progress(self.drive.info, self.drive.turn, self.call_id, self.tool, progress, total, message)
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
        n, self.asked = self.asked, self.asked + 1
        if n < len(self.answers):  # asked before this run of the call, and answered since
            given = self.answers[n]
            return Elicited(given.get("action", "decline"), dict(given.get("content") or {}))
        if self.question is not None:  # a tool that went on after its unanswered question
            raise InputNeeded(self.question["message"])
        ask = getattr(self.agent, "ask_person", None)
        if callable(ask):
            answer = ask(message, schema)
            if inspect.isawaitable(answer):
                answer = await answer
            return answer if isinstance(answer, Elicited) else Elicited("decline")
        if self.outer is not None:
            return await self.outer.elicit(message, schema)
        if ask == "pause":  # the run stops with the question; a resume brings the answer
            self.question = {"message": str(message), "schema": schema}
            raise InputNeeded(str(message))
        return await super().elicit(message, schema)

    def waiting(self, ret: Any) -> Any:
        """``ret`` (what the call returned) as a call that waits for its question's answer."""
        from .messages import ActionReturn, ActionStatus, ResultItem

        assert self.question is not None
        asked = {**self.question, "answers": list(self.answers)}
        return ActionReturn(
            ret.name,
            ret.arguments,
            ActionStatus.NEEDS_INPUT,
            [ResultItem.json(asked)],
            error=f"waiting for a person's answer: {self.question['message']}",
            elapsed=ret.elapsed,
            call_id=ret.call_id,
        )


@dataclass(frozen=True, slots=True)
class ToolProgress:
    """A running tool's progress, among a run's events where :func:`with_tool_progress` merges it."""

    call_id: str
    tool: str
    progress: float
    total: float | None
    message: str | None

    @property
    def fraction(self) -> float | None:
        return min(1.0, max(0.0, self.progress / self.total)) if self.total else None


async def with_tool_progress(events: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """``events`` (a run's, from ``Agent.astream``) with :class:`ToolProgress` items between them,
    each as it comes (while its tool still runs). One task drives the run, so its context stays
    one from step to step; closing this generator ends the run."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def sink(*said: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ("progress", ToolProgress(*said)))

    async def pump() -> None:
        try:
            async for item in events:
                queue.put_nowait(("event", item))
            queue.put_nowait(("end", None))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            queue.put_nowait(("error", exc))

    token = PROGRESS.set(sink)
    task = asyncio.ensure_future(pump())
    PROGRESS.reset(token)
    try:
        while True:
            kind, item = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def host_for(
    agent: Any, drive: Any, call_id: str, tool: str, answers: list[dict[str, Any]] | None = None
) -> tuple[Any, AgentHost]:
    """Set the host of one tool call; returns the token to reset, and the host."""
    host = AgentHost(agent, drive, call_id, tool, HOST.get(), answers)
    return HOST.set(host), host


__all__ = ["PROGRESS", "AgentHost", "ToolProgress", "host_for", "with_tool_progress"]
