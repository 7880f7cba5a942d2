"""Usage limits for one run: ``Agent(usage_limits={"total_tokens": N, "tool_calls": N,
"model_calls": N})`` or a :class:`UsageLimits`. Checked before the next model call and before
the next tool calls; a run that would pass one ends with ``status="usage_limit"`` and says which."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError


@dataclass(frozen=True, slots=True)
class UsageLimits:
    """Per run (one question, or one resume). None: no limit."""

    total_tokens: int | None = None  # prompt + completion tokens, as the model reports them
    input_tokens: int | None = None
    output_tokens: int | None = None
    model_calls: int | None = None
    tool_calls: int | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise UsageError(f"usage_limits {f.name} must be a whole number, 0 or more, not {v!r}")

    @classmethod
    def of(cls, value: UsageLimits | Mapping[str, Any] | None) -> UsageLimits | None:
        if value is None or isinstance(value, UsageLimits):
            return value if value is None or value.any else None
        if not isinstance(value, Mapping):
            raise UsageError(f"usage_limits is a dict or UsageLimits, not {type(value).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise UsageError(f"usage_limits: unknown limit {unknown[0]!r}; known: {', '.join(sorted(known))}")
        limits = cls(**value)
        return limits if limits.any else None

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))

    def before_model(self, usage: Mapping[str, int], model_calls: int) -> str | None:
        """Why the next model call may not be made (None: it may)."""
        if self.model_calls is not None and model_calls >= self.model_calls:
            return f"the run reached its limit of {self.model_calls} model calls"
        used_in, used_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        total = usage.get("total_tokens", used_in + used_out)
        for name, used, limit in (
            ("total tokens", total, self.total_tokens),
            ("input tokens", used_in, self.input_tokens),
            ("output tokens", used_out, self.output_tokens),
        ):
            if limit is not None and used >= limit:
                return f"the run used {used} {name}, its limit is {limit}"
        return None

    def before_tools(self, made: int, asked: int) -> str | None:
        """Why ``asked`` more calls may not run after ``made`` (None: they may)."""
        if self.tool_calls is not None and made + asked > self.tool_calls:
            return f"the model asked for {asked} more tool call{'s' if asked != 1 else ''} after {made}; the run's limit is {self.tool_calls}"
        return None


__all__ = ["UsageLimits"]
