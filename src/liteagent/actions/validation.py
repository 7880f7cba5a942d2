"""Pydantic validation errors rewritten as short messages a model can act on."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .schema import ApiSpec


def expected_type(schema: dict[str, Any]) -> str:
    """A short human name for what a JSON Schema accepts: ``integer``, ``array of string``…"""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if "anyOf" in schema:
        kinds = [expected_type(s) for s in schema["anyOf"]]
        return " or ".join(dict.fromkeys(kinds))
    t = schema.get("type")
    if t == "array":
        items = schema.get("items")
        return f"array of {expected_type(items)}" if isinstance(items, dict) and items else "array"
    if t == "object" and "properties" in schema:
        return "object with " + ", ".join(schema["properties"])
    if isinstance(t, str):
        return t
    return "any value"


def _schema_at(spec: ApiSpec, loc: tuple[Any, ...]) -> dict[str, Any]:
    node: Any = spec.parameters
    for part in loc:
        if not isinstance(node, dict):
            return {}
        if isinstance(part, int) and "items" in node:
            node = node["items"]
        elif "properties" in node and part in node["properties"]:
            node = node["properties"][part]
        elif "anyOf" in node:
            node = next((s for s in node["anyOf"] if s.get("type") == "object"), {})
            node = node.get("properties", {}).get(part, {})
        else:
            return {}
    return node if isinstance(node, dict) else {}


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_validation_error(api_name: str, spec: ApiSpec, exc: ValidationError) -> str:
    """One line: every bad field, what is wrong, and the type expected."""
    valid = ", ".join(p.name for p in spec.params) or "(none)"
    problems: list[str] = []
    known = _path_names(spec)
    for err in exc.errors(include_url=False):
        kind = err["type"]
        loc = tuple(err["loc"])
        if kind != "extra_forbidden":
            # pydantic puts union members and validator tags into loc; keep only real path parts
            loc = tuple(p for p in loc if isinstance(p, int) or p in known)
        field = ".".join(str(p) for p in loc) or "arguments"
        if kind == "missing":
            exp = expected_type(_schema_at(spec, loc))
            problems.append(f"{field}: required argument missing (expected {exp})")
        elif kind == "extra_forbidden":
            problems.append(f"{field}: unknown argument (valid arguments: {valid})")
        else:
            exp = expected_type(_schema_at(spec, loc))
            msg = err["msg"].rstrip(".")
            problems.append(f"{field}: {msg}, got {_short(err.get('input'))} (expected {exp})")
    seen = list(dict.fromkeys(problems))
    return f"invalid arguments for {api_name}: " + "; ".join(seen)


def _path_names(spec: ApiSpec) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(spec.parameters)
    return names
