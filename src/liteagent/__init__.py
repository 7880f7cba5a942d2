"""liteagent: a lightweight framework for LLM agents with plugins."""

from typing import TYPE_CHECKING

from .actions import ActionExecutor, BaseAction, tool, tool_api
from .actions.context import Elicited, ToolContext
from .actions.resources import prompt, resource
from .agent import Agent, RunResult, Step
from .errors import LiteAgentError, LLMError, ModelRetry, ToolError, ToolTimeout, UsageError
from .events import ErrorEvent, FinalAnswer, TextDelta, ThinkingDelta, ToolCallEvent, ToolResultEvent, TurnEnd
from .llms import LLM, OpenAICompatibleLLM, ScriptedLLM, ScriptedReply
from .messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall
from .protocols import get_protocol
from .sessions import InMemorySession, Session, SQLiteSession

if TYPE_CHECKING:
    from .agent_config import AgentConfig

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "ActionExecutor",
    "ActionReturn",
    "ActionStatus",
    "Agent",
    "AgentConfig",
    "BaseAction",
    "Elicited",
    "ErrorEvent",
    "FinalAnswer",
    "InMemorySession",
    "LLMError",
    "LiteAgentError",
    "Message",
    "ModelRetry",
    "OpenAICompatibleLLM",
    "ResultItem",
    "RunResult",
    "SQLiteSession",
    "ScriptedLLM",
    "ScriptedReply",
    "Session",
    "Step",
    "TextDelta",
    "ThinkingDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolContext",
    "ToolError",
    "ToolResultEvent",
    "ToolTimeout",
    "TurnEnd",
    "UsageError",
    "__version__",
    "get_protocol",
    "prompt",
    "resource",
    "tool",
    "tool_api",
]


def __getattr__(name: str) -> object:
    if name == "LocalLLM":  # imports llama_cpp: only when asked for
        from .llms.local import LocalLLM

        return LocalLLM
    if name == "AgentConfig":  # the apps' way to build an agent: only when asked for
        from .agent_config import AgentConfig

        return AgentConfig
    raise AttributeError(f"module 'liteagent' has no attribute {name!r}")
