"""liteagent's own notes to the model (a repeated call's note) and how an answer that only
echoes one of them (a repeat's note, why a call failed, a sandbox note) is told from the model's
own words: such an answer ends a run as ``no_answer``, never ``ok``."""

from __future__ import annotations

import re

from .effects import RunState
from .messages import ActionStatus

_SUCCESS = ActionStatus.SUCCESS  # a module name: an Enum member read off its class costs ~20x

REPEAT_NOTE = "You already called {name} with these arguments; its result is above. Use it to answer now."
_MIN_ECHO = 24  # characters: shorter overlaps ("ok", a number) are the model's own words


# liteagent's own notes inside a successful result (the interpreter's, a truncation's)
_BRACKETED = re.compile(r"\[(?:sandbox incomplete|figure refused|truncated|output cut)[^\]]*\]")


def echoed_note(answer: str, run: RunState) -> str | None:
    """Why the answer is no answer: it repeats a note liteagent wrote to the model this run (a
    repeated call's note, why a call failed, a sandbox note), not the model's own words. None: it
    does not."""
    said: str | None = None  # the answer's words, read once a note is there to compare
    for step in run.steps:
        for ret in step.results:
            if ret.status is not _SUCCESS:
                notes = [ret.error or ""]
            elif not ret.result or ret.result[0].type != "text":
                continue  # a JSON result: the tool's own data
            else:
                text = str(ret.result[0].content)
                notes = [text] if text.endswith(REPEAT_NOTE[-40:]) else _BRACKETED.findall(text)
            for raw in notes:
                note = " ".join(raw.split())
                if len(note) < _MIN_ECHO:
                    continue
                if said is None:
                    said = " ".join(answer.split())
                    if len(said) < _MIN_ECHO:
                        return None
                if note in said or said in note:
                    return f"the model's reply repeats liteagent's own note to it, not an answer: {note[:160]}"
    return None


__all__ = ["REPEAT_NOTE", "echoed_note"]
