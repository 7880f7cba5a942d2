"""``liteagent eval --suite bfcl``: each case through the chosen dialect (its functions offered as
tools, calls recorded, not executed), scored as BFCL's AST checker does."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agent import Agent
from ..messages import Message
from .bfcl import CATEGORIES, load_category
from .bfcl_checker import check
from .bfcl_scores import group_scores
from .tools import toolset_from_schemas


@dataclass
class CategoryResult:
    cases: int = 0
    correct: int = 0
    invalid: int = 0
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = max(self.cases, 1)
        return {
            "cases": self.cases,
            "correct": self.correct,
            "accuracy": round(self.correct / n, 4),
            "invalid_call_rate": round(self.invalid / n, 4),
            "mean_turns": 1.0 if self.cases else 0.0,
            "mean_seconds": round(self.seconds / n, 4),
        }


async def eval_category(
    agent: Agent, data: Path, category: str, limit: int | None, concurrency: int, sink: Any = None
) -> CategoryResult:
    """Run and score one category; ``sink(row)`` gets each case's result as soon as it is scored."""
    from ..batch.turn import one_turn

    cases = load_category(data, category, limit)
    await agent.aresolve_protocol()  # once, before the cases run at once
    res = CategoryResult()
    sem = asyncio.Semaphore(concurrency)

    async def one(case: dict[str, Any]) -> None:
        async with sem:
            turn = case["question"][0] if case.get("question") else []
            history = [Message(m["role"], m.get("content") or "") for m in turn]
            t0 = time.perf_counter()
            try:
                tools = toolset_from_schemas(case["tools"])
                rec = await one_turn(agent, tools, history, calls_only=True)
                calls, malformed, err = rec.calls, rec.malformed, None
                text = rec.text + (" …[stopped: an answer, no call can follow]" if rec.cut else "")
            except Exception as exc:  # the case fails; the run goes on
                calls, malformed, text, err = [], [], "", f"{type(exc).__name__}: {exc}"
            if err is None:
                verdict = check(category, case["function"], case["ground_truth"], calls, len(malformed))
                ok, why = verdict.ok, verdict.why
            else:
                ok, why = False, err
            res.cases += 1
            res.correct += ok
            res.invalid += bool(malformed)
            res.seconds += time.perf_counter() - t0
            row = {
                "id": case["id"],
                "category": category,
                "correct": ok,
                "why": why,
                "calls": [{"name": n, "arguments": a} for n, a in calls],
                "malformed": malformed,
                "text": text,  # what the model said besides its calls: why a case without calls failed
            }
            res.rows.append(row)
            if sink is not None:
                sink(row)

    await asyncio.gather(*(one(c) for c in cases))
    res.rows.sort(key=lambda r: _order(r["id"]))
    return res


def _order(case_id: str) -> tuple[str, int]:
    head, _, tail = case_id.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (case_id, 0)


def table(results: dict[str, dict[str, CategoryResult]]) -> str:
    """One line per (dialect, category): cases, correct, accuracy, invalid-call rate, mean turns
    (one: a case is one model turn, its calls scored, not run) and mean time."""
    head = f"{'dialect':10} {'category':22} {'cases':>5} {'correct':>7} {'accuracy':>8} {'invalid':>7} {'turns':>5}"
    lines = [f"{head} {'s/case':>7}"]
    for dialect, cats in results.items():
        for cat, r in cats.items():
            s = r.summary()
            lines.append(
                f"{dialect:10} {cat:22} {s['cases']:5d} {s['correct']:7d} {s['accuracy']:8.1%} "
                f"{s['invalid_call_rate']:7.1%} {s['mean_turns']:5.1f} {s['mean_seconds']:7.2f}"
            )
    return "\n".join(lines)


def row_writer(f: Any, dialect: str) -> Any:
    """A sink that appends each case's row to ``f`` as it is scored (a long run keeps what it did)."""

    def write(row: dict[str, Any]) -> None:
        f.write(json.dumps({"dialect": dialect, **row}, ensure_ascii=False) + "\n")
        f.flush()

    return write


def category_sizes(data: Path) -> dict[str, int]:
    """Cases per category file in ``data``: BFCL weighs a category that was not run by its full size."""
    sizes = {}
    for cat in CATEGORIES:
        path = data / f"BFCL_v4_{cat}.json"
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                sizes[cat] = sum(1 for line in f if line.strip())
    return sizes


def scores(cats: dict[str, CategoryResult], sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """BFCL's overall and group scores for one dialect's results (``bfcl_scores``)."""
    rows = group_scores({c: (r.correct, r.cases) for c, r in cats.items()}, sizes)
    return {label: {"accuracy": round(s.accuracy, 4), "cases": s.count, "complete": not s.missing} for label, s in rows}


def scores_table(results: dict[str, dict[str, CategoryResult]], sizes: dict[str, int]) -> str:
    """BFCL's score rows, one column per dialect; N/A where a category of the row was not run."""
    dialects = list(results)
    rows = {d: group_scores({c: (r.correct, r.cases) for c, r in cats.items()}, sizes) for d, cats in results.items()}
    labels = [label for label, _ in rows[dialects[0]]] if dialects else []
    lines = [f"{'BFCL v4 score':48}" + "".join(f" {d:>10}" for d in dialects)]
    for i, label in enumerate(labels):
        lines.append(f"{label:48}" + "".join(f" {rows[d][i][1].display():>10}" for d in dialects))
    return "\n".join(lines)
