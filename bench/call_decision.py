"""The embedded model's call-or-answer decision under ``tool_choice`` auto (issue 26): the model's own
log-probability that its reply starts a call (the first token of the dialect's call opener, read
once the prompt is read) against a threshold.

The score may add the best mean log-probability of a tool's name written after the opener (how well
a tool fits the question, in the model's own words), weighted as calibration finds best.

1. Calibration, on BFCL cases outside the project's sample (``--data``: a BFCL data folder such as
   the ``bfcl-eval`` package's ``data/``, or ../shared/bfcl): the log-probability for cases that want
   a call and for irrelevance cases; the threshold is the lowest one that makes no call on at least
   ``--no-call`` of the irrelevance cases (default 85 %, a margin over the target's 80 %).
2. The targets, on the project's sample (tests/data/bfcl_sample, all 13 categories) with that
   threshold: a call on >= 50 % of the cases that want one, none on >= 80 % of irrelevance cases.

Run: python bench/call_decision.py --data ../shared/bfcl [--per-category 80] [--no-call 0.85]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from liteagent import Agent
from liteagent.evals.bfcl import categories, load_category
from liteagent.evals.run import eval_category
from liteagent.evals.tools import toolset_from_schemas
from liteagent.llms.call_odds import call_score
from liteagent.llms.local import LocalLLM
from liteagent.messages import Message
from liteagent.protocols import get_protocol
from liteagent.request import CallDecision, CallRule

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "bfcl_sample"
WANT_CALL = ("simple_python", "multiple", "parallel", "parallel_multiple")


def odds(llm: LocalLLM, case: dict) -> tuple[float, float]:
    """The two parts of the score, on this case's prompt as a run sends it: the log-probability of
    the call's first token, and the best mean log-probability of a tool's name after the opener."""
    protocol = get_protocol("hermes", llm.model)
    history = [Message(m["role"], m.get("content") or "") for m in case["question"][0]]
    toolset = toolset_from_schemas(case["tools"])
    request = protocol.render(history, toolset, "auto")
    loaded = llm.loaded()
    prompt, _ = llm.chat_prompt(loaded, request.messages or [])
    llama = loaded.llama
    decide = CallDecision(protocol.call_opener or "", 0.0, None, tuple(toolset.names()), protocol.call_name_prefix, 1.0)
    with loaded.lock:
        llama.reset()
        llama.eval(llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        got = call_score(llama, decide)
    return got["call_logprob"], got["name_logprob"]


def auc(pos: list[float], neg: list[float]) -> float:
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def calibrate(llm: LocalLLM, data: Path, per_category: int, no_call: float) -> CallRule:
    held_out = {c["id"] for cat in categories("all", SAMPLE) for c in load_category(SAMPLE, cat, None)}
    parts: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for category in (*WANT_CALL, "irrelevance"):
        if not (data / f"BFCL_v4_{category}.json").exists():
            continue
        cases = [c for c in load_category(data, category, None) if c["id"] not in held_out]
        random.Random(0).shuffle(cases)
        for case in cases[:per_category]:
            parts[category != "irrelevance"].append(odds(llm, case))
    if not parts[True] or not parts[False]:
        sys.exit(f"{data}: needs BFCL_v4_irrelevance.json and at least one of {', '.join(WANT_CALL)}")
    print(f"calibration: {len(parts[True])} cases that want a call, {len(parts[False])} irrelevance cases")
    print("name weight   separation (AUC)")
    best_w, best_auc = 0.0, -1.0
    for w in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        a = auc([f + w * n for f, n in parts[True]], [f + w * n for f, n in parts[False]])
        print(f"{w:11.1f}   {a:.3f}")
        if a > best_auc + 0.005:  # a heavier weight only for a clear gain
            best_w, best_auc = w, a
    pos = sorted(f + best_w * n for f, n in parts[True])
    neg = sorted(f + best_w * n for f, n in parts[False])
    need = int(len(neg) * no_call + 0.999)  # irrelevance cases below the threshold
    threshold = round(neg[need - 1] + 0.005, 2) if need <= len(neg) else neg[-1] + 0.01
    called = sum(p >= threshold for p in pos) / len(pos)
    quiet = sum(n < threshold for n in neg) / len(neg)
    print(f"chosen: weight {best_w}, threshold {threshold} (the lowest with no call on >= {no_call:.0%} of "
          f"irrelevance): a call on {called:.0%} where wanted, none on {quiet:.0%} of irrelevance")  # fmt: skip
    return CallRule(threshold, best_w)


def targets(rule: CallRule) -> None:
    llm = LocalLLM(call_rules={"hermes": rule})
    agent = Agent(llm, protocol="hermes")
    rows = []
    t0 = time.perf_counter()
    for category in categories("all", SAMPLE):
        rows += asyncio.run(eval_category(agent, SAMPLE, category, None, 1)).rows
    irrelevant = [r for r in rows if "irrelevance" in r["category"]]
    wanted = [r for r in rows if "irrelevance" not in r["category"]]
    called = [bool(r["calls"] or r["malformed"]) for r in wanted]
    quiet = [not (r["calls"] or r["malformed"]) for r in irrelevant]
    print(f"\nthe project's sample ({len(rows)} cases, {time.perf_counter() - t0:.0f} s), auto, {rule}:")
    print(
        f"  a call where one is wanted: {sum(called)}/{len(called)} = {sum(called) / len(called):.0%} (target >= 50 %)"
    )
    print(f"  no call on irrelevance:     {sum(quiet)}/{len(quiet)} = {sum(quiet) / len(quiet):.0%} (target >= 80 %)")
    print(f"  correct:                    {sum(r['correct'] for r in rows)}/{len(rows)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a BFCL data folder for calibration")
    ap.add_argument("--per-category", type=int, default=80, help="calibration cases per category (default 80)")
    ap.add_argument("--no-call", type=float, default=0.85, help="irrelevance cases with no call (default 0.85)")
    ap.add_argument("--threshold", type=float, default=None, help="skip calibration: check this threshold")
    ap.add_argument("--name-weight", type=float, default=0.0, help="with --threshold: the name's weight")
    args = ap.parse_args()
    if args.threshold is not None:
        rule = CallRule(args.threshold, args.name_weight)
    else:
        rule = calibrate(LocalLLM(), args.data, args.per_category, args.no_call)
    targets(rule)


if __name__ == "__main__":
    main()
