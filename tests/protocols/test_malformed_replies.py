"""The malformed replies real models write (issue 11), class by class, in each dialect where the
class applies; every case is also fed in random chunks and must read the same as whole."""

from __future__ import annotations

import random

import pytest

from liteagent import ActionExecutor, Agent, BaseAction, ScriptedLLM, ScriptedReply, tool_api
from liteagent.events import TextDelta
from liteagent.protocols import get_protocol


class Mail(BaseAction):
    """Mail."""

    @tool_api
    def send(self, to: str, body: str = "") -> str:
        """Send a mail.

        Args:
            to: the address
            body: the text
        """
        return f"sent to {to}"


TOOLS = ActionExecutor([Mail()]).tool_set()


def read(dialect: str, text: str, chunks: int | None = None):
    parser = get_protocol(dialect).new_parser(TOOLS)
    events = []
    if chunks is None:
        events += parser.feed(text)
    else:
        rng = random.Random(chunks)
        i = 0
        while i < len(text):
            n = rng.randint(1, 7)
            events += parser.feed(text[i : i + n])
            i += n
    events += parser.finish()
    return parser.result(), events


def calls(reply):
    return [(c.name, c.arguments) if c.error is None else ("ERROR", c.error) for c in reply.calls]


def both(dialect: str, text: str):
    whole, _ = read(dialect, text)
    for seed in range(5):
        chunked, _ = read(dialect, text, seed)
        assert (chunked.text, calls(chunked)) == (whole.text, calls(whole)), seed
    return whole


def wrap(dialect: str, obj: str) -> str:
    if dialect == "internlm2":
        return f"<|action_start|><|plugin|>\n{obj}<|action_end|>"
    if dialect == "hermes":
        return f"<tool_call>\n{obj}\n</tool_call>"
    raise AssertionError(dialect)


BODY = "Hi Ann,\n\tthe report is attached.\n\nBest,\r\nBo"
KEY = {"internlm2": "parameters", "hermes": "arguments"}


# 1. raw control characters inside JSON strings
@pytest.mark.parametrize("dialect", ["internlm2", "hermes"])
@pytest.mark.parametrize(
    "value", [BODY, "def f(x):\n\treturn x * 2\n", "col1\tcol2\nrow1\trow2", "a\x0bb", 'say "hi"\nnow']
)
def test_raw_control_characters_in_strings(dialect, value):
    escaped_quotes = value.replace('"', '\\"')
    obj = f'{{"name": "Mail.send", "{KEY[dialect]}": {{"to": "ann@x.org", "body": "{escaped_quotes}"}}}}'
    r = both(dialect, wrap(dialect, obj))
    assert calls(r) == [("Mail.send", {"to": "ann@x.org", "body": value})]


@pytest.mark.parametrize("value", [BODY, "line1\nline2\ttab"])
def test_raw_control_characters_react(value):
    r = both("react", f'Thought: mail\nAction: Mail.send\nAction Input: {{"to": "a@b.c", "body": "{value}"}}')
    assert calls(r) == [("Mail.send", {"to": "a@b.c", "body": value})]


# 2. junk after the first complete object
@pytest.mark.parametrize("dialect", ["internlm2", "hermes"])
@pytest.mark.parametrize("junk", ["}", "}}", " I hope this helps.", "\n\nLet me know!", "]"])
def test_junk_after_the_object(dialect, junk):
    obj = f'{{"name": "Mail.send", "{KEY[dialect]}": {{"to": "a@b.c"}}}}{junk}'
    assert calls(both(dialect, wrap(dialect, obj))) == [("Mail.send", {"to": "a@b.c"})]


@pytest.mark.parametrize("dialect", ["internlm2", "hermes"])
def test_junk_after_an_object_naming_no_tool_is_not_a_call(dialect):
    obj = f'{{"name": "Nope.send", "{KEY[dialect]}": {{"to": "a@b.c"}}}}}}'
    r = both(dialect, wrap(dialect, obj))
    assert len(r.calls) == 1 and r.calls[0].error is not None


@pytest.mark.parametrize("junk", ["}", " extra words", "\nObservation: invented"])
def test_junk_after_the_object_react(junk):
    r = both("react", f'Action: Mail.send\nAction Input: {{"to": "a@b.c"}}{junk}')
    assert calls(r) == [("Mail.send", {"to": "a@b.c"})]


# 3. a call cut off by the token limit: never run, text kept, the model told, retried
CUT = {
    "internlm2": [
        'Let me send it.<|action_start|><|plugin|>\n{"name": "Mail.send", "parameters": {"to": "a@b.c", "body": "Hel',
        'Sending.<|action_start|><|plugin|>\n{"name": "Mail.send", "parameters": {"to": "a@b.c"',
        "Computing.<|action_start|><|interpreter|>\n```python\nfor i in range(3):\n    print(",
    ],
    "hermes": [
        'Let me send it.<tool_call>\n{"name": "Mail.send", "arguments": {"to": "a@b.c", "body": "Hel',
        'Sending.<tool_call>\n{"name": "Mail.send", "arguments": {"to": "a@b.c"}',
    ],
    "react": ['Thought: send it\nAction: Mail.send\nAction Input: {"to": "a@b.c", "body": "Hel'],
}
FIXED = {
    "internlm2": '<|action_start|><|plugin|>\n{"name": "Mail.send", "parameters": {"to": "a@b.c"}}<|action_end|>',
    "hermes": '<tool_call>\n{"name": "Mail.send", "arguments": {"to": "a@b.c"}}\n</tool_call>',
    "react": 'Action: Mail.send\nAction Input: {"to": "a@b.c"}',
}


