"""What a tool returned, as result items: text, JSON (encoded once, its nesting bounded), images
and files, Lagent's ``{"text": ..., "error": ...}`` dicts, pydantic models and dataclasses."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic import BaseModel

from ..errors import ToolError
from ..jsontext import MAX_RESULT_DEPTH, TooDeep, dumps, nesting_exceeds, value_exceeds
from ..messages import ResultItem

_LAGENT_KEYS = {"text", "image", "file", "error", "json"}
_SCALARS = (int, float, bool)


def to_items(value: Any) -> tuple[list[ResultItem], str | None]:
    """Turn what a tool returned into result items (and an error, for Lagent's ``{"error": …}``)."""
    kind = type(value)
    if kind is dict and value and not value.keys() <= _LAGENT_KEYS:  # plain data: the common case
        return [_json_item(value)], None
    if kind is str:
        return [ResultItem("text", value)], None
    if kind in _SCALARS:
        return [ResultItem("json", value)], None
    if isinstance(value, ResultItem):
        return [_checked(value)], None
    if isinstance(value, str):
        return [ResultItem.text(value)], None
    if value is None:
        return [], None
    if isinstance(value, dict) and value and value.keys() <= _LAGENT_KEYS and _lagent_shaped(value):
        error = value.get("error")
        items = []
        for key in ("text", "json", "image", "file"):
            if key in value and value[key] is not None:
                content = value[key]
                if key in ("image", "file"):
                    for path in content if isinstance(content, list) else [content]:
                        items.append(ResultItem(key, str(path)))  # type: ignore[arg-type]
                else:
                    items.append(_checked(ResultItem(key, content)))  # type: ignore[arg-type]
        return items, (str(error) if error else None)
    if isinstance(value, list) and value and all(isinstance(v, ResultItem) for v in value):
        return [_checked(v) for v in value], None
    if isinstance(value, BaseModel):
        return [_json_item(value.model_dump(mode="json"))], None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_json_item(dataclasses.asdict(value))], None
    return [_json_item(value)], None


RESULT_TOO_DEEP = (
    f"the tool returned data nested more than {MAX_RESULT_DEPTH} levels deep, which is not passed on; "
    "the tool should return flatter data"
)


def _json_item(value: Any) -> ResultItem:
    """A JSON item, encoded once: the check that it is JSON gives the text the model reads.
    Nested past MAX_RESULT_DEPTH: a ToolError (what reads results back, sessions and the
    service's JSON included, must not run out of stack)."""
    try:
        encoded = dumps(value)
    except TooDeep:
        raise ToolError(RESULT_TOO_DEEP) from None
    except (TypeError, ValueError):
        value = _jsonable(value)
        encoded = dumps(value)
    if len(encoded) > 2 * MAX_RESULT_DEPTH + 1 and nesting_exceeds(encoded, MAX_RESULT_DEPTH):  # shorter: shallower
        raise ToolError(RESULT_TOO_DEEP)
    return ResultItem("json", value, encoded)


def _checked(item: ResultItem) -> ResultItem:
    """An item a tool made itself, held to what :func:`_json_item` checks (JSON gets encoded)."""
    if item.type == "json" and item.encoded is None:
        return _json_item(item.content)
    if item.type == "text" and type(item.content) is not str and value_exceeds(item.content, MAX_RESULT_DEPTH):
        raise ToolError(RESULT_TOO_DEEP)
    return item


def _lagent_shaped(value: dict[str, Any]) -> bool:
    # {"text": "..."} / {"image": "a.png"} / {"error": "..."}; a dict like {"text": 3, ...} is data.
    return all(isinstance(v, (str, list)) or v is None for k, v in value.items() if k != "json")


def _jsonable(value: Any) -> Any:
    """A JSON-serialisable form of ``value``; unknown objects become their ``str``."""
    try:
        dumps(value)
        return value
    except TypeError:
        return json.loads(json.dumps(value, ensure_ascii=False, default=_fallback))


def _fallback(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return str(obj)
