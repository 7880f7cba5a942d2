"""The models pulled so far: a small JSON file in liteagent's data directory, so ``models list``
and ``model=NAME`` find them offline, without asking the Hub or reading its cache's layout."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..llms.local import data_dir
from .catalog import find

INDEX_FILE = "models.json"


@dataclass(frozen=True)
class InstalledModel:
    """A pulled model: its Hub origin, its files on disk (the first is the one to load) and its dialect."""

    name: str
    repo: str
    revision: str  # as asked (main, a tag...)
    commit: str  # what it was at the pull
    files: tuple[str, ...]  # the Hub's file names
    paths: tuple[str, ...]  # where they are, in the Hugging Face cache
    sha256: tuple[str | None, ...]  # verified against the Hub's (None: the Hub gave none)
    size: int  # bytes, all files
    dialect: str
    context: int | None = None

    @property
    def path(self) -> str:
        """The file llama.cpp opens (a split model's first part)."""
        return self.paths[0]

    def present(self) -> bool:
        return all(os.path.isfile(p) for p in self.paths)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("files", "paths", "sha256"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstalledModel:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("files", "paths", "sha256"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


def index_path() -> Path:
    return data_dir() / INDEX_FILE


def installed() -> list[InstalledModel]:
    """Every pulled model, by name. A damaged index reads as empty (pulling again rewrites it)."""
    try:
        data = json.loads(index_path().read_text(encoding="utf-8"))
        return [InstalledModel.from_dict(v) for v in data.get("models", {}).values()]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []


def lookup(name: str) -> InstalledModel | None:
    """The pulled model ``name`` names (a catalog name, or REPO/FILE.gguf in any of its spellings)."""
    ref = find(name)
    key = ref.name if ref is not None else name.strip()
    return next((m for m in installed() if m.name == key), None)


def record(model: InstalledModel) -> None:
    """Add (or replace) one model; the file is replaced whole, never left half-written."""
    models = {m.name: m for m in installed()}
    models[model.name] = model
    path = index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        data = {"models": {name: m.to_dict() for name, m in sorted(models.items())}}
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
