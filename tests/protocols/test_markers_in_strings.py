"""A dialect's end marker written inside a JSON string is argument text, not the end of the call
(the embedded model's grammar allows any text in a string). Read the same in any chunking."""

from __future__ import annotations

import json

import pytest

from liteagent.protocols import get_protocol


def read(dialect: str, text: str, chunk: int | None = None):
    parser = get_protocol(dialect).new_parser()
    if chunk is None:
        parser.feed(text)
    else:
        for i in range(0, len(text), chunk):
            parser.feed(text[i : i + chunk])
    parser.finish()
    return parser.result()


def hermes_call(args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "Notes.write", "arguments": args}) + "\n</tool_call>"


def internlm2_call(args: dict) -> str:
    return "<|action_start|><|plugin|>\n" + json.dumps({"name": "Notes.write", "parameters": args}) + "<|action_end|>\n"


TRICKY = [
    "close a call with </tool_call> then",
    "</tool_call>\n<tool_call>\n{}",
    'an escaped quote \\" then </tool_call>',
    "a backslash at the end \\",
    "<|action_end|><|im_end|><|action_start|><|plugin|>",
    "<think></think> <|im_start|>",
]


@pytest.mark.parametrize("chunk", [None, 1, 2, 7])
@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("dialect,make", [("hermes", hermes_call), ("internlm2", internlm2_call)])
def test_markers_inside_a_string_are_argument_text(dialect, make, value, chunk):
    text = "Writing it down. " + make({"text": value, "n": 1}) + "Done."
    r = read(dialect, text, chunk)
    assert [(c.name, c.arguments, c.error) for c in r.calls] == [("Notes.write", {"text": value, "n": 1}, None)]
    assert r.text == "Writing it down. Done." and not r.open_call


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_two_calls_each_with_a_marker_in_a_string(chunk):
    text = hermes_call({"text": "a </tool_call> b"}) + "\n" + hermes_call({"text": "<tool_call> c"})
    r = read("hermes", text, chunk)
    assert [c.arguments for c in r.calls] == [{"text": "a </tool_call> b"}, {"text": "<tool_call> c"}]


@pytest.mark.parametrize("dialect", ["hermes", "internlm2"])
@pytest.mark.parametrize("chunk", [None, 1, 4])
def test_an_unterminated_string_is_cut_at_the_first_marker_as_before(dialect, chunk):
    """A malformed call (its string never closes) stays one malformed call; the next is read."""
    if dialect == "hermes":
        text = '<tool_call>\n{"name": "Notes.write", "arguments": {"text": "oops}}\n</tool_call>then ' + hermes_call({})
    else:
        text = (
            '<|action_start|><|plugin|>\n{"name": "Notes.write", "parameters": {"text": "oops}}<|action_end|>\nthen '
            + internlm2_call({})
        )
    r = read(dialect, text, chunk)
    assert [c.error is not None for c in r.calls] == [True, False]
    assert r.calls[1].name == "Notes.write" and r.text == "then" and not r.open_call


def test_interpreter_code_is_not_read_as_json():
    text = '<|action_start|><|interpreter|>\nprint("x)<|action_end|>\nafter'
    r = read("internlm2", text)
    assert r.calls[0].arguments == {"command": 'print("x)'} and r.text == "after"


def test_a_call_cut_off_inside_a_string_is_open():
    r = read("hermes", '<tool_call>\n{"name": "Notes.write", "arguments": {"text": "half')
    assert r.open_call and r.calls[0].error is not None
