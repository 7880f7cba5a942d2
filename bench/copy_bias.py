"""The embedded model's copy bonus (issue 26; src/liteagent/llms/copy_bias.py): live_simple cases
correct under ``tool_choice`` required, for each bonus, on BFCL cases outside the project's sample.

The cases: ``--data`` (a BFCL data folder such as the ``bfcl-eval`` package's ``data/``:
``pip download --no-deps bfcl-eval==2026.3.23`` and unzip it) less the sample's, shuffled with
``--seed``; the first ``--dev`` choose the bonus, the rest (``--test``) check it; then the sample.
Run: python bench/copy_bias.py --data DIR [--bonuses 0,2,3,5] [--dev 100] [--test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import liteagent.llms.local as local
from liteagent.actions.executor import ActionExecutor
from liteagent.agent_config import AgentConfig
from liteagent.evals.run import eval_category
from liteagent.request import CallRule

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "bfcl_sample"
CATEGORY = "live_simple"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split(data: Path, seed: int, dev: int, out: Path) -> tuple[Path, Path]:
    """Two BFCL folders: the dev cases and the test cases (the sample's left out of both)."""
    name = f"BFCL_v4_{CATEGORY}.json"
    cases = lines(data / name)
    answers = {a["id"]: a for a in lines(data / "possible_answer" / name)}
    sample = {c["id"] for c in lines(SAMPLE / name)}
    rest = [c for c in cases if c["id"] not in sample]
    random.Random(seed).shuffle(rest)
    folders = []
    for part, chosen in (("dev", rest[:dev]), ("test", rest[dev:])):
        folder = out / part
        (folder / "possible_answer").mkdir(parents=True)
        (folder / name).write_text("".join(json.dumps(c) + "\n" for c in chosen), encoding="utf-8")
        (folder / "possible_answer" / name).write_text(
            "".join(json.dumps(answers[c["id"]]) + "\n" for c in chosen), encoding="utf-8"
        )
        folders.append(folder)
    return folders[0], folders[1]


def correct(data: Path, bonus: float) -> tuple[int, int, float]:
    shipped = local.SHIPPED_CALL_RULES["hermes"]
    local.SHIPPED_CALL_RULES["hermes"] = CallRule(shipped.threshold, shipped.name_weight, shipped.more_margin, bonus)
    try:
        agent = AgentConfig(tool_choice="required").build(ActionExecutor([]))
        t = time.perf_counter()
        res = asyncio.run(eval_category(agent, data, CATEGORY, None, 8))
        return res.correct, res.cases, time.perf_counter() - t
    finally:
        local.SHIPPED_CALL_RULES["hermes"] = shipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--bonuses", default="0,2,3,5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dev", type=int, default=100)
    ap.add_argument("--test", action="store_true", help="also the held-out rest, with 0 and the shipped bonus")
    args = ap.parse_args()
    if not (args.data / f"BFCL_v4_{CATEGORY}.json").is_file():
        sys.exit(f"{args.data} has no BFCL_v4_{CATEGORY}.json")
    shipped = local.SHIPPED_CALL_RULES["hermes"].copy_bonus
    with tempfile.TemporaryDirectory() as tmp:
        dev, test = split(args.data, args.seed, args.dev, Path(tmp))
        print(f"{CATEGORY} under required, correct (shipped bonus {shipped})")
        for bonus in (float(b) for b in args.bonuses.split(",")):
            ok, n, s = correct(dev, bonus)
            print(f"dev ({n} cases)   bonus {bonus:4.1f}: {ok:3d} ({ok / n:.0%})  {s / n:.2f} s/case", flush=True)
        for name, folder in ((("test", test),) if args.test else ()) + (("sample", SAMPLE),):
            for bonus in (0.0, shipped):
                ok, n, s = correct(folder, bonus)
                print(f"{name} ({n} cases) bonus {bonus:4.1f}: {ok:3d} ({ok / n:.0%})", flush=True)


if __name__ == "__main__":
    main()
