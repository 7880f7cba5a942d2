"""Each dialect's parser on the outputs models really produce."""

from __future__ import annotations

import pytest

from liteagent.protocols import get_protocol


def calls(reply):
    return [(c.name, c.arguments) if c.error is None else ("MALFORMED", c.error) for c in reply.calls]


I = get_protocol("internlm2")


@pytest.mark.parametrize(
    "text, answer, expected",
    [
        (
            '我来搜索。<|action_start|><|plugin|>\n{"name": "ArxivSearch.get_arxiv_article_information", "parameters": {"query": "agents"}}<|action_end|>\n',
            "我来搜索。",
            [("ArxivSearch.get_arxiv_article_information", {"query": "agents"})],
        ),
        # generation stopped at the stop word: no <|action_end|>
        ('<|action_start|><|plugin|>\n{"name": "A.b", "parameters": {"q": 1}}', "", [("A.b", {"q": 1})]),
        # missing <|action_start|>
        ('Sure.<|plugin|>\n{"name": "A.b", "parameters": {}}<|action_end|>', "Sure.", [("A.b", {})]),
        # stray spaces around special tokens
        (
            'x <|action_start|> <|plugin|> \n {"name": "A.b", "parameters": {"q": "y"}} <|action_end|>',
            "x",
            [("A.b", {"q": "y"})],
        ),
        # "arguments" for "parameters"
        ('<|action_start|><|plugin|>\n{"name": "A.b", "arguments": {"q": 2}}<|action_end|>', "", [("A.b", {"q": 2})]),
        # JSON inside code fences
        (
            '<|action_start|><|plugin|>\n```json\n{"name": "A.b", "parameters": {"q": 3}}\n```<|action_end|>',
            "",
            [("A.b", {"q": 3})],
        ),
        # Python-dict quoting
        (
            "<|action_start|><|plugin|>\n{'name': 'A.b', 'parameters': {'q': True, 'r': None}}<|action_end|>",
            "",
            [("A.b", {"q": True, "r": None})],
        ),
        # trailing commas and raw newlines in strings
        (
            '<|action_start|><|plugin|>\n{"name": "A.b", "parameters": {"q": "line1\nline2",},}<|action_end|>',
            "",
            [("A.b", {"q": "line1\nline2"})],
        ),
        # several calls in one reply
        (
            '<|action_start|><|plugin|>\n{"name": "A.b", "parameters": {}}<|action_end|>\n<|action_start|><|plugin|>\n{"name": "C.d", "parameters": {"x": 1}}<|action_end|>',
            "",
            [("A.b", {}), ("C.d", {"x": 1})],
        ),
        # interpreter with and without fences
        (
            "<|action_start|><|interpreter|>\n```python\nprint(1+1)\n```<|action_end|>",
            "",
            [("PythonInterpreter", {"command": "print(1+1)"})],
        ),
        (
            "<|action_start|><|interpreter|>\nimport math\nprint(math.pi)",
            "",
            [("PythonInterpreter", {"command": "import math\nprint(math.pi)"})],
        ),
        # answers that merely show JSON or code are not calls
        (
            'The format is {"name": "A.b", "parameters": {}} and in Python:\n```python\nprint(1)\n```',
            'The format is {"name": "A.b", "parameters": {}} and in Python:\n```python\nprint(1)\n```',
            [],
        ),
        # end of turn token cuts the rest
        ("Done.<|im_end|>\n<|im_start|>user\nmore", "Done.", []),
    ],
)
def test_internlm2(text, answer, expected):
    r = I.parse(text)
    assert r.text == answer
    assert calls(r) == expected


@pytest.mark.parametrize(
    "text, error",
    [
        ("<|action_start|><|plugin|>\nI will search arxiv now<|action_end|>", "no JSON object found"),
        ('<|action_start|><|plugin|>\n{"parameters": {"q": 1}}<|action_end|>', 'no "name"'),
        ('<|action_start|><|plugin|>\n{"name": "A.b", "parameters": "oops"}<|action_end|>', "not a JSON object"),
        ("<|action_start|><|interpreter|>\n```python\n```<|action_end|>", "holds no code"),
        ("<|action_start|><|plugin|>", "the call is empty"),
    ],
)
def test_internlm2_unreadable_calls_are_reported_never_invented(text, error):
    r = I.parse(text)
    assert len(r.calls) == 1
    assert r.calls[0].error is not None and error in r.calls[0].error
    assert r.calls[0].raw.startswith("<|action_start|>")


