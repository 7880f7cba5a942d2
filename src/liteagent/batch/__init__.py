"""Batch runs (``liteagent batch``): many conversations from a JSONL file, bounded, resumable, on
this machine or on Ray Data; each row's whole run as a JSONL line."""

from __future__ import annotations

from .runner import BatchStats, read_rows, run_batch
from .turn import one_turn

__all__ = ["BatchStats", "one_turn", "read_rows", "run_batch"]
