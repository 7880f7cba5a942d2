"""Dialects: how each model family is told its tools and how its calls are read."""

from __future__ import annotations

from ..errors import UsageError
from .base import ParsedReply, ParseEvent, Protocol, Request, StreamParser
from .hermes import HermesProtocol
from .internlm2 import InternLM2Protocol
from .openai import OpenAIProtocol
from .react import ReActProtocol

PROTOCOLS: dict[str, type[Protocol]] = {
    "internlm2": InternLM2Protocol,
    "hermes": HermesProtocol,
    "openai": OpenAIProtocol,
    "react": ReActProtocol,
}


DIALECTS: list[str] = ["auto", *PROTOCOLS]  # what --protocol and the web chat offer


def protocol_for_model(model: str) -> str:
    """``auto``: internlm -> internlm2; qwen, hermes, smollm -> hermes; gpt -> openai; else hermes."""
    m = (model or "").lower()
    if "internlm" in m:
        return "internlm2"
    if any(k in m for k in ("qwen", "hermes", "smollm")):
        return "hermes"
    if m.startswith(("gpt", "o1", "o3", "o4")) or "/gpt" in m or "gpt-" in m:
        return "openai"
    return "hermes"


def get_protocol(
    name: str, model: str = "", system_prompt: str | None = None, plugin_prompt: str | None = None
) -> Protocol:
    key = protocol_for_model(model) if name == "auto" else name
    if key not in PROTOCOLS:
        raise UsageError(f"unknown protocol {name!r}; choose one of auto, {', '.join(PROTOCOLS)}")
    return PROTOCOLS[key](system_prompt=system_prompt, plugin_prompt=plugin_prompt)


__all__ = [
    "DIALECTS",
    "PROTOCOLS",
    "HermesProtocol",
    "InternLM2Protocol",
    "OpenAIProtocol",
    "ParseEvent",
    "ParsedReply",
    "Protocol",
    "ReActProtocol",
    "Request",
    "StreamParser",
    "get_protocol",
    "protocol_for_model",
]
