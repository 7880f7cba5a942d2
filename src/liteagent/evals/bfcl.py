"""BFCL (Berkeley Function Calling Leaderboard) cases and the way its AST checker scores them:
the function name; required parameters present; each value among the allowed ones (``""`` among
them: the parameter may be left out); strings compared after BFCL's ``standardize_string``
(spaces and ``,./-_*^`` removed, lower-cased); an int accepted for a float; parallel calls matched
in any order; an irrelevance case passes only with no call."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import UsageError

_PY_TYPES = {
    "dict": "object",
    "float": "number",
    "int": "integer",
    "integer": "integer",
    "str": "string",
    "string": "string",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "tuple": "array",
    "number": "number",
    "object": "object",
}


def to_json_schema(schema: Any) -> Any:
    """BFCL's schemas (``"type": "dict"``, Python type names, ``any``) as JSON Schema."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: to_json_schema(v) for k, v in schema.items()}
    t = schema.get("type")
    if isinstance(t, str):
        if t == "any":
            out.pop("type")
        else:
            out["type"] = _PY_TYPES.get(t, t)
    return out


def load_category(data: Path, category: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The cases of ``BFCL_v4_<category>.json`` in ``data``, each with its ``ground_truth``
    (None where the category has no answer file: any call is wrong)."""
    path = data / f"BFCL_v4_{category}.json"
    if not path.is_file():
        raise UsageError(f"no BFCL category {category!r}: {path} does not exist")
    answers: dict[str, Any] = {}
    answer_path = data / "possible_answer" / path.name
    if answer_path.is_file():
        for line in answer_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                a = json.loads(line)
                answers[a["id"]] = a.get("ground_truth")
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        c = json.loads(line)
        functions = c.get("function") or []
        c["tools"] = [
            {
                "name": f["name"],
                "description": f.get("description", ""),
                "parameters": to_json_schema(f.get("parameters") or {}),
            }
            for f in functions
        ]
        c["ground_truth"] = answers.get(c["id"])
        cases.append(c)
        if limit is not None and len(cases) >= limit:
            break
    return cases


_STRIP = re.compile(r"[ ,./\-_*^]")


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return _STRIP.sub("", v).lower()
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _norm(x) for k, x in v.items()}
    return v


def _call_matches(name: str, args: dict[str, Any], want_name: str, allowed: dict[str, list[Any]]) -> str | None:
    """None when the call is right, else why not."""
    if name != want_name:
        return f"called {name}, expected {want_name}"
    for param in args:
        if param not in allowed:
            return f"{name}: unexpected parameter {param!r}"
    for param, values in allowed.items():
        if param not in args:
            if "" not in values:
                return f"{name}: missing parameter {param!r}"
            continue
        got = _norm(args[param])
        if not any(got == _norm(v) for v in values if v != "" or isinstance(args[param], str)):
            return f"{name}: {param}={args[param]!r} is not among {values!r}"
    return None


def score_calls(calls: list[tuple[str, dict[str, Any]]], ground_truth: list[dict[str, Any]] | None) -> tuple[bool, str]:
    """(correct, why) for the calls one reply made. ``ground_truth`` None: an irrelevance case."""
    if not ground_truth:
        return (not calls, "no call, as expected" if not calls else f"called {calls[0][0]} though no function fits")
    if len(calls) != len(ground_truth):
        return False, f"{len(calls)} call(s), expected {len(ground_truth)}"
    remaining = list(range(len(calls)))
    for want in ground_truth:
        ((want_name, allowed),) = want.items()
        hit = None
        why = "no call matches"
        for i in remaining:
            reason = _call_matches(calls[i][0], calls[i][1], want_name, allowed)
            if reason is None:
                hit = i
                break
            why = reason
        if hit is None:
            return False, why
        remaining.remove(hit)
    return True, "all calls right"
