"""Tools known only by their JSON Schemas (a BFCL case's functions, a batch row's ``tools``): the
model is offered them and its calls are recorded, never executed."""

from __future__ import annotations

import copy
import itertools
from types import MappingProxyType
from typing import Any

from ..actions.executor import wire_name
from ..actions.schema import PARAMETER_DESCRIPTION, lagent_type
from ..actions.tooldefs import ToolDef, ToolSet

_KEYS = itertools.count(1)


def toolset_from_schemas(functions: list[dict[str, Any]]) -> ToolSet:
    """A ToolSet from OpenAI-style function schemas (``{"name", "description", "parameters"}``,
    or wrapped in ``{"type": "function", "function": {...}}``)."""
    defs = []
    aliases: dict[str, str] = {}
    for f in functions:
        f = f.get("function", f) if isinstance(f, dict) else {}
        name = str(f.get("name", "")).strip()
        if not name:
            continue
        params = copy.deepcopy(f.get("parameters") or {"type": "object", "properties": {}})
        desc = str(f.get("description", ""))
        props = params.get("properties") or {}
        required = list(params.get("required") or [])
        lagent = {
            "name": name,
            "description": desc,
            "parameters": [
                {
                    "name": k,
                    "type": lagent_type(v if isinstance(v, dict) else {}),
                    "description": str((v or {}).get("description", "")) if isinstance(v, dict) else "",
                }
                for k, v in props.items()
            ],
            "required": required,
            "parameter_description": PARAMETER_DESCRIPTION,
        }
        wire = wire_name(name)
        defs.append(ToolDef(name, wire, desc, MappingProxyType(params), "plugin", MappingProxyType(lagent)))
        for alias in {wire, wire.lower(), name.lower()}:
            aliases.setdefault(alias, name)
    return ToolSet(tuple(defs), aliases, ("schemas", next(_KEYS)))
