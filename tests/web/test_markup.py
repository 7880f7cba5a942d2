"""The renderer of model text for the page (issue 23, 6): every link trick comes out as text,
Markdown still reads as Markdown, and what reaches st.html passes the tag allowlist."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from liteagent.web.markup import _checked, allowed_html, answer_parts, code_span, plain

from .hostile import HOSTILE_TEXT, TRICKS
from .page import link_makers

URL = re.compile(r"https://evil\.example/[\w.?=/-]*")


def rendered(text: str) -> str:
    return "".join(p.html for p in answer_parts(text) if p.code is None)


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_every_trick_is_text_and_no_tag_can_link():
    for trick in TRICKS:
        out = rendered(trick)
        assert "<a" not in out and "<img" not in out, out  # tags; "&lt;a" is text
        assert allowed_html(out.removeprefix('<div class="la-md">').removesuffix("</div>")), out
        for url in URL.findall(trick):  # ... and the address is still there to read
            assert url.rstrip(")") in text_of(out), (url, out)


def test_links_and_images_read_as_text_with_their_address():
    assert text_of(rendered("[docs](https://evil.example/d)")).strip() == "docs (https://evil.example/d)"
    assert text_of(rendered("see <https://evil.example/a>")).strip() == "see https://evil.example/a"
    out = rendered("![a cat](https://evil.example/cat.png)")
    assert text_of(out).strip() == "🖼 a cat (https://evil.example/cat.png)" and "<img" not in out
    ref = rendered("[r][x]\n\n[x]: https://evil.example/r")
    assert text_of(ref).strip() == "r (https://evil.example/r)"  # the definition itself is not shown
    assert "[js](javascript:alert(1))" in text_of(rendered("[js](javascript:alert(1))"))  # not a link: as written
    assert "!\\[e\\](https://evil.example/e)" not in rendered("!\\[e\\](https://evil.example/e)")
    assert "![e](https://evil.example/e)" in text_of(rendered("!\\[e\\](https://evil.example/e)"))


def test_html_and_entities_are_text():
    out = rendered('<a href="https://evil.example/x">x</a> <script>alert(1)</script> &#104;ttps://evil.example/e')
    assert "&lt;a href=&quot;https://evil.example/x&quot;&gt;" in out and "<script" not in out
    assert "https://evil.example/e" in text_of(out)


def test_markdown_still_reads_as_markdown():
    text = (
        "# Title\n\nSome **bold**, *italic*, ~~gone~~ and `code`.\n\n- one\n- two\n\n3. three\n4. four\n\n"
        "> quoted\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```python\nprint('https://evil.example/c')\n```\n\n"
        "- in a list:\n\n  ```sh\n  ls\n  ```\n\nafter"
    )
    parts = answer_parts(text)
    assert [p.code is None for p in parts] == [True, False, True]
    assert parts[1].code == "print('https://evil.example/c')" and parts[1].language == "python"
    out = parts[0].html + parts[2].html
    for tag in ("<h1>", "<strong>bold</strong>", "<em>italic</em>", "<s>gone</s>", "<code>code</code>", "<ul>"):
        assert tag in out, tag
    assert '<ol start="3">' in out and "<blockquote>" in out
    assert '<th style="text-align:left">a</th>' in out and '<td style="text-align:right">2</td>' in out
    assert '<code class="language-sh">ls' in out  # a code block inside a list stays in the HTML
    assert "<p>after</p>" in out


def test_the_allowlist_refuses_links_images_and_attributes():
    for bad in (
        '<a href="https://evil.example">x</a>',
        '<img src="https://evil.example/i.png">',
        '<p><iframe src="https://evil.example"></iframe></p>',
        '<code onclick="alert(1)">x</code>',
        '<code class="language-x" style="background:url(https://evil.example)">x</code>',
        '<td style="background:url(https://evil.example)">x</td>',
        '<span class="other">x</span>',
        "<svg><use href='https://evil.example'/></svg>",
        "<p>x</p><!-- a comment -->",
        "<!DOCTYPE html><p>x</p>",
        '<form action="https://evil.example"><button>x</button></form>',
    ):
        assert not allowed_html(bad), bad
        assert "<a " not in _checked(bad, "source") and "&lt;" in _checked(bad, "<source>")
    assert allowed_html(
        '<p><em>x</em></p><hr /><ol start="2"><li>y</li></ol><pre><code class="language-py">z</code></pre>'
    )


def test_a_hostile_fence_info_string_stays_text():
    out = rendered('- x\n\n  ```js" onclick="alert(1)\n  code\n  ```\n')
    assert allowed_html(out.removeprefix('<div class="la-md">').removesuffix("</div>"))  # no onclick attribute
    assert "code" in text_of(out)


def test_zero_width_and_full_width_tricks_stay_text():
    for trick in (
        "http\u200bs://evil.example/zw",
        "\uff3bfw\uff3d(https://evil.example/fw)",
        "ｈｔｔｐｓ://evil.example",
    ):
        assert "<a" not in rendered(trick) and "<code" not in rendered(trick)


_PARSER = MarkdownIt("commonmark")


@given(st.lists(st.sampled_from([*"`ab \\*_[]()<>!:/@.\n\t", "https://", "www.", "``"])).map("".join) | st.text())
@settings(max_examples=300, deadline=None)
def test_a_code_span_holds_any_text_as_written(text):
    span = code_span(text)
    inline = _PARSER.parse(span)[1].children or []
    assert [t.type for t in inline] == ["code_inline"], span
    assert inline[0].content == (" ".join(text.split()) or "?").replace("\x00", "\ufffd")  # CommonMark: NUL is U+FFFD
    assert link_makers(span) == []


_PIECES = [*TRICKS, "**", "*", "_", "`", "```", "\n", "\n\n", "- ", "1. ", "> ", "| a |", "|---|", "[", "]", "(", ")"]


@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=6), max_size=12))
@settings(max_examples=300, deadline=None)
def test_no_mix_of_tricks_makes_a_link_or_leaves_the_allowlist(pieces):
    for part in answer_parts("".join(pieces)):
        if part.code is None:
            assert "<a" not in part.html and "<img" not in part.html
            assert allowed_html(part.html.removeprefix('<div class="la-md">').removesuffix("</div>"))


def test_button_labels_carry_no_image_or_link_syntax():
    for trick in [*TRICKS, HOSTILE_TEXT]:
        assert link_makers(plain(trick), button=True) == [], trick
