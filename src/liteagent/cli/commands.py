"""The subcommands. Thin shells over ActionExecutor and Agent."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from ..actions import ActionExecutor, load_plugins
from ..agent_config import AgentConfig
from ..errors import LiteAgentError, UsageError
from ..protocols import DIALECTS
from .config import agent_config, serve_config
from .errors import FLAGS
from .term import print_json


def build_executor(args: argparse.Namespace) -> ActionExecutor:
    """The plugins the flags enable (``--plugin``, ``--mcp``, ``--timeout``)."""
    return agent_config(args).build_executor()


def cmd_batch(args: argparse.Namespace) -> int:
    """Run every row of the input; results appended to --out as they finish."""
    import asyncio
    from pathlib import Path

    from ..batch import read_rows, run_batch
    from ..batch.rows import row_processor

    config = agent_config(args)
    out = Path(args.out)
    rows = list(read_rows(args.input))
    if args.batch_backend == "ray":
        try:
            from ..batch.ray_backend import run_ray
        except ImportError:
            raise UsageError('--batch-backend ray needs Ray: pip install "liteagent[ray]"') from None
        if out.exists() and out.stat().st_size and not args.resume:
            raise UsageError(f"{out} exists: pass --resume to continue it, or choose another --out")
        stats = run_ray(rows, config, out, concurrency=args.concurrency, resume=args.resume, address=args.ray_address)
    else:
        agent = config.build()
        executor = agent.executor
        process = row_processor(agent)  # a row's "plugins" only narrows the enabled set
        try:
            stats = asyncio.run(
                run_batch(iter(rows), process, out, concurrency=args.concurrency, resume=args.resume, total=len(rows))
            )
        except KeyboardInterrupt:
            sys.stderr.write(f"liteagent batch: interrupted; what finished is in {out} (--resume continues)\n")
            return 130
        finally:
            executor.close()
    if stats.cut_bytes:
        sys.stderr.write(
            f"liteagent batch: the last line of {out} was cut short by the crash ({stats.cut_bytes} bytes);"
            " it was removed and its row ran again\n"
        )
    sys.stderr.write(f"liteagent batch: {stats.done} done, {stats.failed} failed, {stats.skipped} skipped -> {out}\n")
    return 0 if not stats.failed else 1


def cmd_eval(args: argparse.Namespace) -> int:
    """Score tool calling on BFCL categories, per dialect."""
    import asyncio
    from pathlib import Path

    from ..evals.bfcl import TEMPERATURE
    from ..evals.bfcl import categories as bfcl_categories
    from ..evals.run import CategoryResult, category_sizes, eval_category, row_writer, scores, scores_table, table

    data = Path(args.data)
    if not data.is_dir():
        raise UsageError(f"--data {data}: no such folder")
    categories = bfcl_categories(args.categories, data)
    config = agent_config(args)
    if config.temperature is None:  # BFCL's own (evals/bfcl.py)
        config = dataclasses.replace(config, temperature=TEMPERATURE)
    dialects = [d.strip() for d in args.compare.split(",")] if args.compare else [config.protocol]
    for dialect in dialects:
        if dialect not in DIALECTS:
            raise UsageError(f"--compare {dialect!r}: choose among {', '.join(DIALECTS)}")
    results: dict[str, dict[str, CategoryResult]] = {}
    sink_file = open(args.out, "w", encoding="utf-8") if args.out else None
    try:
        for dialect in dialects:
            agent = dataclasses.replace(config, protocol=dialect).build(ActionExecutor([]))
            name = agent.protocol.name if dialect != "auto" or agent.llm.model else dialect
            sink = row_writer(sink_file, name) if sink_file is not None else None

            async def go(a: Any = agent, s: Any = sink) -> dict[str, CategoryResult]:
                out = {}
                for cat in categories:
                    out[cat] = await eval_category(a, data, cat, args.limit, args.concurrency, s)
                return out

            results[name] = asyncio.run(go())
    finally:
        if sink_file is not None:
            sink_file.close()
    sizes = category_sizes(data)
    if args.json:
        print_json(
            {
                "dialects": {
                    d: {"categories": {c: r.summary() for c, r in cats.items()}, "bfcl": scores(cats, sizes)}
                    for d, cats in results.items()
                }
            }
        )
    else:
        sys.stdout.write(table(results) + "\n\n" + scores_table(results, sizes) + "\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the agent as an OpenAI-compatible API."""
    import os

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise UsageError('liteagent serve needs FastAPI and uvicorn: pip install "liteagent[serve]"') from None
    from ..serve.factory import CONFIG_ENV, app_from_config, check_service

    config = serve_config(args)
    if args.workers > 1:
        check_service(config)  # here, once: a worker that refuses its configuration would only be restarted
    else:
        app = app_from_config(config)
    sys.stderr.write(f"liteagent serve: http://{args.host}:{args.port}/v1 (model {config.served_name})\n")
    sys.stderr.flush()
    if args.workers > 1:
        os.environ[CONFIG_ENV] = json.dumps(config.to_dict(secrets=True), ensure_ascii=False)
        uvicorn.run(
            "liteagent.serve.factory:app_from_env", factory=True, host=args.host, port=args.port,
            workers=args.workers, log_level="warning",
        )  # fmt: skip
        return 0
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_mcp_serve(args: argparse.Namespace) -> int:
    """Serve the enabled plugins over MCP (stdio or Streamable HTTP)."""
    import os

    import anyio

    _check_mcp_serve_flags(args)
    try:
        from ..mcp.server import build_server, http_app, serve_stdio
    except ImportError:
        raise UsageError('liteagent mcp serve needs the MCP SDK: pip install "liteagent[mcp]"') from None
    config = agent_config(args)
    if args.transport == "http":  # many clients share it: no interpreter, however it is named
        from ..serve.factory import shared_executor

        executor = shared_executor(config, "liteagent mcp serve --transport http")
    else:
        executor = config.build_executor()
    agent = config.build(executor) if args.agent else None
    server = build_server(executor, agent)
    if args.transport == "stdio":
        anyio.run(serve_stdio, server)
        return 0
    import uvicorn

    key = args.server_key or os.environ.get("LITEAGENT_MCP_KEY")
    sys.stderr.write(f"liteagent mcp: http://{args.host}:{args.port}/mcp\n")
    app = http_app(
        server, args.host, key, port=args.port, allowed_hosts=args.allowed_host, allowed_origins=args.allowed_origin
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


# settings that apply to the plugins served, with or without --agent
_TOOL_SETTINGS = ("plugins", "mcp", "timeout", "tool_timeout")


def _check_mcp_serve_flags(args: argparse.Namespace) -> None:
    """No flag of ``mcp serve`` is silently ignored (an unprotected server above all)."""
    if args.server_key and args.transport != "http":
        raise UsageError("--server-key protects the HTTP transport; add --transport http (stdio has no clients to key)")
    for flag, values in (("--allowed-host", args.allowed_host), ("--allowed-origin", args.allowed_origin)):
        if values and args.transport != "http":
            raise UsageError(f"{flag} is for the HTTP transport; add --transport http")
    from ..serve.guard import host_error, origin_error

    for flag, values, why_not in (
        ("--allowed-host", args.allowed_host, host_error),
        ("--allowed-origin", args.allowed_origin, origin_error),
    ):
        for value in values:
            why = why_not(value)
            if flag == "--allowed-origin" and value.strip() in ("*", "null"):
                why = "mcp serve takes named origins only (scheme://name[:port], a port may be *)"
            if why is not None:
                raise UsageError(f"{flag} {value!r}: {why}")
    if args.agent:
        return
    if args.api_key is not None:
        raise UsageError(
            "--api-key is the model's key, used with --agent; to require a bearer token from MCP clients, "
            "use --server-key KEY (or LITEAGENT_MCP_KEY)"
        )
    config, unset = agent_config(args), AgentConfig()
    given = [
        f.name
        for f in dataclasses.fields(config)
        if f.name not in _TOOL_SETTINGS and getattr(config, f.name) != getattr(unset, f.name)
    ]
    if given:
        flags = ", ".join(FLAGS.get(name, "--" + name.replace("_", "-")) for name in given)
        what = "approval flags apply" if given == ["approve_tools"] else "model flags apply"
        raise UsageError(f"{flags}: {what} to the agent; add --agent to serve it as the tool 'ask'")


def _check_approve_tools(config: AgentConfig) -> None:
    """Each --approve-tool names a tool or plugin the flags enable (or is *)."""
    from ..approval import check_rules

    executor = config.build_executor()
    try:
        check_rules(executor, dict.fromkeys(config.approve_tools, True))
    finally:
        executor.close()


def cmd_tools(args: argparse.Namespace) -> int:
    executor = build_executor(args)
    if args.format == "lagent":
        print_json(executor.lagent_descriptions())
    elif args.format == "openai":
        print_json(executor.openai_tools())
    else:
        sys.stdout.write(agent_config(args).dialect().tools_prompt(executor) + "\n")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from ..actions.context import HOST
    from .form import TerminalHost, at_terminal

    try:
        arguments = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f'--args is not valid JSON ({exc.msg} at position {exc.pos}); e.g. --args \'{{"query": "llm agents"}}\''
        ) from None
    if not isinstance(arguments, dict):
        raise UsageError(f'--args must be a JSON object like \'{{"key": "value"}}\', got {type(arguments).__name__}')
    executor = build_executor(args)
    if at_terminal():  # a tool's question for the person (an MCP server's form) is asked here
        HOST.set(TerminalHost())
    try:
        result = executor.execute(args.name, arguments)
    finally:
        executor.close()
    print_json(result.to_dict())
    return 0 if result.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run_once

    return run_once(args)


