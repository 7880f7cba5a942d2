"""ActionExecutor: the registry of enabled plugins and the one place a call is run.

A call is resolved by name (``Tool.api``, its wire spelling ``Tool__api``, or an unambiguous short
form), validated against the API's schema, run (sync or async) under a timeout, and wrapped in an
:class:`ActionReturn`. Nothing a plugin does escapes as an exception.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import itertools
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from ..errors import ToolError, ToolTimeout
from ..jsontext import MAX_CALL_DEPTH, TooDeep, nesting_exceeds
from ..messages import ActionReturn, ActionStatus
from . import deadline
from .base import BaseAction, as_action
from .context import context_for
from .schema import ApiSpec, ArgumentsInvalid, lagent_api_dict
from .tool_results import RESULT_TOO_DEEP, to_items
from .tooldefs import ToolDef, ToolSet
from .validation import describe_validation_error

FAST_CALL_S = 0.002  # a sync API whose runs take under this may run on the event loop...
FAST_RUNS = 3  # ...once this many runs in a row did (``aexecute``)
_WIRE_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UIDS = itertools.count()
_SUCCESS = ActionStatus.SUCCESS  # a module name: an Enum member read off its class costs ~20x


@functools.lru_cache(maxsize=1024)  # an app that builds an executor per request asks again and again
def _dotted(name: str) -> str:
    """One spelling for every name a user was shown: ``Weather__forecast``, ``Weather.forecast``."""
    return name.strip().replace("__", ".").lower()


def wire_name(name: str) -> str:
    """A name OpenAI's function-name rule accepts (``[a-zA-Z0-9_-]{1,64}``)."""
    safe = name.replace(".", "__")
    safe = re.sub(r"[^a-zA-Z0-9_-]", "_", safe)
    if len(safe) > 64:
        import hashlib

        safe = safe[:55] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return safe


@dataclass(slots=True)
class BoundApi:
    """One callable API of one registered plugin."""

    name: str  # canonical: "Tool.api" for toolkits, "Tool" for single tools
    wire: str
    spec: ApiSpec
    func: Callable[..., Any]
    plugin: BaseAction
    #: sync APIs: how many runs in a row took under FAST_CALL_S (-1: one on the loop took longer)
    fast_runs: int = 0

    @property
    def parameters(self) -> dict[str, Any]:
        return self.spec.parameters


