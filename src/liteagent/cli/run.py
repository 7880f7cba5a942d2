"""``liteagent run QUESTION [--json]``: one question, one answer."""

from __future__ import annotations

import argparse
import json
import sys

from ..agent import RunResult
from ..events import ErrorEvent, FinalAnswer, ToolResultEvent
from ..logs import setup_logging
from ..messages import ActionReturn
from .config import agent_config
from .errors import cli_words
from .term import clean, print_json


def run_once(args: argparse.Namespace) -> int:
    setup_logging()
    agent = agent_config(args).build()
    executor = agent.executor
    show = not args.json and not args.quiet and sys.stderr.isatty()
    result: RunResult | None = None
    try:
        for ev in agent.stream(args.question):
            if isinstance(ev, (FinalAnswer, ErrorEvent)):
                result = ev.result
            elif show and isinstance(ev, ToolResultEvent):
                sys.stderr.write(tool_line(ev.result) + "\n")
                sys.stderr.flush()
    finally:
        executor.close()
    assert result is not None
    if args.json:  # the whole trace on stdout, also when the run failed
        out = result.to_dict()
        out["protocol"] = agent.protocol.name
        out["model"] = agent.llm.model
        print_json(out)
    elif result.status in ("ok", "truncated"):
        sys.stdout.write(clean(result.answer) + "\n")
    if result.status == "truncated":
        sys.stderr.write(f"liteagent: warning: {result.error}\n")
        return 1
    if result.status != "ok":
        sys.stderr.write(f"liteagent: error: {cli_words(clean(result.error or 'the run failed'))}\n")
        return 1
    return 0


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
