"""Resources and prompts a plugin offers beside its tools (served by ``liteagent mcp serve``).

A resource is a document a client may read by URI: ``@resource("docs://readme")`` on a function
returning its text (``str``), its bytes, or a :meth:`ResultItem.resource`; a URI with
``{placeholders}`` is a template whose values arrive as the function's arguments. A prompt is a
message template a client may fill in: ``@prompt`` on a function whose parameters (strings) are the
prompt's arguments, returning a text (one user message) or a list of messages in MCP's shape
(``{"role": "user", "content": {"type": "text", "text": ...}}``; a plain string is a user text).

On a module-level function the decorators make a plugin (``--plugin file.py`` loads it with the
file's tools); on a method of a :class:`BaseAction` they mark it, and the plugin offers it.
"""

from __future__ import annotations

import base64
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import BaseAction
from .schema import _parse_doc, doc_description

_MARK = "__liteagent_offer__"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(slots=True)
class ResourceDef:
    """One resource (or template, when ``uri`` has ``{placeholders}``) and how to read it."""

    uri: str
    fn: Callable[..., Any]
    name: str
    title: str | None = None
    description: str = ""
    mime_type: str | None = None

    @property
    def is_template(self) -> bool:
        return bool(_PLACEHOLDER.search(self.uri))

    def match(self, uri: str) -> dict[str, str] | None:
        """The template's values in ``uri`` (``{}`` for a plain resource with this URI), or None."""
        if not self.is_template:
            return {} if uri == self.uri else None
        parts = _PLACEHOLDER.split(self.uri)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        m = re.fullmatch(pattern, uri)
        return m.groupdict() if m else None

    async def read(self, uri: str, values: dict[str, str]) -> list[dict[str, Any]]:
        """The resource's contents in MCP's shape (``uri``, ``mimeType``, ``text`` or ``blob``)."""
        value = self.fn(**values)
        if inspect.isawaitable(value):
            value = await value
        return [_contents(uri, value, self.mime_type)]


@dataclass(slots=True)
class PromptArg:
    name: str
    description: str = ""
    required: bool = True


@dataclass(slots=True)
class PromptDef:
    """One prompt: its arguments and the function that fills it in."""

    name: str
    fn: Callable[..., Any]
    title: str | None = None
    description: str = ""
    arguments: list[PromptArg] = field(default_factory=list)

    async def render(self, arguments: dict[str, str]) -> list[dict[str, Any]]:
        """The prompt's messages in MCP's shape; a missing required argument raises ValueError."""
        missing = [a.name for a in self.arguments if a.required and a.name not in arguments]
        if missing:
            raise ValueError(f"prompt {self.name!r} needs the argument(s) {', '.join(missing)}")
        known = {a.name for a in self.arguments}
        unknown = sorted(set(arguments) - known)
        if unknown:
            raise ValueError(f"prompt {self.name!r} has no argument(s) {', '.join(unknown)}")
        value = self.fn(**arguments)
        if inspect.isawaitable(value):
            value = await value
        return _messages(value)


def resource(
    uri: str,
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    mime_type: str | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Offer what the decorated function returns as the resource ``uri`` (see the module)."""

    def wrap(fn: Callable[..., Any]) -> Any:
        desc = description if description is not None else doc_description(_parse_doc(fn))
        spec = ResourceDef(uri, fn, name or fn.__name__, title, desc, mime_type)
        wanted = set(_PLACEHOLDER.findall(uri))
        params = {p for p in inspect.signature(fn).parameters if p not in ("self", "cls")}
        if wanted != params:
            raise TypeError(
                f"resource {uri!r}: the function's parameters ({', '.join(sorted(params)) or 'none'}) "
                f"must be the URI's placeholders ({', '.join(sorted(wanted)) or 'none'})"
            )
        return _offer(fn, spec)

    return wrap


def prompt(fn: Callable[..., Any] | None = None, *, name: str | None = None, title: str | None = None) -> Any:
    """Offer the decorated function as a prompt (see the module); bare ``@prompt`` or with options."""

    def wrap(f: Callable[..., Any]) -> Any:
        doc = _parse_doc(f)
        described = {p.arg_name: (p.description or "").strip() for p in (doc.params if doc else [])}
        args = [
            PromptArg(p.name, described.get(p.name, ""), p.default is inspect.Parameter.empty)
            for p in inspect.signature(f).parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return _offer(f, PromptDef(name or f.__name__, f, title, doc_description(doc), args))

    return wrap(fn) if fn is not None else wrap


class Offering(BaseAction):
    """A module-level resource or prompt as a plugin with no tools."""

    def __init__(self, spec: ResourceDef | PromptDef) -> None:
        kind = "resource" if isinstance(spec, ResourceDef) else "prompt"
        super().__init__(name=f"{kind}:{spec.name}", description=spec.description)
        self.spec = spec
        self.__wrapped__ = spec.fn

    def api_specs(self) -> list[Any]:
        return []

    def offered(self) -> list[ResourceDef | PromptDef]:
        return [self.spec]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.spec.fn(*args, **kwargs)


def _offer(fn: Callable[..., Any], spec: ResourceDef | PromptDef) -> Any:
    qual = fn.__qualname__.split("<locals>.")[-1]
    if "." in qual:  # a method: mark it; the plugin's instance offers it bound
        setattr(fn, _MARK, spec)
        return fn
    return Offering(spec)


def offered_by(plugin: BaseAction) -> list[ResourceDef | PromptDef]:
    """What ``plugin`` offers beside its tools: its own Offering, or its marked methods (bound)."""
    if isinstance(plugin, Offering):
        return plugin.offered()
    out: list[ResourceDef | PromptDef] = []
    for attr in dir(type(plugin)):
        raw = getattr(type(plugin), attr, None)
        spec = getattr(raw, _MARK, None)
        if spec is None:
            continue
        bound = getattr(plugin, attr)
        if isinstance(spec, ResourceDef):
            out.append(ResourceDef(spec.uri, bound, spec.name, spec.title, spec.description, spec.mime_type))
        else:
            out.append(PromptDef(spec.name, bound, spec.title, spec.description, list(spec.arguments)))
    return out


def _contents(uri: str, value: Any, mime: str | None) -> dict[str, Any]:
    from ..messages import ResultItem

    if isinstance(value, ResultItem) and value.type == "resource" and isinstance(value.content, dict):
        return {"uri": uri, **({"mimeType": mime} if mime else {}), **value.content, **{"uri": uri}}
    if isinstance(value, (bytes, bytearray, memoryview)):
        out: dict[str, Any] = {"uri": uri, "blob": base64.b64encode(bytes(value)).decode()}
    elif isinstance(value, str):
        out = {"uri": uri, "text": value}
    else:
        raise TypeError(
            f"resource {uri}: a reader returns str, bytes or ResultItem.resource, not {type(value).__name__}"
        )
    if mime:
        out["mimeType"] = mime
    return out


def _messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": {"type": "text", "text": value}}]
    if not isinstance(value, list):
        raise TypeError(f"a prompt returns a text or a list of messages, not {type(value).__name__}")
    out = []
    for m in value:
        if isinstance(m, str):
            out.append({"role": "user", "content": {"type": "text", "text": m}})
        elif isinstance(m, dict) and "content" in m:
            content = m["content"]
            if isinstance(content, str):
                content = {"type": "text", "text": content}
            out.append({"role": m.get("role", "user"), "content": content})
        else:
            raise TypeError("a prompt's message is a text or {'role': ..., 'content': ...}")
    return out
