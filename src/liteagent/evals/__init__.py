"""Tool-calling evaluation (``liteagent eval``): BFCL's categories scored with the verdicts of BFCL's AST checker."""

from __future__ import annotations

from .bfcl import CATEGORIES, categories, load_category, to_json_schema
from .bfcl_checker import Verdict, check
from .bfcl_scores import Score, group_scores
from .tools import toolset_from_schemas

__all__ = [
    "CATEGORIES",
    "Score",
    "Verdict",
    "categories",
    "check",
    "group_scores",
    "load_category",
    "to_json_schema",
    "toolset_from_schemas",
]
