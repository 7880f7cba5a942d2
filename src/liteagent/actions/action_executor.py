"""Lagent's module path for the executor: ``from liteagent.actions.action_executor import ActionExecutor``."""

from .executor import ActionExecutor

__all__ = ["ActionExecutor"]
