"""A process that asks, resumes or reads one conversation in a shared session store, for the
durable-run tests (tests/test_durable.py, tests/test_pitfalls.py): they kill it with SIGKILL at
chosen points and go on in another one.

    python tests/durable_worker.py STORE SESSION MODEL DIR ask QUESTION
    python tests/durable_worker.py STORE SESSION MODEL DIR resume [--approve ID] [--reject ID=WHY] [--always TOOL]
    python tests/durable_worker.py STORE SESSION MODEL DIR status
    python tests/durable_worker.py STORE - MODEL DIR race NAME

STORE: a SQLite file, or a redis:// URL. MODEL: the scripted server's /v1 URL (the openai
dialect, native calls), or ``scripted:REPLY`` (a ScriptedLLM that answers REPLY). DIR: where the
tools write their side effects (``effects.log``: a ``start`` and an ``end`` line per run) and
where a tool holds: one whose argument has a ``DIR/hold-ARG`` file writes ``DIR/ready-ARG`` and
waits (for ``DIR/release-ARG``, which the kill tests never write). Prints one JSON line: the
result, or the error's class and message. ``race``: one resume per line read from stdin
(``SESSION [ID to approve]``); the session waits, right after the run read it, until the other
racer has read it too (``DIR/read-SESSION-NAME`` files): both claim the run from the same state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from liteagent import Agent, OpenAICompatibleLLM, ScriptedLLM, SQLiteSession, tool
from liteagent.messages import Message
from liteagent.sessions.redis import RedisSession

EFFECTS = Path(os.environ.get("DURABLE_DIR", "."))  # the tools' side effects and hold files


def use_dir(path: Path) -> None:
    """Where the tools write (the tests set it to run the same tools in their own process)."""
    global EFFECTS
    EFFECTS = path


def effect(tool_name: str, arg: str) -> str:
    """A tool's side effect, logged as it starts and as it ends; it holds where told to."""
    log = EFFECTS / "effects.log"
    with log.open("a") as f:
        f.write(f"start {tool_name} {arg}\n")
    if (EFFECTS / f"hold-{arg}").exists():
        (EFFECTS / f"ready-{arg}").write_text(str(os.getpid()))
        while not (EFFECTS / f"release-{arg}").exists():
            time.sleep(0.01)
    with log.open("a") as f:
        f.write(f"end {tool_name} {arg}\n")
    return f"{tool_name} {arg}: done"


@tool
def note(text: str) -> str:
    """Write a note (not idempotent: twice is two notes).

    Args:
        text: the note
    """
    return effect("note", text)


@tool(idempotent=True)
def lookup(key: str) -> str:
    """Look a key up (idempotent: safe to run again).

    Args:
        key: the key
    """
    return effect("lookup", key)


@tool(needs_approval=True)
def remove(path: str) -> str:
    """Remove a file (a person approves each call).

    Args:
        path: the file
    """
    return effect("remove", path)


TOOLS = [note, lookup, remove]


def store(where: str, session_id: str) -> Any:
    if where.startswith("redis://"):
        return RedisSession(session_id, where)
    return SQLiteSession(session_id, where)


def agent(model: str) -> Agent:
    if model.startswith("scripted:"):
        return Agent(ScriptedLLM([model.removeprefix("scripted:")]), TOOLS, protocol="hermes")
    return Agent(OpenAICompatibleLLM(model, "scripted-model", backoff=0.01), TOOLS, protocol="openai")


def outcome(do: Any) -> dict[str, Any]:
    """What a run ended with, or the error it raised (its class and one-line message)."""
    try:
        r = do()
    except Exception as exc:
        return {"error_type": type(exc).__name__, "message": str(exc)}
    return {
        "status": r.status,
        "answer": r.answer,
        "error": r.error,
        "pending": [p.to_dict() for p in r.pending],
    }


def reading_together(session: Any, name: str, other: str) -> Any:
    """``session`` whose reads wait, after they read, until ``other`` has read too."""

    def wait_for_other() -> None:
        (EFFECTS / f"read-{session.session_id}-{name}").touch()
        theirs = EFFECTS / f"read-{session.session_id}-{other}"
        for _ in range(5000):
            if theirs.exists():
                return
            time.sleep(0.002)

    get_items = session.get_items

    async def read_then_wait(limit: int | None = None) -> list[Message]:
        items = await get_items(limit)
        wait_for_other()
        return items

    session.get_items = read_then_wait
    if hasattr(session, "get_items_now"):  # SQLite: the sync driver reads this way
        get_now = session.get_items_now

        def read_now_then_wait(limit: int | None = None) -> list[Message]:
            items = get_now(limit)
            wait_for_other()
            return items

        session.get_items_now = read_now_then_wait
    return session


def race(ns: argparse.Namespace) -> None:
    """Resume one session per stdin line, in step with the other racer (see the module's doc)."""
    other = "b" if ns.words[0] == "a" else "a"
    for line in sys.stdin:
        session_id, *approve = line.split()
        session = reading_together(store(ns.store, session_id), ns.words[0], other)
        out = outcome(lambda: agent(ns.model).resume(session, approve=approve))  # noqa: B023 (called at once)
        print(json.dumps({"session": session_id, **out}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("session")
    ap.add_argument("model")
    ap.add_argument("dir", type=Path)
    ap.add_argument("command", choices=["ask", "resume", "status", "race"])
    ap.add_argument("words", nargs="*")
    ap.add_argument("--approve", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--always", action="append", default=[])
    ns = ap.parse_args()
    use_dir(ns.dir)
    if ns.command == "race":
        race(ns)
        return
    session = store(ns.store, ns.session)
    if ns.command == "status":
        t = Agent.status(session)
        print(json.dumps({"state": t.state, "pending": [p.to_dict() for p in t.pending]}), flush=True)
        return
    a = agent(ns.model)
    if ns.command == "ask":
        out = outcome(lambda: a.run(" ".join(ns.words), session=session))
    else:
        reject = dict(r.split("=", 1) for r in ns.reject)
        out = outcome(lambda: a.resume(session, approve=ns.approve, reject=reject, always=ns.always))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
