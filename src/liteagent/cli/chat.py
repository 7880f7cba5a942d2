"""``liteagent chat``: an interactive terminal chat. The answer streams; each tool call and its
result shows as a panel; a call that needs approval asks first ([y]es / [n]o / [a]lways).
Commands: /reset, /save FILE, /load FILE, /resume, /tools, /exit."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from ..actions.context import progress_text
from ..agent import Agent, RunResult
from ..errors import LiteAgentError
from ..events import (
    ApprovalRequired,
    ErrorEvent,
    Event,
    FinalAnswer,
    TextDelta,
    TextReset,
    ThinkingDelta,
    ToolCallEvent,
    ToolResultEvent,
)
from ..hooks import RunHooks, RunInfo
from ..logs import setup_logging
from ..messages import ActionReturn, ToolCall
from ..results import PAUSED
from ..sessions import InMemorySession, load_items, save_items
from .approve import ask, refuse_and_stop
from .config import agent_config
from .errors import cli_words
from .term import clean

DEMO_MODEL_NOTE = (
    "The embedded SmolLM2-135M is a demonstration model: it answers simple questions and seldom uses tools well. "
    "For a capable local model: liteagent models pull internlm2.5-1.8b, then --model internlm2.5-1.8b"
)
HELP = "/help · /reset  forget the conversation · /save FILE · /load FILE · /resume · /tools · /exit"
HELP_LONG = """commands:
  /help         this list
  /reset        forget the conversation
  /save FILE    save the conversation (JSON of its items, calls waiting for approval included)
  /load FILE    continue a saved conversation
  /resume       go on with a stopped answer: decide the calls that wait, or continue one cut off
  /tools        the enabled tools
  /exit         leave (or Ctrl-D; Ctrl-C twice at the prompt)
Ctrl-C while an answer streams stops that answer; the conversation is kept.
A call that needs approval asks: y runs it, n refuses it (the model reads your reason), a runs it and
every later call of that tool in this chat; Ctrl-C or Ctrl-D there refuses the calls and stops."""
STATUS_STYLE = {
    "success": "green",
    "args_error": "yellow",
    "invalid_action": "yellow",
    "api_error": "red",
    "timeout": "red",
    "rejected": "yellow",
    "interrupted": "red",
}


def chat_loop(args: argparse.Namespace) -> int:
    setup_logging()
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    agent = agent_config(args).build(progress=_progress_printer())
    if sys.stdin.isatty():  # a tool's question for the person (an MCP server's form) is asked here
        from .form import terminal_form

        agent.ask_person = terminal_form
    if sys.stderr.isatty():
        agent.hooks.append(ToolProgressLine())
    executor = agent.executor
    session = InMemorySession()
    names = ", ".join(executor.names()) or "none"
    console.print(Text(f"liteagent chat · tools: {names} · {HELP}", style="dim"))
    if type(agent.llm).__name__ == "LocalLLM" and getattr(agent.llm, "model_path", "") is None:
        console.print(Text(DEMO_MODEL_NOTE, style="yellow"))  # the shipped 135M model (no other file named)
    if sys.stdin.isatty() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # started from a job that ignores it
    interrupted = False  # Ctrl-C at the prompt once: a second one exits
    try:
        while True:
            try:
                line = input("> " if sys.stdin.isatty() else "")
            except EOFError:
                break
            except KeyboardInterrupt:
                if interrupted:
                    console.print()
                    break
                interrupted = True
                console.print(Text("\n(Ctrl-C again to exit, or /exit)", style="dim"))
                continue
            interrupted = False
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not _command(line, agent, session, console, err):
                    break
                continue
            try:
                _ask(agent, session, line, console, err)
            except KeyboardInterrupt:
                console.print(Text("\n(answer stopped; the conversation is kept)", style="dim"))
            except LiteAgentError as exc:
                err.print(Text(f"error: {cli_words(clean(str(exc)))}", style="red"))
    finally:
        executor.close()
    return 0


class ToolProgressLine(RunHooks):
    """A running tool's progress (``ToolContext.report_progress``, an MCP server's) on the
    terminal's status line, cleared when the tool ends."""

    def tool_progress(
        self,
        run: RunInfo,
        turn: int,
        call_id: str,
        tool: str,
        progress: float,
        total: float | None,
        message: str | None,
    ) -> None:
        text = clean(progress_text(tool, progress, total, message))[:100]
        sys.stderr.write("\r\033[2K" + text)
        sys.stderr.flush()

    def tool_end(self, run: RunInfo, turn: int, call: ToolCall, result: ActionReturn) -> None:
        sys.stderr.write("\r\033[2K")
        sys.stderr.flush()


def _progress_printer() -> Callable[[str, float], None] | None:
    """Model loading and long prompt reading, shown on a terminal's stderr line."""
    if not sys.stderr.isatty():
        return None

    def show(stage: str, fraction: float) -> None:
        line = f"{stage} {fraction:4.0%}" if 0 < fraction < 1 else (f"{stage}…" if fraction == 0 else "")
        sys.stderr.write("\r\033[2K" + line)
        sys.stderr.flush()

    return show


