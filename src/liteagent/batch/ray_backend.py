"""The Ray Data backend: the same rows through ``map_batches`` with an async callable class (one
agent per actor, bounded concurrency per actor), rows travelling as JSON strings so Arrow never
guesses a schema; results written by the driver in the same file format."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ..agent_config import AgentConfig
from .runner import BatchStats, Row, done_ids, repair_tail

_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


class _Worker:
    """One Ray actor: builds its agent from the AgentConfig's JSON, runs a batch of rows concurrently."""

    def __init__(self, config_json: str, per_actor: int) -> None:
        from .rows import row_processor

        config = AgentConfig.from_dict(json.loads(config_json))
        self.process = row_processor(config.build())
        self.sem = asyncio.Semaphore(per_actor)

    async def _one(self, raw: str) -> str:
        row = json.loads(raw)
        async with self.sem:
            try:
                result = {"id": row["id"], **(await self.process(row))}
            except Exception as exc:  # a row's failure is its error row, never the job's
                result = {"id": row["id"], "status": "error", "error": f"{type(exc).__name__}: {exc}"}
        return _JSON.encode(result)

    async def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"result": list(await asyncio.gather(*(self._one(r) for r in batch["row"])))}


def run_ray(
    rows: list[Row],
    config: AgentConfig,
    out: Path,
    *,
    concurrency: int,
    resume: bool,
    address: str | None,
    actors: int = 2,
) -> BatchStats:
    import ray

    stats = BatchStats()
    stats.cut_bytes = repair_tail(out) if resume else 0
    skip = done_ids(out) if resume else set()
    todo = [r for r in rows if str(r["id"]) not in skip]
    stats.skipped = len(rows) - len(todo)
    if not todo:
        return stats
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    ds = ray.data.from_items([{"row": _JSON.encode(r)} for r in todo])
    per_actor = max(1, concurrency // actors)
    results = ds.map_batches(
        _Worker,
        fn_constructor_args=(json.dumps(config.to_dict(secrets=True), ensure_ascii=False), per_actor),
        concurrency=actors,
        batch_size=max(per_actor, 1),
        batch_format="numpy",
    )
    with open(out, "a", encoding="utf-8") as f:
        for item in results.iter_rows():
            line = str(item["result"])
            f.write(line + "\n")
            f.flush()
            if json.loads(line).get("status") == "error":
                stats.failed += 1
            else:
                stats.done += 1
    return stats
