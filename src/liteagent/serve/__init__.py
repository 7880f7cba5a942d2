"""An agent behind an OpenAI-compatible API (``liteagent serve``; ``pip install -e ".[serve]"``)."""

from __future__ import annotations

from .app import create_app
from .store import SessionStore, store_from_url

__all__ = ["SessionStore", "create_app", "store_from_url"]
