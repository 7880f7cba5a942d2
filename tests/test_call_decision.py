"""Auto, decided before decoding (issue 26): the embedded model's own log-probability of starting a
call against its threshold; above it the reply is decoded as a call, below as it would be anyway."""

from __future__ import annotations

from liteagent import Agent, ScriptedLLM, tool
from liteagent.llms.local import SHIPPED_CALL_RULES, LocalLLM
from liteagent.request import CallDecision, CallRule

QUESTION = "What's the weather in Paris for the next 3 days?"


@tool
def forecast(city: str, days: int = 1) -> str:
    """Forecast the weather of a city.

    Args:
        city: the city name
        days: how many days ahead
    """
    return f"{city}: sunny for {days} day(s)"


class Deciding(ScriptedLLM):
    """A scripted model that says it reads its next-token odds (to see what the engine asks)."""

    supports_grammar = True

    def call_rule(self, dialect: str) -> CallRule | None:
        return CallRule(-3.0, 0.5) if dialect == "hermes" else None


def test_the_engine_asks_for_a_decision_only_under_auto_with_a_known_threshold():
    llm = Deciding(["fine"] * 8)
    Agent(llm, [forecast], protocol="hermes").run("x")
    decide = llm.requests[-1].decide
    assert isinstance(decide, CallDecision) and decide.opener == "<tool_call>" and decide.threshold == -3.0
    assert decide.names == ("forecast",) and decide.name_weight == 0.5 and decide.name_prefix == '\n{"name": "'
    assert decide.grammar and decide.grammar != llm.requests[-1].grammar  # calls only, vs call-or-answer
    for kw in ({"tool_choice": "required"}, {"tool_choice": "none"}, {"output_type": int}):
        Agent(llm, [forecast], protocol="hermes", **kw).run("x")
        assert llm.requests[-1].decide is None, kw
    Agent(llm, [forecast], protocol="react").run("x")  # no threshold for this dialect
    assert llm.requests[-1].decide is None
    Agent(llm, [], protocol="hermes").run("x")  # nothing to call
    assert llm.requests[-1].decide is None
    plain = ScriptedLLM(["fine"])  # a server: nothing decided here
    Agent(plain, [forecast], protocol="hermes").run("x")
    assert plain.requests[-1].decide is None


def test_the_shipped_model_decides_by_its_own_odds():
    rule = SHIPPED_CALL_RULES["hermes"]
    assert rule.threshold < 0
    assert LocalLLM().call_rule("hermes") == rule and LocalLLM().call_rule("react") is None
    # a threshold every score passes: the reply is decoded as a call, and runs
    always = LocalLLM(call_rules={"hermes": CallRule(-1e9, 1.0)})
    r = Agent(always, [forecast], protocol="hermes", max_turns=2).run(QUESTION)
    first = r.steps[0]
    assert first.tool_calls and first.tool_calls[0].name == "forecast" and first.results[0].ok
    stats = always.stats[-len(r.steps)]
    assert stats["decided_call"] == 1.0 and stats["call_logprob"] <= 0.0 and stats["name_logprob"] <= 0.0
    assert stats["call_score"] == stats["call_logprob"] + stats["name_logprob"]
    # one no score passes (both parts are at most 0): decoded as it would be, the same odds kept
    never = LocalLLM(call_rules={"hermes": CallRule(0.5, 1.0)})
    r = Agent(never, [forecast], protocol="hermes", max_turns=2).run(QUESTION)
    again = never.stats[-len(r.steps)]
    assert again["decided_call"] == 0.0
    assert again["call_score"] == stats["call_score"]  # the same prompt, the same odds: reading ahead left no trace
