"""Lagent's agent classes over liteagent's one agent (``liteagent.agents.internlm2_agent``)."""

from .internlm2_agent import Internlm2Agent, Internlm2Protocol

__all__ = ["Internlm2Agent", "Internlm2Protocol"]
