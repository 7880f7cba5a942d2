"""Type checkers see the output type: ``Agent(output_type=T).run(...).output`` is ``T | None``
(mypy run on a small program; an untyped agent's output is ``str | None``)."""

from __future__ import annotations

import textwrap

import pytest

mypy_api = pytest.importorskip("mypy.api")

PROGRAM = textwrap.dedent(
    """
    from pydantic import BaseModel
    from liteagent import Agent, ScriptedLLM

    class Paper(BaseModel):
        title: str

    llm = ScriptedLLM([])
    typed = Agent(llm, output_type=Paper)
    reveal_type(typed.run("x").output)
    reveal_type(Agent(llm).run("x").output)
    reveal_type(Agent(llm, output_type=list[int]).run("x").output)
    title: str = typed.run("x").output.title  # an error: output may be None
    """
)


def test_mypy_sees_the_output_type(tmp_path):
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    out, _err, _code = mypy_api.run([str(path), "--no-incremental", "--cache-dir", str(tmp_path / "cache")])
    revealed = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type is" in line]
    assert revealed[0] == '"program.Paper | None"', out
    assert revealed[1] == '"str | None"', out
    assert revealed[2] == '"list[int] | None"', out
    assert 'Item "None" of "Paper | None" has no attribute "title"' in out
