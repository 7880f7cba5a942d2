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


class ToolError(Exception):
    """Raised by a plugin for a failure the model should read as is (status API_ERROR).

    The message is passed to the model verbatim, without the exception's class name.
    """


class ToolTimeout(ToolError):
    """Raised by a plugin that enforced its own time limit (status TIMEOUT, message verbatim)."""


class RunConflict(LiteAgentError):
    """Another process resumed (or writes to) the same run first: this one did nothing."""

    exit_code = 3


class ModelRetry(Exception):
    """Raised by an output validator (``Agent(output_validators=[fn])``): the answer is not
    acceptable, and the message tells the model why; it tries again within ``output_retries``."""
