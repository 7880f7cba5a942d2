"""An agent behind an OpenAI-compatible API (``liteagent serve``; ``pip install -e ".[serve]"``)."""

from __future__ import annotations

from .app import create_app
from .config import ServeConfig
from .store import SessionStore, store_from_url

__all__ = ["ServeConfig", "SessionStore", "create_app", "store_from_url"]
