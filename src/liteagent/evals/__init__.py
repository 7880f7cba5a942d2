"""Tool-calling evaluation (``liteagent eval``): BFCL's categories scored as BFCL's AST checker."""

from __future__ import annotations

from .bfcl import load_category, score_calls, to_json_schema
from .tools import toolset_from_schemas

__all__ = ["load_category", "score_calls", "to_json_schema", "toolset_from_schemas"]
