"""What tracing costs, through the API a user calls (sync ``Agent.run``, the tutorial scenario of
bench/agent_vs_lagent.py: one tool call, then the answer).

Prints, per LLM turn: tracing off (no tracer provider: opentelemetry is not even imported), and
on (the OpenTelemetry SDK with a batch span processor and an exporter that drops the spans), the
difference (issue 22's target: at most 100 us); the first run's extra time with tracing on in a
fresh process (the first spans' setup; target < 20 ms); and whether ``opentelemetry`` was imported
while tracing was off.
Run: python bench/tracing_overhead.py [--n 2000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from agent_vs_lagent import ANSWER, CALL, EnvChecker, Replay

from liteagent import Agent

ROUNDS = 5


def per_turn(agent: Agent, n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(n):
            agent.run("检查环境")
        best = min(best, (time.perf_counter() - t) / (2 * n) * 1e6)
    return best


FRESH = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {bench!r})
    from agent_vs_lagent import ANSWER, CALL, EnvChecker, Replay
    from liteagent import Agent
    agent = Agent(Replay([CALL, ANSWER]), [EnvChecker()], protocol="internlm2")
    agent.run("x"); agent.run("x")
    t = time.perf_counter(); agent.run("x"); warm = time.perf_counter() - t
    off_imported = "opentelemetry" in sys.modules
    t0 = time.perf_counter()
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    class Drop(SpanExporter):
        def export(self, spans): return SpanExportResult.SUCCESS
    provider = TracerProvider(); provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    sdk = time.perf_counter() - t0
    t = time.perf_counter(); agent.run("x"); first = time.perf_counter() - t
    provider.shutdown()
    print(off_imported, sdk * 1000, (first - warm) * 1000)
    """
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", FRESH.format(bench=str(Path(__file__).parent))], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(out.stderr)
    off_imported, sdk_ms, first_ms = out.stdout.split()
    agent = Agent(Replay([CALL, ANSWER]), [EnvChecker()], protocol="internlm2")
    agent.run("x")
    off = per_turn(agent, args.n)

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    on = per_turn(agent, args.n)
    # the SDK's own cost for the same spans (a root, two chat, one execute_tool per conversation)
    tracer = provider.get_tracer("bench")
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
             "gen_ai.request.max_tokens": 1024}  # fmt: skip
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(args.n):
            for _ in range(4):
                tracer.start_span("chat m", attributes=attrs).end()
        best = min(best, (time.perf_counter() - t) / (2 * args.n) * 1e6)
    provider.shutdown()
    print(f"{args.n} conversations x {ROUNDS} rounds (the best), microseconds per LLM turn")
    print(f"tracing off                                   {off:8.2f}")
    print(f"tracing on (SDK, batch processor, no export)  {on:8.2f}   (+{on - off:.2f}; target <= 100)")
    print(f"  of which the SDK's own 2 spans per turn      {best:8.2f}   (4 spans with 4 attributes, made and ended)")
    print(f"first run with tracing in a fresh process     +{float(first_ms):.2f} ms over a warm run (target < 20)")
    print(f"importing the SDK and setting the provider    {float(sdk_ms):.2f} ms (the application's, not ours)")
    print(f"opentelemetry imported while tracing was off: {off_imported}")


if __name__ == "__main__":
    main()
