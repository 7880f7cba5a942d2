"""liteagent: a lightweight framework for LLM agents with plugins."""

from .actions import ActionExecutor, BaseAction, tool, tool_api
from .errors import LiteAgentError
from .messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall

__version__ = "0.1.0"

__all__ = [
    "ActionExecutor",
    "ActionReturn",
    "ActionStatus",
    "BaseAction",
    "LiteAgentError",
    "Message",
    "ResultItem",
    "ToolCall",
    "__version__",
    "tool",
    "tool_api",
]
