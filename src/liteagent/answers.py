"""A typed agent's turns (``Agent(output_type=T)``): what each model turn offers, and how a reply
that answers is read, checked and either accepted or sent back with its errors.

- tool mode: every turn offers the real tools and the final-answer tool, and a call is required
  (where decoding is constrained, the grammar allows a real call or the final answer whose
  arguments follow the output schema); a valid ``final_answer`` call ends the run, other calls in
  the same reply are not run.
- native mode: a turn with no tools offered (the agent has none, or ``tool_choice="none"``, or
  the model answered in text while tools were offered) asks for the value with
  ``response_format`` (and the value's grammar); other turns are as untyped.
- prompted mode: the schema is in the instructions; the text answer is read.

An invalid answer goes back to the model with its errors (field path and message) until
``output_retries`` are spent; then the run ends with ``status="invalid_output"``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from . import controls
from .effects import Record, RunState, Settings, settled
from .events import ErrorEvent, FinalAnswer, TurnEnd
from .messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall
from .output import OUTPUT_TOOL, InvalidOutput, OutputError, OutputSpec, retry_prompt
from .results import Step

if TYPE_CHECKING:
    from .actions.tooldefs import ToolSet
    from .effects import Generate
    from .protocols import Protocol
    from .protocols.base import ParsedReply
    from .request import Request

#: ``take``'s verdict for an answer sent back to the model: the loop asks again
RETRY = object()
ACCEPTED = "Answer accepted."
NOT_RUN = "not run: the final answer in the same reply ended the run"

_PROMPTED: dict[tuple[Any, ...], Any] = {}


def prompted(protocol: Protocol, spec: OutputSpec) -> Protocol:
    """The dialect with the output's instructions after its system prompt (a copy, made once per
    dialect and output: a stable prompt prefix)."""
    key = (type(protocol), protocol.system_prompt, protocol.plugin_prompt, spec.key, spec.mode)
    made = _PROMPTED.get(key)
    if made is None:
        if len(_PROMPTED) >= 64:
            _PROMPTED.clear()
        made = copy.copy(protocol)
        base = protocol.system_prompt
        made.system_prompt = f"{base}\n\n{spec.instructions()}" if base else spec.instructions()
        _PROMPTED[key] = made
    return made  # type: ignore[no-any-return]


def offer(
    agent: Settings, spec: OutputSpec, run: RunState, toolset: ToolSet, tool_choice: str
) -> tuple[ToolSet, str, OutputSpec | None]:
    """What this turn offers: the tools, the tool choice, and the spec where the turn asks for
    the value alone (native mode)."""
    if spec.mode == "tool":
        if tool_choice == "none" or run.must_answer or not len(toolset):
            return spec.final_only(), "required", None
        return spec.with_tools(toolset), "required", None
    if spec.mode == "native" and (run.native_final or tool_choice == "none" or not len(toolset)):
        return toolset, "none", spec
    return toolset, tool_choice, None


def take(
    agent: Settings,
    spec: OutputSpec,
    run: RunState,
    toolset: ToolSet,
    request: Request,
    state: Generate,
    parsed: ParsedReply,
    calls: list[ToolCall],
    turn: int,
    events: bool,
) -> Generator[Any, Any, tuple[Any, dict[str, ActionReturn] | None]]:
    """Read a reply that answers (text, or a ``final_answer`` call). Returns the verdict (the
    FinalAnswer or ErrorEvent that ends the run, RETRY, or None: the reply's calls run as usual)
    and, for calls that run as usual, the results already known (an invalid final answer's)."""
    final = None
    if spec.mode == "tool":
        final = next((c for c in calls if spec.is_final(toolset, c.name) or _unreadable_final(c)), None)
    if calls and final is None:
        return None, None
    said = Message("assistant", parsed.text, calls, thinking=parsed.thinking or None)
    if final is None:  # a text answer
        step = Step(parsed.text, calls, [], parsed.thinking, 0.0, state.ttft)
        run.steps.append(step)
        try:
            if state.finish == "length":
                raise InvalidOutput([OutputError("$", "the answer was cut off at the token limit: give it shorter")])
            value = spec.validate(spec.from_text(parsed.text))
        except InvalidOutput as bad:
            return (yield from _sent_back(agent, spec, run, said, step, bad.errors, request, state, turn, events)), None
        except Exception as exc:  # a validator's own failure: not the model's
            run.history.append(said)
            yield Record([said])
            return _validator_failed(run, exc), None
        run.history.append(said)
        yield Record([said])
        _turn_end(step, state)
        if events:
            yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
        return FinalAnswer(parsed.text, run.result(parsed.text, "ok", None, value, spec.dump(value))), None
    # the final-answer call
    data: Any = None
    try:
        if final.error is not None:
            raise InvalidOutput([OutputError("$", f"the call could not be read: {final.error}")])
        data = spec.from_arguments(final.arguments)
        value = spec.validate(data)
    except InvalidOutput as bad:
        run.output_tries += 1
        how = f"Call `{OUTPUT_TOOL}` again with the answer corrected."
        ret = ActionReturn(
            OUTPUT_TOOL, final.arguments, ActionStatus.ARGS_ERROR, error=retry_prompt(bad.errors, how), call_id=final.id
        )
        if run.output_tries <= agent.output_retries:
            return None, {final.id: ret}  # the reply's other calls run as usual
        step = Step(parsed.text, calls, [], parsed.thinking, 0.0, state.ttft)
        run.steps.append(step)
        yield from _answered(agent, run, said, calls, final, ret, step, events)
        _turn_end(step, state)
        if events:
            yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
        return run.invalid(bad.errors, run.output_tries), None
    except Exception as exc:  # a validator's own failure: not the model's
        step = Step(parsed.text, calls, [], parsed.thinking, 0.0, state.ttft)
        run.steps.append(step)
        failed = ActionReturn(
            OUTPUT_TOOL,
            final.arguments,
            ActionStatus.API_ERROR,
            error="the answer could not be checked",
            call_id=final.id,
        )
        yield from _answered(agent, run, said, calls, final, failed, step, events)
        return _validator_failed(run, exc), None
    step = Step(parsed.text, calls, [], parsed.thinking, 0.0, state.ttft)
    run.steps.append(step)
    ok = ActionReturn(OUTPUT_TOOL, final.arguments, ActionStatus.SUCCESS, [ResultItem.text(ACCEPTED)], call_id=final.id)
    yield from _answered(agent, run, said, calls, final, ok, step, events)
    _turn_end(step, state)
    if events:
        yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
    answer = json.dumps(data, ensure_ascii=False)
    return FinalAnswer(answer, run.result(answer, "ok", None, value, spec.dump(value))), None


def _unreadable_final(call: ToolCall) -> bool:
    """A final-answer call whose markup could not be read (text dialects lose its name then)."""
    return call.error is not None and not call.name and f'"{OUTPUT_TOOL}"' in call.raw


def _answered(
    agent: Settings,
    run: RunState,
    said: Message,
    calls: list[ToolCall],
    final: ToolCall,
    ret: ActionReturn,
    step: Step,
    events: bool,
) -> Generator[Any, Any, None]:
    """Record the reply with its final-answer call's result; its other calls are not run."""
    rets = [
        ret
        if c is final
        else ActionReturn(c.name, c.arguments, ActionStatus.INVALID_ACTION, error=NOT_RUN, call_id=c.id)
        for c in calls
    ]
    if len(calls) > 1:
        controls.distinct_ids(calls)
    yield from settled(agent, run, said, calls, rets, step, events)


def _sent_back(
    agent: Settings,
    spec: OutputSpec,
    run: RunState,
    said: Message,
    step: Step,
    errors: list[OutputError],
    request: Request,
    state: Generate,
    turn: int,
    events: bool,
) -> Generator[Any, Any, Any]:
    """A text answer that does not fit: recorded with a message naming its errors; RETRY, or the
    ErrorEvent once the retries are spent."""
    run.output_tries += 1
    if spec.mode == "tool":
        how = f"Answer by calling the `{OUTPUT_TOOL}` tool; its arguments are the answer."
    else:
        how = "Reply with the answer as one JSON value, and nothing else."
        run.native_final = spec.mode == "native"
    retry = Message("user", retry_prompt(errors, how))
    run.history += [said, retry]
    yield Record([said, retry])
    _turn_end(step, state)
    if events:
        yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
    if run.output_tries > agent.output_retries:
        return run.invalid(errors, run.output_tries)
    return RETRY


def _validator_failed(run: RunState, exc: Exception) -> ErrorEvent:
    text = " ".join(str(exc).split())[:300]
    return run.stop("output_validator", f"an output validator failed ({type(exc).__name__}: {text})", "error")


def _turn_end(step: Step, state: Generate) -> None:
    step.elapsed = time.perf_counter() - state.start


__all__ = ["RETRY", "offer", "prompted", "take"]
