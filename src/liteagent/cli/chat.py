"""``liteagent chat``: an interactive terminal chat. The answer streams; each tool call and its
result shows as a panel. Commands: /reset, /save FILE, /load FILE, /tools, /exit."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from ..agent import Agent
from ..errors import LiteAgentError
from ..events import ErrorEvent, FinalAnswer, TextDelta, TextReset, ThinkingDelta, ToolCallEvent, ToolResultEvent
from ..logs import setup_logging
from ..sessions import InMemorySession, load_items, save_items
from .config import agent_config
from .errors import cli_words
from .term import clean

HELP = "/help · /reset  forget the conversation · /save FILE · /load FILE · /tools · /exit"
HELP_LONG = """commands:
  /help         this list
  /reset        forget the conversation
  /save FILE    save the conversation (JSON of its items)
  /load FILE    continue a saved conversation
  /tools        the enabled tools
  /exit         leave (or Ctrl-D; Ctrl-C twice at the prompt)
Ctrl-C while an answer streams stops that answer; the conversation is kept."""
STATUS_STYLE = {
    "success": "green",
    "args_error": "yellow",
    "invalid_action": "yellow",
    "api_error": "red",
    "timeout": "red",
}


def chat_loop(args: argparse.Namespace) -> int:
    setup_logging()
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    agent = agent_config(args).build(progress=_progress_printer())
    executor = agent.executor
    session = InMemorySession()
    names = ", ".join(executor.names()) or "none"
    console.print(Text(f"liteagent chat · tools: {names} · {HELP}", style="dim"))
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
    finally:
        executor.close()
    return 0


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
            except (LiteAgentError, OSError) as exc:
                err.print(Text(f"{cmd[1:]} failed: {exc}", style="red"))
    elif cmd == "/tools":
        for d in agent.executor.api_descriptions():
            console.print(Text(f"{d['name']}: {d['description'].splitlines()[0] if d['description'] else ''}"))
    else:
        err.print(Text(f"unknown command {cmd}; {HELP}", style="red"))
    return True


def _ask(agent: Agent, session: InMemorySession, question: str, console: Console, err: Console) -> None:
    streaming = False
    for ev in agent.stream(question, session):
        if isinstance(ev, TextDelta):
            console.print(clean(ev.text), end="", markup=False, highlight=False, soft_wrap=True)
            streaming = True
        elif isinstance(ev, ThinkingDelta):
            console.print(Text(clean(ev.text), style="dim italic"), end="")
        elif isinstance(ev, TextReset):
            console.print(Text("\n(the text above was the model's thinking)", style="dim"))
            streaming = False
        elif isinstance(ev, ToolCallEvent):
            if streaming:
                console.print()
                streaming = False
            call = ev.call
            body = call.raw if call.error else json.dumps(call.arguments, ensure_ascii=False, indent=2)
            title = Text(f"tool call · {clean(call.name or '?')}")
            console.print(Panel(Text(clean(body)), title=title, border_style="cyan", expand=False))
        elif isinstance(ev, ToolResultEvent):
            r = ev.result
            style = STATUS_STYLE.get(r.status.value, "white")
            body = r.error if r.error else agent.executor.format_result(r)
            if len(body) > 2000:
                body = body[:2000] + f"\n… ({len(body) - 2000} more characters)"
            console.print(
                Panel(
                    Text(clean(body)),
                    title=Text(f"{clean(r.name)} · {r.status.value} · {r.elapsed:.2f} s"),
                    border_style=style,
                    expand=False,
                )
            )
        elif isinstance(ev, FinalAnswer):
            if streaming:
                console.print()
            if ev.result.status == "truncated":
                err.print(Text(f"note: {ev.result.error}", style="yellow"))
        elif isinstance(ev, ErrorEvent):
            if streaming:
                console.print()
            err.print(Text(f"error: {cli_words(clean(ev.message))}", style="red"))
