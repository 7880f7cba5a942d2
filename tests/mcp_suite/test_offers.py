"""What `liteagent mcp serve` offers beside tools, read with the official SDK's client: a
plugin's @resource and @prompt (module functions and toolkit methods), the files its tools
return (readable by the linked URI only), and one name per tool."""

from __future__ import annotations

import asyncio
import base64
import json

from mcp import Client
from mcp.shared.exceptions import MCPError

from liteagent import ActionExecutor, BaseAction, ResultItem, tool, tool_api
from liteagent.actions.resources import prompt, resource
from liteagent.mcp.server import build_server


@resource("notes://today", title="Today's notes", mime_type="text/plain")
def today() -> str:
    """What happened today."""
    return "Nothing much."


@resource("users://{uid}/card", mime_type="application/json")
async def card(uid: str) -> str:
    return json.dumps({"uid": uid})


@prompt
def review(code: str, language: str = "python") -> str:
    """Review some code.

    Args:
        code: the code to review
        language: its language
    """
    return f"Review this {language}: {code}"


class Docs(BaseAction):
    """Docs with a logo and a greeting prompt."""

    @tool_api
    def write(self, name: str) -> ResultItem:
        """Write a file and hand it over.

        Args:
            name: its name
        """
        path = self.folder / name
        path.write_text("written")
        return ResultItem.file(str(path))

    @resource("docs://logo", mime_type="image/png")
    def logo(self) -> bytes:
        return b"\x89PNG-not-really"

    @prompt(title="Greeting")
    def greet(self, who: str) -> list:
        """Greet someone."""
        return [{"role": "assistant", "content": "Hello!"}, f"Greet {who}."]


def _serve(tmp_path):
    docs = Docs()
    docs.folder = tmp_path
    return build_server(ActionExecutor([today, card, review, docs]))


def test_resources_templates_and_prompts_are_listed_and_read(tmp_path):
    async def go():
        async with Client(_serve(tmp_path)) as c:
            res = {r.uri: r for r in (await c.list_resources()).resources}
            templates = [t.uri_template for t in (await c.list_resource_templates()).resource_templates]
            text = (await c.read_resource("notes://today")).contents[0]
            blob = (await c.read_resource("docs://logo")).contents[0]
            filled = (await c.read_resource("users://42/card")).contents[0]
            prompts = {p.name: p for p in (await c.list_prompts()).prompts}
            got = await c.get_prompt("review", {"code": "x=1"})
            greet = await c.get_prompt("greet", {"who": "Ada"})
            return res, templates, text, blob, filled, prompts, got, greet

    res, templates, text, blob, filled, prompts, got, greet = asyncio.run(go())
    assert set(res) == {"notes://today", "docs://logo"} and res["notes://today"].title == "Today's notes"
    assert res["notes://today"].description == "What happened today."
    assert templates == ["users://{uid}/card"]
    assert text.text == "Nothing much." and text.mime_type == "text/plain"
    assert base64.b64decode(blob.blob) == b"\x89PNG-not-really" and blob.mime_type == "image/png"
    assert json.loads(filled.text) == {"uid": "42"} and str(filled.uri) == "users://42/card"
    args = {a.name: a.required for a in prompts["review"].arguments}
    assert args == {"code": True, "language": False} and prompts["greet"].title == "Greeting"
    assert got.messages[0].content.text == "Review this python: x=1"
    assert [m.role for m in greet.messages] == ["assistant", "user"] and greet.messages[1].content.text == "Greet Ada."


def test_unknown_resources_prompts_and_missing_arguments_are_clear_errors(tmp_path):
    async def go(call):
        async with Client(_serve(tmp_path)) as c:
            try:
                await call(c)
            except MCPError as exc:
                return str(exc)
        return "no error"

    assert asyncio.run(go(lambda c: c.read_resource("file:///etc/passwd"))) == "resource not found: file:///etc/passwd"
    assert "unknown prompt 'nope'" in asyncio.run(go(lambda c: c.get_prompt("nope")))
    assert "needs the argument(s) code" in asyncio.run(go(lambda c: c.get_prompt("review", {})))


def test_a_file_a_tool_returns_is_a_resource_link_readable_by_its_uri_only(tmp_path):
    (tmp_path / "secret.txt").write_text("not offered")

    async def go():
        async with Client(_serve(tmp_path)) as c:
            result = await c.call_tool("Docs__write", {"name": "out.txt"})
            link = result.content[0]
            listed = [str(r.uri) for r in (await c.list_resources()).resources]
            read = (await c.read_resource(str(link.uri))).contents[0]
            forged = str(link.uri).replace("out.txt", "secret.txt")
            try:
                await c.read_resource(forged)
                leaked = True
            except MCPError:
                leaked = False
            return link, listed, read, leaked

    link, listed, read, leaked = asyncio.run(go())
    assert link.type == "resource_link" and link.name == "out.txt" and str(link.uri).startswith("liteagent://files/")
    assert str(link.uri) in listed
    assert base64.b64decode(read.blob) == b"written" and read.mime_type == "text/plain"
    assert not leaked


def test_a_tool_has_one_name_the_listed_one_and_arguments_are_checked_strictly():
    @tool
    def weather(city: str) -> str:
        """The weather.

        Args:
            city: where
        """
        return f"sunny in {city}"

    class Weather(BaseAction):
        """Forecasts."""

        @tool_api
        def forecast(self, city: str) -> str:
            """A forecast.

            Args:
                city: where
            """
            return city

    async def go():
        async with Client(build_server(ActionExecutor([weather, Weather()]))) as c:
            return (
                await c.call_tool("Weather__forecast", {"city": "Oslo"}),
                await c.call_tool("Weather.forecast", {"city": "Oslo"}),
                await c.call_tool("forecast", {"city": "Oslo"}),
                await c.call_tool("weather", {"city": 5}),
            )

    listed, dotted, short, typed = asyncio.run(go())
    assert not listed.is_error and listed.content[0].text == "Oslo"
    for r in (dotted, short):
        assert r.is_error and "unknown tool" in r.content[0].text and "Weather__forecast" in r.content[0].text
    assert typed.is_error and "args_error" in typed.content[0].text
