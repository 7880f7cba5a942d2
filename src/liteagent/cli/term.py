"""What the CLI writes: JSON on stdout, and text from a model or a tool made safe for a terminal:
escape sequences (colours, cursor moves, window titles, OSC 52 clipboard writes, hyperlinks) and
other control characters are removed."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from typing import Any

# CSI ... final byte; OSC ... BEL or ST; other ESC sequences (two-byte and nF/Fp/Fe/Fs forms);
# then any lone C0/C1 control character except newline and tab
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def clean(text: str) -> str:
    """``text`` without terminal escape sequences or control characters (newlines and tabs stay)."""
    if not text:
        return text
    return _ESCAPES.sub("", text.replace("\r\n", "\n"))


def shown(text: str, keep: str = "\n\t") -> str:
    """``text`` with each control or invisible formatting character (escape sequences, carriage
    returns, bidi overrides, zero-width characters, line separators) written as its escape, the
    rest as is: what a person approves must be exactly what is there, nothing hidden or reordered."""
    return "".join(_escaped(ch) if ch not in keep and _invisible(ch) else ch for ch in text)


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _escaped(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
