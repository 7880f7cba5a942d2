"""Where tokens come from: an OpenAI-compatible server, or a scripted double for tests."""

from .base import LLM, Chunk, GenerationConfig, ToolCallDelta
from .openai_compat import OpenAICompatibleLLM
from .scripted import ScriptedLLM, ScriptedReply

__all__ = ["LLM", "Chunk", "GenerationConfig", "OpenAICompatibleLLM", "ScriptedLLM", "ScriptedReply", "ToolCallDelta"]
