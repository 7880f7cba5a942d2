"""How the embedded model decodes a reply of calls, beside its generation loop (llms/local.py): the
copy bias for a call's string arguments, the model's odds of another call after one closed, how many
calls at most, and where a stop string cuts the text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..request import CallEnds, Request
from .call_odds import next_logprobs
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
