"""Every type mapping and docstring style, as the model sees them."""

from __future__ import annotations

import dataclasses
import enum
import warnings
from typing import Annotated, Literal, TypedDict

import pytest
from pydantic import BaseModel, Field

from liteagent import BaseAction, tool, tool_api
from liteagent.actions import ActionExecutor, PluginDescriptionWarning


def params_of(fn) -> dict:
    return tool(fn).api_specs()[0].parameters


def test_scalars_and_required():
    def f(s: str, i: int, x: float, b: bool, d: int = 3) -> str:
        """F.

        Args:
            s: a string
            i: an int
            x: a float
            b: a bool
            d: with default
        """
        return s

    p = params_of(f)
    assert p["type"] == "object"
    assert p["properties"]["s"] == {"description": "a string", "type": "string"}
    assert p["properties"]["i"]["type"] == "integer"
    assert p["properties"]["x"]["type"] == "number"
    assert p["properties"]["b"]["type"] == "boolean"
    assert p["properties"]["d"] == {"description": "with default", "type": "integer", "default": 3}
    assert p["required"] == ["s", "i", "x", "b"]


def test_containers():
    def f(a: list[str], m: dict[str, int], t: tuple[int, str], n: list[list[float]]) -> None:
        """F."""

    props = params_of(f)["properties"]
    assert props["a"] == {"type": "array", "items": {"type": "string"}}
    assert props["m"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["t"]["type"] == "array"
    assert props["t"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["n"]["items"] == {"type": "array", "items": {"type": "number"}}


def test_optional_and_unions():
    def f(a: int | None = None, b: int | str = 1, c: str | None = None) -> None:
        """F."""

    props = params_of(f)["properties"]
    assert props["a"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["b"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["c"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert params_of(f)["required"] == []


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


def test_literal_and_enum():
    def f(mode: Literal["fast", "slow"], color: Color = Color.RED) -> None:
        """F."""

    props = params_of(f)["properties"]
    assert props["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert props["color"]["enum"] == ["red", "green"]
    assert props["color"]["default"] == "red"
    assert "$ref" not in str(props)


class Point(BaseModel):
    x: int = Field(description="x coordinate")
    y: int = 0


class Box(TypedDict):
    w: int
    h: int


@dataclasses.dataclass
class Span:
    start: int
    end: int


def test_nested_models_typeddict_dataclass():
    def f(p: Point, b: Box, s: Span) -> None:
        """F."""

    props = params_of(f)["properties"]
    assert props["p"]["type"] == "object"
    assert props["p"]["properties"]["x"] == {"description": "x coordinate", "type": "integer"}
    assert props["p"]["required"] == ["x"]
    assert props["b"]["properties"] == {"w": {"type": "integer"}, "h": {"type": "integer"}}
    assert props["s"]["required"] == ["start", "end"]
    assert "$defs" not in str(params_of(f)) and "title" not in props["p"]


def test_nested_values_arrive_as_objects():
    got = {}

    @tool
    def f(p: Point, s: Span) -> str:
        """F."""
        got["p"], got["s"] = p, s
        return "ok"

    r = ActionExecutor([f]).execute("f", {"p": {"x": "2"}, "s": {"start": 1, "end": 2}})
    assert r.ok, r.error
    assert got["p"] == Point(x=2, y=0) and got["s"] == Span(1, 2)


def test_annotated_description_wins():
    def f(q: Annotated[str, "the search query"], n: Annotated[int, Field(description="how many")] = 2) -> None:
        """F.

        Args:
            q: overridden
        """

    props = params_of(f)["properties"]
    assert props["q"]["description"] == "the search query"
    assert props["n"]["description"] == "how many"


GOOGLE = """Search papers.

Longer text.

Args:
    query (str): the query
    limit (int, optional): how many. Defaults to 3.

Returns:
    content (str): a list of papers
"""
NUMPY = """Search papers.

Longer text.

Parameters
----------
query : str
    the query
limit : int, optional
    how many

Returns
-------
str
    a list of papers
"""
REST = """Search papers.

Longer text.

:param query: the query
:type query: str
:param limit: how many
:returns: a list of papers
:rtype: str
"""


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, REST], ids=["google", "numpy", "rest"])
def test_docstring_styles(doc):
    def search(query, limit: int = 3):
        pass

    search.__doc__ = doc
    t = tool(search)
    spec = t.api_specs()[0]
    assert spec.description == "Search papers.\n\nLonger text."
    props = spec.parameters["properties"]
    assert props["query"] == {"description": "the query", "type": "string"}
    assert props["limit"]["description"].startswith("how many")
    assert props["limit"]["type"] == "integer"
    assert spec.returns is not None and spec.returns.description == "a list of papers"
    assert spec.returns.type == "STRING"
    d = t.lagent_description()
    assert d["return_data"][0]["description"] == "a list of papers"


def _class_with(doc_fn):
    class Plugin(BaseAction):
        pass

    Plugin.api = tool_api(doc_fn)
    return Plugin


@pytest.mark.parametrize(
    "case",
    ["no_docstring", "no_args_section", "arg_without_type", "param_missing_from_args", "chinese"],
)
def test_imperfect_docstrings_degrade_and_warn(case):
    src = {
        "no_docstring": "def api(self, q: str):\n    pass\n",
        "no_args_section": 'def api(self, q: str):\n    """Only a summary."""\n',
        "arg_without_type": 'def api(self, q, n=1):\n    """Do.\n\n    Args:\n        q: the query\n        n: count\n    """\n',
        "param_missing_from_args": 'def api(self, q: str, extra: int = 0):\n    """Do.\n\n    Args:\n        q: the query\n    """\n',
        "chinese": 'def api(self, q: str):\n    """获取环境信息\n\n    Args:\n        q (str): 查询内容\n    """\n',
    }[case]
    ns: dict = {}
    exec(src, ns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Plugin = type(f"P_{case}", (BaseAction,), {"api": tool_api(ns["api"])})
        desc = Plugin().lagent_description()  # must not raise
    assert desc["name"] == f"P_{case}"
    api = desc["api_list"][0]
    assert [p["name"] for p in api["parameters"]][0] == "q"
    if case == "chinese":
        assert api["description"] == "获取环境信息"
        assert api["parameters"][0]["description"] == "查询内容"
        assert not [w for w in caught if issubclass(w.category, PluginDescriptionWarning)]
    else:
        assert [w for w in caught if issubclass(w.category, PluginDescriptionWarning)]
    if case == "arg_without_type":
        assert api["parameters"][0]["type"] == "STRING"
        assert api["parameters"][1]["type"] == "STRING"  # untyped default
        assert api["required"] == ["q"]


def test_warns_once_per_problem():
    def make():
        class Quiet(BaseAction):
            @tool_api
            def api(self, q: str):
                pass

        return Quiet().lagent_description()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
        make()  # a Streamlit rerun re-creates the class
    msgs = [str(w.message) for w in caught if issubclass(w.category, PluginDescriptionWarning)]
    assert len(msgs) == len(set(msgs))


def test_unsupported_hint_degrades():
    class Opaque:
        pass

    def f(x: Opaque) -> None:
        """F.

        Args:
            x: something
        """

    t = tool(f)  # arbitrary types allowed: described as an open value, never a crash
    assert "x" in t.api_specs()[0].parameters["properties"]
