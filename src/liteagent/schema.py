"""Lagent's result types, for code written against ``lagent.schema`` (the tutorial's web demo
reads ``AgentStatusCode`` and ``AgentReturn``). liteagent's own results are ``RunResult`` and
``liteagent.ActionReturn``; these are made from them by ``liteagent.agents``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .messages import ActionReturn as _Ran
from .messages import ActionStatus


class ActionStatusCode(IntEnum):
    ING = 1
    SUCCESS = 0
    HTTP_ERROR = -1000
    ARGS_ERROR = -1001
    API_ERROR = -1002


class ActionValidCode(IntEnum):
    FINISH = 1
    OPEN = 0
    CLOSED = -1
    INVALID = -2
    ABSENT = -3


class AgentStatusCode(IntEnum):
    END = 0  # the answer is complete
    STREAM_ING = 1  # the answer's text so far
    SERVER_ERR = -1  # the model server failed (``errmsg`` says how)
    SESSION_CLOSED = -2
    SESSION_OUT_OF_LIMIT = -3
    SESSION_INVALID_ARG = -4
    SESSION_READY = 2
    PLUGIN_START = 3  # a plugin call was read (``response`` is the call)
    PLUGIN_END = 4
    PLUGIN_RETURN = 5  # the plugin's result is in ``actions[-1]``
    CODING = 6  # an interpreter call was read
    CODE_END = 7
    CODE_RETURN = 8  # the interpreter's result is in ``actions[-1]``
    ANSWER_ING = 9


_STATUS = {
    ActionStatus.SUCCESS: ActionStatusCode.SUCCESS,
    ActionStatus.ARGS_ERROR: ActionStatusCode.ARGS_ERROR,
}


@dataclass
class ActionReturn:
    """One call's result as Lagent shows it (``type``: the tool's name, ``result``: its items)."""

    args: dict | None = None
    url: str | None = None
    type: str | None = None
    result: list[dict] | None = None
    errmsg: str | None = None
    state: ActionStatusCode | int = ActionStatusCode.SUCCESS
    thought: str | None = None
    valid: ActionValidCode | None = ActionValidCode.OPEN

    def format_result(self) -> str:
        out = []
        for item in self.result or []:
            out.append(item["content"] if item["type"] == "text" else f"[{item['type']}]({item['content']})")
        return "\n".join(str(x) for x in out)

    @classmethod
    def of(cls, ran: _Ran, thought: str = "") -> ActionReturn:
        """Lagent's view of a liteagent result."""
        return cls(
            args=dict(ran.arguments),
            type=ran.name,
            result=[i.to_dict() for i in ran.result],
            errmsg=ran.error,
            state=_STATUS.get(ran.status, ActionStatusCode.API_ERROR),
            thought=thought,
            valid=ActionValidCode.FINISH if ran.ok else ActionValidCode.INVALID,
        )


@dataclass
class AgentReturn:
    type: str = ""
    content: str = ""
    state: AgentStatusCode | int = AgentStatusCode.END
    actions: list[ActionReturn] = field(default_factory=list)
    response: Any = ""  # the answer; while a call streams, the call ({"name", "parameters"})
    inner_steps: list[dict] = field(default_factory=list)
    nodes: dict | None = None
    adjacency_list: dict | None = None
    references: dict = field(default_factory=dict)
    errmsg: str | None = None


__all__ = ["ActionReturn", "ActionStatusCode", "ActionValidCode", "AgentReturn", "AgentStatusCode"]
