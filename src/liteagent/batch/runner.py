"""The local backend: rows run with bounded concurrency on one event loop, each result appended
to the output as it finishes (a crash loses at most the rows in flight), ids already in the output
skipped with ``resume``, a failing row written as an error row, never stopping the job."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..messages import Message

Row = dict[str, Any]
RowFn = Callable[[Row], Awaitable[dict[str, Any]]]
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


@dataclass
class BatchStats:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    #: bytes of a last line cut by a crash, removed from the output before appending (its row
    #: runs again)
    cut_bytes: int = 0
    started: float = field(default_factory=time.perf_counter)

    def line(self, total: int | None) -> str:
        rate = (self.done + self.failed) / max(time.perf_counter() - self.started, 1e-9)
        left = "" if total is None else f"/{total}"
        eta = ""
        if total is not None and rate > 0:
            eta = f", ETA {max(total - self.done - self.failed - self.skipped, 0) / rate:.0f} s"
        return f"{self.done + self.failed}{left} rows, {self.failed} failed, {rate:.1f} rows/s{eta}"


def read_rows(path: str | os.PathLike[str]) -> Iterator[Row]:
    """The input's rows: ``{"id", "question"}`` or ``{"id", "messages": [...]}``, optionally with
    ``tools`` (JSON Schemas) or ``plugins``. A malformed line is a UsageError naming its number."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such input file")
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{p}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "id" not in row:
                raise UsageError(f'{p}:{n}: each line needs an "id" (and "question" or "messages")')
            yield row


def done_ids(out: Path) -> set[str]:
    """Ids already in the output (complete lines only: a line cut by a crash is not done)."""
    ids: set[str] = set()
    if not out.is_file():
        return ids
    with open(out, encoding="utf-8") as f:
        for line in f:
            try:
                ids.add(str(json.loads(line)["id"]))
            except (ValueError, KeyError, TypeError):
                continue
    return ids


def repair_tail(out: Path) -> int:
    """Remove a last line that a crash cut short (no newline at the end), so that appended rows
    start on a line of their own; returns the bytes removed. That row's id is not done (see
    ``done_ids``): it runs again."""
    try:
        fd = os.open(out, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        end, step = size, 1 << 16
        while end > 0:  # back to the last newline
            start = max(0, end - step)
            nl = os.pread(fd, end - start, start).rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            end = start
        else:
            keep = 0
        os.ftruncate(fd, keep)
        return size - keep
    finally:
        os.close(fd)


def history_of(row: Row) -> tuple[list[Message], str]:
    """(the history before the question, the question) of a row."""
    if isinstance(row.get("question"), str):
        return [], row["question"]
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError('a row needs "question" (text) or "messages" (a non-empty list)')
    items = [Message(m["role"], m.get("content") or "") for m in messages]
    if items[-1].role != "user":
        raise ValueError("the last message must be the user's")
    return items[:-1], items[-1].content


async def run_batch(
    rows: Iterator[Row],
    process: RowFn,
    out: Path,
    *,
    concurrency: int = 8,
    resume: bool = False,
    total: int | None = None,
    progress: bool | None = None,
) -> BatchStats:
    """Run ``process`` over ``rows``, at most ``concurrency`` at once, appending each result."""
    stats = BatchStats()
    if not resume and out.exists() and out.stat().st_size:
        raise UsageError(f"{out} exists: pass --resume to continue it, or choose another --out")
    stats.cut_bytes = repair_tail(out) if resume else 0
    skip = done_ids(out) if resume else set()
    out.parent.mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if progress is None else progress
    sem = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    with open(out, "a", encoding="utf-8") as f:

        async def one(row: Row) -> None:
            try:
                result = await process(row)
                result = {"id": row["id"], **result}
                if result.get("status") == "error":
                    stats.failed += 1
                else:
                    stats.done += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failing row is an error row, never the end of the job
                result = {"id": row["id"], "status": "error", "error": f"{type(exc).__name__}: {exc}"}
                stats.failed += 1
            finally:
                sem.release()
            f.write(_JSON.encode(result) + "\n")
            f.flush()

        async def ticker() -> None:
            while True:
                sys.stderr.write("\r\033[2K" + stats.line(total))
                sys.stderr.flush()
                await asyncio.sleep(0.5)

        tick = asyncio.create_task(ticker()) if show else None
        try:
            for row in rows:
                if str(row["id"]) in skip:
                    stats.skipped += 1
                    continue
                await sem.acquire()  # backpressure: rows are read only as places free up
                task = asyncio.create_task(one(row))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if tick is not None:
                tick.cancel()
                sys.stderr.write("\r\033[2K" + stats.line(total) + "\n")
    return stats
