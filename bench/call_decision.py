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

3. With ``--calls``: how many calls, under ``required`` on the same kind of held-out cases: after the model's
   first call, its log-odds of writing another against ending (``another_call_odds``), for cases that
   want one call (simple_python, multiple) and more (parallel, parallel_multiple); the margin is the lowest
   that ends after one call on >= 95 % of the cases that want one (``CallRule.more_margin``).

Run: python bench/call_decision.py --data ../shared/bfcl [--per-category 80] [--no-call 0.85] [--calls]
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
from liteagent.llms.local import SHIPPED_CALL_RULES, LocalLLM
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


def calibrate_more(data: Path, per_category: int, rule: CallRule) -> CallRule:
    """The margin for another call (step 3), on held-out cases decoded under ``required``."""
    from liteagent.batch.turn import one_turn

    held_out = {c["id"] for cat in categories("all", SAMPLE) for c in load_category(SAMPLE, cat, None)}
    llm = LocalLLM(call_rules={"hermes": CallRule(rule.threshold, rule.name_weight, float("inf"))})
    agent = Agent(llm, protocol="hermes", tool_choice="required")
    odds: dict[bool, list[float]] = {True: [], False: []}
    for category in WANT_CALL:
        if not (data / f"BFCL_v4_{category}.json").exists():
            continue
        cases = [c for c in load_category(data, category, None) if c["id"] not in held_out]
        random.Random(0).shuffle(cases)
        for case in cases[:per_category]:
            history = [Message(m["role"], m.get("content") or "") for m in case["question"][0]]
            asyncio.run(one_turn(agent, toolset_from_schemas(case["tools"]), history, calls_only=True))
            got = llm.last_stats.get("another_call_odds")
            if got is not None:  # None: the first call was never closed
                odds[len(case["ground_truth"]) > 1].append(got)
    more, one = odds[True], odds[False]
    if not more or not one:
        sys.exit(f"{data}: --calls needs cases that want one call and cases that want several")
    print(f"\nanother call: {len(one)} cases that want one call, {len(more)} that want more")
    print(f"separation (AUC): {auc(more, one):.3f}")
    # as the no-call threshold: the lowest margin that ends after one call on >= 95 % of the cases that
    # want one (most BFCL cases want one call: live_simple, live_multiple, simple, multiple)
    ones = sorted(one)
    margin = round(ones[int(len(ones) * 0.95 + 0.999) - 1] + 0.005, 2)
    print(f"chosen margin {margin}: another call on {sum(o > margin for o in more) / len(more):.0%} of those that "
          f"want more, none on {sum(o <= margin for o in one) / len(one):.0%} of those that want one")  # fmt: skip
    return CallRule(rule.threshold, rule.name_weight, margin)


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
    ap.add_argument(
        "--more-margin", type=float, default=None, help="the margin for another call (default: the shipped one)"
    )
    ap.add_argument("--calls", action="store_true", help="also calibrate the margin for another call (step 3)")
    args = ap.parse_args()
    margin = SHIPPED_CALL_RULES["hermes"].more_margin if args.more_margin is None else args.more_margin
    if args.threshold is not None:
        rule = CallRule(args.threshold, args.name_weight, margin)
    else:
        found = calibrate(LocalLLM(), args.data, args.per_category, args.no_call)
        rule = CallRule(found.threshold, found.name_weight, margin)
    if args.calls:
        rule = calibrate_more(args.data, min(args.per_category, 40), rule)
    targets(rule)


if __name__ == "__main__":
    main()
