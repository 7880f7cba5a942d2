"""What AppTest's page shows, read as a browser would: answers and questions (rendered by
``liteagent.web.markup`` into st.html) as text, and a check that Markdown Streamlit renders
itself (labels, alerts, captions) can make no link or image."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_TAG = re.compile(r"<[^>]+>")
# GFM's autolink literals, as remark-gfm finds them in text *after* escapes and entities resolve
_LITERAL = re.compile(r"(https?://|www\.|[-.\w+]+@[-\w]+\.[-\w]|mailto:|xmpp:)", re.IGNORECASE)
_GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def shown(node) -> list[str]:
    """The text of every answer and question in ``node`` (the app, or one chat message)."""
    return [html.unescape(_TAG.sub("", h.value)).strip() for h in node.html if 'class="la-md"' in h.value]


def link_makers(markdown: str, button: bool = False) -> list[str]:
    """What in ``markdown`` Streamlit's Markdown would turn into a link or an image: link and image
    syntax, raw HTML, and (outside code; not in buttons, which Streamlit renders without links)
    text GFM autolinks."""
    found: list[str] = []
    for block in _GFM.parse(markdown):
        for tok in [block, *(block.children or [])]:
            if tok.type in ("link_open", "image", "html_inline", "html_block"):
                found.append(f"{tok.type}: {tok.content or tok.attrs}")
            elif tok.type == "text" and not button and _LITERAL.search(tok.content):
                found.append(f"autolink literal: {tok.content}")
    return found
