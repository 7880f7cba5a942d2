"""``liteagent run -v``: the run's timeline on stderr, one line per model turn and tool call, as
they end (a user of the same hooks as tracing)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO

from ..hooks import RunHooks, RunInfo
from .term import clean

if TYPE_CHECKING:
    from ..messages import ActionReturn, ToolCall
    from ..request import Request
    from ..results import RunResult


class Timeline(RunHooks):
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._turn_started: dict[tuple[str, int], float] = {}

    def _line(self, run: RunInfo, text: str) -> None:
        at = time.perf_counter() - run.started
        self.out.write(f"[{at:7.3f} s] {clean(text)}\n")
        self.out.flush()

    def run_start(self, run: RunInfo) -> None:
        self._line(run, f"run {run.run_id} · {run.provider} {run.model}".rstrip())

    def model_start(self, run: RunInfo, turn: int, request: Request) -> None:
        self._turn_started[(run.run_id, turn)] = time.perf_counter()

    def model_end(self, run: RunInfo, turn: int, usage: dict[str, int], finish: str | None, error: str | None) -> None:
        took = time.perf_counter() - self._turn_started.pop((run.run_id, turn), time.perf_counter())
        tokens = _tokens(usage)
        end = f"error: {error}" if error is not None else (finish or "no finish reason")
        self._line(run, f"turn {turn} · model {took:.3f} s{tokens} · {end}")

    def tool_progress(
        self,
        run: RunInfo,
        turn: int,
        call_id: str,
        tool: str,
        progress: float,
        total: float | None,
        message: str | None,
    ) -> None:
        of = f"/{total:g}" if total is not None else ""
        self._line(
            run, f"turn {turn} · tool {tool} ({call_id}) progress {progress:g}{of}{f' · {message}' if message else ''}"
        )

    def tool_end(self, run: RunInfo, turn: int, call: ToolCall, result: ActionReturn) -> None:
        what = result.status.value + (f": {str(result.error).splitlines()[0][:120]}" if result.error else "")
        self._line(run, f"turn {turn} · tool {call.name} ({call.id}) {result.elapsed:.3f} s · {what}")

    def run_end(self, run: RunInfo, result: RunResult[Any] | None, status: str) -> None:
        if result is None:
            self._line(run, f"run {status}")
            return
        self._line(run, f"run {status} · {result.turns} turns · {result.elapsed:.3f} s{_tokens(result.usage)}")
        for p in result.pending:
            self._line(run, f"waits for approval: {p.tool} ({p.id})")
        for e in result.output_errors[:8]:
            self._line(run, f"invalid output: {e}")


def _tokens(usage: dict[str, int]) -> str:
    if not usage:
        return ""
    got_in, got_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if got_in is None and got_out is None:
        return ""
    return f" · tokens {got_in or 0} in, {got_out or 0} out"