class ActionExecutor:
    """Registers plugins, renders their descriptions, and executes calls.

    Args:
        actions: plugin instances, BaseAction subclasses, or ``@tool`` functions.
        timeout: default seconds per call (None: no limit); an API's own timeout wins.
        max_result_chars: the model sees at most this many characters of a result.
    """

    def __init__(
        self,
        actions: Iterable[Any] = (),
        *,
        timeout: float | None = 60.0,
        max_result_chars: int | None = 8000,
    ) -> None:
        self.timeout = timeout
        self.max_result_chars = max_result_chars
        self._plugins: dict[str, BaseAction] = {}
        self._apis: dict[str, BoundApi] = {}
        self._aliases: dict[str, str] = {}
        self._aliases_stale = False
        self._pool: ThreadPoolExecutor | None = None
        self._tool_set: ToolSet | None = None
        self._tool_set_version = -1
        self._gated = (-1, False)
        self._contextual = (-1, False)
        self._changing: list[BaseAction] = []  # plugins whose tools may change (an MCP server's list)
        self.version = 0
        self.uid = next(_UIDS)  # with ``version``: a cache key for rendered tool prompts
        for action in actions:
            self.add(action)

    # -- registry ---------------------------------------------------------------------------
    def add(self, action: Any) -> BaseAction:
        plugin = as_action(action)
        if not getattr(plugin, "enable", True):
            return plugin
        if plugin.name in self._plugins:
            raise ValueError(
                f"two plugins are named {plugin.name!r} ({self._plugins[plugin.name]!r} and {plugin!r}); "
                "give one another name, e.g. MyPlugin(name='other')"
            )
        self._plugins[plugin.name] = plugin
        self._bind(plugin)
        if hasattr(plugin, "apis_changed"):
            self._changing.append(plugin)
        return plugin

    def _bind(self, plugin: BaseAction) -> None:
        for spec in plugin.api_specs():
            full = f"{plugin.name}.{spec.name}" if plugin.is_toolkit else plugin.name
            if full in self._apis:
                raise ValueError(f"two APIs are named {full!r}; rename one")
            bound = BoundApi(full, wire_name(full), spec, plugin.api_callable(spec), plugin)
            self._apis[full] = bound
        self._aliases_stale = True  # rebuilt on first look-up: an executor of N plugins is built in O(N)
        self.version += 1  # renderers cache tool prompts per version

    def remove(self, name: str) -> None:
        plugin = self._plugins.pop(name)
        self._apis = {k: v for k, v in self._apis.items() if v.plugin is not plugin}
        self._changing = [p for p in self._changing if p is not plugin]
        self._aliases_stale = True
        self.version += 1

    def refresh(self) -> bool:
        """Take in the tools of plugins that said their list changed (an MCP server's
        ``tools/list_changed``); True when any did."""
        changed = False
        for plugin in self._changing:
            if plugin.apis_changed:  # type: ignore[attr-defined]
                self._apis = {k: v for k, v in self._apis.items() if v.plugin is not plugin}
                try:
                    self._bind(plugin)
                except ValueError as exc:  # a new tool named like one of another plugin's
                    import logging

                    logging.getLogger("liteagent").warning("%s: its new tools are left out (%s)", plugin.name, exc)
                changed = True
        return changed

    def _rebuild_aliases(self) -> None:
        aliases: dict[str, str] = {}
        short: dict[str, list[str]] = {}
        for full, api in self._apis.items():
            aliases[api.wire] = full
            aliases[full.lower()] = full
            aliases.setdefault(_dotted(full), full)  # an MCP server's "T__api" written "T.api", and back
            if not api.plugin.is_toolkit:
                aliases[f"{full}.run"] = full
            short.setdefault(api.spec.name, []).append(full)
        for plugin in self._plugins.values():
            apis = [a for a in self._apis.values() if a.plugin is plugin]
            if plugin.is_toolkit and len(apis) == 1:
                aliases.setdefault(plugin.name, apis[0].name)
        for api_name, fulls in short.items():
            if len(fulls) == 1:  # models often drop the toolkit prefix
                aliases.setdefault(api_name, fulls[0])
        self._aliases = aliases
        self._aliases_stale = False

    @property
    def plugins(self) -> list[BaseAction]:
        return list(self._plugins.values())

    @property
    def apis(self) -> list[BoundApi]:
        """Every callable API, in registration order."""
        return list(self._apis.values())

    def names(self) -> list[str]:
        """Canonical API names, in registration order."""
        return list(self._apis)

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def __len__(self) -> int:
        return len(self._apis)

    def resolve(self, name: str) -> BoundApi | None:
        api = self._apis.get(name)
        if api is not None:
            return api
        if self._aliases_stale:
            self._rebuild_aliases()
        full = self._aliases.get(name) or self._aliases.get(name.strip().lower()) or self._aliases.get(_dotted(name))
        return self._apis.get(full) if full else None

    @property
    def key(self) -> tuple[Any, ...]:
        """Identifies this tool set's state (a cache key for rendered tool prompts)."""
        return (self.uid, self.version)

    @property
    def gated(self) -> bool:
        """Does any API say it needs approval? (read on every turn: kept per version)"""
        if self._gated[0] != self.version:
            self._gated = (self.version, any(a.spec.needs_approval is not False for a in self._apis.values()))
        return self._gated[1]

    @property
    def contextual(self) -> bool:
        """Does any API take a ToolContext (an MCP server's tools do)? (kept per version)"""
        if self._contextual[0] != self.version:
            self._contextual = (self.version, any(a.spec.context_param for a in self._apis.values()))
        return self._contextual[1]

    @property
    def interpreter(self) -> str | None:
        """The API that InternLM2's ``<|interpreter|>`` calls run: a plugin marked ``interpreter``."""
        return next((n for n, a in self._apis.items() if getattr(a.plugin, "interpreter", False)), None)

    def time_limit(self, name: str) -> float | None:
        """Seconds a call of ``name`` may run (None: no limit, or no such tool)."""
        api = self._apis.get(name) or self.resolve(name)
        return self._timeout_for(api) if api is not None else None

    def runs_with(self, name: str, arguments: Any) -> dict[str, Any] | None:
        """The arguments a call of ``name`` would run with, as JSON (validated, defaults filled
        in), or None where it would not run at all (an unknown tool, arguments that do not fit)."""
        api = self._apis.get(name) or self.resolve(name)
        if api is None or not isinstance(arguments, dict):
            return None
        try:
            return api.spec.as_run(arguments)
        except (ValidationError, ArgumentsInvalid, ValueError, TypeError):
            return None

    def is_async(self, name: str) -> bool:
        """Is ``name`` an ``async def`` API? (False for names that resolve to nothing)"""
        api = self._apis.get(name) or self.resolve(name)
        return api is not None and api.spec.is_async

    def runs_inline(self, name: str) -> bool:
        """Would ``aexecute(name, alone=True)`` run it right here, blocking nobody? (a sync API,
        no other task on this loop, and its limit enforceable on this thread): then ``execute``
        gives the same result without a coroutine."""
        api = self._apis.get(name) or self.resolve(name)
        if api is None or api.spec.is_async or api.spec.context_param is not None or not _loop_is_idle():
            return False  # (a tool that may ask its caller must not hold the loop that answers)
        return self._timeout_for(api) is None or deadline.available()

    # -- descriptions -----------------------------------------------------------------------
    def lagent_descriptions(self) -> list[dict[str, Any]]:
        """One Lagent-style dict per plugin (toolkits nest their ``api_list``)."""
        return [p.lagent_description() for p in self._plugins.values()]

    def api_descriptions(self) -> list[dict[str, Any]]:
        """One Lagent-style dict per API, toolkit APIs named ``Tool.api`` (what prompts list)."""
        out = []
        for api in self._apis.values():
            desc = api.spec.description
            if not api.plugin.is_toolkit and (api.plugin._description or not desc):
                desc = api.plugin.description
            out.append(lagent_api_dict(api.spec, api.name, desc))
        return out

    def tool_set(self) -> ToolSet:
        """The tools' definitions as an immutable snapshot for dialects: made once per version, and
        shared by every executor holding the same tools (an app that builds an agent per request
        then renders from warm caches: prompts and grammars are cached by ``ToolSet.key``)."""
        if self._changing:
            self.refresh()
        cached = self._tool_set
        if cached is not None and self._tool_set_version == self.version:
            return cached
        apis = list(self._apis.values())
        key = tuple(_identity(api) for api in apis)
        hit = _TOOL_SETS.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], (api.spec for api in apis), strict=True)):
            tool_set = hit[1]
        else:
            if self._aliases_stale:
                self._rebuild_aliases()
            descs = self.api_descriptions()
            tools = self.openai_tools()
            defs = tuple(
                ToolDef(
                    api.name,
                    api.wire,
                    tool["function"]["description"],
                    MappingProxyType(copy.deepcopy(api.spec.parameters)),
                    "interpreter" if getattr(api.plugin, "interpreter", False) else "plugin",
                    MappingProxyType(desc),
                )
                for api, desc, tool in zip(apis, descs, tools, strict=True)
            )
            tool_set = ToolSet(defs, dict(self._aliases), ("tools", next(_UIDS)))
            if len(_TOOL_SETS) >= 256:
                _TOOL_SETS.clear()
            _TOOL_SETS[key] = (tuple(api.spec for api in apis), tool_set)  # the specs pinned: ids stay theirs
        self._tool_set, self._tool_set_version = tool_set, self.version
        return tool_set

    def get_actions_info(self) -> list[dict[str, Any]]:
        """Lagent's name for :meth:`api_descriptions` (what the tutorial's appendix 1 prints)."""
        return self.api_descriptions()

    def openai_tools(self) -> list[dict[str, Any]]:
        """The OpenAI ``tools`` list (names in their wire spelling)."""
        if self._changing:
            self.refresh()
        tools = []
        for api in self._apis.values():
            desc = api.spec.description or api.plugin.description
            if api.spec.returns is not None and api.spec.returns.description:
                desc = f"{desc}\n\nReturns: {api.spec.returns.description}".strip()
            tools.append(
                {
                    "type": "function",
                    "function": {"name": api.wire, "description": desc, "parameters": api.spec.parameters},
                }
            )
        return tools

    # -- execution --------------------------------------------------------------------------
    def _prepare(
        self, name: str, arguments: Any, call_id: str, start: float
    ) -> ActionReturn | tuple[BoundApi, dict[str, Any]]:
        """(api, validated kwargs), or the ActionReturn that ends the call before it runs."""
        api = self._apis.get(name) or self.resolve(name)
        if api is None and self._changing and self.refresh():
            api = self.resolve(name)  # a tool a server added since the list was read
        if api is not None and not arguments and type(arguments) is dict and not api.spec.params:
            return api, {}  # nothing to validate
        if isinstance(arguments, str):
            if nesting_exceeds(arguments, MAX_CALL_DEPTH):
                msg = f"arguments nest more than {MAX_CALL_DEPTH} levels deep; write them with less nesting"
                return self._early(api, name, ActionStatus.ARGS_ERROR, msg, None, call_id, start)
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                msg = f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
                return self._early(api, name, ActionStatus.ARGS_ERROR, msg, None, call_id, start)
        if arguments is None:
            arguments = {}
        if api is None:
            valid = ", ".join(self._apis) or "(no tools are enabled)"
            msg = f"unknown tool {name!r}; valid tools: {valid}"
            return self._early(api, name, ActionStatus.INVALID_ACTION, msg, arguments, call_id, start)
        if not isinstance(arguments, dict):
            msg = f"arguments must be a JSON object, got {type(arguments).__name__}"
            return self._early(api, name, ActionStatus.ARGS_ERROR, msg, None, call_id, start)
        try:
            return api, api.spec.validate(arguments)
        except ValidationError as exc:
            msg = describe_validation_error(api.name, api.spec, exc)
            return self._early(api, name, ActionStatus.ARGS_ERROR, msg, arguments, call_id, start)
        except ArgumentsInvalid as exc:
            return self._early(api, name, ActionStatus.ARGS_ERROR, str(exc), arguments, call_id, start)

    @staticmethod
    def _early(
        api: BoundApi | None, name: str, status: ActionStatus, error: str, args: Any, call_id: str, start: float
    ) -> ActionReturn:
        return ActionReturn(
            api.name if api else name,
            args if isinstance(args, dict) else {},
            status,
            error=error,
            elapsed=time.perf_counter() - start,
            call_id=call_id,
        )

    def _timeout_for(self, api: BoundApi) -> float | None:
        return api.spec.timeout if api.spec.timeout is not None else self.timeout

    def execute(self, name: str, arguments: Any = None, call_id: str = "") -> ActionReturn:
        """Run one call synchronously. Async APIs run in a fresh event loop (or a thread if one
        is already running here)."""
        start = time.perf_counter()
        prepared = self._prepare(name, arguments, call_id, start)
        if isinstance(prepared, ActionReturn):
            return prepared
        api, kwargs = prepared
        spec = api.spec
        if spec.context_param is not None:
            kwargs[spec.context_param] = context_for(api.name, call_id, in_loop=False)
        timeout = spec.timeout if spec.timeout is not None else self.timeout  # (_timeout_for)
        try:
            if spec.is_async:
                value = self._run_async_blocking(api, kwargs, timeout)
            elif timeout is None:
                value = api.func(**kwargs)
            elif deadline.available():
                value = deadline.call_with_limit(api.func, kwargs, timeout)
            else:
                value = self._worker().submit(api.func, **kwargs).result(timeout=timeout)
        except (deadline.ToolTimedOut, FutureTimeout, asyncio.TimeoutError, TimeoutError):
            return self._timed_out(api, arguments, timeout, start, call_id)
        except Exception as exc:
            return self._failed(api, arguments, exc, start, call_id)
        return self._wrap(api, arguments, value, start, call_id)

    __call__ = execute

    async def aexecute(self, name: str, arguments: Any = None, call_id: str = "", alone: bool = False) -> ActionReturn:
        """Run one call without blocking other work on the event loop: a sync API runs in a
        worker thread, or right here (a thread hop costs ~0.1-0.2 ms; the limit is then kept by
        ``deadline``) when ``alone`` (the caller's only call) and nothing else runs on this loop,
        or when the API is known to be quick: its last FAST_RUNS runs each took under
        FAST_CALL_S (2 ms). A quick API that once takes longer on the loop runs in threads from
        then on: other work waits for a known-quick tool at most once."""
        start = time.perf_counter()
        prepared = self._prepare(name, arguments, call_id, start)
        if isinstance(prepared, ActionReturn):
            return prepared
        api, kwargs = prepared
        if api.spec.context_param is not None:
            kwargs[api.spec.context_param] = context_for(api.name, call_id, in_loop=True)
        timeout = self._timeout_for(api)
        try:
            if api.spec.is_async:
                if timeout is None:
                    value = await api.func(**kwargs)
                else:
                    value = await _with_timeout(api.func(**kwargs), timeout)
            elif (
                alone
                and api.spec.context_param is None
                and _loop_is_idle()
                and (timeout is None or deadline.available())
            ):
                value = api.func(**kwargs) if timeout is None else deadline.call_with_limit(api.func, kwargs, timeout)
            elif api.fast_runs >= FAST_RUNS and api.spec.may_run_inline and (timeout is None or deadline.available()):
                began = time.perf_counter()
                try:
                    value = (
                        api.func(**kwargs) if timeout is None else deadline.call_with_limit(api.func, kwargs, timeout)
                    )
                finally:
                    if time.perf_counter() - began > FAST_CALL_S:
                        api.fast_runs = -1  # it held the loop up once: threads from now on
            else:
                loop = asyncio.get_running_loop()
                # in this task's context (as asyncio.to_thread): what the call reads of it (the
                # trace a tool's span continues, its ToolContext's host) is there in the thread too
                run = loop.run_in_executor(self._worker(), contextvars.copy_context().run, _timed, api.func, kwargs)
                value, took = await _with_timeout(run, timeout)
                if api.fast_runs >= 0:
                    api.fast_runs = api.fast_runs + 1 if took <= FAST_CALL_S else 0
        except (deadline.ToolTimedOut, asyncio.TimeoutError, TimeoutError):
            return self._timed_out(api, arguments, timeout, start, call_id)
        except Exception as exc:
            return self._failed(api, arguments, exc, start, call_id)
        return self._wrap(api, arguments, value, start, call_id)

    def _run_async_blocking(self, api: BoundApi, kwargs: dict[str, Any], timeout: float | None) -> Any:
        async def go() -> Any:
            return await asyncio.wait_for(api.func(**kwargs), timeout)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            from ..sync_bridge import thread_loop

            return thread_loop().run_until_complete(go())  # this thread's reused loop, not a new one per call
        # Called from inside a running loop (Jupyter): run on a loop of our own in a thread.
        return self._worker().submit(asyncio.run, go()).result()

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="liteagent-tool")
        return self._pool

    def _timed_out(
        self, api: BoundApi, arguments: Any, timeout: float | None, start: float, call_id: str
    ) -> ActionReturn:
        return ActionReturn(
            api.name,
            arguments or {},
            ActionStatus.TIMEOUT,
            error=f"{api.name} did not finish within {timeout:g} s",
            elapsed=time.perf_counter() - start,
            call_id=call_id,
        )

    def _failed(self, api: BoundApi, arguments: Any, exc: BaseException, start: float, call_id: str) -> ActionReturn:
        return ActionReturn(
            api.name,
            arguments or {},
            ActionStatus.TIMEOUT if isinstance(exc, ToolTimeout) else ActionStatus.API_ERROR,
            error=str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}",
            elapsed=time.perf_counter() - start,
            call_id=call_id,
        )

    def _wrap(self, api: BoundApi, arguments: Any, value: Any, start: float, call_id: str) -> ActionReturn:
        try:
            items, error = to_items(value)
        except (TooDeep, RecursionError):  # a result nested past the stack (asdict, repr, JSON)
            return self._failed(api, arguments, ToolError(RESULT_TOO_DEEP), start, call_id)
        except Exception as exc:  # a result we cannot represent is the tool's fault
            return self._failed(api, arguments, exc, start, call_id)
        status = _SUCCESS if error is None else ActionStatus.API_ERROR
        return ActionReturn(api.name, arguments, status, items, error, time.perf_counter() - start, call_id)

    def format_result(self, ret: ActionReturn) -> str:
        """The text the model reads for ``ret``, cut to ``max_result_chars``."""
        return ret.format_for_model(self.max_result_chars)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


