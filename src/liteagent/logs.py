"""Library logs (retries, warnings) go to stderr as one line each."""

from __future__ import annotations

import logging


def setup_logging() -> None:
    root = logging.getLogger("liteagent")
    if not root.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("liteagent: %(message)s"))
        root.addHandler(h)
        root.setLevel(logging.WARNING)
        root.propagate = False
