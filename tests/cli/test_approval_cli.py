"""Approvals on the command line (issue 20), as the real command against the scripted server:
chat asks [y]es / [n]o / [a]lways on a terminal; run asks on a terminal, decides with --approve
all|none, or stops with exit code 4 and a session file from which `liteagent resume` goes on in a
new process; the tool runs exactly once, refusals reach the model, bad decisions are one line."""

from __future__ import annotations

import json
import shlex
import textwrap
from pathlib import Path

import pytest

from liteagent import Agent, ScriptedLLM
from liteagent.actions import load_plugins
from liteagent.cli.approve import describe
from liteagent.results import PendingCall
from liteagent.sessions import InMemorySession, save_items

from .terminal import Terminal

PROMPT = "[y]es / [n]o / [a]lways"
TOOLS = '''
import os
from pathlib import Path
from liteagent import tool

HERE = Path(__file__).parent


@tool
def remove(path: str) -> str:
    """Remove a file.

    Args:
        path: the file to remove
    """
    with (HERE / "ran.log").open("a", encoding="utf-8") as f:
        f.write(path + "\\n")
    return f"removed {path}"


@tool(needs_approval=True)
def deploy(target: str) -> str:
    """Deploy; the process ends while it runs the first time (a crash mid-tool).

    Args:
        target: where to
    """
    with (HERE / "deploy.log").open("a", encoding="utf-8") as f:
        f.write(target + "\\n")
    if not (HERE / "crashed").exists():
        (HERE / "crashed").touch()
        os._exit(9)
    return f"deployed {target}"
'''


def call(path: str = "/etc/motd", tool: str = "remove", key: str = "path") -> str:
    return f'<tool_call>{{"name": "{tool}", "arguments": {{"{key}": "{path}"}}}}</tool_call>'


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    path = tmp_path / "tools.py"
    path.write_text(TOOLS, encoding="utf-8")
    return path


def ran(tools: Path) -> list[str]:
    log = tools.parent / "ran.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def agent_flags(server, tools: Path, *approve: str) -> list[str]:
    flags = ["--base-url", server.url, "--protocol", "hermes", "--plugin", f"{tools}:remove"]
    return flags + [w for name in approve for w in ("--approve-tool", name)]


def tool_messages(server) -> list[str]:
    """What the model read of the tools' results, in its last request (hermes: tool_response)."""
    last = [r["body"] for r in server.requests if r["body"]][-1]
    return [m["content"] for m in last["messages"] if "<tool_response>" in (m.get("content") or "")]


# -- chat, on a terminal ------------------------------------------------------------------------
def test_chat_asks_with_the_exact_arguments_and_yes_runs_the_tool(server, tools):
    server.replies = [call(), "Removed /etc/motd."]
    term = Terminal("chat", *agent_flags(server, tools, "remove"))
    term.expect("> ")
    term.type("remove the motd\r")
    term.expect(f'Run remove {{"path": "/etc/motd"}}? {PROMPT}')
    assert ran(tools) == []  # nothing runs before the answer
    term.type("perhaps\r")  # anything else asks again
    term.expect("Please answer y")
    term.expect(PROMPT)
    term.type("y\r")
    term.expect("Removed /etc/motd.")
    term.type("/exit\r")
    assert term.wait() == 0
    assert ran(tools) == ["/etc/motd"]
    assert "Traceback" not in term.out


def test_chat_no_sends_the_reason_to_the_model(server, tools):
    server.replies = [call(), "Understood, I left it."]
    term = Terminal("chat", *agent_flags(server, tools, "remove"))
    term.expect("> ")
    term.type("remove the motd\r")
    term.expect(PROMPT)
    term.type("n\r")
    term.expect("Reason")
    term.type("the motd is still needed\r")
    term.expect("Understood, I left it.")
    term.type("/exit\r")
    assert term.wait() == 0
    assert ran(tools) == []
    (said,) = tool_messages(server)
    assert "did not approve this call" in said and "the motd is still needed" in said


