"""Load plugins from a spec: a built-in name, ``pkg.module:Class``, ``path/file.py:Class``, or an
installed package's entry point in the group ``liteagent.plugins``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import PluginLoadError
from .base import BaseAction, FunctionTool, as_action
from .builtin import BUILTINS, DEFAULT_BUILTINS
from .resources import Offering

ENTRY_POINT_GROUP = "liteagent.plugins"


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_plugins() -> list[str]:
    """Every plugin name a spec can use without a path: built-ins, then entry points."""
    return list(dict.fromkeys([*BUILTINS, *_entry_points()]))


def default_plugins() -> list[BaseAction]:
    """The built-ins that need no configuration (what is enabled when no ``--plugin`` is given)."""
    return [load_plugin(name)[0] for name in DEFAULT_BUILTINS]


def load_plugins(specs: list[str]) -> list[BaseAction]:
    out: list[BaseAction] = []
    for spec in specs:
        out.extend(load_plugin(spec))
    return out


def load_plugin(spec: str) -> list[BaseAction]:
    """Resolve one spec to plugin instances. Raises :class:`PluginLoadError` with a one-line reason."""
    spec = spec.strip()
    if not spec:
        raise PluginLoadError("empty plugin spec; use a built-in name, pkg.module:Class or path/file.py:Class")
    target, _, attr = spec.partition(":") if ":" in spec else (spec, "", "")
    if not attr and target in BUILTINS:
        target, _, attr = BUILTINS[target].partition(":")
        return [_instantiate(getattr(_import_module(target, spec), attr), spec)]
    if not attr and "/" not in target and not target.endswith(".py"):
        eps = _entry_points()
        if target in eps:
            try:
                obj = eps[target].load()
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin {spec!r}: its entry point failed to load ({type(exc).__name__}: {exc})"
                ) from None
            return [_instantiate(obj, spec)]
        if "." not in target:
            known = ", ".join(available_plugins())
            raise PluginLoadError(
                f"unknown plugin {spec!r}; built-in and installed plugins: {known}; "
                "or give pkg.module:Class or path/file.py:Class"
            )
    module = _load_file(target, spec) if target.endswith(".py") or "/" in target else _import_module(target, spec)
    if attr:
        if not hasattr(module, attr):
            raise PluginLoadError(f"plugin {spec!r}: {target} has no attribute {attr!r}")
        return [_instantiate(getattr(module, attr), spec)]
    found = [
        obj
        for obj in vars(module).values()
        if (
            isinstance(obj, type)
            and issubclass(obj, BaseAction)
            and obj.__module__ == module.__name__
            and obj is not FunctionTool
        )
        or isinstance(obj, (FunctionTool, Offering))
    ]
    # a whole file: every plugin that can be created without arguments
    found = [obj for obj in found if not (isinstance(obj, type) and _required_init_args(obj))]
    if not found:
        raise PluginLoadError(
            f"plugin {spec!r}: {target} defines no BaseAction class or @tool function usable without arguments"
        )
    return [_instantiate(obj, spec) for obj in found]


def _required_init_args(cls: type) -> list[str]:
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _instantiate(obj: Any, spec: str) -> BaseAction:
    if isinstance(obj, type) and not issubclass(obj, BaseAction):
        raise PluginLoadError(
            f"plugin {spec!r}: {obj.__name__} is not a plugin (subclass liteagent.BaseAction, "
            "or decorate a function with @tool)"
        )
    if isinstance(obj, type):
        required = _required_init_args(obj)
        if required:
            raise PluginLoadError(
                f"plugin {spec!r}: {obj.__name__}() needs arguments ({', '.join(required)}); "
                "create it in Python and pass the instance to ActionExecutor"
            )
        try:
            return obj()
        except Exception as exc:
            raise PluginLoadError(f"plugin {spec!r}: {obj.__name__}() failed ({type(exc).__name__}: {exc})") from None
    try:
        return as_action(obj)
    except TypeError:
        raise PluginLoadError(
            f"plugin {spec!r}: {obj!r} is not a plugin (subclass liteagent.BaseAction, or decorate a function with @tool)"
        ) from None


def _import_module(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise PluginLoadError(f"plugin {spec!r}: module {exc.name!r} not found (is it installed?)") from None
    except Exception as exc:
        raise PluginLoadError(f"plugin {spec!r}: importing {name} failed ({type(exc).__name__}: {exc})") from None


def _load_file(path_text: str, spec: str) -> ModuleType:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise PluginLoadError(f"plugin {spec!r}: file {path_text} not found")
    path = path.resolve()
    # A stable, unique module name per file: two plugin files may both be called tools.py.
    mod_name = f"liteagent_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise PluginLoadError(f"plugin {spec!r}: {path_text} is not a Python file")
    module = importlib.util.module_from_spec(loader_spec)
    parent = str(path.parent)
    if parent not in sys.path:  # let the plugin import its sibling modules
        sys.path.append(parent)
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        line = ""
        if isinstance(exc, SyntaxError):
            line = f" line {exc.lineno}"
        raise PluginLoadError(
            f"plugin {spec!r}: {path_text}{line} failed to load ({type(exc).__name__}: {exc})"
        ) from None
    return module


def load_object(spec: str, what: str) -> Any:
    """The object ``pkg.module:Name`` or ``path/file.py:Name`` names (``Name`` may be dotted);
    ``what`` names it in the one-line error (an output type, say)."""
    target, sep, attr = spec.strip().rpartition(":")
    if not sep or not target or not attr:
        raise PluginLoadError(f"{what} {spec!r}: give pkg.module:Name or path/file.py:Name")
    try:
        module = _load_file(target, spec) if target.endswith(".py") or "/" in target else _import_module(target, spec)
    except PluginLoadError as exc:
        raise PluginLoadError(str(exc).replace("plugin ", f"{what} ", 1)) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginLoadError(f"{what} {spec!r}: {target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
