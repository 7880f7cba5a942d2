"""A tool call's context behind ``liteagent mcp serve``: what a plugin asks through its
``ToolContext`` goes to the MCP client of the request (progress when the client sent a
``progressToken``, log lines at or above the level it set, sampling and elicitation when it
declared them)."""

from __future__ import annotations

import json
import warnings
import weakref
from typing import Any

from ..actions.context import Elicited, LocalHost, LogLevel
from ..errors import ToolError

LEVELS: tuple[LogLevel, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

#: the level each client connection asked for (``logging/setLevel``); none asked: every line
_levels: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _connection(session: Any) -> Any:
    # the SDK makes a session object per request; the connection behind it is the client's
    return getattr(session, "_connection", session)


def set_level(session: Any, level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(LEVELS)}")
    _levels[_connection(session)] = LEVELS.index(level)  # type: ignore[arg-type]


class MCPHost(LocalHost):
    """The ToolHost of one ``tools/call`` request (``ctx`` is the SDK's request context).

    A question for the client's model or person goes as a server-to-client request where the
    client speaks the handshake-era wire. On the 2026-07-28 wire (no back channel) it is asked
    the new way: the call ends with an ``InputRequiredResult`` naming each question, the client
    retries with the answers, and the tool runs again from its start, its n-th question answered
    from the retry (a tool that asks should do its side effects after asking)."""

    def __init__(self, ctx: Any, tool: str, params: Any = None, rerun: bool = True) -> None:
        super().__init__(tool)
        self.ctx = ctx
        self.rerun = rerun  # may the call run again with answers (2026 wire)? Not a whole agent's run
        # the answers of earlier rounds ride in request_state (the client sends it back as is), this
        # round's in input_responses: a tool that asks twice hears both on its third run
        self.answers: dict[str, Any] = _earlier(getattr(params, "request_state", None))
        self.answers.update({k: _plain(v) for k, v in (getattr(params, "input_responses", None) or {}).items()})
        self.needed: dict[str, Any] = {}  # questions to send back in an InputRequiredResult
        self._asked = 0

    def input_required(self) -> Any:
        """The InputRequiredResult this call ends with, or None when it asked nothing unanswered."""
        import mcp.types as t

        if not self.needed:
            return None
        state = STATE_PREFIX + json.dumps(self.answers, separators=(",", ":"), default=str)
        return t.InputRequiredResult(input_requests=dict(self.needed), request_state=state)

    def _key(self, kind: str) -> str:
        self._asked += 1
        return f"{kind}-{self._asked}"

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        # to this request's caller, on any wire; nothing when it sent no progressToken
        await self.ctx.session.report_progress(progress, total, message)

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None:
        if LEVELS.index(level) < _levels.get(_connection(self.ctx.session), 0):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK marks logging deprecated for the 2026 wire only
            await self.ctx.session.send_log_message(
                level, data, logger or self.tool, related_request_id=self.ctx.request_id
            )

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, system: str | None) -> str:
        import mcp.types as t

        key = self._key("sample")
        if key in self.answers:
            return _text_of(t.CreateMessageResult.model_validate(_plain(self.answers[key])))
        if not self.ctx.session.check_client_capability(t.ClientCapabilities(sampling=t.SamplingCapability())):
            raise ToolError("the MCP client cannot be asked for a model reply (it declared no sampling)")
        wire = [
            t.SamplingMessage(role=m.get("role", "user"), content=t.TextContent(text=str(m.get("content", ""))))
            for m in messages
        ]
        if self._inline and not self.rerun:
            raise ToolError("the MCP client can be asked for a model reply only between calls on its protocol version")
        if self._inline:
            params = t.CreateMessageRequestParams(messages=wire, max_tokens=max_tokens, system_prompt=system)
            self.needed[key] = t.CreateMessageRequest(params=params)
            raise _Asked
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = await self.ctx.session.create_message(
                wire, max_tokens=max_tokens, system_prompt=system, related_request_id=self.ctx.request_id
            )
        return _text_of(result)

    async def elicit(self, message: str, schema: dict[str, Any]) -> Elicited:
        import mcp.types as t

        from .ask import form_elicitation

        key = self._key("elicit")
        if key in self.answers:
            answer = t.ElicitResult.model_validate(_plain(self.answers[key]))
            return Elicited(answer.action, dict(answer.content or {}))
        how = form_elicitation(self.ctx)
        if how is None:
            return Elicited("decline")  # nobody on the client's side can answer
        if how == "inline" and not self.rerun:
            return Elicited("decline")  # a whole agent's run cannot start over for an answer
        if how == "inline":
            form = t.ElicitRequestFormParams(message=message, requested_schema=schema)
            self.needed[key] = t.ElicitRequest(params=form)
            raise _Asked
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = await self.ctx.session.elicit_form(message, schema, related_request_id=self.ctx.request_id)
        return Elicited(result.action, dict(result.content or {}))

    @property
    def _inline(self) -> bool:
        from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS

        return self.ctx.protocol_version not in HANDSHAKE_PROTOCOL_VERSIONS


class _Asked(Exception):
    """Raised inside a tool whose question goes back to the client in an InputRequiredResult."""

    def __str__(self) -> str:
        return "waiting for the client's answer"


STATE_PREFIX = "liteagent-answers:"
MAX_STATE = 1 << 20  # a request_state larger than this is not read (the tool asks again)


def _earlier(state: Any) -> dict[str, Any]:
    if not isinstance(state, str) or not state.startswith(STATE_PREFIX) or len(state) > MAX_STATE:
        return {}
    try:
        answers = json.loads(state[len(STATE_PREFIX) :])
    except ValueError:
        return {}
    return answers if isinstance(answers, dict) else {}


def _plain(value: Any) -> Any:
    return value.model_dump(by_alias=True, exclude_none=True) if hasattr(value, "model_dump") else value


def _text_of(result: Any) -> str:
    content = result.content
    blocks = content if isinstance(content, list) else [content]
    return "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")
