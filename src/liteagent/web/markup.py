"""Model, tool and user text for the page, made so that no link or image can come of it.

Streamlit's Markdown links whatever GFM links: ``[a](u)``, references, ``<u>``, and bare
``https://``, ``www.`` and e-mail addresses, found in the text *after* escapes and entities are
resolved (so escaping does not stop them: ``!\\[x\\](u)`` still became a link). So model text never
goes through it. Answers are rendered by markdown-it-py (a dependency of rich) with HTML off, no
linkify, and renderers of our own for links and images that write their text and URL as text;
the result is then checked against an allowlist of tags and attributes, and anything else
falls back to escaped text. Where Streamlit itself renders Markdown (expander titles, alerts,
captions), untrusted text goes inside a code span, which GFM never links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$^=&])")
_BACKTICKS = re.compile(r"`+")

# What the renderer below may write: block and inline formatting, never <a>, <img> or media
_TAGS = {
    "p", "em", "strong", "s", "code", "pre", "ul", "ol", "li", "blockquote", "hr", "br",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "div", "span",
}  # fmt: skip
_ATTRS = {
    ("code", "class"): re.compile(r"language-[^\s\"'<>]*"),
    ("th", "style"): re.compile(r"text-align:(left|right|center)"),
    ("td", "style"): re.compile(r"text-align:(left|right|center)"),
    ("ol", "start"): re.compile(r"\d{1,9}"),
    ("div", "class"): re.compile(r"la-md"),
    ("span", "class"): re.compile(r"la-url"),
}

# The look of rendered answers: Streamlit's own Markdown sizes, tables and code blocks
STYLE = """<style>
.la-md { line-height: 1.6; overflow-wrap: anywhere; }
.la-md > :first-child { margin-top: 0; }
.la-md > :last-child { margin-bottom: 0; }
.la-md p, .la-md ul, .la-md ol, .la-md blockquote, .la-md table, .la-md pre { margin: 0 0 1rem 0; }
.la-md h1 { font-size: 2rem; } .la-md h2 { font-size: 1.6rem; } .la-md h3 { font-size: 1.35rem; }
.la-md h4, .la-md h5, .la-md h6 { font-size: 1.1rem; }
.la-md h1, .la-md h2, .la-md h3, .la-md h4, .la-md h5, .la-md h6 { margin: 1rem 0 0.5rem 0; padding: 0; }
.la-md blockquote { border-left: 0.25rem solid rgba(128, 128, 128, 0.4); padding-left: 1rem; opacity: 0.85; }
.la-md table { border-collapse: collapse; }
.la-md th, .la-md td { border: 1px solid rgba(128, 128, 128, 0.3); padding: 0.25rem 0.75rem; }
.la-md th { font-weight: 600; }
.la-md code { font-size: 0.875em; padding: 0.1em 0.25em; border-radius: 0.25rem; background: rgba(128, 128, 128, 0.12); }
.la-md pre { padding: 1rem; border-radius: 0.5rem; background: rgba(128, 128, 128, 0.08); overflow-x: auto; }
.la-md pre code { padding: 0; background: none; }
.la-md .la-url { opacity: 0.8; }
</style>"""


def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    # render rules, markdown-it-py's signature: (renderer, tokens, idx, options, env)
    def link_open(r: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return "<code>" if tokens[idx].markup == "autolink" else ""

    def link_close(r: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        start = next(t for t in reversed(tokens[:idx]) if t.type == "link_open")  # links do not nest
        if start.markup == "autolink":
            return "</code>"
        return f' <span class="la-url">(<code>{_url(md, start)}</code>)</span>'

    def image(r: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        tok = tokens[idx]
        alt = r.renderInlineAsText(tok.children or [], options, env)
        return f'🖼 {html.escape(alt)} <span class="la-url">(<code>{_url(md, tok, "src")}</code>)</span>'

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("link_close", link_close)
    md.add_render_rule("image", image)
    return md


def _url(md: MarkdownIt, tok: Token, attr: str = "href") -> str:
    """A link's address as readable text (percent escapes and punycode decoded), escaped."""
    return html.escape(md.normalizeLinkText(str(tok.attrGet(attr) or "")))


_RENDERER = _md()


class _Allowlist(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ok = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self.ok = False
        for name, value in attrs:
            rule = _ATTRS.get((tag, name))
            if rule is None or value is None or not rule.fullmatch(value):
                self.ok = False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_decl(self, decl: str) -> None:
        self.ok = False

    def handle_pi(self, data: str) -> None:
        self.ok = False

    def unknown_decl(self, data: str) -> None:
        self.ok = False


def allowed_html(markup: str) -> bool:
    """Whether ``markup`` holds only the tags and attributes our renderer writes (no <a>, no <img>,
    no URL-bearing attribute, no comment or declaration)."""
    parser = _Allowlist()
    parser.feed(markup)
    parser.close()
    return parser.ok and "<!--" not in markup


def _checked(markup: str, source: str) -> str:
    body = markup if allowed_html(markup) else f"<pre>{html.escape(source)}</pre>"  # never seen: a guard
    return f'<div class="la-md">{body}</div>'


@dataclass(frozen=True)
class Part:
    """A piece of a rendered answer: checked HTML, or a top-level code block (shown by st.code,
    which highlights it, gives it a copy button, and links nothing)."""

    html: str = ""
    code: str | None = None
    language: str | None = None


def answer_parts(text: str) -> list[Part]:
    """Markdown from a model (or a user) as parts to show, no link or image among them."""
    tokens = _RENDERER.parse(text)
    lines = text.splitlines(keepends=True)
    parts: list[Part] = []
    start = 0

    def flush(end: int) -> None:
        if end > start:
            markup = _RENDERER.renderer.render(tokens[start:end], _RENDERER.options, {})
            maps = [t.map for t in tokens[start:end] if t.map]
            source = "".join(lines[min(m[0] for m in maps) : max(m[1] for m in maps)]) if maps else text
            parts.append(Part(html=_checked(markup, source)))

    for i, tok in enumerate(tokens):
        if tok.level == 0 and tok.type in ("fence", "code_block"):
            flush(i)
            lang = tok.info.split()[0] if tok.info.strip() else None
            parts.append(Part(code=tok.content.rstrip("\n"), language=lang))
            start = i + 1
    flush(len(tokens))
    return parts


def code_span(text: Any) -> str:
    """Text as one Markdown code span, for the places Streamlit renders Markdown (expander titles,
    alerts, captions): shown as written, on one line, and never linked (GFM links no code)."""
    s = " ".join(str(text).split()) or "?"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(s)), default=0) + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" else ""  # CommonMark strips one space each side
    return f"{fence}{pad}{s}{pad}{fence}"


def plain(text: Any) -> str:
    """Text for button labels, which Streamlit renders as Markdown without links: every Markdown
    character escaped (so no image, no formatting), on one line."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
