"""Approvals on the command line: the question a person answers for each call that waits
(``chat``, and ``run``/``resume`` on a terminal), the lines that list waiting calls, and the
``liteagent resume`` command that goes on from a session file."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from .. import sync_bridge
from ..agent import Agent
from ..agent_config import AgentConfig
from ..events import ToolResultEvent
from ..results import PendingCall
from ..sessions import Session
from .errors import FLAGS
from .term import shown

MODES = ("ask", "all", "none")
REJECTED_BY_NONE = "rejected by --approve none"
STOPPED = "the person stopped the run at the approval prompt"
CHOICES = "[y]es / [n]o / [a]lways"
_ONE_LINE = 100  # arguments longer than this (as JSON), or with a multi-line string, are shown one per line


@dataclass
class Answer:
    """A person's decisions on the calls of one pause; ``stopped``: "eof" or "interrupt" when they
    left the prompt (every call of the pause is then refused)."""

    approve: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    always: list[str] = field(default_factory=list)
    stopped: str = ""
    answers: dict[str, object] = field(default_factory=dict)  # a tool's question answered, by call id

    def __bool__(self) -> bool:
        return bool(self.approve or self.reject or self.always or self.answers)


def decide_all(pending: list[PendingCall], mode: str) -> Answer:
    """``--approve all`` or ``none``: the same decision for every waiting call (a tool's question
    is left waiting: only a person answers it)."""
    calls = [p for p in pending if p.question is None]
    if mode == "all":
        return Answer(approve=[p.id for p in calls])
    return Answer(reject={p.id: REJECTED_BY_NONE for p in calls})


def ask(pending: list[PendingCall], read: Callable[[], str], out: TextIO) -> Answer:
    """Ask about each call: y runs it, n refuses it (the reason the person gives goes to the model;
    none: the default), a runs it and every later call of that tool in this conversation. Any other
    answer asks again; end of input or Ctrl-C refuses every call of the pause."""
    from .form import terminal_form

    answer = Answer()
    for p in pending:
        if p.question is not None:  # a tool's question: its form, at the terminal
            asked = terminal_form(str(p.question.get("message", "")), p.question.get("schema") or {})
            answer.answers[p.id] = asked
            continue
        if p.tool in answer.always:  # "always" answered for an earlier call of this tool
            answer.approve.append(p.id)
            continue
        try:
            choice = _choose(p, read, out)
            if choice == "n":
                out.write("Reason, for the model (Enter: none): ")
                out.flush()
                answer.reject[p.id] = read().strip()
        except (EOFError, KeyboardInterrupt) as exc:
            out.write("\n")
            out.flush()
            how = "eof" if isinstance(exc, EOFError) else "interrupt"
            return Answer(reject={q.id: STOPPED for q in pending}, stopped=how)
        if choice in ("y", "a"):
            answer.approve.append(p.id)
        if choice == "a":
            answer.always.append(p.tool)
    return answer


def _choose(p: PendingCall, read: Callable[[], str], out: TextIO) -> str:
    text = describe(p)
    while True:
        out.write(text)
        out.flush()
        choice = read().strip().lower()
        if choice in ("y", "yes", "n", "no", "a", "always"):
            return choice[0]
        out.write("Please answer y (run it), n (do not run it) or a (run it, and this tool from now on).\n")


def describe(p: PendingCall) -> str:
    """The question for one call, with its exact arguments: on one line when short, else one
    argument per line and multi-line strings as blocks. Control and invisible characters show as
    escapes (``\\x1b``, ``\\u202e``): the person sees exactly what will run."""
    tool = shown(p.tool)
    line = json.dumps(p.arguments, ensure_ascii=False)
    if len(line) <= _ONE_LINE and not any(isinstance(v, str) and "\n" in v for v in p.arguments.values()):
        return f"Run {tool} {shown(line)}? {CHOICES} "
    rows = [f"{tool} (call {shown(p.id)}) will run with:"]
    for key, value in p.arguments.items():
        if isinstance(value, str) and ("\n" in value or len(value) > _ONE_LINE):
            rows.append(f"  {shown(key)}: |")
            rows += ["    " + shown(part, keep="\t") for part in value.split("\n")]
        else:
            body = json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n    ")
            rows.append(f"  {shown(key)}: {shown(body)}")
    rows.append(f"Run {tool}? {CHOICES} ")
    return "\n".join(rows)


def pending_lines(pending: list[PendingCall]) -> list[str]:
    """One line per waiting call: id, tool, its arguments as JSON."""
    return [f"  {shown(p.id)} {shown(p.tool)} {shown(json.dumps(p.arguments, ensure_ascii=False))}" for p in pending]


def resume_command(
    config: AgentConfig, path: str, session_id: str, pending: list[PendingCall], schema_file: str | None = None
) -> str:
    """The ``liteagent resume`` command that approves the waiting calls, with the agent flags the
    run had (not the API key: that comes from the environment or --api-key again; the output
    schema as the file it came from)."""
    words = ["liteagent", "resume", "--session", path]
    if session_id != "default":
        words += ["--session-id", session_id]
    words += agent_flags(config)
    if schema_file is not None:
        words += ["--output-schema", schema_file]
    for p in pending:
        if p.question is None:
            words += ["--approve", p.id]
        else:  # the form's fields, each to fill in: "<aisle|window>", "<number>"...
            words += [
                "--answer",
                f"{p.id}={json.dumps(form_template(p.question.get('schema') or {}), ensure_ascii=False)}",
            ]
    return shlex.join(words)


def form_template(schema: dict[str, object]) -> dict[str, object]:
    """A form's fields with what each takes, for a person to fill in (a default as it is)."""
    out: dict[str, object] = {}
    props = schema.get("properties")
    for name, prop in (props if isinstance(props, dict) else {}).items():
        prop = prop if isinstance(prop, dict) else {}
        if "default" in prop:
            out[name] = prop["default"]
        elif isinstance(prop.get("enum"), list):
            out[name] = "<" + "|".join(str(v) for v in prop["enum"]) + ">"
        else:
            out[name] = f"<{prop.get('type', 'value')}>"
    return out