H = get_protocol("hermes")


@pytest.mark.parametrize(
    "text, answer, thinking, expected",
    [
        (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            "",
            "",
            [("get_weather", {"city": "Paris"})],
        ),
        (
            'Let me check.\n<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {"x": 1}}\n</tool_call>',
            "Let me check.",
            "",
            [("a", {}), ("b", {"x": 1})],
        ),
        (
            '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]</tool_call>',
            "",
            "",
            [("a", {}), ("b", {})],
        ),
        (
            '<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{"name": "w", "arguments": {}}\n</tool_call>',
            "",
            "The user wants weather.",
            [("w", {})],
        ),
        (
            "Thinking without an opening tag.\n</think>\n\nParis is sunny.",
            "Paris is sunny.",
            "Thinking without an opening tag.",
            [],
        ),
        (
            '<tool_call>\n{"name": "w", "arguments": "{\\"city\\": \\"Rome\\"}"}\n</tool_call>',
            "",
            "",
            [("w", {"city": "Rome"})],
        ),
        (
            '<tool_call>\n{"name": "w", "arguments": {"city": "Oslo"}}',
            "",
            "",
            [("w", {"city": "Oslo"})],
        ),  # unclosed at end
        ("Plain answer with <b>html</b>.", "Plain answer with <b>html</b>.", "", []),
    ],
)
def test_hermes(text, answer, thinking, expected):
    r = H.parse(text)
    assert (r.text, r.thinking, calls(r)) == (answer, thinking, expected)


def test_hermes_malformed():
    r = H.parse("<tool_call>\nnot json at all\n</tool_call>")
    assert r.calls[0].error == "no JSON object found"


R = get_protocol("react")


@pytest.mark.parametrize(
    "text, answer, thinking, expected",
    [
        (
            'Thought: I should search.\nAction: ArxivSearch.get_arxiv_article_information\nAction Input: {"query": "rlhf"}',
            "",
            "I should search.",
            [("ArxivSearch.get_arxiv_article_information", {"query": "rlhf"})],
        ),
        # hallucinated observation is cut off
        (
            'Thought: search\nAction: s\nAction Input: {"q": 1}\nObservation: made up results\nThought: done\nFinal Answer: fake',
            "",
            "search",
            [("s", {"q": 1})],
        ),
        ("Thought: I know this.\nFinal Answer: 42 is the answer.", "42 is the answer.", "I know this.", []),
        ("No format at all, just an answer.", "No format at all, just an answer.", "", []),
        (
            "Thought: no args needed\nAction: EnvChecker.check_torch_env\n",
            "",
            "no args needed",
            [("EnvChecker.check_torch_env", {})],
        ),
        ('Action: s\nAction Input: ```json\n{"q": "fenced"}\n```', "", "", [("s", {"q": "fenced"})]),
    ],
)
def test_react(text, answer, thinking, expected):
    r = R.parse(text)
    assert (r.text, r.thinking, calls(r)) == (answer, thinking, expected)


def test_react_plain_string_input_is_malformed():
    r = R.parse("Action: search\nAction Input: llm agents")
    assert r.calls[0].error and "not a JSON object" in r.calls[0].error


def test_openai_native_deltas():
    p = get_protocol("openai").new_parser()
    p.feed("Checking.")
    p.feed_tool_delta(0, "call_a", "Weather__forecast", '{"city": ')
    p.feed_tool_delta(0, None, None, '"Paris"}')
    p.feed_tool_delta(1, "call_b", "shout", "{bad")
    p.finish()
    r = p.result()
    assert r.text == "Checking."
    assert calls(r)[0] == ("Weather__forecast", {"city": "Paris"})
    assert r.calls[0].id == "call_a"
    assert r.calls[1].error is not None or r.calls[1].arguments == {}


@pytest.mark.parametrize(
    "model, expected",
    [
        ("internlm2_5-7b-chat", "internlm2"),
        ("Qwen2.5-7B-Instruct", "hermes"),
        ("qwen3:8b", "hermes"),
        ("NousResearch/Hermes-3", "hermes"),
        ("smollm2-135m-instruct", "hermes"),
        ("gpt-4o-mini", "openai"),
        ("llama3.1:8b", "hermes"),
        ("", "hermes"),
    ],
)
def test_auto_by_model_name(model, expected):
    assert get_protocol("auto", model).name == expected
