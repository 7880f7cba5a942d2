"""Library errors name Python arguments (`base_url=`); the command line says its flags instead."""

from __future__ import annotations

import re

FLAGS = {
    "base_url": "--base-url",
    "api_key": "--api-key",
    "model": "--model",
    "model_path": "--model-path",
    "n_ctx": "--n-ctx",
    "protocol": "--protocol",
    "backend": "--backend",
    "max_turns": "--max-turns",
    "timeout": "--timeout",
    "threads": "--threads",
}
_ARG = re.compile(r"`(\w+)=`")


def cli_words(message: str) -> str:
    """``message`` with each `name=` the library wrote replaced by the flag that sets it."""

    def flag(m: re.Match[str]) -> str:
        return FLAGS.get(m.group(1), f"{m.group(1)}=")

    return _ARG.sub(flag, message)
