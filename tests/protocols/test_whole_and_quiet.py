"""Two shortcuts of the parsers read the same replies as the long way: InternLM2 reads a chunk that
is one whole plugin call at a glance (a reply that is not streamed), and a quiet parser (what
``Agent.run`` uses: nobody reads its events) makes no events."""

from __future__ import annotations

import pytest

from liteagent import ActionExecutor, BaseAction, tool_api
from liteagent.events import TextDelta
from liteagent.protocols import PROTOCOLS, get_protocol


class Mail(BaseAction):
    """Mail."""

    @tool_api
    def send(self, to: str, body: str = "") -> str:
        """Send.

        Args:
            to: address
            body: text
        """
        return to


TOOLS = ActionExecutor([Mail()]).tool_set()
S, P, E = "<|action_start|><|plugin|>", "<|plugin|>", "<|action_end|>"

WHOLE = [  # one whole call each, or nearly
    S + '\n{"name": "Mail.send", "parameters": {"to": "a@b.c"}}' + E,
    S + '{"name": "Mail.send", "parameters": {}}' + E,
    S + '\n{"name": "Mail.send", "parameters": {"to": "<|action_end|>"}}' + E,  # a marker in a string
    S + '\n{"name": "Mail.send", "parameters": {"to": "a \\" b"}}' + E,  # an escaped quote
    S + '\n{"name": "Mail.send", "parameters": {"to": "open}}' + E,  # a string never closed
    S + '\n{"name": "Nope", "parameters": {}}' + E,
    S + '\n{"name": "Mail.send", "parameters": {"to": "x"}' + E,  # malformed
    S + "\n[{\"name\": 'Mail.send', 'parameters': {'to': 'y'}}]" + E,
    S + E,
    S + '\n{"name": "Mail.send", "parameters": {"to": "z"}}' + E + "\n",
    S + '\n{"name": "Mail.send", "parameters": {"to": "z"}}' + E + S + '{"name": "Mail.send", "parameters": {}}' + E,
    S + '\n{"name": "Mail.send", "parameters": {"to": "z"}}',  # no end marker (a stop word)
    "Sure. " + S + '\n{"name": "Mail.send", "parameters": {"to": "z"}}' + E,
    "<|action_start|><|interpreter|>\nprint(1)" + E,
    P + '{"name": "Mail.send", "parameters": {"to": "z"}}' + E,
]


def read(protocol, chunks, quiet=False):
    parser = protocol.new_parser(TOOLS)
    parser.quiet = quiet
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.finish()
    reply = parser.result()
    calls = [(c.name, c.arguments, c.id, c.raw, c.kind, c.error) for c in reply.calls]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))  # as many pieces as chunks
    return (reply.text, reply.thinking, calls, reply.open_call), [text, *(repr(e) for e in events if e.type != "text")]


@pytest.mark.parametrize("text", WHOLE)
def test_a_whole_call_in_one_chunk_reads_as_char_by_char(text):
    protocol = get_protocol("internlm2")
    assert read(protocol, [text]) == read(protocol, list(text))
    assert read(protocol, ["Hi. ", text]) == read(protocol, ["Hi. ", *text])  # after some text


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@pytest.mark.parametrize("text", [*WHOLE, "<think>hm</think>answer", "Thought: t\nFinal Answer: 42", "plain"])
def test_a_quiet_parser_reads_the_same_reply_without_events(name, text):
    protocol = get_protocol(name)
    for chunks in ([text], list(text)):
        reply, _ = read(protocol, chunks)
        quiet_reply, quiet_events = read(protocol, chunks, quiet=True)
        assert quiet_reply == reply and quiet_events == [""]
