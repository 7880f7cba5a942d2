"""Built-in plugins, by name. Imported lazily: listing them costs nothing."""

from __future__ import annotations

BUILTINS: dict[str, str] = {
    "EnvChecker": "liteagent.actions.builtin.env_checker:EnvChecker",
    "ArxivSearch": "liteagent.actions.builtin.arxiv:ArxivSearch",
    "PythonInterpreter": "liteagent.actions.builtin.interpreter:PythonInterpreter",
    "ImageGeneration": "liteagent.actions.builtin.image_generation:ImageGeneration",
    "WebSearch": "liteagent.actions.builtin.web_search:WebSearch",
}

# Enabled when no --plugin is given: the built-ins that need no configuration. The code
# interpreter runs model-written code, so it is enabled by name only (--plugin PythonInterpreter).
DEFAULT_BUILTINS: list[str] = ["EnvChecker", "ArxivSearch"]