def test_chat_always_stops_asking_for_that_tool(server, tools):
    server.replies = [call("/tmp/a"), "Removed a.", call("/tmp/b"), "Removed b."]
    term = Terminal("chat", *agent_flags(server, tools, "remove"))
    term.expect("> ")
    term.type("remove a\r")
    term.expect(PROMPT)
    term.type("a\r")
    term.expect("Removed a.")
    term.expect("> ")
    term.type("remove b\r")
    term.expect("Removed b.")
    term.type("/exit\r")
    assert term.wait() == 0
    assert ran(tools) == ["/tmp/a", "/tmp/b"]
    assert term.out.count(PROMPT) == 1  # the second call did not ask


def test_chat_ctrl_c_at_the_prompt_refuses_and_stops_and_the_chat_goes_on(server, tools):
    server.replies = [call(), "Next answer."]
    term = Terminal("chat", *agent_flags(server, tools, "remove"))
    term.expect("> ")
    term.type("remove the motd\r")
    term.expect(PROMPT)
    term.type("\x03")
    term.expect("the calls were refused and did not run")
    assert len([r for r in server.requests if r["body"]]) == 1  # the model was not asked again
    term.expect("> ")
    term.type("something else\r")
    term.expect("Next answer.")
    term.type("/exit\r")
    assert term.wait() == 0
    assert ran(tools) == []
    (said,) = tool_messages(server)  # the next question's prompt holds the refusal
    assert "stopped the run at the approval prompt" in said


def test_chat_save_and_load_keep_calls_waiting_and_resume_decides_them(server, tools, tmp_path):
    (remove,) = load_plugins([f"{tools}:remove"])
    session = InMemorySession()
    paused = Agent(ScriptedLLM([call()]), [remove], protocol="hermes", approvals={"remove": True}).run("rm", session)
    assert paused.status == "needs_approval"
    saved, again = tmp_path / "waiting.json", tmp_path / "after.json"
    save_items(session.items, saved)
    server.replies = ["Removed it."]
    term = Terminal("chat", *agent_flags(server, tools, "remove"))
    term.expect("> ")
    term.type(f"/load {saved}\r")
    term.expect("calls wait for a decision: /resume")
    term.type("a new question\r")  # refused, with the way on, not asked
    term.expect("calls wait for a decision: /resume")
    term.type("/resume\r")
    term.expect(f'Run remove {{"path": "/etc/motd"}}? {PROMPT}')
    term.type("y\r")
    term.expect("Removed it.")
    term.type(f"/save {again}\r")
    term.expect("saved")
    term.type("/exit\r")
    assert term.wait() == 0
    assert ran(tools) == ["/etc/motd"]
    roles = [m["role"] for m in json.loads(again.read_text(encoding="utf-8"))["items"]]
    assert roles == ["user", "assistant", "control", "control", "tool", "assistant"]


# -- run and resume -----------------------------------------------------------------------------
def test_run_without_a_terminal_stops_with_code_4_and_the_printed_command_goes_on(cli, server, tools, tmp_path):
    server.replies = [call(), "Removed it."]
    env = {"LITEAGENT_DATA_DIR": str(tmp_path / "data")}
    r = cli("run", "remove the motd", *agent_flags(server, tools, "remove"), env=env)
    assert r.code == 4 and r.out == ""
    assert '  call_0 remove {"path": "/etc/motd"}' in r.err.splitlines()
    assert ran(tools) == []
    command = next(line for line in r.err.splitlines() if line.startswith("go on with: "))
    words = shlex.split(command.removeprefix("go on with: "))
    assert words[:3] == ["liteagent", "resume", "--session"]
    assert Path(words[3]).parent == tmp_path / "data" / "runs"  # no --session: saved for it
    done = cli(*words[1:], env=env)  # a new process, from the session file alone
    assert done.code == 0, done.err
    assert done.out == "Removed it.\n"
    assert ran(tools) == ["/etc/motd"]
    stale = cli(*words[1:], env=env)  # the same decision again: nothing waits
    assert stale.code == 2 and len(stale.err.strip().splitlines()) == 1
    assert "nothing to resume" in stale.err and "Traceback" not in stale.err
    assert ran(tools) == ["/etc/motd"]  # exactly once


