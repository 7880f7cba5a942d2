"""Code interpreter: kernel start time (sandbox included) and warm round trip for `1+1`.

Run: python bench/interpreter.py
"""

from __future__ import annotations

import statistics
import time

from liteagent import ActionExecutor
from liteagent.actions.builtin.interpreter import PythonInterpreter


def main() -> None:
    starts, trips = [], []
    for _ in range(5):
        interp = PythonInterpreter()
        ex = ActionExecutor([interp])
        t = time.perf_counter()
        r = ex.execute("PythonInterpreter", {"command": "1+1"})
        starts.append(time.perf_counter() - t)
        assert r.result[0].content == "Out: 2", r
        for _ in range(50):
            t = time.perf_counter()
            ex.execute("PythonInterpreter", {"command": "1+1"})
            trips.append(time.perf_counter() - t)
        print(f"  sandbox: {interp.kernel.confinement.describe()}") if len(starts) == 1 else None
        interp.close()
    print(
        f"kernel start + first `1+1`: median {statistics.median(starts) * 1000:.0f} ms (min {min(starts) * 1000:.0f} ms)"
    )
    print(
        f"warm round trip `1+1`:      median {statistics.median(trips) * 1000:.2f} ms (p90 {sorted(trips)[int(len(trips) * 0.9)] * 1000:.2f} ms)"
    )


if __name__ == "__main__":
    main()
