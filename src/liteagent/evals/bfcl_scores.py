"""BFCL's overall and group scores from per-category results, aggregated as ``bfcl-eval`` 2026.3.23
does (``eval_runner_helper.generate_leaderboard_csv``): the non-live AST summary is the plain mean of
its four groups (Simple being itself the mean of Python, Java and JavaScript), the live one is weighted
by case count, irrelevance is the mean of its non-live and live categories, and the overall score
weights non-live, live, irrelevance, multi-turn and agentic 10:10:10:30:40. A category that was not
run counts as 0 and shows as N/A in its group (BFCL's rule); liteagent runs no multi-turn or agentic
category, so the overall score is over the single-turn part only: at most 30 %."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    accuracy: float
    count: int
    #: a category of the group was not run: BFCL shows N/A (the accuracy still counts it as 0)
    missing: bool = False

    def display(self) -> str:
        return "N/A" if self.missing else f"{self.accuracy:.2%}"


def _weighted(scores: Sequence[Score], na: bool = True) -> Score:
    count = sum(s.count for s in scores)
    acc = sum(s.accuracy * s.count for s in scores) / count if count else 0.0
    return Score(acc, count, na and any(s.missing for s in scores))


def _unweighted(scores: Sequence[Score], na: bool = True) -> Score:
    acc = sum(s.accuracy for s in scores) / len(scores)
    return Score(acc, sum(s.count for s in scores), na and any(s.missing for s in scores))


def _by_weights(scores: Sequence[Score], weights: Sequence[float]) -> Score:
    total = sum(weights)
    acc = sum(s.accuracy * w / total for s, w in zip(scores, weights, strict=True))
    return Score(acc, sum(s.count for s in scores))


def group_scores(results: dict[str, tuple[int, int]], sizes: dict[str, int] | None = None) -> list[tuple[str, Score]]:
    """BFCL's score table for the single-turn part, rows (label, score) in BFCL's column order.
    ``results`` maps a category to (correct, cases); ``sizes`` gives the case count of a category
    that was not run (BFCL counts its full size in the live weighting), 0 where unknown."""
    sizes = sizes or {}

    def cat(name: str) -> Score:
        if name in results:
            correct, cases = results[name]
            return Score(correct / cases if cases else 0.0, cases)
        return Score(0.0, sizes.get(name, 0), missing=True)

    py, java, js = cat("simple_python"), cat("simple_java"), cat("simple_javascript")
    simple = _unweighted([py, java, js])
    multiple, parallel, parallel_multiple = cat("multiple"), cat("parallel"), cat("parallel_multiple")
    non_live = [simple, multiple, parallel, parallel_multiple]
    live_ast = [cat("live_simple"), cat("live_multiple"), cat("live_parallel"), cat("live_parallel_multiple")]
    irrelevance = _unweighted([cat("irrelevance"), cat("live_irrelevance")])
    non_live_overall = _unweighted(non_live, na=False)
    live_overall = _weighted(live_ast, na=False)
    not_run = Score(0.0, 0, missing=True)  # multi-turn and agentic: not liteagent's
    overall = _by_weights([non_live_overall, live_overall, irrelevance, not_run, not_run], [10, 10, 10, 30, 40])
    return [
        ("Overall Acc (multi-turn and agentic not run: 0)", overall),
        ("Non-Live Overall Acc", non_live_overall),
        ("Non-Live AST Summary", _unweighted(non_live)),
        ("Non-Live Simple AST", simple),
        ("Python Simple AST", py),
        ("Java Simple AST", java),
        ("JavaScript Simple AST", js),
        ("Non-Live Multiple AST", multiple),
        ("Non-Live Parallel AST", parallel),
        ("Non-Live Parallel Multiple AST", parallel_multiple),
        ("Non-Live Irrelevance Detection", cat("irrelevance")),
        ("Live Overall Acc", live_overall),
        ("Live AST Summary", _weighted(live_ast)),
        ("Live Simple AST", live_ast[0]),
        ("Live Multiple AST", live_ast[1]),
        ("Live Parallel AST", live_ast[2]),
        ("Live Parallel Multiple AST", live_ast[3]),
        ("Live Irrelevance Detection", cat("live_irrelevance")),
        ("Relevance Detection", cat("live_relevance")),
        ("Irrelevance Detection", irrelevance),
    ]
