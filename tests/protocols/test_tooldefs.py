"""Dialects see an immutable snapshot of the tool definitions, made once per tool set."""

from __future__ import annotations

import pytest

from liteagent import ActionExecutor, Agent, BaseAction, ScriptedLLM, tool_api
from liteagent.actions.tooldefs import ToolDef, ToolSet
from liteagent.protocols import HermesProtocol


class Lab(BaseAction):
    """Lab."""

    @tool_api
    def measure(self, sample: str) -> str:
        """Measure.

        Args:
            sample: the sample
        """
        return sample


def test_snapshot_is_immutable_cached_and_renews_on_change():
    ex = ActionExecutor([Lab()])
    ts = ex.tool_set()
    assert isinstance(ts, ToolSet) and ts is ex.tool_set()  # once per tool set
    d = ts.resolve("Lab.measure")
    assert isinstance(d, ToolDef) and d.wire == "Lab__measure" and d.kind == "plugin"
    with pytest.raises(AttributeError):
        d.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.parameters["type"] = "array"  # type: ignore[index]
    ts.openai_tools()[0]["function"]["parameters"]["properties"].clear()  # a copy: the snapshot keeps its own
    assert "sample" in ts.resolve("Lab__measure").parameters["properties"]
    ex.add(Lab(name="Lab2"))
    assert ex.tool_set() is not ts and len(ex.tool_set()) == 2 and len(ts) == 1


def test_the_agent_hands_dialects_the_snapshot_not_the_executor():
    seen = []

    class Spy(HermesProtocol):
        def render(self, messages, toolset, tool_choice="auto"):
            seen.append(type(toolset))
            return super().render(messages, toolset, tool_choice)

        def new_parser(self, toolset=None):
            seen.append(type(toolset))
            return super().new_parser(toolset)

    Agent(ScriptedLLM(["hi"]), [Lab()], protocol=Spy()).run("hello")
    assert seen and set(seen) == {ToolSet}
