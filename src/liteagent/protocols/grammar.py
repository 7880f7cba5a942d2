"""GBNF grammars that constrain a local model to a plain answer or a well-formed call.

Built from the tools' JSON Schemas with llama.cpp's own schema converter, so a small model
writes either text or a call whose name is a real tool and whose arguments fit its schema.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView


# A string argument without its own maxLength gets this one: unbounded, a small model can loop
# inside a string (one query grew to ~1 000 tokens of "arXiv:arXiv:…" and was cut off).
DEFAULT_MAX_STRING = 400


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy where objects admit only their declared properties (JSON Schema allows extras) and
    every string has a length bound (its ``maxLength``, else DEFAULT_MAX_STRING)."""
    s = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            if (
                node.get("type") == "string"
                and "maxLength" not in node
                and not {"enum", "const", "pattern", "format"} & set(node)
            ):
                node["maxLength"] = DEFAULT_MAX_STRING
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    return s


# A plain answer: anything that does not open a <tool_call>, starting with a visible character
# (a reply of only whitespace would be an empty answer).
_ANSWER = r'answer ::= [^< \t\n] ( [^<] | "<" [^t] )*'


#: calls one constrained reply may make at once (the model stops after any of them)
MAX_PARALLEL_CALLS = 8


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def hermes_grammar(toolset: ToolsView, required: bool) -> str:
    """``<tool_call>\\n{"name": "Tool.api", "arguments": {...}}\\n</tool_call>`` or plain text."""
    from llama_cpp.llama_grammar import SchemaConverter  # the local backend's own dependency

    conv = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alternatives = []
    args_key = _literal(', "arguments": ')
    for i, name in enumerate(toolset.names()):
        api = toolset.resolve(name)
        assert api is not None
        rule = f"tool{i}-args"
        schema = conv.resolve_refs(_strict(copy.deepcopy(dict(api.parameters))), name)
        conv.visit(schema, rule)
        alternatives.append(" ".join([_literal(json.dumps(name)), args_key, rule]))
    head = " ".join([_literal("<tool_call>"), '"\\n"', _literal('{"name": ')])
    tail = " ".join(['"}"', '"\\n"', _literal("</tool_call>")])
    call = "call ::= " + head + " ( " + " | ".join(alternatives) + " ) " + tail
    calls = f'calls ::= call ( "\\n" call ){{0,{MAX_PARALLEL_CALLS - 1}}}'  # parallel calls, one per block
    root = "root ::= calls" if required else "root ::= calls | answer"
    return "\n".join([root, calls, call, _ANSWER, conv.format_grammar()])


def hermes_grammar_for(toolset: ToolsView | None, tool_choice: str) -> str | None:
    """The hermes dialect's grammar: a plain answer, or (unless barred) a call to a real tool."""
    if toolset is None or not len(toolset) or tool_choice == "none":
        return None
    if tool_choice == "answer":  # tools stay in the prompt (its cache too), calls are barred
        return "root ::= answer\n" + _ANSWER
    return hermes_grammar(toolset, tool_choice == "required")