def question_lines(pending: list[PendingCall]) -> list[str]:
    """Each waiting question: the call's id and tool, the tool's words, its form's fields."""
    rows = []
    for p in pending:
        q = p.question or {}
        schema = q.get("schema") or {}
        required = set(schema.get("required") or ())
        fields = ", ".join(
            f"{name}{'*' if name in required else ''}: {(prop or {}).get('type', 'value')}"
            for name, prop in (schema.get("properties") or {}).items()
        )
        rows.append(f"  {shown(p.id)} {shown(p.tool)} asks: {shown(q.get('message', ''))}")
        if fields:
            rows.append(f"    form: {shown(fields)} (* required)")
    return rows


def agent_flags(config: AgentConfig) -> list[str]:
    """``config``'s settings that differ from the defaults, as flags."""
    unset, words = AgentConfig(), []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in ("api_key", "tool_timeout", "output_schema") or value == getattr(unset, f.name):
            continue  # tool_timeout: the same --timeout as timeout; output_schema: a file's content
        flag = FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        for v in value if isinstance(value, tuple) else (value,):
            words += [flag, str(v)]
    return words


def refuse_and_stop(agent: Agent, session: Session, reject: dict[str, str]) -> None:
    """Record the refusals in the session and stop before the model is asked again (the person
    left the prompt: the conversation stays settled, and a later question or resume goes on)."""
    sync_bridge.run_sync(lambda: _refuse(agent, session, reject))


async def _refuse(agent: Agent, session: Session, reject: dict[str, str]) -> None:
    left = set(reject)
    events = agent.aresume_stream(session, reject=reject)
    try:  # pulled one at a time: after the last refusal's event nothing more starts
        async for ev in events:
            if isinstance(ev, ToolResultEvent):
                left.discard(ev.call.id)
                if not left:  # recorded: results are recorded before their events come
                    break
    finally:
        await events.aclose()  # type: ignore[attr-defined]  # an async generator