#: every live task of every loop, where CPython 3.10/3.11 keep them in one registry (3.12 split
#: it, 3.14 keeps tasks per thread): there "is any other task on this loop?" stops at the first one
_TASKS: Any = getattr(asyncio.tasks, "_all_tasks", None) if sys.version_info < (3, 12) else None


_TOOL_SETS: dict[tuple[Any, ...], tuple[tuple[Any, ...], ToolSet]] = {}  # by what the tools are


def _identity(api: BoundApi) -> tuple[Any, ...]:
    """What makes an API's definition: its names, its spec (described once per class), and what
    of its plugin shows in the description."""
    plugin = api.plugin
    return (
        api.name,
        api.wire,
        id(api.spec),
        type(plugin),  # the docstring its description comes from (parsed only on a miss)
        plugin.is_toolkit,
        getattr(plugin, "_description", None),
        getattr(plugin, "interpreter", False),
    )


def _timed(func: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Any, float]:
    """``func(**kwargs)`` and how long it took (in a worker thread: the hop is not counted)."""
    began = time.perf_counter()
    value = func(**kwargs)
    return value, time.perf_counter() - began


def _loop_is_idle() -> bool:
    """Is the running task the only one on this loop? (then a sync tool blocks nobody)"""
    tasks = _TASKS
    if tasks is None:
        return len(asyncio.all_tasks()) <= 1
    if len(tasks) <= 1:
        return True
    loop = asyncio.get_running_loop()
    me = asyncio.current_task(loop)
    for t in tasks:  # with many conversations on this loop, the first look finds one
        if t is not me and t.get_loop() is loop and not t.done():
            return False
    return True


async def _with_timeout(aw: Any, timeout: float | None) -> Any:
    if timeout is None:
        return await aw
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):  # no extra task, unlike wait_for on 3.11
            return await aw
    return await asyncio.wait_for(aw, timeout)
