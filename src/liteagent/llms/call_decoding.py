"""How the embedded model decodes a reply, beside its generation loop (llms/local.py): the grammar it
decodes under (auto decided by the model's own odds first), the copy bias for a call's arguments, the
model's odds of another call after one closed, how many calls at most, and where a stop string cuts
the text."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..request import CallEnds, Request
from .call_odds import call_score, next_logprobs
from .copy_bias import CopyBias, Vocabulary


def copy_bias(vocabulary: Callable[[], Vocabulary], request: Request, ends: CallEnds | None) -> CopyBias | None:
    """Calls decoded under the grammar copy the conversation's words (``CallEnds.copy_bonus``):
    what the person and the tools said, not the system turn; the tools' schemas say which allowed
    values and optional parameters those words name."""
    if ends is None or not ends.copy_bonus:
        return None
    source = "\n".join(
        str(m.get("content") or "") for m in request.messages or [] if m.get("role") not in ("system", "developer")
    )
    if not source:
        return None
    return CopyBias(vocabulary(), source, ends.copy_bonus, ends.schemas, ends.named_bonus)


class RepeatedCalls:
    """Calls-only decoding: each call after the first is held back (``holding``) until it closes,
    and one that repeats a call already written in the reply is dropped and the reply ends there
    (a small model's loop, which the another-call margin lets through where its odds are high)."""

    __slots__ = ("holding", "text", "written")

    def __init__(self) -> None:
        self.text = ""  # the call being written
        self.written: set[str] = set()
        self.holding = False

    def feed(self, piece: str) -> None:
        self.text += piece

    def closed_a_repeat(self) -> bool:
        """The call just closed repeats an earlier one (else it is remembered)."""
        call = self.text.strip()
        if call in self.written:
            return True
        self.written.add(call)
        return False

    def next_call(self) -> None:
        self.text, self.holding = "", True


def max_calls() -> int:
    from ..protocols.grammar import MAX_PARALLEL_CALLS

    return MAX_PARALLEL_CALLS


def another_call_odds(llama: Any, context: list[int], ends: CallEnds) -> float:
    """A call just closed (its last token not read yet): the model's log-odds of writing another
    (the separator's first token) against ending the reply; another follows above ``ends.margin``."""
    llama.n_tokens = min(llama.n_tokens, len(context) - 1)
    llama.eval(context[llama.n_tokens :])
    lp = next_logprobs(llama)
    sep = llama.tokenize(ends.separator.encode("utf-8"), add_bos=False, special=True)
    if not sep:
        return float("-inf")
    return float(lp[sep[0]] - lp[llama.token_eos()])


def find_stop(text: str, stops: list[str]) -> int | None:
    best = None
    for s in stops:
        i = text.find(s)
        if i >= 0 and (best is None or i < best):
            best = i
    return best


_GRAMMAR_OK: dict[str, bool] = {}


def _grammar_loads(grammar: str) -> bool:
    """A grammar llama.cpp cannot parse would add a null sampler (a crash): decode unconstrained
    instead, with a warning (once per grammar). The dialects' own grammars always load."""
    ok = _GRAMMAR_OK.get(grammar)
    if ok is None:
        from ..protocols.grammar_schema import gbnf_loads

        if len(_GRAMMAR_OK) > 64:
            _GRAMMAR_OK.clear()
        ok = _GRAMMAR_OK[grammar] = gbnf_loads(grammar)
        if not ok:
            logging.getLogger("liteagent.grammar").warning(
                "llama.cpp does not load the request's grammar: decoding unconstrained"
            )
    return ok


def decoding_grammar(llama: Any, request: Request) -> tuple[Any, dict[str, float], CallEnds | None]:
    """The grammar this reply decodes under (the prompt was just read): the request's, or under auto,
    where the model's own odds decide a call first, the calls-only one; the odds read; and, where the
    reply is calls only, how its calls end (None: as the grammar lets the model)."""
    text = request.grammar
    decided: dict[str, float] = {}
    ends = request.call_ends
    if request.decide is not None and text:
        decided = call_score(llama, request.decide)
        decided["decided_call"] = float(decided["call_score"] >= request.decide.threshold)
        if decided["decided_call"] and request.decide.grammar:
            text, ends = request.decide.grammar, request.decide.ends
    if not text or not _grammar_loads(text):
        return None, decided, None
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False), decided, ends
