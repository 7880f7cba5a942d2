"""The embedded model's copy and named bonuses (issue 26; src/liteagent/llms/copy_bias.py and
mentions.py): live_simple cases correct under ``tool_choice`` required, for each pair of bonuses, on
BFCL cases outside the project's sample, at BFCL's temperature (as ``liteagent eval`` runs).

The cases: ``--data`` (a BFCL data folder such as the ``bfcl-eval`` package's ``data/``:
``pip download --no-deps bfcl-eval==2026.3.23`` and unzip it) less the sample's, shuffled with
``--seed``; the first ``--dev`` choose the bonuses, the rest (``--test``) check them against none;
then the sample.
Run: python bench/copy_bias.py --data DIR [--bonuses 3,2,5] [--named 6,10,15,20] [--dev 100] [--test]
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
from liteagent.evals.bfcl import TEMPERATURE
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


def correct(data: Path, bonus: float, named: float) -> tuple[int, int, float]:
    shipped = local.SHIPPED_CALL_RULES["hermes"]
    rule = CallRule(shipped.threshold, shipped.name_weight, shipped.more_margin, bonus, named)
    local.SHIPPED_CALL_RULES["hermes"] = rule
    try:
        agent = AgentConfig(tool_choice="required", temperature=TEMPERATURE).build(ActionExecutor([]))
        t = time.perf_counter()
        res = asyncio.run(eval_category(agent, data, CATEGORY, None, 8))
        return res.correct, res.cases, time.perf_counter() - t
    finally:
        local.SHIPPED_CALL_RULES["hermes"] = shipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--bonuses", default="3,2,5", help="copy bonuses: the first with each named one, then the rest")
    ap.add_argument("--named", default="6,10,15,20", help="named bonuses to try (with the first copy bonus)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dev", type=int, default=100)
    ap.add_argument("--test", action="store_true", help="also the held-out rest, with no bonus and the shipped ones")
    args = ap.parse_args()
    if not (args.data / f"BFCL_v4_{CATEGORY}.json").is_file():
        sys.exit(f"{args.data} has no BFCL_v4_{CATEGORY}.json")
    shipped = local.SHIPPED_CALL_RULES["hermes"]
    pairs = [(shipped.copy_bonus, shipped.named_bonus), (0.0, 0.0)]
    with tempfile.TemporaryDirectory() as tmp:
        dev, test = split(args.data, args.seed, args.dev, Path(tmp))
        print(f"{CATEGORY} under required, correct (shipped: copy {pairs[0][0]}, named {pairs[0][1]})")
        named = [float(b) for b in args.named.split(",")]
        seen: dict[tuple[float, float], int] = {}

        def dev_run(bonus: float, nb: float) -> int:
            if (bonus, nb) not in seen:
                ok, n, s = correct(dev, bonus, nb)
                seen[bonus, nb] = ok
                print(
                    f"dev ({n} cases)  copy {bonus:4.1f} named {nb:4.1f}: {ok:3d} ({ok / n:.0%})  {s / n:.2f} s/case",
                    flush=True,
                )
            return seen[bonus, nb]

        copies = [float(b) for b in args.bonuses.split(",")]
        best = max(named, key=lambda nb: (dev_run(copies[0], nb), -nb))
        for bonus in copies[1:]:
            dev_run(bonus, best)
        for name, folder in ((("test", test),) if args.test else ()) + (("sample", SAMPLE),):
            for bonus, nb in pairs:
                ok, n, _ = correct(folder, bonus, nb)
                print(f"{name} ({n} cases) copy {bonus:4.1f} named {nb:4.1f}: {ok:3d} ({ok / n:.0%})", flush=True)


if __name__ == "__main__":
    main()