def cmd_resume(args: argparse.Namespace) -> int:
    from .run import resume_once

    return resume_once(args)


def cmd_chat(args: argparse.Namespace) -> int:
    from .chat import chat_loop

    return chat_loop(args)


def cmd_web(args: argparse.Namespace) -> int:
    """Start the Streamlit app with the shared flags as the sidebar's first values."""
    import os
    import subprocess
    from pathlib import Path

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise LiteAgentError("the web chat needs streamlit: pip install 'liteagent[web]'") from None
    config = agent_config(args)
    for spec in config.plugins:  # fail now, with the one-line message, not inside the page
        load_plugins([spec])
    if config.mcp:
        from ..mcp import load_config

        for path in config.mcp:
            load_config(path)
    if config.approve_tools:  # a typo would let the tool run unasked on the page
        _check_approve_tools(config)
    from ..web.runtime import Settings

    defaults = Settings.from_config(
        config, db=args.db or "", language=args.language, allow_url_change=args.allow_url_change
    )
    app = Path(__file__).resolve().parent.parent / "web" / "app.py"
    env = {**os.environ, "LITEAGENT_WEB_DEFAULTS": json.dumps(dataclasses.asdict(defaults), ensure_ascii=False)}
    if args.password:
        env["LITEAGENT_WEB_PASSWORD"] = args.password
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    sys.stderr.write(f"liteagent web: http://{args.host}:{args.port}\n")
    sys.stderr.flush()
    if hasattr(os, "execve"):
        # become the Streamlit server: signals (Ctrl-C, a supervisor's SIGTERM) reach it directly
        # and no orphaned server outlives `liteagent web`
        os.execve(sys.executable, cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
