"""ActionExecutor: every status, validation messages, timeouts, results as the model sees them."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from pydantic import BaseModel

from liteagent import ActionExecutor, ActionStatus, BaseAction, ResultItem, tool, tool_api


class Calc(BaseAction):
    """A calculator."""

    @tool_api
    def add(self, a: int, b: int = 0) -> int:
        """Add.

        Args:
            a: first
            b: second
        """
        return a + b

    @tool_api
    def tags(self, names: list[str], mode: str = "and") -> dict:
        """Join tags.

        Args:
            names: tag names
            mode: how to join
        """
        return {"joined": f" {mode} ".join(names), "count": len(names)}

    @tool_api
    def boom(self) -> str:
        """Fails."""
        raise RuntimeError("disk on fire")

    @tool_api(timeout=0.2)
    def spin(self) -> str:
        """Loops forever."""
        while True:
            pass

    @tool_api(timeout=0.2)
    async def nap(self) -> str:
        """Sleeps too long."""
        await asyncio.sleep(5)
        return "late"

    @tool_api
    def lagent_error(self) -> dict:
        """Lagent-style error result."""
        return {"error": "service said no"}


@pytest.fixture
def ex():
    e = ActionExecutor([Calc()])
    yield e
    e.close()


def test_success_with_safe_coercion(ex):
    r = ex.execute("Calc.add", {"a": "3", "b": 4})
    assert r.status is ActionStatus.SUCCESS
    assert r.result == [ResultItem("json", 7)]
    assert r.elapsed > 0 and r.error is None
    assert r.to_dict()["status"] == "success"


def test_arguments_as_json_string(ex):
    assert ex.execute("Calc.add", '{"a": 1}').result[0].content == 1
    bad = ex.execute("Calc.add", '{"a": 1,,}')
    assert bad.status is ActionStatus.ARGS_ERROR and "not valid JSON" in bad.error


def test_args_error_messages_name_field_problem_and_type(ex):
    r = ex.execute("Calc.add", {"a": "three"})
    assert r.status is ActionStatus.ARGS_ERROR
    assert r.error.startswith("invalid arguments for Calc.add: a:")
    assert "'three'" in r.error and "expected integer" in r.error
    r = ex.execute("Calc.add", {})
    assert "a: required argument missing (expected integer)" in r.error
    r = ex.execute("Calc.add", {"a": 1, "c": 2})
    assert "c: unknown argument (valid arguments: a, b)" in r.error
    r = ex.execute("Calc.tags", {"names": "x"})
    assert "names:" in r.error and "expected array of string" in r.error
    assert len(r.error.splitlines()) == 1


def test_invalid_action_lists_valid_names(ex):
    r = ex.execute("Calc.mul", {"a": 1})
    assert r.status is ActionStatus.INVALID_ACTION
    assert "unknown tool 'Calc.mul'" in r.error
    for name in ("Calc.add", "Calc.tags", "Calc.boom"):
        assert name in r.error


def test_api_error_caught(ex):
    r = ex.execute("Calc.boom")
    assert r.status is ActionStatus.API_ERROR and r.error == "RuntimeError: disk on fire"
    r = ex.execute("Calc.lagent_error")
    assert r.status is ActionStatus.API_ERROR and r.error == "service said no"


def test_sync_timeout_then_next_call_works(ex):
    t = time.perf_counter()
    r = ex.execute("Calc.spin")
    assert r.status is ActionStatus.TIMEOUT and "0.2 s" in r.error
    assert time.perf_counter() - t < 3
    assert ex.execute("Calc.add", {"a": 1}).ok


def test_async_timeout(ex):
    r = ex.execute("Calc.nap")
    assert r.status is ActionStatus.TIMEOUT
    r = asyncio.run(ex.aexecute("Calc.nap"))
    assert r.status is ActionStatus.TIMEOUT


def test_executor_default_timeout_applies_in_threads():
    @tool
    def sleepy(seconds: float) -> str:
        """Sleep.

        Args:
            seconds: how long
        """
        time.sleep(seconds)
        return "done"

    ex = ActionExecutor([sleepy], timeout=0.2)
    r = asyncio.run(ex.aexecute("sleepy", {"seconds": 2}))
    assert r.status is ActionStatus.TIMEOUT
    import threading

    box = []
    t = threading.Thread(target=lambda: box.append(ex.execute("sleepy", {"seconds": 2})))
    t.start()
    t.join()
    assert box[0].status is ActionStatus.TIMEOUT
    ex.close()


def test_async_api_and_aexecute(ex):
    r = asyncio.run(ex.aexecute("Calc.add", {"a": 2, "b": 2}))
    assert r.ok and r.result[0].content == 4


def test_execute_inside_running_loop_for_async_api():
    @tool
    async def hello(name: str) -> str:
        """Greet.

        Args:
            name: who
        """
        return f"你好, {name}"

    ex = ActionExecutor([hello])

    async def main():
        return ex.execute("hello", {"name": "Ñandú"})  # sync call from inside a loop (Jupyter)

    r = asyncio.run(main())
    assert r.result[0].content == "你好, Ñandú"


def test_unicode_and_dict_results_for_the_model(ex):
    @tool
    def emoji() -> dict:
        """Emoji."""
        return {"word": "ñandú 🦤", "n": 1}

    e = ActionExecutor([emoji])
    r = e.execute("emoji")
    assert r.result[0].type == "json"
    assert e.format_result(r) == json.dumps({"word": "ñandú 🦤", "n": 1}, ensure_ascii=False)
    assert "'word'" not in e.format_result(r)  # JSON, never a Python repr


def test_pydantic_and_text_results():
    class Out(BaseModel):
        x: int

    @tool
    def model() -> Out:
        """M."""
        return Out(x=1)

    @tool
    def both() -> list:
        """Both."""
        return [ResultItem.text("readable"), ResultItem.json({"a": 1})]

    e = ActionExecutor([model, both])
    assert e.execute("model").result[0].content == {"x": 1}
    r = e.execute("both")
    assert e.format_result(r) == "readable"  # text wins; JSON is the same data


def test_long_results_cut_with_marker():
    @tool
    def big() -> str:
        """Big."""
        return "x" * 50_000

    e = ActionExecutor([big], max_result_chars=100)
    r = e.execute("big")
    text = e.format_result(r)
    assert text.startswith("x" * 100)
    assert "[truncated: showing 100 of 50000 characters]" in text
    assert len(r.result[0].content) == 50_000  # the full result stays available


def test_duplicate_names_are_a_clear_error():
    with pytest.raises(ValueError, match="two plugins are named 'Calc'"):
        ActionExecutor([Calc(), Calc()])
    ActionExecutor([Calc(), Calc(name="Calc2")])  # renaming fixes it


def test_disabled_plugin_skipped():
    assert ActionExecutor([Calc(enable=False)]).names() == []


def test_accepts_classes_and_functions():
    def plain(x: int) -> int:
        """Plain function.

        Args:
            x: value
        """
        return x

    e = ActionExecutor([Calc, plain])
    assert "plain" in e.names() and "Calc.add" in e.names()
    with pytest.raises(TypeError, match="not a liteagent plugin"):
        ActionExecutor([object()])


def test_executors_with_the_same_tools_share_their_definitions_and_no_others():
    # An app that builds an agent per request renders from warm caches (issue 20): the snapshot is
    # keyed by what the tools are. A renamed plugin, another description or another tool is another key.
    from liteagent import BaseAction, tool, tool_api

    class Clock(BaseAction):
        """Clock."""

        @tool_api
        def now(self, tz: str = "UTC") -> str:
            """The time.

            Args:
                tz: time zone
            """
            return "12:00"

    @tool
    def echo(text: str) -> str:
        """Echo text.

        Args:
            text: any text
        """
        return text

    @tool(name="echo")
    def other_echo(words: str) -> str:
        """Echo other text.

        Args:
            words: any words
        """
        return words

    key = ActionExecutor([Clock()]).tool_set().key
    assert ActionExecutor([Clock()]).tool_set().key == key
    assert ActionExecutor([Clock(name="Watch")]).tool_set().key != key
    assert ActionExecutor([Clock(description="A wall clock.")]).tool_set().key != key
    assert ActionExecutor([Clock(), echo]).tool_set().key != key
    a, b = ActionExecutor([echo]).tool_set(), ActionExecutor([other_echo]).tool_set()
    assert a.key != b.key and "words" in b.defs[0].parameters["properties"]
    grown = ActionExecutor([Clock()])
    before = grown.tool_set().key
    grown.add(echo)  # a change of the same executor is seen too
    assert grown.tool_set().key != before and grown.resolve("echo") is not None
