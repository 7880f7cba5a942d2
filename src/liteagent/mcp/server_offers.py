"""Resources and prompts behind ``liteagent mcp serve``: what plugins offer (``@resource``,
``@prompt``) and the files their tools returned (images, audio, written files), each readable by
the URI the tool's result named (``liteagent://files/<digest>/<name>``). Only those files can be
read: a URI is a key into this table, never a path."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from pathlib import Path
from typing import Any

from ..actions.executor import ActionExecutor
from ..actions.resources import PromptDef, ResourceDef, offered_by

FILES_SCHEME = "liteagent://files/"
MAX_FILES = 1000  # the most returned files one server remembers (the oldest are forgotten first)


#: the registered names where Python's table has older ones (``audio/x-wav``)
_MIME = {"audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac", "audio/x-aiff": "audio/aiff"}


def mime_of(path: Path, default: str | None) -> Any:
    """A file's media type by its name (the registered spelling), else ``default``."""
    guess = mimetypes.guess_type(path.name)[0]
    return _MIME.get(guess, guess) if guess else default


class Offers:
    """The resources, templates and prompts of one server."""

    def __init__(self, executor: ActionExecutor) -> None:
        self.resources: list[ResourceDef] = []
        self.prompts: dict[str, PromptDef] = {}
        for plugin in executor.plugins:
            for spec in offered_by(plugin):
                if isinstance(spec, ResourceDef):
                    self.resources.append(spec)
                elif spec.name in self.prompts:
                    raise ValueError(f"two prompts are named {spec.name!r}; rename one")
                else:
                    self.prompts[spec.name] = spec
        self.files: dict[str, Path] = {}
        self.subscribed: set[str] = set()

    # -- files returned by tools -----------------------------------------------------------------
    def file_uri(self, path: Path) -> str:
        """The URI a returned file is read by (remembered from now on)."""
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        uri = f"{FILES_SCHEME}{key}/{path.name}"
        self.files.pop(uri, None)
        self.files[uri] = path
        while len(self.files) > MAX_FILES:
            self.files.pop(next(iter(self.files)))
        return uri

    # -- handlers -------------------------------------------------------------------------------
    def list_resources(self) -> Any:
        import mcp.types as t

        listed = [
            t.Resource(uri=r.uri, name=r.name, title=r.title, description=r.description or None, mime_type=r.mime_type)
            for r in self.resources
            if not r.is_template
        ]
        for uri, path in self.files.items():
            listed.append(t.Resource(uri=uri, name=path.name, mime_type=mime_of(path, None)))
        return t.ListResourcesResult(resources=listed)

    def list_templates(self) -> Any:
        import mcp.types as t

        return t.ListResourceTemplatesResult(
            resource_templates=[
                t.ResourceTemplate(
                    uri_template=r.uri,
                    name=r.name,
                    title=r.title,
                    description=r.description or None,
                    mime_type=r.mime_type,
                )
                for r in self.resources
                if r.is_template
            ]
        )

    async def read(self, uri: str) -> Any:
        import mcp.types as t
        from mcp.shared.exceptions import MCPError

        path = self.files.get(uri)
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise MCPError(-32002, f"resource {uri} can no longer be read: {exc.strerror}") from None
            mime = mime_of(path, None) or "application/octet-stream"
            contents: list[dict[str, Any]] = [{"uri": uri, "mimeType": mime, "blob": base64.b64encode(data).decode()}]
        else:
            for r in self.resources:
                values = r.match(uri)
                if values is not None:
                    contents = await r.read(uri, values)
                    break
            else:
                raise MCPError(-32002, f"resource not found: {uri}")
        return t.ReadResourceResult.model_validate({"contents": contents})

    def list_prompts(self) -> Any:
        import mcp.types as t

        return t.ListPromptsResult(
            prompts=[
                t.Prompt(
                    name=p.name,
                    title=p.title,
                    description=p.description or None,
                    arguments=[
                        t.PromptArgument(name=a.name, description=a.description or None, required=a.required)
                        for a in p.arguments
                    ],
                )
                for p in self.prompts.values()
            ]
        )

    async def get_prompt(self, name: str, arguments: dict[str, str] | None) -> Any:
        import mcp.types as t
        from mcp.shared.exceptions import MCPError

        p = self.prompts.get(name)
        if p is None:
            raise MCPError(-32602, f"unknown prompt {name!r}; prompts: {', '.join(self.prompts) or '(none)'}")
        try:
            messages = await p.render(dict(arguments or {}))
        except ValueError as exc:
            raise MCPError(-32602, str(exc)) from None
        return t.GetPromptResult.model_validate(
            {"description": p.description or None, "messages": messages}, by_name=False
        )

    def complete(self, ref: Any, argument: Any) -> Any:
        """Values for a prompt argument or template placeholder: none are known ahead (the
        arguments are free text), so the list is empty; an unknown prompt is an error."""
        import mcp.types as t
        from mcp.shared.exceptions import MCPError

        if getattr(ref, "type", "") == "ref/prompt" and ref.name not in self.prompts:
            raise MCPError(-32602, f"unknown prompt {ref.name!r}")
        return t.CompleteResult(completion=t.Completion(values=[], total=0, has_more=False))
