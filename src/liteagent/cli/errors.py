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
    "max_tokens": "--max-tokens",
    "context_tokens": "--context-tokens",
    "gpu_layers": "--gpu-layers",
    "system_prompt": "--system-prompt",
    "plugin_prompt": "--plugin-prompt",
    "plugins": "--plugin",
    "mcp": "--mcp",
    "mcp_connect_timeout": "--mcp-connect-timeout",
    "allowed_hosts": "--allowed-host",
    "allowed_origins": "--allowed-origin",
    "max_body": "--max-body",
    "run_timeout": "--run-timeout",
    "approve_tools": "--approve-tool",
    "approvals": "--approve-tool",
    "always": "--always",
    "output_schema": "--output-schema",
    "output_type": "--output-type",
    "output_mode": "--output-mode",
    "output_retries": "--output-retries",
    "max_total_tokens": "--max-total-tokens",
    "max_tool_calls": "--max-tool-calls",
    "record": "--record",
    "replay": "--replay",
    "replay_speed": "--replay-speed",
}
_ARG = re.compile(r"`(\w+)=`")
_NAMES = re.compile(r"^(approvals|always) names ")  # the core's "approvals names 'X', which is no tool"

#: exit code of ``run`` and ``resume`` when the run waits for a person's decision (usage errors are
#: 2, runtime failures 1, another process resumed first 3: ``RunConflict``)
NEEDS_APPROVAL = 4
#: exit code of ``run`` and ``resume`` when a typed answer did not validate within its retries
INVALID_OUTPUT = 5


def cli_words(message: str) -> str:
    """``message`` with each `name=` the library wrote replaced by the flag that sets it."""

    def flag(m: re.Match[str]) -> str:
        return FLAGS.get(m.group(1), f"{m.group(1)}=")

    message = _NAMES.sub(lambda m: f"{FLAGS[m.group(1)]} names ", message)
    return _ARG.sub(flag, message)
