"""Lagent's ``Internlm2Agent`` and ``Internlm2Protocol``, as a thin layer over :class:`liteagent.Agent`.

The tutorial's chatbot runs with only ``lagent`` renamed::

    from liteagent.actions import ActionExecutor, ArxivSearch
    from liteagent.agents.internlm2_agent import Internlm2Agent, Internlm2Protocol

    agent = Internlm2Agent(
        llm=model,  # any liteagent model: OpenAICompatibleLLM (lmdeploy's server), LocalLLM, ScriptedLLM
        plugin_executor=ActionExecutor(actions=[ArxivSearch()]),
        protocol=Internlm2Protocol(tool=dict(begin="{start_token}{name}\\n", start_token="<|action_start|>",
                                             name_map=dict(plugin="<|plugin|>", interpreter="<|interpreter|>"),
                                             belong="assistant", end="<|action_end|>\\n")),
        max_turn=7,
    )
    agent.chat("...").response
    for ret in agent.stream_chat("..."): ret.state, ret.response

Each ``chat`` runs liteagent's own loop (its InternLM2 dialect renders the same prompt as Lagent's
protocol, byte for byte), so calls are validated, results bounded and errors told to the model.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from ..actions import ActionExecutor
from ..agent import Agent, RunResult
from ..errors import UsageError
from ..events import ErrorEvent, FinalAnswer, TextDelta, TextReset, ToolCallEvent, ToolResultEvent, TurnEnd
from ..llms.base import LLM
from ..messages import Message, ToolCall
from ..prompts import INTERPRETER_CN, META_CN, PLUGIN_CN
from ..protocols.internlm2 import END, INTERP, PLUGIN, START, InternLM2Protocol
from ..schema import ActionReturn, AgentReturn, AgentStatusCode
from ..sessions import InMemorySession

# what Lagent's protocol is configured with by default: the InternLM2 chat template's own tokens
TOOL = {
    "begin": "{start_token}{name}\n",
    "start_token": START,
    "name_map": {"plugin": PLUGIN, "interpreter": INTERP},
    "belong": "assistant",
    "end": f"{END}\n",
}
LANGUAGE = {"begin": "", "end": "", "belong": "assistant"}
EXECUTE = {"role": "execute", "begin": "", "end": "", "fallback_role": "environment"}


class Internlm2Protocol(InternLM2Protocol):
    """Lagent's constructor for the InternLM2 dialect: ``meta_prompt``, ``plugin_prompt`` and
    ``interpreter_prompt`` as in Lagent; ``tool``/``language``/``execute`` must name the model's
    own tokens (the only ones an InternLM2 model was trained on): anything else is an error, not
    silently ignored."""

    def __init__(
        self,
        meta_prompt: str = META_CN,
        interpreter_prompt: str = INTERPRETER_CN,
        plugin_prompt: str = PLUGIN_CN,
        few_shot: list | None = None,
        language: Mapping[str, Any] | None = None,
        tool: Mapping[str, Any] | None = None,
        execute: Mapping[str, Any] | None = None,
    ) -> None:
        if few_shot:
            raise UsageError("Internlm2Protocol(few_shot=...) is not supported: pass the examples as history to chat()")
        for what, given, own in (("tool", tool, TOOL), ("language", language, LANGUAGE), ("execute", execute, EXECUTE)):
            for key, value in (given or {}).items():
                if key not in own or own[key] != value:
                    raise UsageError(
                        f"Internlm2Protocol({what}=...): {key}={value!r} is not InternLM2's template "
                        f"(liteagent speaks the model's own tokens: {key}={own.get(key)!r})"
                    )
        super().__init__(system_prompt=meta_prompt, plugin_prompt=plugin_prompt, interpreter_prompt=interpreter_prompt)
        self.tool = {**TOOL, **(tool or {})}

    @property
    def meta_prompt(self) -> str:
        """Lagent's name for the system prompt (set it between chats, as Lagent's web demo does)."""
        return self.system_prompt

    @meta_prompt.setter
    def meta_prompt(self, value: str) -> None:
        self.system_prompt = value


# the generation options Lagent's chat(**kwargs) passes to the model, by liteagent's name
_GEN_KWARGS = {
    "temperature": "temperature",
    "max_new_tokens": "max_tokens",
    "max_tokens": "max_tokens",
    "top_p": "top_p",
}


class Internlm2Agent:
    """Lagent's agent: ``chat`` returns an :class:`~liteagent.schema.AgentReturn` (``response``,
    ``actions``, ``inner_steps``); ``stream_chat`` yields one as the answer grows. The
    attributes Lagent's web demo sets (``_action_executor``, ``_interpreter_executor``,
    ``_protocol``, ``max_turn``) are read at each call."""

    def __init__(
        self,
        llm: LLM,
        plugin_executor: ActionExecutor | None = None,
        interpreter_executor: ActionExecutor | None = None,
        protocol: Internlm2Protocol | None = None,
        max_turn: int = 3,
    ) -> None:
        if not isinstance(llm, LLM):
            raise UsageError(
                f"Internlm2Agent(llm=...) takes a liteagent model (OpenAICompatibleLLM, LocalLLM, ScriptedLLM), "
                f"not {type(llm).__name__}"
            )
        self._llm = llm
        self._action_executor = plugin_executor
        self._interpreter_executor = interpreter_executor
        self._protocol = protocol if protocol is not None else Internlm2Protocol()
        self.max_turn = max_turn

    # -- Lagent's API ---------------------------------------------------------------------------
    def chat(self, message: str | dict | list[dict], **kwargs: Any) -> AgentReturn:
        query, session = _conversation(message)
        result = self._agent(kwargs).run(query, session)
        return _returned(result)

    def stream_chat(self, message: str | dict | list[dict], **kwargs: Any) -> Iterator[AgentReturn]:
        query, session = _conversation(message)
        agent = self._agent(kwargs)
        ret = AgentReturn(state=AgentStatusCode.SESSION_READY)
        text = ""
        for event in agent.stream(query, session):
            if type(event) is TextDelta:
                text += event.text
                ret.state, ret.response = AgentStatusCode.STREAM_ING, text
            elif type(event) is TextReset:
                text = ""
                continue
            elif type(event) is ToolCallEvent:
                call = event.call
                coding = call.kind == "interpreter"
                ret.state = AgentStatusCode.CODING if coding else AgentStatusCode.PLUGIN_START
                ret.response = call.arguments.get("command", "") if coding else _action(call)
            elif type(event) is ToolResultEvent:
                call = event.call
                ret.actions.append(ActionReturn.of(event.result, thought=text))
                ret.inner_steps.extend(_step_items(text, call, event.result.format_for_model()))
                coding = call.kind == "interpreter"
                ret.state = AgentStatusCode.CODE_RETURN if coding else AgentStatusCode.PLUGIN_RETURN
                ret.response = text
            elif type(event) is TurnEnd:
                text = ""
                continue
            elif type(event) is FinalAnswer:
                ret.inner_steps.append({"role": "language", "content": event.answer})
                ret.state, ret.response = _final_state(event.result), event.answer
                ret.errmsg = event.result.error if event.result is not None else None
            elif type(event) is ErrorEvent:
                ret.state = AgentStatusCode.SERVER_ERR if event.kind == "llm" else AgentStatusCode.SESSION_OUT_OF_LIMIT
                ret.errmsg = event.message
            else:
                continue
            yield _snapshot(ret)

    # -- how it runs ----------------------------------------------------------------------------
    def _agent(self, kwargs: Mapping[str, Any]) -> Agent[str]:
        options: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key not in _GEN_KWARGS:
                known = ", ".join(sorted(_GEN_KWARGS))
                raise UsageError(f"Internlm2Agent.chat: unknown option {key!r} (liteagent reads: {known})")
            options[_GEN_KWARGS[key]] = value
        top_p = options.pop("top_p", None)
        agent = Agent(self._llm, self._executor(), self._protocol, max_turns=self.max_turn, **options)
        if top_p is not None:
            agent.config.top_p = top_p
        return agent

    def _executor(self) -> ActionExecutor | None:
        plugins, interp = self._action_executor, self._interpreter_executor
        if interp is None or interp is plugins:
            return plugins
        if plugins is None:
            return interp
        both = ActionExecutor([*plugins.plugins, *interp.plugins], timeout=plugins.timeout)
        both.max_result_chars = plugins.max_result_chars
        return both


def _conversation(message: str | dict | list[dict]) -> tuple[str, InMemorySession]:
    """The question and the history before it, from Lagent's message forms."""
    items = [{"role": "user", "content": message}] if isinstance(message, str) else message
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise UsageError("chat() takes a question: a string, a message dict, or a list of message dicts")
    last = items[-1]
    if not isinstance(last, dict) or last.get("role") != "user" or not isinstance(last.get("content"), str):
        raise UsageError("chat(): the last message must be the user's question ({'role': 'user', 'content': '...'})")
    return last["content"], InMemorySession(items=_history(items[:-1]))


