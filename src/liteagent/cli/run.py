"""``liteagent run QUESTION`` and ``liteagent resume --session FILE``: one question (or a stopped
run gone on with), one answer. Calls that need a person's approval are asked about on a terminal,
decided by ``--approve all|none``, or left waiting in a session file (exit code 4), from which
``liteagent resume`` goes on in a new process."""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..agent import Agent, RunResult
from ..agent_config import AgentConfig
from ..errors import UsageError
from ..events import ApprovalRequired, ErrorEvent, Event, FinalAnswer, ToolResultEvent
from ..logs import setup_logging
from ..messages import ActionReturn
from ..results import PAUSED, PendingCall
from ..sessions import InMemorySession, Session, SQLiteSession
from .approve import (
    MODES,
    STOPPED,
    Answer,
    ask,
    decide_all,
    pending_lines,
    question_lines,
    refuse_and_stop,
    resume_command,
)
from .config import agent_config
from .errors import INVALID_OUTPUT, NEEDS_APPROVAL, cli_words
from .term import clean, print_json

STOP = "stop"  # no --approve and no terminal: a run that needs approval stops, exit code 4


@dataclasses.dataclass
class Where:
    """The session a run uses: a file (``path``) or, without ``--session``, memory."""

    session: Session
    path: str | None
    session_id: str


def run_once(args: argparse.Namespace) -> int:
    setup_logging()
    config = agent_config(args)
    mode = args.approve or _default_mode()
    where = _run_session(args)
    agent = _observed(config.build(), args, mode)
    try:
        result, stopped = _drive(agent, where.session, agent.stream(args.question, where.session), mode, args)
    finally:
        agent.executor.close()
    return _report(args, config, where, result, stopped, agent)


def resume_once(args: argparse.Namespace) -> int:
    setup_logging()
    config = agent_config(args)
    ids = [a for a in args.approve if a not in MODES]
    modes = sorted({a for a in args.approve if a in MODES})
    if len(modes) > 1:
        raise UsageError(f"--approve takes one of ask, all or none, not {' and '.join(modes)}")
    mode = modes[0] if modes else _default_mode()
    reject = dict(_rejection(r) for r in args.reject)
    answers = dict(_answer(a) for a in getattr(args, "answer", []))
    path = _session_path(args.session)
    if not Path(path).is_file():
        raise UsageError(f"--session {path}: no such file (the session file a run wrote)")
    where = Where(_open(path, args.session_id), path, args.session_id)
    tail = Agent.status(where.session)
    if tail.state == "done":
        raise UsageError(
            f"nothing to resume in {path} (session id {args.session_id!r}): its last run ended with an answer, "
            "or it is empty"
        )
    answer = Answer(ids, reject, list(args.always), answers=answers)
    if answer and tail.state != "needs_approval":
        raise UsageError(
            f"nothing in {path} waits for a decision (its last run is {tail.state.replace('_', ' ')}): "
            "resume it without --approve ID, --reject, --always or --answer"
        )
    waiting = RunResult("", [], [], status=_paused_status(tail.pending), pending=tail.pending)
    if tail.state == "needs_approval" and not answer:
        if mode == STOP:  # nothing decided, no one to ask: say what waits
            return _report(args, config, where, waiting, "", None)
        answer = _decide(tail.pending, mode)
        if not answer and not answer.stopped:  # only questions, and nobody here to answer them
            return _report(args, config, where, waiting, "", None)
    agent = _observed(config.build(), args, mode)
    try:
        if answer.stopped:
            refuse_and_stop(agent, where.session, answer.reject)
            result, stopped = waiting, answer.stopped
        else:
            events = agent.resume_stream(where.session, answer.approve, answer.reject, answer.always, answer.answers)
            result, stopped = _drive(agent, where.session, events, mode, args)
    finally:
        agent.executor.close()
    return _report(args, config, where, result, stopped, agent)


