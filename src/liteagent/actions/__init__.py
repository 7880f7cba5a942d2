"""Plugins: how they describe themselves, load, and run.

The tutorial's imports port by their module name: ``from liteagent.actions import ActionExecutor,
ArxivSearch, IPythonInterpreter`` (the built-ins load on first use).
"""

from .base import BaseAction, FunctionTool, tool, tool_api
from .executor import ActionExecutor, wire_name
from .loader import available_plugins, default_plugins, load_plugin, load_plugins
from .schema import ApiSpec, PluginDescriptionWarning

__all__ = [
    "ActionExecutor",
    "ApiSpec",
    "BaseAction",
    "FunctionTool",
    "PluginDescriptionWarning",
    "available_plugins",
    "default_plugins",
    "load_plugin",
    "load_plugins",
    "tool",
    "tool_api",
    "wire_name",
]

_BUILTIN_EXPORTS = {
    "ArxivSearch": ("arxiv", "ArxivSearch"),
    "EnvChecker": ("env_checker", "EnvChecker"),
    "ImageGeneration": ("image_generation", "ImageGeneration"),
    "PythonInterpreter": ("interpreter", "PythonInterpreter"),
    "IPythonInterpreter": ("interpreter", "PythonInterpreter"),  # Lagent's name for it
    "WebSearch": ("web_search", "WebSearch"),
}


def __getattr__(name: str) -> object:
    if name in _BUILTIN_EXPORTS:
        import importlib

        module, attr = _BUILTIN_EXPORTS[name]
        return getattr(importlib.import_module(f".builtin.{module}", __name__), attr)
    raise AttributeError(f"module 'liteagent.actions' has no attribute {name!r}")
