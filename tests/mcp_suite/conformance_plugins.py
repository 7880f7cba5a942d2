"""The plugin set the MCP conformance suite (``@modelcontextprotocol/conformance``) expects of a
server, written as liteagent plugins: ``liteagent mcp serve --plugin tests/mcp/conformance_plugins.py``.
Each is what a user writes: ``@tool`` functions, a ``ToolContext`` for progress, logs, sampling
and elicitation, ``@resource`` and ``@prompt`` for what a server offers beside tools."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

from liteagent import ResultItem, tool
from liteagent.actions.context import ToolContext
from liteagent.actions.resources import prompt, resource

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
WAV = base64.b64decode("UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=")
_FILES = Path(tempfile.mkdtemp(prefix="liteagent-conformance-"))
(_FILES / "pixel.png").write_bytes(PNG)
(_FILES / "tone.wav").write_bytes(WAV)


@tool
def test_simple_text() -> str:
    """Tests simple text content response"""
    return "This is a simple text response for testing."


@tool
def test_image_content() -> ResultItem:
    """Tests image content response"""
    return ResultItem.image(str(_FILES / "pixel.png"))


@tool
def test_audio_content() -> ResultItem:
    """Tests audio content response"""
    return ResultItem.audio(str(_FILES / "tone.wav"))


@tool
def test_embedded_resource() -> ResultItem:
    """Tests embedded resource content response"""
    return ResultItem.resource(
        "test://embedded-resource", text="This is an embedded resource content.", mime_type="text/plain"
    )


@tool
def test_multiple_content_types() -> list[ResultItem]:
    """Tests response with multiple content types (text, image, resource)"""
    return [
        ResultItem.text("Multiple content types test:"),
        ResultItem.image(str(_FILES / "pixel.png")),
        ResultItem.resource(
            "test://mixed-content-resource",
            text=json.dumps({"test": "data", "value": 123}),
            mime_type="application/json",
        ),
    ]


@tool
async def test_tool_with_logging(ctx: ToolContext) -> str:
    """Tests tool that emits log messages during execution"""
    await ctx.alog("Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.alog("Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.alog("Tool execution completed")
    return "Tool with logging executed successfully"


@tool
def test_tool_with_progress(ctx: ToolContext) -> str:
    """Tests tool that reports progress notifications"""
    import time

    for step in (0, 50, 100):  # a sync tool: the context's sync form
        ctx.report_progress(step, 100, f"Completed step {step} of 100")
        if step < 100:
            time.sleep(0.05)
    return "Progress reported"


@tool
def test_error_handling() -> str:
    """Tests error response handling"""
    raise RuntimeError("This tool intentionally returns an error for testing")


@tool
async def test_sampling(prompt: str, ctx: ToolContext) -> str:
    """Tests server-initiated sampling (LLM completion request)

    Args:
        prompt: The prompt to send to the LLM
    """
    reply = await ctx.asample(prompt, max_tokens=100)
    return f"LLM response: {reply}"


@tool
async def test_elicitation(message: str, ctx: ToolContext) -> str:
    """Tests server-initiated elicitation (user input request)

    Args:
        message: The message to show the user
    """
    answer = await ctx.aelicit(
        message,
        {
            "type": "object",
            "properties": {"response": {"type": "string", "description": "User's response"}},
            "required": ["response"],
        },
    )
    return f"User response: action={answer.action}, content={json.dumps(answer.content)}"


@tool
async def test_elicitation_sep1034_defaults(ctx: ToolContext) -> str:
    """Tests elicitation with default values per SEP-1034"""
    answer = await ctx.aelicit(
        "Please review and update the form fields with defaults",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
            "required": [],
        },
    )
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}"


@tool
async def test_elicitation_sep1330_enums(ctx: ToolContext) -> str:
    """Tests elicitation with enum schema improvements per SEP-1330"""
    options = ["option1", "option2", "option3"]
    titled = [{"const": f"value{i}", "title": t} for i, t in enumerate(["First", "Second", "Third"], 1)]
    answer = await ctx.aelicit(
        "Please select options from the enum fields",
        {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "description": "Select one option", "enum": options},
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": [{**o, "title": f"{o['title']} Option"} for o in titled],
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": options},
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"anyOf": [{**o, "title": f"{o['title']} Choice"} for o in titled]},
                },
            },
            "required": [],
        },
    )
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}"


JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@tool(input_schema=JSON_SCHEMA_2020_12)
def json_schema_2020_12_tool(**arguments: Any) -> str:
    """Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)"""
    return f"JSON Schema 2020-12 tool called with: {json.dumps(arguments)}"


@resource(
    "test://static-text",
    name="static-text",
    title="Static Text Resource",
    description="A static text resource for testing",
    mime_type="text/plain",
)
def static_text() -> str:
    return "This is the content of the static text resource."


@resource(
    "test://static-binary",
    name="static-binary",
    title="Static Binary Resource",
    description="A static binary resource (image) for testing",
    mime_type="image/png",
)
def static_binary() -> bytes:
    return PNG


@resource(
    "test://template/{id}/data",
    name="template",
    title="Resource Template",
    description="A resource template with parameter substitution",
    mime_type="application/json",
)
def template(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@resource(
    "test://watched-resource",
    name="watched-resource",
    title="Watched Resource",
    description="A resource that auto-updates every 3 seconds",
    mime_type="text/plain",
)
def watched_resource() -> str:
    return "Watched resource content"


@prompt(title="Simple Test Prompt")
def test_simple_prompt() -> str:
    """A simple prompt without arguments"""
    return "This is a simple prompt for testing."


@prompt(title="Prompt With Arguments")
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with required arguments

    Args:
        arg1: First test argument
        arg2: Second test argument
    """
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@prompt(title="Prompt With Embedded Resource")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[dict[str, Any]]:
    """A prompt that includes an embedded resource

    Args:
        resourceUri: URI of the resource to embed
    """
    return [
        {
            "role": "user",
            "content": {
                "type": "resource",
                "resource": {
                    "uri": resourceUri,
                    "mimeType": "text/plain",
                    "text": "Embedded resource content for testing.",
                },
            },
        },
        "Please process the embedded resource above.",
    ]


@prompt(title="Prompt With Image")
def test_prompt_with_image() -> list[dict[str, Any]]:
    """A prompt that includes image content"""
    return [
        {"role": "user", "content": {"type": "image", "data": base64.b64encode(PNG).decode(), "mimeType": "image/png"}},
        "Please analyze the image above.",
    ]


@tool
async def test_reconnection(ctx: ToolContext) -> str:
    """Tests SSE stream disconnection and client reconnection (SEP-1699): the stream of this call is
    cut mid-call (as a proxy's timeout would) and the result reaches the client when it reconnects."""
    request = getattr(ctx.host, "ctx", None)  # the MCP request behind this call (liteagent mcp serve)
    close = getattr(request, "close_sse_stream", None)
    if close is not None:
        result = close()
        if asyncio.iscoroutine(result):
            await result
    await asyncio.sleep(0.1)
    return "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."