def _drive(agent: Agent, session: Session, events: Iterator[Event], mode: str, args: Any) -> tuple[RunResult, str]:
    """The run to its end: each pause decided as ``mode`` says (asked, all, none) and gone on
    with, or left waiting (``stop``). Returns the whole run's result and, when the person left the
    approval prompt, how ("eof" or "interrupt")."""
    show = not args.json and not args.quiet and sys.stderr.isatty()
    result = _consume(events, show)
    while result.status == "needs_approval" and mode != STOP:
        answer = _decide(result.pending, mode)
        if not answer and not answer.stopped:  # only questions, and nobody here to answer them
            return result, ""
        if answer.stopped:
            refuse_and_stop(agent, session, answer.reject)
            return result, answer.stopped
        more = _consume(
            agent.resume_stream(session, answer.approve, answer.reject, answer.always, answer.answers), show
        )
        result = _joined(result, more)
    return result, ""


def _decide(pending: list[PendingCall], mode: str) -> Answer:
    if mode == "ask":
        return ask(pending, _read_line, sys.stderr)
    return decide_all(pending, mode)


def _consume(events: Iterator[Event], show: bool) -> RunResult:
    result: RunResult | None = None
    for ev in events:
        if isinstance(ev, (FinalAnswer, ErrorEvent, ApprovalRequired)):
            result = ev.result
        elif show and isinstance(ev, ToolResultEvent):
            sys.stderr.write(tool_line(ev.result) + "\n")
            sys.stderr.flush()
    assert result is not None
    return result


def _joined(a: RunResult, b: RunResult) -> RunResult:
    """One result for a run and its continuation: ``b``'s end, both runs' steps and messages."""
    usage = dict(a.usage)
    for k, v in b.usage.items():
        usage[k] = usage.get(k, 0) + v
    return dataclasses.replace(
        b, steps=a.steps + b.steps, messages=a.messages + b.messages, turns=a.turns + b.turns,
        elapsed=a.elapsed + b.elapsed, usage=usage,
    )  # fmt: skip


def _report(
    args: argparse.Namespace, config: AgentConfig, where: Where, result: RunResult, stopped: str, agent: Agent | None
) -> int:
    waiting = result.status in PAUSED and not stopped
    if waiting and where.path is None:  # no --session: keep the run in a new file, to go on from
        where.path = _save(where)
    if args.json:  # the whole trace on stdout, also when the run failed or waits
        out = result.to_dict()
        if stopped:
            out.update(status="stopped", error=STOPPED, pending=[])
        if agent is not None:
            out["protocol"], out["model"] = agent.protocol.name, agent.llm.model
        if where.path is not None:
            out["session"] = {"file": where.path, "id": where.session_id}
        if waiting:
            out["resume"] = resume_command(
                config, where.path or "", where.session_id, result.pending, getattr(args, "output_schema_file", None)
            )
        print_json(out)
    elif result.status == "ok" and result.typed:  # the validated answer, one line of JSON
        sys.stdout.write((result.output_json or "null") + "\n")
    elif result.status in ("ok", "truncated"):
        sys.stdout.write(clean(result.answer) + "\n")
    if stopped:
        sys.stderr.write(f"liteagent: {STOPPED}: nothing ran (the calls are recorded as refused)\n")
        return 130 if stopped == "interrupt" else 1
    if waiting:
        calls = [p for p in result.pending if p.question is None]
        asked = [p for p in result.pending if p.question is not None]
        if calls:
            n = len(calls)
            sys.stderr.write(
                f"liteagent: the run waits for approval of {n} call{'s' if n != 1 else ''} (id tool arguments):\n"
            )
            sys.stderr.write("\n".join(pending_lines(calls)) + "\n")
        if asked:
            n = len(asked)
            sys.stderr.write(f"liteagent: the run waits for your answer to {n} tool question{'s' if n != 1 else ''}:\n")
            sys.stderr.write("\n".join(question_lines(asked)) + "\n")
        command = resume_command(
            config, where.path or "", where.session_id, result.pending, getattr(args, "output_schema_file", None)
        )
        more = "--reject ID:REASON, --always TOOL, --approve all|none" if calls else "--answer ID=decline, --reject ID"
        sys.stderr.write(f"go on with: {command}\n  (or {more})\n")
        return NEEDS_APPROVAL
    if result.status == "truncated":
        sys.stderr.write(f"liteagent: warning: {result.error}\n")
        return 1
    if result.status == "invalid_output":
        sys.stderr.write(f"liteagent: error: {clean(result.error or 'the answer did not fit the output type')}\n")
        return INVALID_OUTPUT
    if result.status != "ok":
        sys.stderr.write(f"liteagent: error: {cli_words(clean(result.error or 'the run failed'))}\n")
        return 1
    return 0


