"""How the embedded model's constrained decoding decides to call (``call_decision``: its own
odds of starting a call against answering, by its backend's calibrated rule for the dialect) and
where a call ends and whether another may follow (``call_ends``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .effects import Settings
from .request import CallDecision, CallEnds, CallRule

if TYPE_CHECKING:
    from .actions.tooldefs import ToolSet, ToolsView
    from .protocols import Protocol


def _call_rule(agent: Settings, protocol: Protocol) -> CallRule | None:
    """The backend's rule for its model in this dialect (None: it has none)."""
    rule_of = getattr(agent.llm, "call_rule", None)
    return rule_of(protocol.name) if callable(rule_of) and protocol.call_opener else None


def call_ends(agent: Settings, protocol: Protocol, toolset: ToolsView, rule: CallRule | None = None) -> CallEnds | None:
    """Where a call ends in this dialect, how sure the model must be to write another, and what the
    copy bias reads (the tools' schemas by name)."""
    if not protocol.call_closer:
        return None
    rule = rule or _call_rule(agent, protocol)
    if rule is None:
        return CallEnds(protocol.call_closer, protocol.call_separator)
    schemas = {}
    if rule.copy_bonus:
        for name in toolset.names():
            api = toolset.resolve(name)
            if api is not None:
                schemas[name] = api.parameters
    return CallEnds(
        protocol.call_closer, protocol.call_separator, rule.more_margin, rule.copy_bonus, rule.named_bonus, schemas
    )


def call_decision(agent: Settings, protocol: Protocol, toolset: ToolSet) -> CallDecision | None:
    """Auto, decided first where the backend knows its model's rule for this dialect."""
    rule = _call_rule(agent, protocol)
    if rule is None:
        return None
    grammar = agent.grammar(protocol, "required", toolset)
    names = tuple(toolset.names()) if rule.name_weight else ()
    opener = protocol.call_opener or ""
    ends = call_ends(agent, protocol, toolset, rule)
    return CallDecision(opener, rule.threshold, grammar, names, protocol.call_name_prefix, rule.name_weight, ends)


__all__ = ["call_decision", "call_ends"]