def _command(line: str, agent: Agent, session: InMemorySession, console: Console, err: Console) -> bool:
    cmd, _, arg = line.partition(" ")
    arg = arg.strip()
    if cmd in ("/exit", "/quit"):
        return False
    if cmd in ("/help", "/?"):
        console.print(Text(HELP_LONG))
        return True
    if cmd == "/reset":
        session.items.clear()
        console.print(Text("conversation cleared", style="dim"))
    elif cmd in ("/save", "/load"):
        if not arg:
            err.print(Text(f"{cmd} needs a file name, e.g. {cmd} chat.json", style="red"))
        else:
            try:
                if cmd == "/save":
                    save_items(session.items, arg)
                    console.print(Text(f"saved {len(session.items)} items to {arg}", style="dim"))
                else:
                    session.items[:] = load_items(arg)
                    console.print(Text(f"loaded {len(session.items)} items from {arg}", style="dim"))
                    _say_if_stopped(session, console)
            except (LiteAgentError, OSError) as exc:
                err.print(Text(f"{cmd[1:]} failed: {exc}", style="red"))
    elif cmd == "/resume":
        try:
            _resume(agent, session, console, err)
        except KeyboardInterrupt:
            console.print(Text("\n(answer stopped; the conversation is kept)", style="dim"))
        except LiteAgentError as exc:
            err.print(Text(f"error: {cli_words(clean(str(exc)))}", style="red"))
    elif cmd == "/tools":
        for d in agent.executor.api_descriptions():
            console.print(Text(f"{d['name']}: {d['description'].splitlines()[0] if d['description'] else ''}"))
    else:
        err.print(Text(f"unknown command {cmd}; {HELP}", style="red"))
    return True


def _ask(agent: Agent, session: InMemorySession, question: str, console: Console, err: Console) -> None:
    if _say_if_stopped(session, console):
        return
    result = _show(agent.stream(question, session), agent, console, err)
    _settle(agent, session, result, console, err)


def _resume(agent: Agent, session: InMemorySession, console: Console, err: Console) -> None:
    """/resume: decide the calls that wait, or go on with an answer cut off (or never given)."""
    tail = Agent.status(session)
    if tail.state == "done":
        console.print(Text("nothing to resume: the last answer is complete", style="dim"))
    elif tail.state == "needs_approval":
        _settle(agent, session, RunResult("", [], [], status="needs_approval", pending=tail.pending), console, err)
    else:
        _settle(agent, session, _show(agent.resume_stream(session), agent, console, err), console, err)


def _settle(agent: Agent, session: InMemorySession, result: RunResult | None, console: Console, err: Console) -> None:
    """While the run waits for approval: ask about each call, then go on (it may stop again)."""
    while result is not None and result.status in PAUSED:
        answer = ask(result.pending, input, sys.stdout)
        if answer.stopped:
            refuse_and_stop(agent, session, answer.reject)
            console.print(Text("(stopped: the calls were refused and did not run)", style="dim"))
            return
        for tool in answer.always:
            console.print(Text(f"({tool} runs without asking for the rest of this chat)", style="dim"))
        events = agent.resume_stream(session, answer.approve, answer.reject, answer.always, answer.answers)
        result = _show(events, agent, console, err)


def _say_if_stopped(session: InMemorySession, console: Console) -> bool:
    """A conversation whose last answer stopped mid-way takes no new question: say how to go on."""
    state = Agent.status(session).state
    if state == "needs_approval":
        console.print(Text("calls wait for a decision: /resume to decide them (or /reset)", style="yellow"))
    elif state == "cut_off":
        console.print(
            Text(
                "the last answer stopped while a tool ran: /resume goes on (a call cut off mid-run runs again only "
                "if its tool is idempotent), /reset forgets",
                style="yellow",
            )
        )
    return state in ("needs_approval", "cut_off")


def _show(events: Iterator[Event], agent: Agent, console: Console, err: Console) -> RunResult | None:
    """Render a run's events; its result (None if it ended without a final event)."""
    streaming = False
    result: RunResult | None = None
    for ev in events:
        if isinstance(ev, TextDelta):
            console.print(clean(ev.text), end="", markup=False, highlight=False, soft_wrap=True)
            streaming = True
            continue
        if isinstance(ev, ThinkingDelta):
            console.print(Text(clean(ev.text), style="dim italic"), end="")
            continue
        if isinstance(ev, TextReset):
            console.print(Text("\n(the text above was the model's thinking)", style="dim"))
            streaming = False
            continue
        if streaming:
            console.print()
            streaming = False
        if isinstance(ev, ToolCallEvent):
            _call_panel(ev, console)
        elif isinstance(ev, ToolResultEvent):
            _result_panel(ev, agent, console)
        elif isinstance(ev, (FinalAnswer, ApprovalRequired)):
            result = ev.result
            if result.status == "truncated":
                err.print(Text(f"note: {result.error}", style="yellow"))
            elif result.status not in (
                "ok",
                "needs_approval",
                "needs_input",
            ):  # e.g. the reply echoed liteagent's own note
                err.print(Text(f"error: {cli_words(clean(result.error or result.status))}", style="red"))
        elif isinstance(ev, ErrorEvent):
            result = ev.result
            err.print(Text(f"error: {cli_words(clean(ev.message))}", style="red"))
    return result


def _call_panel(ev: ToolCallEvent, console: Console) -> None:
    call = ev.call
    body = call.raw if call.error else json.dumps(call.arguments, ensure_ascii=False, indent=2)
    title = Text(f"tool call · {clean(call.name or '?')}")
    console.print(Panel(Text(clean(body)), title=title, border_style="cyan", expand=False))


def _result_panel(ev: ToolResultEvent, agent: Agent, console: Console) -> None:
    r = ev.result
    style = STATUS_STYLE.get(r.status.value, "white")
    body = r.error if r.error else agent.executor.format_result(r)
    if len(body) > 2000:
        body = body[:2000] + f"\n… ({len(body) - 2000} more characters)"
    title = Text(f"{clean(r.name)} · {r.status.value} · {r.elapsed:.2f} s")
    console.print(Panel(Text(clean(body)), title=title, border_style=style, expand=False))
