"""Plugins: how they describe themselves, load, and run."""

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
