"""Typed answers from the embedded model (SmolLM2-135M-Instruct, llama-cpp-python on the CPU).

The repo's fixed set (bench/data/structured_questions.json: 50 passages) is asked three ways,
each with its own output type (a Person, a Sentiment, Keywords), by the agent as a user builds it:
``Agent(LocalLLM(), output_type=T)`` (tool mode, decoding under the grammar: a call to a real tool
or the final answer whose arguments follow the schema). Beside it, the same set in prompted mode
without a grammar (``output_mode="prompted", constrain_calls=False``): the schema in the
instructions, as frameworks without constrained decoding ask a small model.

Prints, per mode and schema: parseable (the first reply holds a readable answer), valid on the
first try, valid after at most one retry, and how often the values are right (the passage's name,
age, city and sentiment); then the grammar's build time for 10 tools + an output schema (first
build, then cached) and validation time per answer.
Run: python bench/structured_output.py [--n 50] [--modes grammar,prompted] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from liteagent import ActionExecutor, Agent, tool
from liteagent.llms.local import LocalLLM
from liteagent.output import OutputSpec
from liteagent.protocols import HermesProtocol

DATA = Path(__file__).parent / "data" / "structured_questions.json"


class Person(BaseModel):
    """The person a passage is about."""

    name: str = Field(max_length=40, description="full name")
    age: int = Field(ge=0, le=120, description="age in years")
    city: str = Field(max_length=40, description="the city they are from")


class Sentiment(BaseModel):
    """What the person thinks of the thing they talk about."""

    label: Literal["positive", "negative", "neutral"]
    confidence: float = Field(ge=0, le=1, description="0 to 1")


class Keywords(BaseModel):
    """The passage's key words."""

    keywords: list[Annotated[str, Field(max_length=30)]] = Field(min_length=1, max_length=5)


ASKS: dict[str, tuple[type[BaseModel], str]] = {
    "person": (Person, "Who is this passage about? Give their name, age and city.\n\n{text}"),
    "sentiment": (Sentiment, "Is the person's opinion positive, negative or neutral?\n\n{text}"),
    "keywords": (Keywords, "Give one to five keywords for this passage.\n\n{text}"),
}


def right(kind: str, value: Any, expected: dict[str, Any]) -> bool:
    if kind == "person":
        return (value.name, value.age, value.city) == (expected["name"], expected["age"], expected["city"])
    if kind == "sentiment":
        return bool(value.label == expected["sentiment"])
    return len(value.keywords) >= 1


def parseable(agent: Agent[Any], result: Any) -> bool:
    """Did the first reply hold a readable answer (a well-formed call, or JSON text)?"""
    step = result.steps[0] if result.steps else None
    if step is None:
        return False
    spec = agent.output
    assert spec is not None
    if step.tool_calls:
        return any(c.name == "final_answer" and c.error is None for c in step.tool_calls)
    try:
        spec.from_text(step.text)
        return True
    except Exception:
        return False


def run_mode(mode: str, llm: LocalLLM, passages: list[dict[str, Any]]) -> None:
    for kind, (tp, template) in ASKS.items():
        if mode == "grammar":
            agent: Agent[Any] = Agent(llm, [], output_type=tp, output_retries=1)
        else:
            agent = Agent(llm, [], output_type=tp, output_mode="prompted", constrain_calls=False, output_retries=1)
        counts = {"parseable": 0, "first": 0, "one_retry": 0, "right": 0}
        times = []
        for p in passages:
            t0 = time.perf_counter()
            result = agent.run(template.format(text=p["text"]))
            times.append(time.perf_counter() - t0)
            counts["parseable"] += parseable(agent, result)
            if result.status == "ok":
                counts["one_retry"] += 1
                counts["first"] += result.turns == 1
                counts["right"] += right(kind, result.output, p["expected"])
        n = len(passages)
        pct = {k: 100 * v / n for k, v in counts.items()}
        print(
            f"{mode:8s} {kind:9s} n={n:3d}  parseable {pct['parseable']:5.1f} %  valid first try {pct['first']:5.1f} %  "
            f"valid <= 1 retry {pct['one_retry']:5.1f} %  right values {pct['right']:5.1f} %  "
            f"median {statistics.median(times):.2f} s/answer",
            flush=True,
        )


def ten_tools() -> ActionExecutor:
    tools = []
    for i in range(10):

        def fn(query: str, limit: int = 5, strict: bool = False) -> str:
            """Look something up.

            Args:
                query: what to look for
                limit: how many results
                strict: exact matches only
            """
            return query

        fn.__name__ = f"lookup_{i}"
        tools.append(tool(fn))
    return ActionExecutor(tools)


def grammar_figures() -> None:
    import llama_cpp  # noqa: F401  (loading the library is not building a grammar)

    executor = ten_tools()
    toolset = executor.tool_set()
    protocol = HermesProtocol()
    firsts = []
    for i in range(5):  # a new output type each time: nothing cached
        spec = OutputSpec({**Person.model_json_schema(), "title": f"Person{i}"})
        t0 = time.perf_counter()
        protocol.grammar(spec.with_tools(toolset), "required")
        firsts.append(time.perf_counter() - t0)
    agent = Agent(LocalLLM.__new__(LocalLLM), executor, protocol, output_type=Person)  # no model needed
    assert agent.output is not None
    offered = agent.output.with_tools(toolset)
    agent.grammar(protocol, "required", offered)
    t0 = time.perf_counter()
    for _ in range(1000):
        agent.grammar(protocol, "required", agent.output.with_tools(executor.tool_set()))
    cached = (time.perf_counter() - t0) / 1000
    print(
        f"grammar, 10 tools + the output schema: first build {statistics.median(firsts) * 1000:.1f} ms "
        f"(median of 5, max {max(firsts) * 1000:.1f}); cached {cached * 1e6:.1f} us"
    )


def validation_figures() -> None:
    answers = {
        "person": (Person, {"name": "Maria Lopez", "age": 40, "city": "Madrid"}),
        "sentiment": (Sentiment, {"label": "positive", "confidence": 0.9}),
        "keywords": (Keywords, {"keywords": ["library", "books", "quiet"]}),
        "person (JSON Schema dict)": (Person.model_json_schema(), {"name": "Maria Lopez", "age": 40, "city": "Madrid"}),
    }
    for name, (tp, args) in answers.items():
        spec = OutputSpec(tp)
        n = 20000
        t0 = time.perf_counter()
        for _ in range(n):
            spec.validate(spec.from_arguments(args))
        per = (time.perf_counter() - t0) / n
        print(f"validation, {name}: {per * 1e6:.1f} us per answer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="passages per schema (default: all 50)")
    ap.add_argument("--modes", default="grammar,prompted", help="grammar, prompted or both (default)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    grammar_figures()
    validation_figures()
    passages = json.loads(DATA.read_text())["passages"][: args.n]
    llm = LocalLLM(n_threads=args.threads)
    for mode in args.modes.split(","):
        run_mode(mode.strip(), llm, passages)


if __name__ == "__main__":
    main()
