"""An MCP tool over stdio against the same tool called directly, through the executor a user
calls (sync, default settings), and the time to connect to a stdio server. For comparison, the
same calls pinned to the 2026-07-28 protocol era (per-request envelopes; the default over stdio
is the handshake era, see liteagent/mcp/connection.py).

Target: per-call overhead of MCP over stdio <= 1 ms.
Run: python bench/mcp_overhead.py [--calls 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from mcp import StdioServerParameters

from liteagent import ActionExecutor
from liteagent.mcp import MCPToolkit

WEATHER = Path(__file__).resolve().parent.parent / "tests" / "data" / "plugins" / "weather.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    n = ap.parse_args().calls
    sys.path.insert(0, str(WEATHER.parent))
    from weather import Weather

    direct = ActionExecutor([Weather()])
    args = {"city": "Oslo"}
    direct.execute("Weather.forecast", args)
    t = time.perf_counter()
    for _ in range(n):
        direct.execute("Weather.forecast", args)
    d = (time.perf_counter() - t) / n * 1e6

    def over_stdio(protocol: str | None) -> tuple[list[float], list[float]]:
        connects: list[float] = []
        samples: list[float] = []  # every call over the three connections
        for _ in range(3):
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "liteagent", "mcp", "serve", "--plugin", f"{WEATHER}:Weather"],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            tk = MCPToolkit(params, name="w", protocol=protocol)
            t = time.perf_counter()
            tk.api_specs()
            connects.append((time.perf_counter() - t) * 1e3)
            ex = ActionExecutor([tk])
            ex.execute("w.Weather__forecast", args)
            for _ in range(n):
                t = time.perf_counter()
                r = ex.execute("w.Weather__forecast", args)
                samples.append((time.perf_counter() - t) * 1e6)
            assert r.ok, r.error
            tk.close()
        return connects, samples

    connects, samples = over_stdio(None)  # the default: the handshake era over stdio
    _, modern = over_stdio("2026-07-28")
    m = statistics.median(samples)
    print(f"direct call (sync executor): {d:8.1f} us")
    p90 = sorted(samples)[int(len(samples) * 0.9)]
    print(f"MCP over stdio, same tool:   {m:8.1f} us median of {len(samples)} calls, p90 {p90:.1f} us")
    print(f"overhead of MCP:             {m - d:8.1f} us per call (target <= 1000)")
    mm = statistics.median(modern)
    print(f"  pinned to 2026-07-28:      {mm:8.1f} us median (the per-request envelope era; not the default)")
    print(f"connect + list tools:        {statistics.median(connects):8.1f} ms median of 3 (a new python process each)")


if __name__ == "__main__":
    main()
