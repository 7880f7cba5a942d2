"""`liteagent batch` on 2 000 rows against a scripted model server answering after 200 ms, at
concurrency 64: target wall <= 1.2 x the ideal (2000 / 64 x 0.2 s); then the Ray Data backend on
the same rows (its overhead against local).
Run: python bench/batch.py [--rows 2000] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
WEATHER = TESTS / "data" / "plugins" / "weather.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--no-ray", action="store_true")
    ns = ap.parse_args()
    model = subprocess.Popen(
        [
            sys.executable,
            str(TESTS / "scripted_server.py"),
            "--delay",
            "0.2",
            "--by-messages",
            json.dumps({"*": "Sunny."}),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = model.stdout.readline().strip()  # type: ignore[union-attr]
    tmp = Path(tempfile.mkdtemp(prefix="liteagent-batch-"))
    inp = tmp / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "question": f"Weather {i}?"}) + "\n" for i in range(ns.rows)))
    common = [
        "--base-url",
        url,
        "--model",
        "scripted-model",
        "--plugin",
        f"{WEATHER}:Weather",
        "--concurrency",
        str(ns.concurrency),
    ]
    ideal = ns.rows / ns.concurrency * 0.2
    try:
        for backend in ["local"] + ([] if ns.no_ray else ["ray"]):
            out = tmp / f"{backend}.jsonl"
            t = time.perf_counter()
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "liteagent",
                    "batch",
                    str(inp),
                    "--out",
                    str(out),
                    "--batch-backend",
                    backend,
                    *common,
                ],
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t
            n = len(out.read_text().splitlines()) if out.exists() else 0
            print(
                f"{backend:5} backend: {n} rows in {wall:.2f} s = {wall / ideal:.2f} x ideal {ideal:.2f} s "
                f"(process start and model load included){'' if r.returncode == 0 else ' FAILED: ' + r.stderr[-300:]}"
            )
    finally:
        model.terminate()


if __name__ == "__main__":
    main()