def _observed(agent: Agent, args: argparse.Namespace, mode: str) -> Agent:
    """``-v``: the run's timeline on stderr; at a terminal, a tool's question for the person
    (an MCP server's form) is asked there; without one (and no ``--approve all|none``) the run
    stops with the question in its session file, for ``liteagent resume --answer``."""
    if getattr(args, "verbose", False):
        from .timeline import Timeline

        agent.hooks.append(Timeline(sys.stderr))
    from .form import at_terminal, terminal_form

    if agent.ask_person is None and at_terminal():
        agent.ask_person = terminal_form
    elif agent.ask_person is None and mode == STOP:
        agent.ask_person = "pause"
    return agent


def _paused_status(pending: list[PendingCall]) -> str:
    return "needs_input" if pending and all(p.question is not None for p in pending) else "needs_approval"


def _answer(text: str) -> tuple[str, Any]:
    """``--answer ID=JSON`` (the form's values), ``ID=decline`` or ``ID=cancel``."""
    cid, sep, value = text.partition("=")
    if not sep or not cid.strip():
        raise UsageError(
            f'--answer {text!r}: give the call\'s id and the answer, e.g. --answer call_0=\'{{"seat": "aisle"}}\''
        )
    value = value.strip()
    if value in ("decline", "cancel"):
        return cid.strip(), value
    try:
        content = json.loads(value)
    except ValueError:
        content = None
    if not isinstance(content, dict):
        raise UsageError(
            f"--answer {cid.strip()}=...: the answer is a JSON object of the form's values, decline or cancel"
        )
    return cid.strip(), content


def _default_mode() -> str:
    return "ask" if sys.stdin.isatty() and sys.stderr.isatty() else STOP


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def _rejection(text: str) -> tuple[str, str]:
    cid, _, reason = text.partition(":")
    if not cid.strip():
        raise UsageError(f"--reject {text!r}: give the call's id, e.g. --reject call_0:too risky")
    return cid.strip(), reason.strip()


def _session_path(text: str) -> str:
    if text.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"--session {text}: a SQLite file is needed here (a path, or sqlite:///path)")
    return text.removeprefix("sqlite:///") if text.startswith("sqlite:///") else text


def _open(path: str, session_id: str) -> SQLiteSession:
    try:
        return SQLiteSession(session_id, path)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise UsageError(f"--session {path}: not a usable session file ({exc})") from None


def _run_session(args: argparse.Namespace) -> Where:
    """``--session FILE``'s conversation, which must not wait for a decision; else memory."""
    if not args.session:
        return Where(InMemorySession(), None, args.session_id)
    path = _session_path(args.session)
    session = _open(path, args.session_id)
    tail = Agent.status(session)
    if tail.state == "needs_approval":
        ids = ", ".join(f"{p.id} ({p.tool})" for p in tail.pending)
        raise UsageError(
            f"calls wait for a decision in {path}: {ids}; decide them first: liteagent resume --session {path} "
            "--approve ID (or --reject ID)"
        )
    if tail.state == "cut_off":
        raise UsageError(
            f"the last run in {path} was cut off while tools ran; go on with it first: liteagent resume --session {path}"
        )
    return Where(session, path, args.session_id)


def _save(where: Where) -> str:
    """The in-memory run, kept in a new session file in the user data directory."""
    from ..llms.local import data_dir

    path = data_dir() / "runs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.sqlite3"
    assert isinstance(where.session, InMemorySession)
    SQLiteSession(where.session_id, path).add_items_now(list(where.session.items))
    return str(path)


def tool_line(r: ActionReturn) -> str:
    """One line per tool call, as chat shows it: name, arguments, status, time, the error."""
    args = json.dumps(r.arguments, ensure_ascii=False)
    if len(args) > 80:
        args = args[:77] + "..."
    line = f"· {clean(r.name)} {clean(args)} -> {r.status.value} ({r.elapsed:.2f} s)"
    if r.error:
        first = clean(r.error).splitlines()[0] if r.error.strip() else ""
        line += f": {first[:160]}"
    return line