def test_run_json_lists_pending_and_resume_json_finishes(cli, server, tools, tmp_path):
    server.replies = [call(), "Removed it."]
    store = tmp_path / "s.sqlite3"
    flags = agent_flags(server, tools, "remove")
    r = cli("run", "remove the motd", "--json", "--session", str(store), *flags)
    assert r.code == 4
    out = json.loads(r.out)
    assert out["status"] == "needs_approval"
    assert out["pending"] == [{"id": "call_0", "tool": "remove", "arguments": {"path": "/etc/motd"}}]
    assert out["session"] == {"file": str(store), "id": "default"}
    assert "--approve call_0" in out["resume"]
    done = cli("resume", "--session", str(store), "--approve", "call_0", "--json", *flags)
    assert done.code == 0, done.err
    end = json.loads(done.out)
    assert end["status"] == "ok" and end["answer"] == "Removed it." and end["pending"] == []
    assert ran(tools) == ["/etc/motd"]


def test_unknown_ids_and_bad_flags_are_one_line_and_change_nothing(cli, server, tools, tmp_path):
    server.replies = [call(), "Removed it."]
    store = str(tmp_path / "s.sqlite3")
    flags = agent_flags(server, tools, "remove")
    assert cli("run", "remove it", "--session", store, *flags).code == 4
    for bad, needle in [
        (["--approve", "call_9"], "call 'call_9' is not waiting for a decision (waiting: call_0)"),
        (["--always", "Unknown"], "--always names 'Unknown', which is no tool"),
        (["--approve", "all", "--approve", "none"], "--approve takes one of ask, all or none"),
    ]:
        r = cli("resume", "--session", store, *flags, *bad)
        assert r.code == 2, (bad, r.err)
        assert len(r.err.strip().splitlines()) == 1 and needle in r.err and "Traceback" not in r.err
    # a new question while calls wait: refused, with the way on
    r = cli("run", "something else", "--session", store, *flags)
    assert r.code == 2 and "liteagent resume --session" in r.err and len(r.err.strip().splitlines()) == 1
    missing = cli("resume", "--session", str(tmp_path / "none.sqlite3"), *flags)
    assert missing.code == 2 and "no such file" in missing.err
    # no decision and no terminal: it says again what waits
    listed = cli("resume", "--session", store, *flags)
    assert listed.code == 4 and "call_0 remove" in listed.err
    assert ran(tools) == []
    done = cli("resume", "--session", store, *flags, "--approve", "call_0")  # nothing was lost
    assert done.code == 0 and done.out == "Removed it.\n" and ran(tools) == ["/etc/motd"]


@pytest.mark.parametrize("command", ["run hi", "chat", "serve --port 9", "web --port 9", "mcp serve --agent"])
def test_approve_tool_naming_no_tool_is_a_usage_error(cli, server, tools, command):
    r = cli(*command.split(), *agent_flags(server, tools, "Unknown"), stdin="")
    assert r.code == 2
    assert r.err.strip() == (
        "liteagent: error: --approve-tool names 'Unknown', which is no tool of this agent (tools: remove)"
    )


def test_run_approve_none_gives_the_model_the_refusal(cli, server, tools):
    server.replies = [call(), "I did not remove it."]
    r = cli("run", "remove the motd", "--approve", "none", *agent_flags(server, tools, "remove"))
    assert r.code == 0, r.err
    assert r.out == "I did not remove it.\n"
    assert ran(tools) == []
    (said,) = tool_messages(server)
    assert "did not approve this call" in said and "rejected by --approve none" in said


