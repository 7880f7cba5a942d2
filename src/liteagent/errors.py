"""Errors a user can cause. Each carries a one-line message that names the problem and the fix."""

from __future__ import annotations


class LiteAgentError(Exception):
    """Base of liteagent's user-facing errors."""

    exit_code = 1


class UsageError(LiteAgentError):
    """Bad flags, specs or input: exit code 2."""

    exit_code = 2


class PluginLoadError(UsageError):
    """A plugin spec that cannot be resolved."""


class LLMError(LiteAgentError):
    """The model server failed: unreachable, unknown model, bad response."""
