"""A conversation as a JSON file (the chat's ``/save`` and ``/load``): the session's items, lossless."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UsageError
from ..messages import Message

VERSION = 2


def save_items(items: list[Message], path: str | os.PathLike[str]) -> None:
    data = {"version": VERSION, "items": [m.to_dict() for m in items]}
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def load_items(path: str | os.PathLike[str]) -> list[Message]:
    """The items of a saved conversation (this format, or version 1's ``messages``)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        raw = data.get("items", data.get("messages")) if isinstance(data, dict) else data
        return [Message.from_dict(m) for m in (raw or [])]
    except FileNotFoundError:
        raise UsageError(f"no conversation file at {p}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{p} is not a saved liteagent conversation ({type(exc).__name__}: {exc})") from None
