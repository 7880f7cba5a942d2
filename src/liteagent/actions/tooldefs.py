"""What a dialect may know of the tools: an immutable snapshot of their definitions (name, wire
name, description, JSON Schema, kind), computed once per tool set. Dialects render and parse from
it; only the executor runs tools."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str  # canonical: "Tool.api" for toolkits, "Tool" for single tools
    wire: str  # the OpenAI-safe spelling ([a-zA-Z0-9_-]{1,64})
    description: str  # as the OpenAI tools list gives it (with what the API returns)
    parameters: Mapping[str, Any]  # JSON Schema of the arguments (a private copy)
    kind: Literal["plugin", "interpreter"]
    lagent: Mapping[str, Any]  # Lagent's per-API dict (what InternLM2 and ReAct prompts list)


class ToolSet:
    """An immutable tuple of ToolDefs with the look-ups dialects need. ``key`` identifies the set
    (the same key: the same rendered tool prompt)."""

    __slots__ = ("_aliases", "_by_name", "defs", "interpreter", "key")

    def __init__(self, defs: tuple[ToolDef, ...], aliases: Mapping[str, str], key: tuple[Any, ...]) -> None:
        self.defs = defs
        self.key = key
        self._by_name = MappingProxyType({d.name: d for d in defs})
        self._aliases = MappingProxyType(dict(aliases))
        self.interpreter = next((d.name for d in defs if d.kind == "interpreter"), None)

    def __len__(self) -> int:
        return len(self.defs)

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def names(self) -> list[str]:
        return [d.name for d in self.defs]

    def resolve(self, name: str) -> ToolDef | None:
        d = self._by_name.get(name)
        if d is not None:
            return d
        full = self._aliases.get(name) or self._aliases.get(name.strip().lower())
        return self._by_name.get(full) if full else None

    def resolve_exact(self, name: str) -> ToolDef | None:
        """The tool ``name`` spells exactly: its name or its wire name (no case folding, no
        short forms), for scoring calls as written."""
        d = self._by_name.get(name)
        if d is not None:
            return d
        return next((d for d in self.defs if d.wire == name), None)

    def api_descriptions(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(dict(d.lagent)) for d in self.defs]

    def plus(self, extra: ToolDef, key: Any) -> ToolSet:
        """These tools and ``extra`` (the final-answer tool of a typed agent); ``key`` names
        what ``extra`` is, so equal sets share their prompt and grammar caches."""
        return ToolSet((*self.defs, extra), self._aliases, (*self.key, key))

    def openai_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": d.wire,
                    "description": d.description,
                    "parameters": copy.deepcopy(dict(d.parameters)),
                },
            }
            for d in self.defs
        ]


class ToolsView(Protocol):
    """What dialects read: a ToolSet (what the agent passes), or an ActionExecutor directly."""

    @property
    def key(self) -> tuple[Any, ...]: ...

    @property
    def interpreter(self) -> str | None: ...

    def __len__(self) -> int: ...

    def names(self) -> list[str]: ...

    def resolve(self, name: str) -> Any: ...  # .name, .wire, .parameters

    def api_descriptions(self) -> list[dict[str, Any]]: ...

    def openai_tools(self) -> list[dict[str, Any]]: ...


EMPTY_TOOLS = ToolSet((), {}, ("tools", "none"))


def as_tools(tools: Any) -> ToolSet | None:
    """A ToolSet from a ToolSet, an ActionExecutor (its snapshot) or None."""
    if tools is None or isinstance(tools, ToolSet):
        return tools
    snapshot: ToolSet = tools.tool_set()
    return snapshot