def _history(items: list[dict]) -> list[Message]:
    """Lagent's history dicts (user, assistant/language, tool, environment/execute) as messages."""
    out: list[Message] = []
    ids = itertools.count(1)
    pending: list[ToolCall] = []
    for i, item in enumerate(items):
        role, content = (item.get("role"), item.get("content")) if isinstance(item, dict) else (None, None)
        if role in ("user", "system") and isinstance(content, str):
            out.append(Message(role, content))  # type: ignore[arg-type]
        elif role in ("assistant", "language") and isinstance(content, str):
            out.append(Message("assistant", content))
        elif role == "tool":
            if not out or out[-1].role != "assistant":
                out.append(Message("assistant", ""))
            call = _call(content, item.get("name"), f"call_{next(ids)}")
            out[-1].tool_calls.append(call)
            pending.append(call)
        elif role in ("environment", "execute") and pending:
            call = pending.pop(0)
            out.append(Message("tool", str(content), name=call.name, tool_call_id=call.id))
        else:
            raise UsageError(f"chat(): history item {i} is not a message Lagent writes: {str(item)[:80]}")
    return out


def _call(content: Any, name: Any, call_id: str) -> ToolCall:
    if name == "interpreter":
        return ToolCall("PythonInterpreter", {"command": str(content)}, id=call_id, kind="interpreter")
    if isinstance(content, dict) and isinstance(content.get("name"), str):
        return ToolCall(content["name"], dict(content.get("parameters") or {}), id=call_id)
    raise UsageError(f"chat(): a 'tool' history item holds no call: {str(content)[:80]}")


