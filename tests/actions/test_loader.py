"""Plugin specs: built-in names, pkg.module:Class, path/file.py:Class, entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from liteagent.actions import ActionExecutor, available_plugins, default_plugins, load_plugin
from liteagent.errors import PluginLoadError

from ..conftest import TESTS

PLUGINS = TESTS / "data" / "plugins"


def test_builtin_name():
    (p,) = load_plugin("EnvChecker")
    assert p.name == "EnvChecker" and type(p).__module__ == "liteagent.actions.builtin.env_checker"
    assert [x.name for x in default_plugins()] == ["EnvChecker", "ArxivSearch"]


def test_file_spec_with_class_and_whole_file():
    (w,) = load_plugin(f"{PLUGINS}/weather.py:Weather")
    assert w.name == "Weather"
    allp = load_plugin(str(PLUGINS / "weather.py"))
    assert sorted(p.name for p in allp) == ["Weather", "shout"]  # NeedsConfig needs arguments: skipped


def test_file_spec_loads_function_tool():
    (s,) = load_plugin(f"{PLUGINS}/weather.py:shout")
    assert ActionExecutor([s]).execute("shout", {"text": "hi"}).result[0].content == "HI"


def test_module_spec(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    (w,) = load_plugin("weather:Weather")
    assert w.name == "Weather"


def test_user_plugin_replaces_builtin_of_same_name(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(
        textwrap.dedent('''
        from liteagent import BaseAction, tool_api

        class EnvChecker(BaseAction):
            """Mine."""

            @tool_api
            def check_torch_env(self) -> str:
                """Mine."""
                return "my own checker"
    ''')
    )
    ex = ActionExecutor(load_plugin(f"{f}:EnvChecker"))
    assert ex.execute("EnvChecker.check_torch_env").result[0].content == "my own checker"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("NoSuchPlugin", "unknown plugin 'NoSuchPlugin'"),
        ("missing/file.py:X", "file missing/file.py not found"),
        (f"{PLUGINS}/weather.py:NotAPlugin", "NotAPlugin is not a plugin"),
        (f"{PLUGINS}/weather.py:Nope", "has no attribute 'Nope'"),
        (f"{PLUGINS}/weather.py:NeedsConfig", "needs arguments (api_key)"),
        (f"{PLUGINS}/broken.py:X", "failed to load (SyntaxError"),
        ("no_such_pkg.mod:Class", "module 'no_such_pkg' not found"),
    ],
)
def test_spec_errors_are_one_line(spec, message):
    with pytest.raises(PluginLoadError) as info:
        load_plugin(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def make_dist(root: Path) -> None:
    """An installed distribution declaring a plugin in the entry-point group liteagent.plugins."""
    pkg = root / "fake_liteagent_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent('''
        from liteagent import BaseAction, tool_api

        class Dice(BaseAction):
            """Roll dice."""

            @tool_api
            def roll(self, sides: int = 6) -> int:
                """Roll one die.

                Args:
                    sides: number of sides
                """
                return sides
    ''')
    )
    dist = root / "fake_liteagent_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-liteagent-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[liteagent.plugins]\nDice = fake_liteagent_plugin:Dice\n")


def test_entry_point_plugins(tmp_path, monkeypatch):
    make_dist(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "Dice" in available_plugins()
    (d,) = load_plugin("Dice")
    assert ActionExecutor([d]).execute("Dice.roll", {"sides": 20}).result[0].content == 20
    sys.modules.pop("fake_liteagent_plugin", None)
