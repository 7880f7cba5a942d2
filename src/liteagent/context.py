"""Fitting a conversation into the model's context: the oldest turns are left out of the prompt
whole (a question with everything that answered it: a call is never without its result); the
system prompt and the tools always stay."""

from __future__ import annotations

from collections.abc import Callable

from .messages import Message


def turns_of(history: list[Message]) -> list[int]:
    """Where each turn starts: at a user item that follows a non-user item (a question, with the
    file announcements just before it, opens a turn)."""
    starts = []
    for i, m in enumerate(history):
        if m.role == "user" and (i == 0 or history[i - 1].role != "user"):
            starts.append(i)
    return starts or [0]


def fit(history: list[Message], count: Callable[[list[Message]], int], budget: int) -> tuple[list[Message], int, int]:
    """(the history to render, turns left out, items left out): the longest suffix of whole
    turns whose prompt (``count``) fits ``budget`` tokens; the current turn always stays."""
    if count(history) <= budget:
        return history, 0, 0
    starts = turns_of(history)
    # binary search over how many leading turns to drop (the count grows with what is kept)
    lo, hi = 1, len(starts) - 1
    best = hi
    while lo <= hi:
        mid = (lo + hi) // 2
        if count(history[starts[mid] :]) <= budget:
            best, hi = mid, mid - 1
        else:
            lo = mid + 1
    if best <= 0:
        return history, 0, 0
    return history[starts[best] :], best, starts[best]
