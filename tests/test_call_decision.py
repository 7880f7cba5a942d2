"""Auto, decided before decoding (issue 26): the embedded model's own log-probability of starting a
call against its threshold; above it the reply is decoded as a call, below as it would be anyway."""

from __future__ import annotations

import json

import pytest

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
    # the same prompt, the same odds: reading ahead left no trace (up to the kernels' rounding: a prompt
    # read again after the last one's cache reads ~0.1 apart on some CPUs)
    assert again["call_score"] == pytest.approx(stats["call_score"], abs=0.25)


# -- how many calls: after each call the model's own odds of another against ending ----------------


def test_the_engine_says_where_calls_end_under_required_and_in_a_decided_call():
    from liteagent.request import CallEnds

    llm = Deciding(["fine"] * 8)
    Agent(llm, [forecast], protocol="hermes", tool_choice="required").run("x")
    assert llm.requests[-1].call_ends == CallEnds("</tool_call>", "\n", 0.0)  # the rule's margin (none set)
    Agent(llm, [forecast], protocol="hermes").run("x")  # auto: only once a call is decided
    assert llm.requests[-1].call_ends is None and llm.requests[-1].decide.ends == CallEnds("</tool_call>", "\n", 0.0)
    Agent(llm, [forecast], protocol="react", tool_choice="required").run("x")  # no closer known
    assert llm.requests[-1].call_ends is None
    Agent(llm, [forecast], protocol="hermes", tool_choice="none").run("x")
    assert llm.requests[-1].call_ends is None


def test_the_shipped_model_ends_its_calls_by_its_own_odds():
    assert SHIPPED_CALL_RULES["hermes"].more_margin > 0  # bench/call_decision.py --calls
    # margin +inf: one call, and the odds of another after it are read
    once = LocalLLM(call_rules={"hermes": CallRule(-10.15, 3.0, float("inf"))})
    r = Agent(once, [forecast], protocol="hermes", tool_choice="required", max_turns=1).run(QUESTION)
    assert len(r.steps[0].tool_calls) == 1
    odds = once.stats[0]["another_call_odds"]
    # margin -inf: another call after each; the 135M model writes the same call again, and that
    # repeat is dropped (the reply ends there) instead of running the tool twice
    again = LocalLLM(call_rules={"hermes": CallRule(-10.15, 3.0, float("-inf"))})
    r = Agent(again, [forecast], protocol="hermes", tool_choice="required", max_turns=1).run(QUESTION)
    assert [(c.name, c.error) for c in r.steps[0].tool_calls] == [("forecast", None)]
    assert again.stats[0]["repeated_call_dropped"] is True
    assert again.stats[0]["another_call_odds"] == odds  # the same prompt and first call: the same odds
    assert "repeated_call_dropped" not in once.stats[0]
    # a margin between: whichever side of it the odds are, another call is tried
    between = LocalLLM(call_rules={"hermes": CallRule(-10.15, 3.0, odds - 0.01)})
    r = Agent(between, [forecast], protocol="hermes", tool_choice="required", max_turns=1).run(QUESTION)
    assert len(r.steps[0].tool_calls) >= 2 or between.stats[0].get("repeated_call_dropped")


def test_calls_that_differ_go_on_and_a_repeat_ends_the_reply():
    """Only a repeat ends the reply early: different calls go on while the odds say so (up to the
    grammar's bound); the 135M model names six cities here, then repeats one."""
    import liteagent.llms.local as local
    from liteagent.protocols.grammar import MAX_PARALLEL_CALLS

    llm = LocalLLM(call_rules={"hermes": CallRule(-10.15, 3.0, float("-inf"))})
    q = "Forecasts for Paris, Rome, Oslo, Lima, Kyiv, Bern, Doha, Riga and Baku, 3 days each."
    r = Agent(llm, [forecast], protocol="hermes", tool_choice="required", max_turns=1).run(q)
    calls = r.steps[0].tool_calls
    texts = [json.dumps(c.arguments, sort_keys=True) for c in calls]
    assert len(calls) >= 3 and len(set(texts)) == len(texts)  # never the same call twice in one reply
    assert len(calls) == MAX_PARALLEL_CALLS or llm.stats[0]["repeated_call_dropped"] is True
    assert local.max_calls() == MAX_PARALLEL_CALLS


def test_a_call_is_decoded_without_the_repeat_penalty(monkeypatch):
    """A call's JSON repeats its quotes and commas and the question's words; prose keeps the penalty."""
    llm = LocalLLM(call_rules={"hermes": CallRule(-10.15, 3.0, float("inf"))})
    llama = llm.loaded().llama
    seen: list[float] = []
    real = llama.generate

    def generate(*args, **kwargs):
        seen.append(kwargs["repeat_penalty"])
        return real(*args, **kwargs)

    monkeypatch.setattr(llama, "generate", generate)
    Agent(llm, [forecast], protocol="hermes", tool_choice="required", max_turns=1).run(QUESTION)
    Agent(llm, [forecast], protocol="hermes", tool_choice="none", max_turns=1, max_tokens=8).run(QUESTION)
    assert seen == [1.0, llm.repeat_penalty] and llm.repeat_penalty > 1.0
