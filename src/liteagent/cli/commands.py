"""The subcommands. Thin shells over ActionExecutor and Agent."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..actions import ActionExecutor, default_plugins, load_plugins
from ..errors import LiteAgentError, UsageError


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def build_executor(args: argparse.Namespace) -> ActionExecutor:
    plugins = load_plugins(args.plugin) if args.plugin else default_plugins()
    try:
        return ActionExecutor(plugins, timeout=args.timeout if args.timeout else 60.0)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_tools(args: argparse.Namespace) -> int:
    executor = build_executor(args)
    if args.format == "lagent":
        print_json(executor.lagent_descriptions())
    elif args.format == "openai":
        print_json(executor.openai_tools())
    else:
        from ..agent_config import resolve_protocol

        protocol = resolve_protocol(args.protocol, args.model or _default_model_name(args))
        prompt = protocol.tools_prompt(executor, plugin_prompt=args.plugin_prompt)
        sys.stdout.write(prompt + "\n")
    return 0


def _default_model_name(args: argparse.Namespace) -> str:
    # Without --model: the embedded model when no server is named, else unknown (hermes).
    if args.base_url or args.backend == "openai":
        return ""
    return "smollm2-135m-instruct"


def cmd_call(args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f'--args is not valid JSON ({exc.msg} at position {exc.pos}); e.g. --args \'{{"query": "llm agents"}}\''
        ) from None
    if not isinstance(arguments, dict):
        raise UsageError(f'--args must be a JSON object like \'{{"key": "value"}}\', got {type(arguments).__name__}')
    executor = build_executor(args)
    try:
        result = executor.execute(args.name, arguments)
    finally:
        executor.close()
    print_json(result.to_dict())
    return 0 if result.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run_once

    return run_once(args)


def cmd_chat(args: argparse.Namespace) -> int:
    from .chat import chat_loop

    return chat_loop(args)


def cmd_web(args: argparse.Namespace) -> int:
    raise LiteAgentError("the web chat is not built yet (see the project's open issues); use 'liteagent chat'")
