"""The CLI tells the truth (issue 12): a tool that keeps failing ends the run with its own error,
`run` on a terminal shows each call, --tool-choice required is honoured in every dialect, chat
survives Ctrl-C, and every flag says its default."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from liteagent import Agent, OpenAICompatibleLLM

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"
ARXIV_CALL = (
    '<tool_call>{"name": "ArxivSearch.get_arxiv_article_information", "arguments": {"query": "agents"}}</tool_call>'
)


def test_a_tool_that_keeps_failing_ends_the_run_with_its_error(cli, server):
    server.default_reply = ARXIV_CALL  # offline: ArxivSearch fails the same way each time
    r = cli("run", "papers on agents?", "--base-url", server.url, "--plugin", "ArxivSearch", "--max-turns", "8")
    assert r.code == 1
    assert "ArxivSearch.get_arxiv_article_information kept failing" in r.err
    assert "127.0.0.1:9" in r.err or "arXiv" in r.err  # the tool's own error, not "raise max_turns"
    assert "max_turns" not in r.err and "max-turns" not in r.err
    # the first failure may be the model's to fix; then each repeat of it counts: 1 + 3
    assert len([q for q in server.requests if q["body"]]) == 4


def run_in_pty(args: list[str], stdin_script: list[tuple[float, bytes]] = (), timeout: float = 60) -> str:
    """Run the CLI with stdin/stdout/stderr on a pseudo-terminal; send keys at given delays."""
    pid, fd = pty.fork()
    if pid == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as at a terminal (see terminal.py)
        os.environ["PYTHONIOENCODING"] = "utf-8"
        os.execv(sys.executable, [sys.executable, "-m", "liteagent", *args])
    out = b""
    start = time.monotonic()
    pending = list(stdin_script)
    while time.monotonic() - start < timeout:
        if pending and time.monotonic() - start >= pending[0][0]:
            os.write(fd, pending.pop(0)[1])
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
    else:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


def test_run_on_a_terminal_shows_each_call_and_quiet_hides_them(server):
    call = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'
    server.replies = [call, "Sunny.", call, "Sunny."]
    args = ["run", "Oslo?", "--base-url", server.url, "--plugin", f"{WEATHER}:Weather"]
    shown = run_in_pty(args)
    assert "Weather.forecast" in shown and "-> success" in shown and "Sunny." in shown
    quiet = run_in_pty([*args, "--quiet"])
    assert "Sunny." in quiet and "-> success" not in quiet


@pytest.mark.parametrize("dialect", ["internlm2", "hermes", "react"])
def test_tool_choice_required_is_honoured_against_a_server(server, dialect):
    calls = {
        "internlm2": '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "Oslo"}}<|action_end|>',
        "hermes": '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>',
        "react": 'Action: Weather.forecast\nAction Input: {"city": "Oslo"}',
    }
    sys.path.insert(0, str(WEATHER.parent))
    try:
        from weather import Weather
    finally:
        sys.path.pop(0)
    server.replies = ["I think it is sunny.", calls[dialect], "Sunny in Oslo."]
    agent = Agent(
        OpenAICompatibleLLM(server.url, "scripted-model"), [Weather()], protocol=dialect, tool_choice="required"
    )
    r = agent.run("Weather in Oslo?")
    assert r.status == "ok" and r.answer == "Sunny in Oslo."
    assert r.steps[0].results[0].status.value == "invalid_action" and "required" in r.steps[0].results[0].error
    assert r.steps[1].results[0].ok  # the model called after being told


def test_chat_ctrl_c_stops_the_answer_keeps_the_conversation_and_help(server):
    # each key is sent when the command is ready for it (no timed script: it holds on a busy machine)
    from .terminal import Terminal

    server.delay = 30.0  # an answer still on its way when Ctrl-C comes
    server.replies = ["a very slow answer", "Second answer."]
    term = Terminal("chat", "--base-url", server.url, "--plugin", f"{WEATHER}:Weather")
    term.expect("> ")
    term.type("first question\r")
    for _ in range(600):  # the question reached the model server: the answer is in flight
        if any(r["body"] for r in server.requests):
            break
        time.sleep(0.05)
    term.type("\x03")
    term.expect("answer stopped; the conversation is kept")
    term.expect("> ")
    term.type("/help\r")
    help_text = term.expect("> ")
    assert "/save FILE" in help_text and "Ctrl-C while an answer streams" in help_text
    term.type("\x03")
    term.expect("Ctrl-C again to exit")
    term.type("\x03")
    term.wait()
    assert "Traceback" not in term.out


def test_every_flag_has_help_with_its_default():
    from liteagent.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest in ("help",) or not action.option_strings:
                continue
            assert action.help, f"{name} {action.option_strings} has no help"
            if action.required:
                assert "required" in action.help, f"{name} {action.option_strings}: required, and its help must say so"
                continue
            takes_value = action.nargs != 0
            if (takes_value and action.__class__.__name__ != "_AppendAction") or action.dest == "plugin":
                assert "default" in action.help, f"{name} {action.option_strings}: no default in its help"


@pytest.mark.parametrize(
    "command, absent",
    [
        ("tools", ["--base-url", "--max-turns", "--n-ctx", "--temperature"]),
        ("call", ["--base-url", "--protocol", "--n-ctx", "--model"]),
    ],
)
def test_tools_and_call_list_only_their_flags(command, absent):
    out = subprocess.run([sys.executable, "-m", "liteagent", command, "--help"], capture_output=True, text=True).stdout
    for flag in absent:
        assert flag not in out, (command, flag)


def test_chat_on_the_shipped_model_says_it_is_a_demonstration_and_how_to_get_a_better_one():
    from .terminal import Terminal

    term = Terminal("chat", "--plugin", f"{WEATHER}:Weather")
    first = term.expect("> ", timeout=300)  # the embedded model loads first
    assert "demonstration model" in first and "liteagent models pull internlm2.5-1.8b" in first
    term.type("/exit\r")
    assert term.wait() == 0


ASKING_PLUGIN = '''
import time
from liteagent import ToolContext, tool


@tool
def paint(ctx: ToolContext) -> str:
    """Paint the wall in a colour the person picks."""
    ctx.report_progress(1, 2, "mixing")
    time.sleep(1.0)  # long enough to be seen on the status line
    answer = ctx.elicit("Which colour?", {"type": "object", "properties": {"colour": {"type": "string"}},
                                           "required": ["colour"]})
    ctx.report_progress(2, 2, "painting")
    return f"painted {answer.action} {answer.content.get('colour')}"
'''


def test_chat_shows_a_tools_progress_and_asks_its_question_at_the_terminal(server, tmp_path):
    from .terminal import Terminal

    plugin = tmp_path / "paint.py"
    plugin.write_text(ASKING_PLUGIN)
    server.replies = ['<tool_call>{"name": "paint", "arguments": {}}</tool_call>', "The wall is done."]
    term = Terminal("chat", "--base-url", server.url, "--protocol", "hermes", "--plugin", f"{plugin}:paint")
    term.expect("> ")
    term.type("paint the wall\r")
    term.expect("paint: 1/2 · mixing")
    term.expect("Which colour?")
    term.expect("[a]nswer / [d]ecline / [c]ancel")
    term.type("a\r")
    term.expect("colour (string): ")
    term.type("teal\r")
    term.expect("The wall is done.")
    term.expect("> ")
    term.type("/exit\r")
    assert term.wait() == 0
    import json

    sent = json.dumps(server.requests[-1]["body"])
    assert "painted accept teal" in sent
    assert "Traceback" not in term.out