def test_run_approve_all_runs_every_waiting_call(cli, server, tools):
    two = call("/tmp/a") + call("/tmp/b")
    server.replies = [two, "Removed both."]
    r = cli("run", "remove a and b", "--approve", "all", *agent_flags(server, tools, "*"))
    assert r.code == 0, r.err
    assert r.out == "Removed both.\n"
    assert sorted(ran(tools)) == ["/tmp/a", "/tmp/b"]  # calls of one reply run at once


def test_resume_reject_with_a_reason(cli, server, tools, tmp_path):
    server.replies = [call(), "Kept it."]
    store = str(tmp_path / "s.sqlite3")
    flags = agent_flags(server, tools, "remove")
    assert cli("run", "remove it", "--session", store, *flags).code == 4
    r = cli("resume", "--session", store, *flags, "--reject", "call_0:not on a Friday")
    assert r.code == 0 and r.out == "Kept it.\n"
    (said,) = tool_messages(server)
    assert "not on a Friday" in said
    assert ran(tools) == []


def test_run_on_a_terminal_asks_by_default(server, tools, tmp_path):
    server.replies = [call(), "Removed it."]
    term = Terminal("run", "remove the motd", *agent_flags(server, tools, "remove"))
    term.expect(f'Run remove {{"path": "/etc/motd"}}? {PROMPT}')
    term.type("y\r")
    term.expect("Removed it.")
    assert term.wait() == 0
    assert ran(tools) == ["/etc/motd"]


def test_run_ctrl_d_at_the_prompt_refuses_and_a_later_resume_goes_on(cli, server, tools, tmp_path):
    server.replies = [call(), "Left it in place."]
    store = str(tmp_path / "s.sqlite3")
    flags = agent_flags(server, tools, "remove")
    term = Terminal("run", "remove the motd", "--session", store, *flags)
    term.expect(PROMPT)
    term.type("\x04")  # end of input: no one to answer
    term.expect("stopped the run at the approval prompt: nothing ran")
    assert term.wait() == 1
    assert ran(tools) == [] and len([r for r in server.requests if r["body"]]) == 1
    done = cli("resume", "--session", store, *flags)  # the refusal is recorded: the model reads it
    assert done.code == 0 and done.out == "Left it in place.\n"
    (said,) = tool_messages(server)
    assert "stopped the run at the approval prompt" in said


def test_resume_goes_on_after_a_crash_mid_tool(cli, server, tools, tmp_path):
    server.replies = [call("prod", "deploy", "target"), "Deploy state unknown; I will check first."]
    store = str(tmp_path / "s.sqlite3")
    flags = ["--base-url", server.url, "--protocol", "hermes", "--plugin", f"{tools}:deploy"]
    r = cli("run", "deploy", "--session", store, "--approve", "all", *flags)
    assert r.code == 9  # the process ended inside the tool
    refused = cli("run", "next", "--session", store, *flags)
    assert refused.code == 2 and "was cut off while tools ran" in refused.err
    done = cli("resume", "--session", store, *flags)
    assert done.code == 0, done.err
    assert done.out == "Deploy state unknown; I will check first.\n"
    (said,) = tool_messages(server)
    assert "cut off while this call was running" in said  # not idempotent: not run again
    assert (tools.parent / "deploy.log").read_text(encoding="utf-8") == "prod\n"


def test_the_prompt_shows_long_arguments_whole_and_hidden_characters_escaped():
    code = "import os\nos.remove('/etc/motd')  # \x1b[8mhidden\x1b[0m \u202eevil"
    shown = describe(PendingCall("call_0", "PythonInterpreter", {"code": code, "timeout": 30}))
    assert shown == textwrap.dedent(
        """\
        PythonInterpreter (call call_0) will run with:
          code: |
            import os
            os.remove('/etc/motd')  # \\x1b[8mhidden\\x1b[0m \\u202eevil
          timeout: 30
        Run PythonInterpreter? [y]es / [n]o / [a]lways """
    )


