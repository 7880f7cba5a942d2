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
    "tool_timeout": "--timeout",
    "tool_choice": "--tool-choice",
    "temperature": "--temperature",
    "context_tokens": "--context-tokens",
    "gpu_layers": "--gpu-layers",
    "system_prompt": "--system-prompt",
    "plugin_prompt": "--plugin-prompt",
    "plugins": "--plugin",
    "mcp": "--mcp",
    "allowed_hosts": "--allowed-host",
    "allowed_origins": "--allowed-origin",
    "max_body": "--max-body",
    "run_timeout": "--run-timeout",
}
_ARG = re.compile(r"`(\w+)=`")


def cli_words(message: str) -> str:
    """``message`` with each `name=` the library wrote replaced by the flag that sets it."""

    def flag(m: re.Match[str]) -> str:
        return FLAGS.get(m.group(1), f"{m.group(1)}=")

    return _ARG.sub(flag, message)
