from __future__ import annotations

from ..test_serve import service  # noqa: F401  (the fixture: liteagent serve against the scripted server)
