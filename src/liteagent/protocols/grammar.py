"""GBNF grammars that constrain a local model to a plain answer or a well-formed call.

Built from the tools' JSON Schemas with llama.cpp's own schema converter, so a small model
writes either text or a call whose name is a real tool and whose arguments fit its schema.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from .grammar_schema import DEFAULT_MAX_STRING, Normalizer, argument_rules

if TYPE_CHECKING:
    from ..actions.tooldefs import ToolsView

__all__ = ["DEFAULT_MAX_STRING", "MAX_PARALLEL_CALLS", "hermes_grammar", "hermes_grammar_for"]

log = logging.getLogger("liteagent.grammar")


def _strict(schema: Any) -> dict[str, Any]:
    """The schema as the grammar reads it (``grammar_schema.Normalizer``): objects admit only their
    declared properties (JSON Schema allows extras) and every string has a length bound (its
    ``maxLength``, else DEFAULT_MAX_STRING). The tool's own schema is left untouched."""
    return Normalizer(schema).visit(schema, 0)


# A plain answer: anything that does not open a <tool_call>, starting with a visible character
# (a reply of only whitespace would be an empty answer).
_ANSWER = r'answer ::= [^< \t\n] ( [^<] | "<" [^t] )*'


#: calls one constrained reply may make at once (the model stops after any of them)
MAX_PARALLEL_CALLS = 8


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def hermes_grammar(toolset: ToolsView, required: bool) -> str:
    """``<tool_call>\\n{"name": "Tool.api", "arguments": {...}}\\n</tool_call>`` or plain text.

    Every tool's schema is converted (``grammar_schema``); what could not be enforced is a comment
    in the grammar, and a tool whose schema could not be converted at all takes any arguments
    object (logged): the model can still call it, and the tool's own validation answers."""
    rules: dict[str, str] = {}
    notes: list[str] = []
    alternatives = []
    args_key = _literal(', "arguments": ')
    for i, name in enumerate(toolset.names()):
        api = toolset.resolve(name)
        assert api is not None
        rule = f"tool{i}-args"
        tool_rules, tool_notes = argument_rules(dict(api.parameters), rule)
        for n, body in tool_rules.items():
            rules.setdefault(n, body)  # shared rules (primitives, any value) are the same text
        for note in tool_notes:
            notes.append(f"# {name}: {note}".replace("\n", " "))
            if note.startswith("schema not converted"):
                log.warning("grammar for %s: %s", name, note)
        alternatives.append(" ".join([_literal(json.dumps(name)), args_key, rule]))
    head = " ".join([_literal("<tool_call>"), '"\\n"', _literal('{"name": ')])
    tail = " ".join(['"}"', '"\\n"', _literal("</tool_call>")])
    call = "call ::= " + head + " ( " + " | ".join(alternatives) + " ) " + tail
    calls = f'calls ::= call ( "\\n" call ){{0,{MAX_PARALLEL_CALLS - 1}}}'  # parallel calls, one per block
    root = "root ::= calls" if required else "root ::= calls | answer"
    body = "\n".join(f"{n} ::= {b}" for n, b in sorted(rules.items()))
    return "\n".join([*notes, root, calls, call, _ANSWER, body])


def hermes_grammar_for(toolset: ToolsView | None, tool_choice: str) -> str | None:
    """The hermes dialect's grammar: a plain answer, or (unless barred) a call to a real tool."""
    if toolset is None or not len(toolset) or tool_choice == "none":
        return None
    if tool_choice == "answer":  # tools stay in the prompt (its cache too), calls are barred
        return "root ::= answer\n" + _ANSWER
    return hermes_grammar(toolset, tool_choice == "required")