@pytest.mark.parametrize("dialect, cut", [(d, c) for d, cs in CUT.items() for c in cs])
def test_a_call_cut_by_the_token_limit_is_never_run(dialect, cut):
    from liteagent.actions.builtin.interpreter import PythonInterpreter

    sent: list[str] = []

    class Spy(Mail):
        name = "Mail"

        @tool_api
        def send(self, to: str, body: str = "") -> str:
            """Send a mail.

            Args:
                to: the address
                body: the text
            """
            sent.append(body)
            return f"sent to {to}"

    interp = PythonInterpreter()
    llm = ScriptedLLM([ScriptedReply(cut, finish_reason="length"), FIXED[dialect], "Done."])
    try:
        r = Agent(llm, [Spy(), interp], protocol=dialect).run("mail Ann")
    finally:
        interp.close()
    first = r.steps[0]
    assert first.results[0].status.value in ("args_error", "invalid_action")
    assert "cut off at the token limit" in first.results[0].error
    assert sent == [""]  # only the retried, complete call ran
    assert r.status == "ok" and r.answer == "Done."
    if dialect != "react":
        assert first.text == cut.split("<", 1)[0]  # the text before the call is kept as the reply's


def test_a_complete_call_followed_by_cut_text_still_runs():
    llm = ScriptedLLM(
        [ScriptedReply(FIXED["hermes"] + "\nWhile that runs, let me expl", finish_reason="length"), "Done."]
    )
    r = Agent(llm, [Mail()], protocol="hermes").run("mail Ann")
    assert r.steps[0].results[0].ok


# 4. ReAct inside a code fence; empty Action Input
@pytest.mark.parametrize(
    "text",
    [
        '```\nThought: mail\nAction: Mail.send\nAction Input: {"to": "a@b.c"}\n```',
        '```text\nThought: mail\nAction: Mail.send\nAction Input: {"to": "a@b.c"}\n```\n',
        'Thought: mail\n```\nAction: Mail.send\nAction Input: {"to": "a@b.c"}\n```',
        'Thought: mail\nAction: Mail.send\nAction Input:\n```json\n{"to": "a@b.c"}\n```',
    ],
)
def test_react_in_a_code_fence(text):
    r = both("react", text)
    assert calls(r) == [("Mail.send", {"to": "a@b.c"})] and "```" not in r.thinking


@pytest.mark.parametrize(
    "text",
    ["Action: Mail.send\nAction Input: {}", "Action: Mail.send\nAction Input:", "Action: Mail.send\nAction Input: \n"],
)
def test_react_empty_input_means_no_arguments(text):
    assert calls(both("react", text)) == [("Mail.send", {})]


# 5. a ReAct final answer that quotes the call syntax
@pytest.mark.parametrize(
    "text",
    [
        'Thought: explain\nFinal Answer: Write:\nAction: Mail.send\nAction Input: {"to": "x"}',
        "Final Answer: The format is `Action: Tool` then `Action Input: {...}`.\nThought: that is all",
        "Final Answer: Observation: lines come from tools.\nAction: Mail.send",
    ],
)
def test_react_final_answer_quoting_call_syntax(text):
    r = both("react", text)
    assert r.calls == [] and r.text == text.split("Final Answer:", 1)[1].strip()


# 6. ReAct without the stop word honoured
@pytest.mark.parametrize(
    "rest",
    [
        "\nObservation: sent\nThought: done\nFinal Answer: I sent it.",
        '\nResponse: {"ok": true}\nFinal Answer: sent',
        '\nResult: sent\nAction: Mail.send\nAction Input: {"to": "second@b.c"}',
        "\nThought: now answer\nFinal Answer: invented",
    ],
)
def test_react_first_action_runs_the_invented_rest_is_dropped(rest):
    r = both("react", 'Thought: mail\nAction: Mail.send\nAction Input: {"to": "a@b.c"}' + rest)
    assert [(c.name, c.arguments) for c in r.valid_calls] == [("Mail.send", {"to": "a@b.c"})] and r.text == ""
    # a further action is not dropped silently: it comes back as not run (test_react_two_actions)
    assert [c.error for c in r.malformed] == ([r.malformed[0].error] if "Action:" in rest else [])
    assert all("was not run" in str(c.error) for c in r.malformed)


# 7. Hermes without tags
@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Mail.send", "arguments": {"to": "a@b.c"}}',
        '  \n{"name": "Mail.send", "arguments": {"to": "a@b.c"}}\n',
        '{"name": "Mail__send", "arguments": {"to": "a@b.c"}}',
        '{"name": "Mail.send", "arguments": "{\\"to\\": \\"a@b.c\\"}"}',
    ],
)
def test_hermes_bare_json_call(text):
    r, events = read("hermes", text, 3)
    assert calls(r) in ([("Mail.send", {"to": "a@b.c"})], [("Mail__send", {"to": "a@b.c"})])
    assert not [e for e in events if isinstance(e, TextDelta)]  # the JSON never flashed as text
    assert calls(both("hermes", text)) == calls(r)


@pytest.mark.parametrize(
    "text",
    [
        'Use {"name": "Mail.send", "arguments": {"to": "a@b.c"}} to send mail.',
        '{"name": "Nope.send", "arguments": {"to": "a@b.c"}}',
        '{"answer": 42}',
        "{not json at all}",
    ],
)
def test_hermes_json_in_prose_or_naming_no_tool_is_text(text):
    r = both("hermes", text)
    assert r.calls == [] and r.text == text.strip()


def test_hermes_bare_call_through_the_agent():
    llm = ScriptedLLM(['{"name": "Mail.send", "arguments": {"to": "a@b.c"}}', "Sent."], chunk_size=5)
    r = Agent(llm, [Mail()], protocol="hermes").run("mail")
    assert r.steps[0].results[0].ok and r.answer == "Sent."
