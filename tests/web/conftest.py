from __future__ import annotations

import json
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "src" / "liteagent" / "web" / "app.py"


@pytest.fixture
def web_env(tmp_path, monkeypatch, server):
    """Defaults as `liteagent web` passes them, pointing at the scripted server; a private
    database and data directory."""
    monkeypatch.setenv("LITEAGENT_DATA_DIR", str(tmp_path / "data"))

    def configure(**kw):
        defaults = {
            "backend": "openai",
            "base_url": server.url,
            "model": "scripted-model",
            "db": str(tmp_path / "web.sqlite3"),
            "plugins": ["EnvChecker"],
            **kw,
        }
        monkeypatch.setenv("LITEAGENT_WEB_DEFAULTS", json.dumps(defaults))
        return defaults

    configure()
    return configure


@pytest.fixture
def app_test():
    from streamlit.testing.v1 import AppTest

    def make(owner: str = "owner-a"):
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params["u"] = owner
        return at

    return make
