"""What one model turn sends to a backend: below both the dialects that make it and the backends
that send it (protocols and llms import it; it imports neither)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallRule:
    """How a backend decides auto for one dialect: the score (the log-probability of the call's
    first token, plus ``name_weight`` x the best tool name's mean log-probability) against ``threshold``."""

    threshold: float
    name_weight: float = 0.0
    #: a reply of calls ends after each call unless the model's log-probability of writing another
    #: (the separator's first token) beats that of ending by more than this (:class:`CallEnds`)
    more_margin: float = 0.0
    #: added to the logits of the tokens that copy the conversation's words into a string argument
    #: (``llms/copy_bias.py``; 0: none)
    copy_bonus: float = 0.0
    #: added to the logits of the tokens that write an allowed value or optional parameter the
    #: conversation names, or go on towards one (``llms/mentions.py``; only with a copy bonus)
    named_bonus: float = 0.0


@dataclass(frozen=True)
class CallEnds:
    """A reply decoded under a calls-only grammar (``tool_choice`` required, or auto decided a
    call), for a backend that reads its model's next-token probabilities (the embedded model):
    each call ends with ``closer``; another may follow after ``separator``. The backend decides
    there: another call only when the model's log-probability of the separator's first token
    beats that of ending the reply by more than ``margin`` (a small model that is not made to
    decide writes the same call again and again, up to the grammar's bound)."""

    closer: str
    separator: str
    margin: float = 0.0
    copy_bonus: float = 0.0  # CallRule.copy_bonus
    named_bonus: float = 0.0  # CallRule.named_bonus
    #: the tools' argument schemas by the name a call writes (the copy bias reads what they name)
    schemas: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


@dataclass
class CallDecision:
    """``tool_choice`` auto, decided before decoding where the backend can read the model's next-token
    probabilities (the embedded model): the reply is a call when the model's own log-probability of
    starting one (the first token of ``opener``) is at least ``threshold``, and is then decoded under
    ``grammar`` (calls only); else it decodes as asked (an answer, or a call it still starts).
    ``threshold`` and ``name_weight`` are the model's (:class:`CallRule`)."""

    opener: str
    threshold: float
    grammar: str | None
    #: the score adds ``name_weight`` x the best mean log-probability of a tool's name written after
    #: ``opener + name_prefix`` (how well a tool fits the question, in the model's own words)
    names: tuple[str, ...] = ()
    name_prefix: str = ""
    name_weight: float = 0.0
    #: how the reply's calls end once it is decided a call (None: as the grammar lets the model)
    ends: CallEnds | None = None


@dataclass(slots=True)
class Request:
    """What one model turn sends: a raw ``prompt`` (/v1/completions) or ``messages``
    (/v1/chat/completions), plus native ``tools`` for the openai dialect."""

    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | None = None
    stop: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    grammar: str | None = None  # GBNF for backends that constrain decoding (the embedded model)
    decide: CallDecision | None = None  # auto: call or answer, decided first (the embedded model)
    call_ends: CallEnds | None = None  # required: where a call ends, and whether another follows

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.prompt is not None:
            d["prompt"] = self.prompt
        if self.messages is not None:
            d["messages"] = self.messages
        if self.tools:
            d["tools"] = self.tools
            d["tool_choice"] = self.tool_choice
        if self.stop:
            d["stop"] = self.stop
        d.update(self.extra)
        return d


__all__ = ["CallDecision", "CallEnds", "CallRule", "Request"]
