"""Property: every streaming parser, fed any text in any chunking, never raises and reads the
same reply as when fed the whole text at once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from liteagent import ActionExecutor, BaseAction, tool_api
from liteagent.protocols import PROTOCOLS, get_protocol


class A(BaseAction):
    """A."""

    @tool_api
    def b(self, q: int = 0) -> int:
        """B.

        Args:
            q: q
        """
        return q


TOOLS = ActionExecutor([A()]).tool_set()  # parsers with tools read bare JSON and junk after calls

PIECES = [
    "<|action_start|>",
    "<|plugin|>",
    "<|interpreter|>",
    "<|action_end|>",
    "<|im_end|>",
    "<|im_start|>",
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "Thought:",
    "Action:",
    "Action Input:",
    "Observation:",
    "Final Answer:",
    '{"name": "A.b", "parameters": {"q": 1}}',
    '{"name": "x", "arguments": {',
    '{"name": "A.b", "arguments": {"q": 2}}',
    # end markers inside JSON strings do not end a call; escapes decide where a string ends
    '{"name": "A.b", "arguments": {"q": "x</tool_call>y"}}',
    '{"name": "A.b", "parameters": {"q": "<|action_end|>"}}',
    '"</tool_call>"',
    '"<|action_end|>"',
    '\\"',
    "\\",
    "```json\n",
    "```",
    "\n",
    " ",
    "{",
    "}",
    "[",
    "]",
    '"',
    "'",
    ",",
    "<",
    "|",
    "你好",
    "🌍",
]

texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=40).map("".join)


def summary(reply):
    calls = [(c.name, c.arguments, c.error, c.kind) for c in reply.calls]
    return (reply.text, reply.thinking, calls, reply.open_call)


def chunked(protocol, text, cuts, tools=None):
    parser = protocol.new_parser(tools)
    points = sorted({c % (len(text) + 1) for c in cuts})
    prev = 0
    for p in [*points, len(text)]:
        parser.feed(text[prev:p])
        prev = p
    parser.finish()
    return parser.result()


@settings(max_examples=300, deadline=None)
@given(
    text=texts,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    name=st.sampled_from(sorted(PROTOCOLS)),
    tools=st.sampled_from([None, TOOLS]),
)
def test_chunked_equals_whole(text, cuts, name, tools):
    protocol = get_protocol(name)
    whole = protocol.parse(text, tools)
    assert summary(chunked(protocol, text, cuts, tools)) == summary(whole)


@settings(max_examples=200, deadline=None)
@given(text=texts, name=st.sampled_from(sorted(PROTOCOLS)), tools=st.sampled_from([None, TOOLS]))
def test_one_char_chunks(text, name, tools):
    protocol = get_protocol(name)
    parser = protocol.new_parser(tools)
    for ch in text:
        parser.feed(ch)
    parser.finish()
    assert summary(parser.result()) == summary(protocol.parse(text, tools))
