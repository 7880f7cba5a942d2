"""Lagent's module path for the plugin base: ``from liteagent.actions.base_action import BaseAction, tool_api``."""

from .base import BaseAction, tool_api

__all__ = ["BaseAction", "tool_api"]
