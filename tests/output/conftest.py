from __future__ import annotations

import pytest

from ..test_serve import Service


@pytest.fixture
def service(server, tmp_path):
    """``liteagent serve`` subprocesses against the scripted model server."""
    made: list[Service] = []

    def make(*extra: str, **kw) -> Service:
        kw.setdefault("sessions", str(tmp_path / "sessions.sqlite3"))
        s = Service(server.url, *extra, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
