"""``liteagent run QUESTION [--json]``: one question, one answer."""

from __future__ import annotations

import argparse
import sys

from ..agent_config import build_agent
from ..errors import LiteAgentError
from .commands import build_executor, print_json
from .logs import setup_logging


def run_once(args: argparse.Namespace) -> int:
    setup_logging()
    executor = build_executor(args)
    agent = build_agent(args, executor)
    try:
        result = agent.run(args.question)
    finally:
        executor.close()
    if args.json:
        out = result.to_dict()
        out["protocol"] = agent.protocol.name
        out["model"] = agent.llm.model
        print_json(out)
        return 0 if result.status == "ok" else 1
    if result.status != "ok":
        if result.status == "error" and not result.steps:
            raise LiteAgentError(result.error or "the run failed")
        sys.stderr.write(f"liteagent: error: {result.error}\n")
        return 1
    sys.stdout.write(result.answer + "\n")
    return 0