def _action(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "parameters": call.arguments}


def _step_items(text: str, call: ToolCall, shown: str) -> list[dict[str, Any]]:
    """One call as Lagent's inner steps: the thought, the call, the environment's answer."""
    name = "interpreter" if call.kind == "interpreter" else "plugin"
    content = call.arguments.get("command", "") if name == "interpreter" else _action(call)
    return [
        {"role": "language", "content": text},
        {"role": "tool", "content": content, "name": name},
        {"role": "environment", "content": shown, "name": name},
    ]


def _final_state(result: RunResult[Any] | None) -> AgentStatusCode:
    if result is None or result.status == "ok":
        return AgentStatusCode.END
    return AgentStatusCode.SERVER_ERR if result.status == "error" else AgentStatusCode.SESSION_OUT_OF_LIMIT


def _returned(result: RunResult[Any]) -> AgentReturn:
    ret = AgentReturn(state=_final_state(result), response=result.answer, errmsg=result.error)
    for step in result.steps:
        for call, ran in zip(step.tool_calls, step.results, strict=False):
            ret.actions.append(ActionReturn.of(ran, thought=step.text))
            ret.inner_steps.extend(_step_items(step.text, call, ran.format_for_model()))
    if result.status == "ok":
        ret.inner_steps.append({"role": "language", "content": result.answer})
    return ret


def _snapshot(ret: AgentReturn) -> AgentReturn:
    """A copy the caller may keep (Lagent yields deep copies)."""
    return dataclasses.replace(ret, actions=list(ret.actions), inner_steps=list(ret.inner_steps))


__all__ = ["Internlm2Agent", "Internlm2Protocol"]
