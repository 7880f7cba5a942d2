"""Built-in plugins, by name. Imported lazily: listing them costs nothing."""

from __future__ import annotations

BUILTINS: dict[str, str] = {
    "EnvChecker": "liteagent.actions.builtin.env_checker:EnvChecker",
}

# Enabled when no --plugin is given: the built-ins that need no configuration.
DEFAULT_BUILTINS: list[str] = ["EnvChecker"]
