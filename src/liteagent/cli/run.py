"""``liteagent run QUESTION [--json]``: one question, one answer."""

from __future__ import annotations

import argparse
import sys

from ..agent_config import build_agent
from .commands import build_executor, print_json
from .errors import cli_words
from .logs import setup_logging
from .term import clean


def run_once(args: argparse.Namespace) -> int:
    setup_logging()
    executor = build_executor(args)
    agent = build_agent(args, executor)
    try:
        result = agent.run(args.question)
    finally:
        executor.close()
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
