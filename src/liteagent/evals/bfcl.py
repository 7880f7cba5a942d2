"""BFCL (Berkeley Function Calling Leaderboard) v4 cases: the categories of its single-turn (AST)
part, read from a data folder laid out as the ``bfcl-eval`` package ships it, and offered to a model
as BFCL offers them to a function-calling model. Scoring is ``bfcl_checker``; the overall and group
scores ``bfcl_scores``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .bfcl_checker import language

#: BFCL v4's single-turn categories, in its own order (``constants/category_mapping.py``)
NON_LIVE = [
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
]
LIVE = ["live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance"]
CATEGORIES = NON_LIVE + LIVE
#: the sampling temperature BFCL's own runs use (``bfcl generate``'s default): ``liteagent eval``'s
#: unless ``--temperature`` says otherwise, so its figures are read the way the leaderboard's are
TEMPERATURE = 0.001
#: names that stand for several categories, as in BFCL's ``--test-category``
GROUPS = {
    "all": CATEGORIES,
    "single_turn": CATEGORIES,
    "non_live": NON_LIVE,
    "live": LIVE,
    "python": [c for c in CATEGORIES if language(c) == "python"],
    "non_python": ["simple_java", "simple_javascript"],
}

# BFCL's type names -> JSON Schema (its GORILLA_TO_OPENAPI, what a function-calling model is offered)
_JSON_TYPES = {
    "integer": "integer",
    "number": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "dict": "object",
    "object": "object",
    "tuple": "array",
    "any": "string",
    "byte": "integer",
    "short": "integer",
    "long": "integer",
    "double": "number",
    "char": "string",
    "ArrayList": "array",
    "Array": "array",
    "HashMap": "object",
    "Hashtable": "object",
    "Queue": "array",
    "Stack": "array",
    "Any": "string",
    "String": "string",
    "Bigint": "integer",
}
_HINT = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}


def categories(spec: str, data: Path) -> list[str]:
    """The categories named by ``spec`` (comma-separated names or group names such as ``all``, ``live``,
    ``non_live``): a group gives those of its categories whose file is in ``data``."""
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        if name in GROUPS:
            present = [c for c in GROUPS[name] if (data / f"BFCL_v4_{c}.json").is_file()]
            if not present:
                raise UsageError(f"no category of {name!r} in {data}")
            out += [c for c in present if c not in out]
        elif name not in out:
            out.append(name)
    return out


def to_json_schema(schema: Any) -> Any:
    """A BFCL schema (``"type": "dict"``, Python and Java type names) as JSON Schema, the way BFCL
    converts it for function-calling models: ``any`` and unknown types become strings, a property
    without a type a string."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: to_json_schema(v) for k, v in schema.items()}
    t = schema.get("type")
    if isinstance(t, str):
        out["type"] = _JSON_TYPES.get(t, "string")
    props = out.get("properties")
    if isinstance(props, dict):
        for p in props.values():
            if isinstance(p, dict) and "type" not in p:
                p["type"] = "string"
    return out


def offered_tool(function: dict[str, Any], category: str) -> dict[str, Any]:
    """One function as BFCL offers it: its description with BFCL's language note; for Java and
    JavaScript every parameter a string holding source text (its declared type said in its
    description), as the checker reads it back (``bfcl_langs``)."""
    f = copy.deepcopy(function)
    lang = language(category)
    f["description"] = str(f.get("description", "")) + _HINT[lang]
    params = f.get("parameters") or {}
    for p in (params.get("properties") or {}).values():
        if lang == "python" or not isinstance(p, dict):
            continue
        kind, t = ("Java", p.get("type")) if lang == "java" else ("JavaScript", p.get("type"))
        desc = str(p.get("description", ""))
        if t == "any":
            desc += f" This parameter can be of any type of {kind} object in string representation."
        else:
            desc += f" This is {kind} {t} type parameter in string representation."
        if t in (("ArrayList", "Array") if lang == "java" else ("array",)):
            desc += f" The list elements are of type {(p.get('items') or {}).get('type')}; they are not in string representation."
            p.pop("items", None)
        if lang == "javascript" and t == "dict" and "properties" in p:
            desc += f" The dictionary entries have the following schema; they are not in string representation. {json.dumps(p.pop('properties'))}"
        p["description"] = desc
        p["type"] = "string"
    return {"name": f["name"], "description": f["description"], "parameters": to_json_schema(params)}


def load_category(data: Path, category: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The cases of ``BFCL_v4_<category>.json`` in ``data``: each with ``function`` (BFCL's schemas,
    which the checker reads), ``tools`` (as offered to the model) and ``ground_truth`` (None for the
    (ir)relevance categories, which have no answer file)."""
    path = data / f"BFCL_v4_{category}.json"
    if not path.is_file():
        raise UsageError(f"no BFCL category {category!r}: {path} does not exist")
    answers: list[dict[str, Any]] = []
    answer_path = data / "possible_answer" / path.name
    if answer_path.is_file():
        answers = [json.loads(x) for x in answer_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    elif "relevance" not in category:
        raise UsageError(f"BFCL category {category!r} has no answers: {answer_path} does not exist")
    cases = []
    for i, line in enumerate(x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()):
        c = json.loads(line)
        c["category"] = category
        c["tools"] = [offered_tool(f, category) for f in c.get("function") or []]
        # BFCL pairs a case with its answer by position (a few answer ids are spelled otherwise)
        c["ground_truth"] = answers[i]["ground_truth"] if i < len(answers) else None
        cases.append(c)
        if limit is not None and len(cases) >= limit:
            break
    return cases