# -- a tool's question for the person (issue 24) ---------------------------------------------------
ASKING = '''
from pathlib import Path
from liteagent import tool
from liteagent.actions.context import ToolContext

HERE = Path(__file__).parent


@tool
def book(flight: str, ctx: ToolContext) -> str:
    """Book a flight; the traveller picks the seat.

    Args:
        flight: the flight number
    """
    form = {"type": "object", "properties": {"seat": {"type": "string", "enum": ["aisle", "window"]}}, "required": ["seat"]}
    answer = ctx.elicit(f"Which seat on {flight}?", form)
    if not answer.accepted:
        return f"not booked ({answer.action})"
    with (HERE / "booked.log").open("a", encoding="utf-8") as f:
        f.write(f"{flight} {answer.content['seat']}\\n")
    return f"booked {flight}: {answer.content['seat']}"
'''


def test_run_without_a_terminal_stops_for_a_tools_question_and_resume_answer_goes_on(cli, server, tmp_path):
    (tmp_path / "asking.py").write_text(ASKING, encoding="utf-8")
    flags = ["--base-url", server.url, "--protocol", "hermes", "--plugin", f"{tmp_path / 'asking.py'}:book"]
    server.replies = ['<tool_call>{"name": "book", "arguments": {"flight": "LA7"}}</tool_call>', "Booked the aisle."]
    store = str(tmp_path / "s.sqlite3")
    r = cli("run", "book LA7", "--session", store, *flags)
    assert r.code == 4 and r.out == ""
    assert "liteagent: the run waits for your answer to 1 tool question:" in r.err
    assert "  call_0 book asks: Which seat on LA7?" in r.err.splitlines()
    assert "    form: seat*: string (* required)" in r.err.splitlines()
    command = next(line for line in r.err.splitlines() if line.startswith("go on with: "))
    assert """--answer 'call_0={"seat": "<aisle|window>"}'""" in command  # a template to fill in
    booked = tmp_path / "booked.log"
    assert not booked.exists()
    bad = cli("resume", "--session", store, "--answer", 'call_0={"seat": "roof"}', *flags)
    assert bad.code == 2 and "does not fit its form" in bad.err and len(bad.err.strip().splitlines()) == 1
    bad = cli("resume", "--session", store, "--answer", "call_0=aisle", *flags)
    assert bad.code == 2 and "a JSON object of the form's values" in bad.err
    done = cli("resume", "--session", store, "--answer", 'call_0={"seat": "aisle"}', "--json", *flags)
    assert done.code == 0, done.err
    assert json.loads(done.out)["answer"] == "Booked the aisle."
    assert booked.read_text() == "LA7 aisle\n"
    assert "booked LA7: aisle" in tool_messages(server)[0]


def test_resume_on_a_terminal_asks_the_tools_question_in_its_form(server, tmp_path):
    (tmp_path / "asking.py").write_text(ASKING, encoding="utf-8")
    flags = ["--base-url", server.url, "--protocol", "hermes", "--plugin", f"{tmp_path / 'asking.py'}:book"]
    store = str(tmp_path / "s.sqlite3")
    server.replies = ['<tool_call>{"name": "book", "arguments": {"flight": "LA8"}}</tool_call>', "Window it is."]
    from liteagent import AgentConfig
    from liteagent.sessions import SQLiteSession

    # a run stopped elsewhere (no terminal there): the question waits in the file
    plugin = f"{tmp_path / 'asking.py'}:book"
    agent = AgentConfig(base_url=server.url, protocol="hermes", plugins=(plugin,), ask_person="pause").build()
    try:
        assert agent.run("book LA8", SQLiteSession("default", store)).status == "needs_input"
    finally:
        agent.executor.close()
    term = Terminal("resume", "--session", store, *flags)
    term.expect("Which seat on LA8?")
    term.expect("(default a): ")
    term.type("\r")
    term.expect("seat")
    term.type("window\r")
    term.expect("Window it is.")
    assert term.wait() == 0
    assert (tmp_path / "booked.log").read_text() == "LA8 window\n"
