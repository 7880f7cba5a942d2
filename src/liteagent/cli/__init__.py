"""The ``liteagent`` command: ``chat``, ``run``, ``resume``, ``tools``, ``call``, ``web``, ``serve``, ``models``...

Every user-caused error is one line on stderr and exit code 2 (usage) or 1 (runtime); never a
traceback (``LITEAGENT_DEBUG=1`` shows it). ``run`` and ``resume`` exit with 4 when the run waits for
a person's approval or answer (the calls and questions are listed on stderr), 3 when another process resumed it first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ..errors import LiteAgentError
from ..output import MODES as OUTPUT_MODES
from ..protocols import DIALECTS
from .approve import MODES
from .errors import cli_words


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"liteagent: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 2:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 2")
    return value


def plugin_flags() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("plugins")
    g.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="SPEC",
        help="enable a plugin: a built-in name, pkg.module:Class or path/file.py:Class (repeatable; "
        "default: EnvChecker and ArxivSearch)",
    )
    g.add_argument(
        "--mcp",
        action="append",
        default=[],
        metavar="FILE",
        help='MCP servers whose tools to add ({"mcpServers": {...}}, as other clients keep it; repeatable; default: none)',
    )
    g.add_argument(
        "--mcp-connect-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds each MCP server may take to connect, where its entry names no connect_timeout; "
        "one that does not connect is left out with a warning (default 30)",
    )
    return p


def approval_flags() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("approval")
    g.add_argument(
        "--approve-tool",
        action="append",
        default=[],
        metavar="NAME",
        help="a person approves each call of this tool or plugin before it runs, * for every tool (repeatable; "
        "default: only the tools that say so themselves)",
    )
    return p


def output_flags() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("typed answer")
    g.add_argument(
        "--output-schema",
        dest="output_schema_file",
        metavar="FILE",
        help="the answer must fit this JSON Schema (a .json file); the validated JSON is printed (default: text)",
    )
    g.add_argument(
        "--output-type",
        metavar="SPEC",
        help="the answer must be this Python type: pkg.module:Name or path/file.py:Name (a pydantic model, "
        "dataclass, TypedDict...; default: text)",
    )
    g.add_argument(
        "--output-mode",
        choices=OUTPUT_MODES,
        default="auto",
        help="how the model is asked: tool (a final_answer tool), native (response_format), prompted (the schema "
        "in the instructions) (default: auto, which is tool)",
    )
    g.add_argument(
        "--output-retries",
        type=_whole_number,
        default=2,
        help="invalid answers sent back to the model before the run ends with exit code 5 (default 2)",
    )
    return p


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def session_flags(p: argparse.ArgumentParser, *, required: bool) -> None:
    what = "the SQLite session file the run goes on from (required)" if required else (
        "keep the conversation in this SQLite file: a later run goes on from it, and a run that waits for "
        "approval or was cut off goes on with 'liteagent resume --session FILE' (default: none; a run that "
        "stops for approval without a terminal is saved to a new file in the user data directory)"
    )  # fmt: skip
    p.add_argument("--session", required=required, metavar="FILE", help=what)
    p.add_argument(
        "--session-id",
        default="default",
        metavar="ID",
        help="the conversation in that file, as serve's --sessions keeps many (default: default)",
    )


def dialect_flags() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("dialect")
    g.add_argument(
        "--protocol",
        choices=DIALECTS,
        default="auto",
        help="tool-call dialect (default: auto, from the model name: internlm -> internlm2, gpt -> openai, else hermes)",
    )
    g.add_argument(
        "--model",
        help="model name: the server's, or one 'liteagent models pull' fetched, to run in-process "
        "(default: the server's first model, or the embedded model)",
    )
    g.add_argument("--system-prompt", help="system (meta) prompt (default: the dialect's)")
    g.add_argument(
        "--plugin-prompt", help="plugin prompt template, {prompt} for the tool list (default: the dialect's)"
    )
    return p


def model_flags() -> _Parser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("model")
    g.add_argument(
        "--backend",
        choices=["local", "openai"],
        help="local: the embedded model; openai: any OpenAI-compatible server (default: openai when --base-url is given, else local)",
    )
    g.add_argument(
        "--base-url",
        help="OpenAI-compatible server, e.g. http://127.0.0.1:23333/v1 (lmdeploy api_server; default: none)",
    )
    g.add_argument("--api-key", help="API key (default: $LITEAGENT_API_KEY or $OPENAI_API_KEY)")
    g.add_argument("--max-turns", type=_positive_int, default=8, help="model turns per question (default 8)")
    g.add_argument(
        "--record",
        metavar="FILE",
        help="append every model call (the request's bytes and hash, the streamed reply with its timing; no key) "
        "to this JSONL file (default: none)",
    )
    g.add_argument(
        "--replay",
        metavar="FILE",
        help="answer from a recording instead of a model (--base-url and the model are then not used); a request "
        "not in it is an error showing where it differs (default: none)",
    )
    g.add_argument(
        "--replay-speed",
        type=float,
        default=0.0,
        help="0: replay at once; 1: at the recorded pace; 2: twice as fast (default 0)",
    )
    g.add_argument(
        "--otel",
        action="store_true",
        help="send OpenTelemetry spans of each run over OTLP, as the standard OTEL_EXPORTER_OTLP_* variables "
        'say (pip install "liteagent[otel]"; default: off, nothing is sent)',
    )
    g.add_argument(
        "--max-total-tokens",
        type=_positive_int,
        default=None,
        help="end a run that has used this many tokens (as the model reports them) before its next model call "
        "(default: no limit)",
    )
    g.add_argument(
        "--max-tool-calls",
        type=_positive_int,
        default=None,
        help="end a run before tool calls that would pass this many (default: no limit)",
    )
    g.add_argument(
        "--temperature", type=_temperature, default=None, help="sampling temperature, 0-2 (default: the server's)"
    )
    g.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=1024,
        help="tokens one model reply may hold; a longer answer ends as truncated (default 1024)",
    )
    g.add_argument(
        "--tool-choice",
        choices=["auto", "required", "none"],
        default="auto",
        help="may, must, or must not call a tool (default auto; required: a first reply without a call is sent back)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds one tool call (default 60) and one model call, all in (default 180), may take",
    )
    g.add_argument(
        "--context-tokens",
        type=_positive_int,
        default=None,
        help="the server model's context size: older turns are left out of prompts that would not fit "
        "(default: unknown, nothing is left out; the embedded model uses --n-ctx)",
    )
    g = p.add_argument_group("embedded model (--backend local)")
    g.add_argument("--model-path", help="a GGUF file to run in-process (default: the shipped SmolLM2-135M-Instruct)")
    g.add_argument("--n-ctx", type=_positive_int, default=4096, help="context length in tokens (default 4096)")
    g.add_argument(
        "--threads", type=_positive_int, default=None, help="CPU threads (default: half the cores, at most 8)"
    )
    g.add_argument(
        "--gpu-layers",
        type=int,
        default=0,
        help="layers to offload to a GPU (GPU builds of llama-cpp-python; default 0)",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    plugins, dialect, model = plugin_flags(), dialect_flags(), model_flags()
    shared = [plugins, approval_flags(), dialect, model]
    typed = [*shared, output_flags()]
    parser = _Parser(prog="liteagent", description="Lightweight LLM agents with plugins.")
    parser.add_argument("--version", action="version", version=f"liteagent {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("tools", parents=[plugins, dialect], help="list the enabled plugins' descriptions")
    p.add_argument(
        "--format",
        choices=["lagent", "openai", "prompt"],
        default="lagent",
        help="lagent/openai: a JSON list; prompt: the plugin prompt the model sees (default lagent)",
    )
    p.set_defaults(backend=None, base_url=None, timeout=None)
    p.set_defaults(func=commands.cmd_tools)

    p = sub.add_parser("call", parents=[plugins], help="run one tool API and print its result as JSON")
    p.add_argument("name", help="Tool.api, or Tool for a single tool")
    p.add_argument("--args", default="{}", help="arguments as a JSON object (default {})")
    p.add_argument("--timeout", type=float, default=None, help="seconds the tool may take (default 60)")
    p.set_defaults(func=commands.cmd_call)

    p = sub.add_parser("run", parents=typed, help="answer one question and exit")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the whole trace as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no tool-call lines on stderr (shown on a terminal by default)")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="the run's timeline on stderr: each model turn and tool call with its time and tokens",
    )
    p.add_argument(
        "--approve",
        choices=MODES,
        default=None,
        help="calls that need approval: ask on the terminal, run all, or refuse none (the model reads the refusal) "
        "(default: ask when stdin and stderr are a terminal, else stop with exit code 4 and list them)",
    )
    session_flags(p, required=False)
    p.set_defaults(func=commands.cmd_run)

    p = sub.add_parser(
        "resume",
        parents=typed,
        help="go on with a run that waits for approval or was cut off, from its session file",
        description="Go on with the last run in a session file: decide the calls that wait for approval, or "
        "continue a run whose process ended. Give the agent flags (--base-url, --plugin...) the run had.",
    )
    session_flags(p, required=True)
    p.add_argument(
        "--approve",
        action="append",
        default=[],
        metavar="ID|MODE",
        help="run the waiting call ID (repeatable); or ask, all or none: what to do with the calls no other "
        "flag decides, and with later ones (default: ask on a terminal, else exit code 4 and list them)",
    )
    p.add_argument(
        "--reject",
        action="append",
        default=[],
        metavar="ID[:REASON]",
        help="refuse the waiting call ID; the model reads the reason (repeatable; default reason: "
        "a person did not approve it)",
    )
    p.add_argument(
        "--always",
        action="append",
        default=[],
        metavar="TOOL",
        help="approve this tool's calls, waiting and later, for the rest of the conversation (repeatable; "
        "default: none)",
    )
    p.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="ID=JSON",
        help="answer the question the waiting call ID's tool asked: its form's values as a JSON object, or "
        "decline / cancel; the call runs again with it (repeatable; default: asked on a terminal)",
    )
    p.add_argument("--json", action="store_true", help="print the continuation's trace as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no tool-call lines on stderr (shown on a terminal by default)")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="the run's timeline on stderr: each model turn and tool call with its time and tokens",
    )
    p.set_defaults(func=commands.cmd_resume)

    p = sub.add_parser(
        "chat",
        parents=shared,
        help="interactive chat in the terminal",
        description="Chat in the terminal. A call that needs approval asks: [y]es / [n]o (with a reason the model "
        "reads) / [a]lways (this tool, for the rest of the chat).",
    )
    p.set_defaults(func=commands.cmd_chat)

    p = sub.add_parser("mcp", help="MCP: serve liteagent's plugins to MCP clients")
    mcp_sub = p.add_subparsers(dest="mcp_command", metavar="COMMAND", parser_class=_Parser)
    mcp_sub.required = True
    p = mcp_sub.add_parser("serve", parents=shared, help="serve the enabled plugins as an MCP server")
    p.add_argument(
        "--transport", choices=["stdio", "http"], default="stdio", help="stdio or Streamable HTTP (default stdio)"
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765); the endpoint is /mcp")
    p.add_argument(
        "--agent",
        action="store_true",
        help="also serve the tool 'ask', which runs the whole agent (model flags as for run) on a question (default: off)",
    )
    p.add_argument(
        "--server-key",
        default=None,
        help="HTTP: require 'Authorization: Bearer KEY' (or set LITEAGENT_MCP_KEY; default: none)",
    )
    _allow_flags(p, "serve MCP")
    p.set_defaults(func=commands.cmd_mcp_serve)

    from .models import add_models_parser

    add_models_parser(sub, _Parser)

    p = sub.add_parser("serve", parents=shared, help="serve the agent as an OpenAI-compatible API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--sessions",
        default=None,
        help="where conversations with a session id live: a SQLite path or sqlite:///path, or redis://HOST:PORT/DB "
        "(default: serve-sessions.sqlite3 in the user data directory)",
    )
    p.add_argument(
        "--server-key",
        default=None,
        help="require 'Authorization: Bearer KEY' on every request (or set LITEAGENT_SERVE_KEY; default: none)",
    )
    p.add_argument("--workers", type=_positive_int, default=1, help="server processes (default 1)")
    p.add_argument("--served-name", default=None, help="the model name clients see (default liteagent)")
    p.add_argument(
        "--max-body", type=_positive_int, default=1_000_000, help="largest request in bytes (default 1000000)"
    )
    p.add_argument("--run-timeout", type=float, default=300.0, help="seconds one answer may take (default 300)")
    _allow_flags(p, "call the API")
    p.set_defaults(func=commands.cmd_serve)

    p = sub.add_parser("batch", parents=typed, help="run the agent over a JSONL file of questions")
    p.add_argument(
        "input", help='a JSONL file: {"id", "question"} or {"id", "messages"} a line (optional "tools", "plugins")'
    )
    p.add_argument("--out", required=True, help="the JSONL file the runs are appended to (required)")
    p.add_argument("--concurrency", type=_positive_int, default=8, help="rows at once (default 8)")
    p.add_argument(
        "--resume", action="store_true", help="skip the ids already in --out (default: refuse an existing --out)"
    )
    p.add_argument(
        "--batch-backend", choices=["local", "ray"], default="local", help="local or Ray Data (default local)"
    )
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (default: start a local one)")
    p.set_defaults(func=commands.cmd_batch)

    p = sub.add_parser(
        "eval",
        parents=[dialect, model],
        help="score tool calling on BFCL categories",
        description="Score tool calling on BFCL categories with BFCL's own checker rules. The sampling "
        "temperature is BFCL's own (0.001) unless --temperature says otherwise.",
    )
    p.add_argument("--suite", choices=["bfcl"], default="bfcl", help="the benchmark (default bfcl)")
    p.add_argument(
        "--data", required=True, help="the folder with BFCL_v4_<category>.json and possible_answer/ (required)"
    )
    p.add_argument(
        "--categories",
        default="simple_python,multiple,parallel,parallel_multiple,irrelevance",
        help="comma-separated BFCL v4 categories or groups: all, live, non_live, python, non_python (a group takes "
        "those in --data; default: simple_python,multiple,parallel,parallel_multiple,irrelevance)",
    )
    p.add_argument("--limit", type=_positive_int, default=None, help="first N cases of each category (default: all)")
    p.add_argument("--concurrency", type=_positive_int, default=8, help="cases at once (default 8)")
    p.add_argument("--compare", default=None, help="comma-separated dialects to run side by side (default: --protocol)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.add_argument("--out", default=None, help="write the per-case results as JSONL here (default: none)")
    p.set_defaults(func=commands.cmd_eval, plugin=[], mcp=[])

    p = sub.add_parser("web", parents=typed, help="start the web chat")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--db", help="SQLite file for conversations (default: web.sqlite3 in the user data directory)")
    p.add_argument(
        "--language", choices=["en", "zh"], default="en", help="label language, switchable on the page (default en)"
    )
    p.add_argument(
        "--password",
        help="ask visitors for this password before anything shows (or set LITEAGENT_WEB_PASSWORD; default: none)",
    )
    p.add_argument(
        "--allow-url-change",
        action="store_true",
        help="let visitors point the page at another server when an API key is configured "
        "(the key is never sent there; default: the URL is fixed)",
    )
    p.set_defaults(func=commands.cmd_web)
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(f"liteagent: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning  # plugin-description warnings: one line, no source dump
    parser = build_parser()
    args = parser.parse_args(argv)
    provider = None
    try:
        if getattr(args, "otel", False):
            from ..tracing import OTEL_ENV, setup_otlp

            provider = setup_otlp()
            os.environ[OTEL_ENV] = "1"  # serve's worker processes set it up too
            # a supervisor's SIGTERM (uvicorn raises it again once it has shut down) still sends the spans
            signal.signal(signal.SIGTERM, _exit_on_term)
        code = args.func(args)
    except LiteAgentError as exc:
        sys.stderr.write(f"liteagent: error: {cli_words(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("liteagent: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get("LITEAGENT_DEBUG"):
            raise
        sys.stderr.write(
            f"liteagent: internal error: {type(exc).__name__}: {exc} (set LITEAGENT_DEBUG=1 for the traceback)\n"
        )
        return 1
    finally:
        if provider is not None:
            provider.shutdown()  # every span is sent before the process ends
    return int(code or 0)


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _allow_flags(p: argparse.ArgumentParser, what: str) -> None:
    """--allowed-host and --allowed-origin, for the services a browser could reach."""
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST",
        help="also accept this Host header: the name clients or a proxy use, e.g. api.example.com, "
        "api.example.com:8443 or api.example.com:* (repeatable; default: only this machine's loopback "
        "names and the address served, with its port; others get 421, against DNS rebinding)",
    )
    p.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help=f"let web pages from this origin {what} (CORS), e.g. https://app.example.com or "
        "http://localhost:* (repeatable; default: none, requests from any web page get 403)",
    )
