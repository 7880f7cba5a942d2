"""Which calls a person must approve before they run, and the decisions a resume brings.

A rule is what ``@tool_api(needs_approval=...)``, ``@tool(needs_approval=...)`` or an Agent's
``approvals={name: rule}`` say: True, False, or a callable of the call's arguments (given a
copy: a rule cannot change what runs). A callable that raises counts as "needs approval": an
unclear answer never lets a call through.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .actions.executor import ActionExecutor
    from .messages import ToolCall

Rule = bool | Callable[[dict[str, Any]], Any] | None


def says(rule: Rule, arguments: dict[str, Any]) -> bool:
    """Does ``rule`` require approval for a call with these arguments? (fail closed)"""
    if rule is None or rule is False:
        return False
    if rule is True:
        return True
    if callable(rule):
        try:
            return bool(rule(copy.deepcopy(arguments)))
        except Exception:
            return True
    return bool(rule)


def rule_for(executor: ActionExecutor, approvals: Mapping[str, Rule], name: str) -> tuple[str, Rule] | None:
    """The tool's canonical name and its rule (the agent's, by API or plugin name, before the
    tool's own), or None for a name that is no tool (such a call is answered with an error)."""
    api = executor.resolve(name)
    if api is None:
        return None
    rule: Rule = api.spec.needs_approval
    if approvals:
        for key in (api.name, api.plugin.name, "*"):
            if key in approvals:
                rule = approvals[key]
                break
    return api.name, rule


def needs_approval(
    executor: ActionExecutor, approvals: Mapping[str, Rule], call: ToolCall, always: Iterable[str] = ()
) -> bool:
    if call.error is not None:
        return False  # unreadable: answered with an error, never run
    found = rule_for(executor, approvals, call.name)
    if found is None:
        return False
    name, rule = found
    return name not in always and says(rule, call.arguments)


def check_rules(executor: ActionExecutor, approvals: Mapping[str, Rule]) -> None:
    """Every key of an Agent's ``approvals`` names a tool or plugin (or ``*``): a typo would
    silently let the tool run without approval."""
    plugins = {p.name for p in executor.plugins}
    for key in approvals:
        if key != "*" and key not in plugins and executor.resolve(key) is None:
            known = ", ".join(executor.names()) or "none"
            raise UsageError(f"approvals names {key!r}, which is no tool of this agent (tools: {known})")


@dataclass(slots=True)
class Decisions:
    """What a person decided about pending calls: ids to run, ids refused (with the reason the
    model reads), tools approved for the rest of the conversation, and answers to the questions
    tools asked (by call id: ``{"action": "accept"|"decline"|"cancel", "content": {...}}``)."""

    approve: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    always: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        approve: Iterable[str] | str = (),
        reject: Mapping[str, str] | Iterable[str] | None = None,
        always: Iterable[str] | str = (),
        answers: Mapping[str, Any] | None = None,
    ) -> Decisions:
        if isinstance(approve, str):
            approve = [approve]
        if isinstance(always, str):
            always = [always]
        if reject is None:
            refused: dict[str, str] = {}
        elif isinstance(reject, Mapping):
            refused = {str(k): str(v) for k, v in reject.items()}
        else:
            refused = {str(k): "" for k in ([reject] if isinstance(reject, str) else reject)}
        given = {str(k): answer_of(v) for k, v in (answers or {}).items()}
        d = cls([str(a) for a in approve], refused, [str(t) for t in always], given)
        both = set(d.approve) & set(d.reject)
        if both:
            raise UsageError(f"{', '.join(sorted(both))}: approved and rejected at once")
        both = set(d.answers) & (set(d.approve) | set(d.reject))
        if both:
            raise UsageError(f"{', '.join(sorted(both))}: answered and decided at once")
        return d

    def __bool__(self) -> bool:
        return bool(self.approve or self.reject or self.always or self.answers)

    def given(self) -> dict[str, Any]:
        """The answers as ``Decisions.of`` takes them again (Elicited: never read as a form's values)."""
        from .actions.context import Elicited

        return {cid: Elicited(a["action"], dict(a.get("content") or {})) for cid, a in self.answers.items()}


def answer_of(value: Any) -> dict[str, Any]:
    """A person's answer to a tool's question, as the session keeps it: from an ``Elicited``,
    ``"decline"`` or ``"cancel"``, or a dict of the form's values (accepted)."""
    action = getattr(value, "action", None)
    if action is not None:  # an Elicited
        return {"action": str(action), "content": dict(getattr(value, "content", None) or {})}
    if value in ("decline", "cancel"):
        return {"action": value, "content": {}}
    if isinstance(value, Mapping):
        return {"action": "accept", "content": dict(value)}
    raise UsageError(
        f"an answer is a dict of the form's values, 'decline' or 'cancel' (or an Elicited), not {type(value).__name__}"
    )


__all__ = ["Decisions", "Rule", "answer_of", "check_rules", "needs_approval", "rule_for", "says"]
