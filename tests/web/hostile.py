"""Text a hostile model or tool writes to make the web chat link somewhere: every Markdown and
GFM trick the link check knows of, each pointing at evil.example (shared by the unit and browser
tests), and a plugin whose tools return and raise that text (loaded by the browser test)."""

from __future__ import annotations

from liteagent import BaseAction, tool_api

HOST = "evil.example"
TRICKS = [
    "inline [md link](https://evil.example/inline?d=secret)",
    "titled [md title](https://evil.example/titled 'title')",
    "reference [ref link][r1] and collapsed [r1][] and shortcut [r1]\n\n[r1]: https://evil.example/ref",
    "angle <https://evil.example/angle> and <mailto:bob@evil.example>",
    "bare https://evil.example/bare?d=secret and HTTP://EVIL.EXAMPLE/UPPER",
    "www www.evil.example/www",
    "email bob@evil.example and mailto:carol@evil.example and xmpp:dave@evil.example",
    'html <a href="https://evil.example/html">html link</a> <img src="https://evil.example/html.png">',
    "escaped \\[esc\\](https://evil.example/esc)",
    "image ![img](https://evil.example/img.png)",
    "escaped image !\\[eimg\\](https://evil.example/eimg.png)",
    "javascript [js](javascript:alert(document.domain)) and <javascript:alert(1)>",
    "entity &#104;ttps://evil.example/entity and [ent](&#104;ttps://evil.example/entlink)",
    "zero width http\u200bs://evil.example/zw and www\u200b.evil.example/zw",
    "full width \uff48\uff54\uff54\uff50\uff53://evil.example/fw and \uff3bfw\uff3d(https://evil.example/fwb)",
    "# heading [h](https://evil.example/heading) https://evil.example/h1",
    "| col | link |\n|---|---|\n| [t](https://evil.example/table) | https://evil.example/cell |",
    "footnote[^1]\n\n[^1]: https://evil.example/footnote",
    "math $\\href{https://evil.example/katex}{k}$ and $$\\url{https://evil.example/url}$$",
    "directive :blue[https://evil.example/directive] :link:",
    "code `https://evil.example/code` stays code",
]
HOSTILE_TEXT = "\n\n".join(TRICKS)


class Hostile(BaseAction):
    """Tools that answer with link tricks."""

    @tool_api
    def echo(self, text: str) -> str:
        """Return text, and every link trick after it.

        Args:
            text: anything
        """
        return f"{text}\n{HOSTILE_TEXT}"

    @tool_api
    def data(self, text: str) -> dict:
        """Return JSON holding link tricks.

        Args:
            text: anything
        """
        return {"text": text, "url": "https://evil.example/json", "tricks": TRICKS}

    @tool_api
    def fail(self, text: str) -> str:
        """Fail with link tricks in the error.

        Args:
            text: anything
        """
        raise ValueError(f"{text} {HOSTILE_TEXT}")
