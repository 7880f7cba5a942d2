"""A tool's question for the person, asked at the terminal (``liteagent call``, ``run`` and
``chat`` when they have one): the message, then each field of the form with its type, choices and
default (Enter keeps the default, or leaves an optional field out). ``d`` declines, Ctrl-D or
Ctrl-C cancels; an answer of the wrong type is asked again, with the reason."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..actions.context import Elicited, LocalHost
from ..actions.context import form_choices as _choices
from .term import clean


def terminal_form(
    message: str,
    schema: dict[str, Any],
    *,
    read: Callable[[str], str] = input,
    out: TextIO | None = None,
) -> Elicited:
    out = out or sys.stderr
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out.write(f"\n? {clean(message)}\n")
    out.flush()
    try:
        first = read("  [a]nswer / [d]ecline / [c]ancel (default a): ").strip().lower()
        if first in ("d", "decline", "n", "no"):
            return Elicited("decline")
        if first in ("c", "cancel"):
            return Elicited("cancel")
        content: dict[str, Any] = {}
        for name, prop in props.items():
            prop = prop if isinstance(prop, dict) else {}
            value = _ask_field(name, prop, name in required, read, out)
            if value is not _SKIP:
                content[name] = value
        return Elicited("accept", content)
    except (EOFError, KeyboardInterrupt):
        out.write("\n")
        return Elicited("cancel")


_SKIP = object()


def _ask_field(name: str, prop: dict[str, Any], required: bool, read: Callable[[str], str], out: TextIO) -> Any:
    kind = prop.get("type", "string")
    label = prop.get("title") or name
    items: dict[str, Any] = prop["items"] if isinstance(prop.get("items"), dict) else {}
    choices = _choices(items if kind == "array" else prop)
    hint = [kind if not choices else ("several of" if kind == "array" else "one of")]
    if prop.get("description"):
        out.write(f"  {clean(str(prop['description']))}\n")
    if choices:
        for i, (value, shown) in enumerate(choices, 1):
            out.write(f"    {i}. {clean(shown)}{'' if shown == str(value) else f' ({value})'}\n")
    has_default = "default" in prop
    tail = f", default {prop['default']!r}" if has_default else ("" if required else ", Enter to leave out")
    while True:
        raw = read(f"  {clean(str(label))} ({' '.join(hint)}{tail}): ").strip()
        if not raw:
            if has_default:
                return prop["default"]
            if not required:
                return _SKIP
            out.write("  an answer is needed\n")
            continue
        try:
            return _parse(raw, kind, choices)
        except ValueError as exc:
            out.write(f"  {exc}; again\n")


def _parse(raw: str, kind: str, choices: list[tuple[Any, str]]) -> Any:
    if kind == "array":
        return [_pick(part.strip(), choices) if choices else part.strip() for part in raw.split(",") if part.strip()]
    if choices:
        return _pick(raw, choices)
    if kind == "boolean":
        low = raw.lower()
        if low in ("y", "yes", "true", "1"):
            return True
        if low in ("n", "no", "false", "0"):
            return False
        raise ValueError("answer yes or no")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("a whole number is needed") from None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise ValueError("a number is needed") from None
    return raw


def _pick(raw: str, choices: list[tuple[Any, str]]) -> Any:
    if raw.isdigit() and 1 <= int(raw) <= len(choices):
        return choices[int(raw) - 1][0]
    for value, shown in choices:
        if raw in (str(value), shown):
            return value
    raise ValueError(f"choose a number from 1 to {len(choices)}")


class TerminalHost(LocalHost):
    """The host of ``liteagent call``'s tool at a terminal: the person answers forms here."""

    async def elicit(self, message: str, schema: dict[str, Any]) -> Elicited:
        import asyncio

        return await asyncio.to_thread(terminal_form, message, schema)


def at_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()
