"""What a pause for approval costs: the tutorial's two-turn conversation (a call, then the answer)
in a SQLite session, uninterrupted, against the same conversation stopped before its call and
resumed with the call approved by a *new* Agent reading only the session (as a second process
would). Target (issue 20): the pause + resume adds at most 2 ms. Also: the two turns in memory,
and with calls recorded before they run (every Record an append at a known length).

Both sides use the same minimal model as agent_vs_lagent.py (``Replay``), sync API, default
settings; each figure the best of 5 rounds of N conversations, the sides taking turns.
Run: python bench/pause_resume.py [--n 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_vs_lagent import ANSWER, CALL, EnvChecker, Replay

from liteagent import Agent
from liteagent.sessions import SQLiteSession

ROUNDS = 5


def agent(approve: bool, replies: tuple[str, ...] = (CALL, ANSWER)) -> Agent:
    approvals = {"EnvChecker": True} if approve else None
    return Agent(Replay(list(replies)), [EnvChecker()], protocol="internlm2", approvals=approvals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="conversations per round (default 300)")
    n = ap.parse_args().n
    folder = Path(tempfile.mkdtemp(prefix="liteagent-bench-"))
    db = folder / "sessions.sqlite3"
    plain, gated = agent(False), agent(True, (CALL,))  # the resumer's model answers
    counter = iter(range(10**9))

    def uninterrupted() -> None:
        result = plain.run("检查环境", SQLiteSession(f"u{next(counter)}", db))
        assert result.status == "ok" and result.answer == ANSWER, result

    def paused_and_resumed() -> None:
        sid = f"p{next(counter)}"
        paused = gated.run("检查环境", SQLiteSession(sid, db))
        assert paused.status == "needs_approval", paused
        # a new Agent and a new session object: all it knows comes from the file
        result = agent(True, (ANSWER,)).resume(SQLiteSession(sid, db), approve=[paused.pending[0].id])
        assert result.status == "ok" and result.answer == ANSWER, result

    def in_memory() -> None:
        plain.run("检查环境")

    def fresh_uninterrupted() -> None:  # the same new-Agent cost the resume side pays
        agent(False).run("检查环境", SQLiteSession(f"f{next(counter)}", db))

    def measure(f: Callable[[], None]) -> float:
        t = time.perf_counter()
        for _ in range(n):
            f()
        return (time.perf_counter() - t) / n * 1e3

    sides = {
        "in memory (no session file)": in_memory,
        "SQLite, uninterrupted": uninterrupted,
        "SQLite, uninterrupted, a new Agent per conversation": fresh_uninterrupted,
        "SQLite, paused for approval, resumed by a new Agent": paused_and_resumed,
    }
    for f in sides.values():  # warm-up (and the checks)
        f()
    best = {name: float("inf") for name in sides}
    for _ in range(ROUNDS):
        for name, f in sides.items():
            best[name] = min(best[name], measure(f))
    print(f"{n} conversations x {ROUNDS} rounds (the best), two model turns each; milliseconds per conversation")
    for name, ms in best.items():
        print(f"{name:58} {ms:8.3f}")
    extra = best["SQLite, paused for approval, resumed by a new Agent"] - best["SQLite, uninterrupted"]
    print(f"{'pause + resume over uninterrupted (target <= 2 ms)':58} {extra:8.3f}")


if __name__ == "__main__":
    main()
