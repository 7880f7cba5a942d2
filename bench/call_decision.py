"""The embedded model's call-or-answer decision under ``tool_choice`` auto (issue 26): the model's own
log-probability that its reply starts a call (the first token of the dialect's call opener, read
once the prompt is read) against a threshold.

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
from liteagent.llms.local import LocalLLM, _next_logprob
from liteagent.messages import Message
from liteagent.protocols import get_protocol

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "bfcl_sample"
WANT_CALL = ("simple_python", "multiple", "parallel", "parallel_multiple")


def logprob(llm: LocalLLM, case: dict) -> float:
    """The model's log-probability of starting a call, on this case's prompt (as a run sends it)."""
    protocol = get_protocol("hermes", llm.model)
    history = [Message(m["role"], m.get("content") or "") for m in case["question"][0]]
    request = protocol.render(history, toolset_from_schemas(case["tools"]), "auto")
    loaded = llm.loaded()
    prompt, _ = llm.chat_prompt(loaded, request.messages or [])
    llama = loaded.llama
    with loaded.lock:
        llama.reset()
        llama.eval(llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        return _next_logprob(llama, protocol.call_opener or "")


def calibrate(llm: LocalLLM, data: Path, per_category: int, no_call: float) -> float:
    held_out = {c["id"] for cat in categories("all", SAMPLE) for c in load_category(SAMPLE, cat, None)}
    scores: dict[bool, list[float]] = {True: [], False: []}
    for category in (*WANT_CALL, "irrelevance"):
        if not (data / f"BFCL_v4_{category}.json").exists():
            continue
        cases = [c for c in load_category(data, category, None) if c["id"] not in held_out]
        random.Random(0).shuffle(cases)
        for case in cases[:per_category]:
            scores[category != "irrelevance"].append(logprob(llm, case))
    pos, neg = sorted(scores[True]), sorted(scores[False])
    if not pos or not neg:
        sys.exit(f"{data}: needs BFCL_v4_irrelevance.json and at least one of {', '.join(WANT_CALL)}")
    print(f"calibration: {len(pos)} cases that want a call, {len(neg)} irrelevance cases (outside the sample)")
    print("threshold   call where wanted   no call on irrelevance")
    for t in (-7.0, -6.5, -6.0, -5.5, -5.0, -4.5, -4.0):
        print(f"{t:9.1f}   {sum(p >= t for p in pos) / len(pos):17.0%}   {sum(n < t for n in neg) / len(neg):22.0%}")
    need = int(len(neg) * no_call + 0.999)  # irrelevance cases below the threshold
    chosen = round(neg[need - 1] + 0.005, 2) if need <= len(neg) else neg[-1] + 0.01
    print(f"chosen: {chosen} (the lowest with no call on >= {no_call:.0%} of irrelevance): "
          f"call on {sum(p >= chosen for p in pos) / len(pos):.0%} where wanted")  # fmt: skip
    return chosen


def targets(threshold: float) -> None:
    llm = LocalLLM(call_thresholds={"hermes": threshold})
    agent = Agent(llm, protocol="hermes")
    rows = []
    t0 = time.perf_counter()
    for category in categories("all", SAMPLE):
        rows += asyncio.run(eval_category(agent, SAMPLE, category, None, 1)).rows
    irrelevant = [r for r in rows if "irrelevance" in r["category"]]
    wanted = [r for r in rows if "irrelevance" not in r["category"]]
    called = [bool(r["calls"] or r["malformed"]) for r in wanted]
    quiet = [not (r["calls"] or r["malformed"]) for r in irrelevant]
    print(f"\nthe project's sample ({len(rows)} cases, {time.perf_counter() - t0:.0f} s), auto, threshold {threshold}:")
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
    args = ap.parse_args()
    threshold = args.threshold
    if threshold is None:
        threshold = calibrate(LocalLLM(call_thresholds={}), args.data, args.per_category, args.no_call)
    targets(threshold)


if __name__ == "__main__":
    main()
