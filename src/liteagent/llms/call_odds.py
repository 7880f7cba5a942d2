"""The embedded model's odds of calling, read once the prompt is read (``tool_choice`` auto decided
before decoding: :class:`liteagent.request.CallDecision`)."""

from __future__ import annotations

from typing import Any

from ..request import CallDecision


def next_logprobs(llama: Any) -> Any:
    """The next token's log-probabilities, after what the model last read."""
    import numpy as np

    logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
    top = float(logits.max())
    return logits - top - np.log(np.exp(logits - top).sum())


def call_score(llama: Any, decide: CallDecision) -> dict[str, float]:
    """The odds of a call, read just after the prompt: the log-probability of the opener's first
    token, plus ``name_weight`` x the best mean log-probability of a tool's name after the opener
    (read ahead, then forgotten: the reply is decoded from the prompt's end)."""
    first_token = llama.tokenize(decide.opener.encode("utf-8"), add_bos=False, special=True)[0]
    first = float(next_logprobs(llama)[first_token])
    out = {"call_logprob": first, "call_score": first}
    if not decide.names or not decide.name_weight:
        return out
    end = llama.n_tokens
    llama.eval(llama.tokenize((decide.opener + decide.name_prefix).encode("utf-8"), add_bos=False, special=True))
    after, ahead = next_logprobs(llama), llama.n_tokens
    best = float("-inf")
    for name in decide.names:
        llama.n_tokens = ahead  # each name read from the same point (eval drops what followed)
        tokens = llama.tokenize(f'{name}"'.encode(), add_bos=False, special=False)
        total, lp = 0.0, after
        for i, token in enumerate(tokens):
            total += float(lp[token])
            if i + 1 < len(tokens):
                llama.eval([token])
                lp = next_logprobs(llama)
        best = max(best, total / len(tokens))
    llama.n_tokens = end
    out["name_logprob"] = best
    out["call_score"] = first + decide.name_weight * best
    return out


__all__ = ["call_score", "next_logprobs"]
