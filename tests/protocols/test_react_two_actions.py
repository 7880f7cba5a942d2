"""A ReAct reply with two Action / Action Input pairs: the first runs, the second comes back as a
call that was not run (the model reads why), never dropped silently; in any chunking."""

from __future__ import annotations

import pytest

from liteagent import ActionExecutor, Agent, BaseAction, tool_api
from liteagent.llms import ScriptedLLM
from liteagent.protocols import get_protocol

TWO = (
    "Thought: I need both.\n"
    'Action: Calc.add\nAction Input: {"a": 1, "b": 2}\n'
    "Thought: and then\n"
    'Action: Calc.mul\nAction Input: {"a": 3, "b": 4}\n'
)


def parse(text: str, chunk: int | None):
    parser = get_protocol("react").new_parser()
    if chunk is None:
        parser.feed(text)
    else:
        for i in range(0, len(text), chunk):
            parser.feed(text[i : i + chunk])
    parser.finish()
    return parser.result()


@pytest.mark.parametrize("chunk", [None, 1, 5])
@pytest.mark.parametrize(
    "text",
    [
        TWO,
        TWO.replace("Thought: and then\n", ""),  # back to back
        TWO.replace("Thought: and then\n", "Observation: 3 (made up)\n"),  # after an invented observation
    ],
)
def test_the_second_action_is_reported_not_run(text, chunk):
    r = parse(text, chunk)
    assert [(c.name, c.arguments, c.error is None) for c in r.calls] == [
        ("Calc.add", {"a": 1, "b": 2}, True),
        ("Calc.mul", {"a": 3, "b": 4}, False),
    ]
    assert "not run" in r.calls[1].error and "Calc.add" in r.calls[1].error
    assert r.thinking == "I need both." and r.text == ""


def test_an_invented_final_answer_after_the_action_is_still_dropped():
    r = parse('Action: Calc.add\nAction Input: {"a": 1, "b": 2}\nObservation: 3\nFinal Answer: 3', None)
    assert [c.name for c in r.calls] == ["Calc.add"] and r.calls[0].error is None and r.text == ""


class Calc(BaseAction):
    """Arithmetic."""

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []

    @tool_api
    def add(self, a: int, b: int) -> int:
        """Add.

        Args:
            a: a
            b: b
        """
        self.ran.append("add")
        return a + b

    @tool_api
    def mul(self, a: int, b: int) -> int:
        """Multiply.

        Args:
            a: a
            b: b
        """
        self.ran.append("mul")
        return a * b


def test_the_model_reads_that_its_second_action_did_not_run():
    calc = Calc()
    llm = ScriptedLLM(
        [TWO, 'Thought: now the product\nAction: Calc.mul\nAction Input: {"a": 3, "b": 4}', "Final Answer: 3 and 12"]
    )
    agent = Agent(llm, ActionExecutor([calc]), protocol="react")
    r = agent.run("add 1 and 2, multiply 3 and 4")
    assert r.status == "ok" and r.answer == "3 and 12"
    assert calc.ran == ["add", "mul"]  # the first action, then the second as its own step
    second_prompt = "\n".join(m["content"] for m in llm.requests[1].messages)
    assert "Observation: 3" in second_prompt
    assert "not run" in second_prompt and "only the first one (Calc.add) ran" in second_prompt
