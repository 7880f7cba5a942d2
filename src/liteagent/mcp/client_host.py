"""What liteagent's MCP client declares to a server and how it answers (``MCPConnection``):

- **sampling** (``sampling/createMessage``): the model of whoever made the call, through the call's
  ``ToolContext`` host (an agent answers with its own model; behind ``liteagent mcp serve`` the
  question goes on to that server's client), at most ``MAX_SAMPLES`` per connection; the entry's
  ``"sampling"`` may make the person approve each request first (``ask``) or refuse all (``deny``);
- **elicitation** (forms and URLs): the person of the call, through the same host (the chat's
  prompt, ``mcp serve``'s client); declined when nobody can answer. Fields the person leaves out
  get the schema's defaults (SEP-1034), and the answer is checked against the form;
- **roots**: the folders the config entry names (``"roots"``), the work folder by default;
- **progress**: each call asks for it, and it goes to the call's host (a status line, a log);
- **logging**: the server's log lines into its log file (``mcp-logs/NAME.log`` in the data directory);
- **tools/list_changed**: the tool list is fetched again, so a tool added later is callable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..actions.context import Elicited, InputNeeded, LocalHost, ToolContext, form_errors, with_defaults


def log_path(name: str) -> Path:
    """A server's log file (a stdio server's stderr goes there too: ``stdio.StderrLog``)."""
    import re

    from ..llms.local import data_dir

    return data_dir() / "mcp-logs" / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")


#: what a server hears when its question waits for a person who answers later (the call is then
#: made again from its start, the question answered from the person's answer)
LATER = "the person will answer later; this call will be made again with the answer"
MAX_SAMPLES = 100  # model replies one connection may ask for (a loop in a server costs the user)


class ClientCallbacks:
    """The callbacks of one connection; ``current`` is the context of the call in flight."""

    def __init__(self, name: str, roots: list[str] | None = None, sampling: str = "allow") -> None:
        self.name = name
        self.sampling_policy = sampling  # allow, ask (the person approves each first), deny
        self.roots = [str(Path(r).expanduser().resolve()) for r in (roots or [os.getcwd()])]
        self.current: ToolContext | None = None
        self.samples = 0
        self.tools_changed = False
        self.log = logging.getLogger(f"liteagent.mcp.{name}")

    def _context(self) -> ToolContext:
        return self.current if self.current is not None else ToolContext(f"{self.name} (MCP server)", host=LocalHost())

    def kwargs(self) -> dict[str, Any]:
        """The ``mcp.Client`` arguments that declare and answer the capabilities."""
        import mcp.types as t

        from .. import __version__

        return {
            "sampling_callback": self.sampling,
            "elicitation_callback": self.elicitation,
            "list_roots_callback": self.list_roots,
            "logging_callback": self.logging,
            "message_handler": self.message,
            "client_info": t.Implementation(name="liteagent", version=__version__),
        }

    # -- server -> client requests ------------------------------------------------------------------
    async def sampling(self, context: Any, params: Any) -> Any:
        import mcp.types as t

        self.samples += 1
        if self.samples > MAX_SAMPLES:
            return t.ErrorData(code=-1, message=f"this client answers at most {MAX_SAMPLES} sampling requests")
        if self.sampling_policy == "deny":
            return t.ErrorData(code=-1, message="this client does not let this server ask its model")
        messages = [
            {"role": m.role, "content": getattr(m.content, "text", "")}
            for m in params.messages
            if getattr(m.content, "type", "") == "text"
        ]
        ctx = self._context()
        if self.sampling_policy == "ask":
            shown = "\n".join(f"{m['role']}: {m['content']}" for m in messages)[:2000]
            question = f"The MCP server {self.name} asks the model (at most {params.max_tokens} tokens):\n{shown}"
            form = {"type": "object", "properties": {}}
            try:
                answer = await on_host_loop(ctx, lambda: ctx.host.elicit(question + "\nLet it?", form))
            except InputNeeded:
                return t.ErrorData(code=-1, message=LATER)
            if answer.action != "accept":
                return t.ErrorData(code=-1, message="the person did not let this server ask the model")
        try:
            text = await on_host_loop(ctx, lambda: ctx.host.sample(messages, params.max_tokens, params.system_prompt))
        except Exception as exc:
            return t.ErrorData(code=-1, message=f"the model could not be asked: {exc}")
        return t.CreateMessageResult(role="assistant", content=t.TextContent(text=text), model="liteagent")

    async def elicitation(self, context: Any, params: Any) -> Any:
        import mcp.types as t

        ctx = self._context()
        if getattr(params, "mode", "form") == "url":
            message = f"{params.message}\nOpen this address to go on: {params.url}"
            try:
                answer = await on_host_loop(ctx, lambda: ctx.host.elicit(message, {"type": "object", "properties": {}}))
            except InputNeeded:
                return t.ErrorData(code=-1, message=LATER)
            return t.ElicitResult(action=answer.action)
        schema = dict(params.requested_schema or {})
        try:
            answer = await on_host_loop(ctx, lambda: ctx.host.elicit(params.message, schema))
        except InputNeeded:  # the person answers later: the call is made again with the answer
            return t.ErrorData(code=-1, message=LATER)
        if answer.action != "accept":
            return t.ElicitResult(action=answer.action)
        content = with_defaults(answer.content, schema)
        wrong = form_errors(content, schema)
        if wrong:
            return t.ErrorData(code=-32602, message=f"the answer does not fit the form: {wrong}")
        return t.ElicitResult(action="accept", content=content)

    async def list_roots(self, context: Any) -> Any:
        import mcp.types as t

        roots = [{"uri": Path(r).as_uri(), "name": Path(r).name or r} for r in self.roots]
        return t.ListRootsResult.model_validate({"roots": roots})

    # -- notifications --------------------------------------------------------------------------------
    async def logging(self, params: Any) -> None:
        """A server's log line: into its log file (``mcp-logs/NAME.log`` in the data directory,
        beside a stdio server's stderr), not over the user's terminal; debug level in the log."""
        where = f"{params.logger}: " if params.logger else ""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{params.level}] {where}{params.data}"
        self.log.debug("%s", line)
        try:
            path = log_path(self.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8", errors="replace") as f:
                f.write(line.replace("\n", "\n    ") + "\n")
        except OSError as exc:  # a full disk: the line is in the debug log at least
            self.log.debug("cannot write %s: %s", self.name, exc)

    async def message(self, message: Any) -> None:
        import mcp.types as t

        if isinstance(message, t.ToolListChangedNotification) or getattr(message, "method", "") == (
            "notifications/tools/list_changed"
        ):
            self.tools_changed = True

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        ctx = self._context()
        await on_host_loop(ctx, lambda: ctx.host.progress(progress, total, message))


async def on_host_loop(ctx: ToolContext, make: Any) -> Any:
    """Await a host's coroutine on the loop its call was started from (another thread's, behind
    ``mcp serve``), or here when the call came from sync code."""
    loop = ctx._loop
    here = asyncio.get_running_loop()
    if loop is None or loop is here or loop.is_closed():
        return await make()
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_run(make), loop))


async def _run(make: Any) -> Any:
    return await make()


__all__ = ["MAX_SAMPLES", "ClientCallbacks", "Elicited", "form_errors", "on_host_loop", "with_defaults"]
