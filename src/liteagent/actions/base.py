"""Plugins: ``BaseAction`` classes with ``@tool_api`` methods, and ``@tool`` functions.

A class with ``@tool_api`` methods is a toolkit whose APIs are addressed as ``Class.method``; a
class whose only API is ``run`` is a single tool addressed by its class name. Nothing is
registered globally, so re-creating a class (a Streamlit rerun) is harmless.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .schema import ApiSpec, build_api_spec, doc_description, lagent_api_dict, warn_once

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__liteagent_tool_api__"


@overload
def tool_api(func: F) -> F: ...
@overload
def tool_api(
    func: None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    explode_return: bool = False,
    returns_named_value: bool = False,
    needs_approval: bool | Callable[[dict[str, Any]], bool] = False,
    idempotent: bool = False,
) -> Callable[[F], F]: ...
def tool_api(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    explode_return: bool = False,
    returns_named_value: bool = False,
    needs_approval: bool | Callable[[dict[str, Any]], bool] = False,
    idempotent: bool = False,
) -> Any:
    """Mark a method of a :class:`BaseAction` as an API the model may call.

    Args:
        func: the method (when used bare, ``@tool_api``).
        name: the API's name for the model; the method's name by default.
        timeout: seconds one call may take, overriding the executor's default.
        explode_return: accepted for Lagent compatibility; the Returns section is always used.
        returns_named_value: accepted for Lagent compatibility; see ``explode_return``.
        needs_approval: a person approves each call before it runs (the run stops with
            ``status="needs_approval"`` until ``Agent.resume`` decides); or a callable of the
            call's arguments saying whether this call needs it (one that raises: it does).
        idempotent: a call cut off mid-run (its process killed) may simply run again on resume;
            otherwise the model is told it was interrupted and may not have completed.
    """

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        setattr(
            f,
            _MARK,
            {
                "name": name or f.__name__,
                "timeout": timeout,
                "needs_approval": needs_approval,
                "idempotent": idempotent,
            },
        )
        return f

    return mark(func) if func is not None else mark


class BaseAction:
    """Base class of plugins. Subclass it and mark methods with ``@tool_api``.

    The class docstring is the plugin's description; each API's docstring describes it and its
    parameters; type hints become JSON Schema.

    Args:
        description: overrides the class docstring.
        name: overrides the class name.
        enable: Lagent compatibility; a disabled plugin is skipped by the executor.
    """

    def __init__(self, description: str | None = None, name: str | None = None, enable: bool = True) -> None:
        self._description = description
        self._name = name
        self.enable = enable

    # Subclasses may set ``name = "..."`` as a class attribute; it shadows this property.
    @property
    def name(self) -> str:
        return getattr(self, "_name", None) or type(self).__name__

    @property
    def description(self) -> str:
        own = getattr(self, "_description", None)
        if own is not None:
            return own
        return _class_description(type(self))

    @property
    def is_toolkit(self) -> bool:
        specs = self.api_specs()
        return not (len(specs) == 1 and specs[0].name == "run")

    def api_specs(self) -> list[ApiSpec]:
        """The APIs of this plugin, described once per class and cached."""
        return _class_specs(type(self))

    def api_callable(self, spec: ApiSpec) -> Callable[..., Any]:
        return getattr(self, _class_attr_names(type(self))[spec.name])

    def lagent_description(self) -> dict[str, Any]:
        """This plugin in Lagent's dict format (seed appendix 1)."""
        specs = self.api_specs()
        if not self.is_toolkit:
            spec = specs[0]
            desc = self.description if getattr(self, "_description", None) else (spec.description or self.description)
            return lagent_api_dict(spec, self.name, desc)
        return {
            "name": self.name,
            "description": self.description,
            "api_list": [lagent_api_dict(s, s.name) for s in specs],
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _class_description(cls: type) -> str:
    own = cls.__dict__.get("__doc__")
    if not own:
        return ""
    return doc_description(_safe_parse(own))


def _safe_parse(text: str) -> Any:
    import docstring_parser

    try:
        return docstring_parser.parse(inspect.cleandoc(text))
    except Exception:
        return None


def _class_attr_names(cls: type) -> dict[str, str]:
    """API name -> attribute name, for every API of ``cls``."""
    cached = cls.__dict__.get("_liteagent_attrs")
    if cached is not None:
        return cached
    attrs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            mark = getattr(fn, _MARK, None)
            if mark is not None:
                attrs[mark["name"]] = attr
    if not attrs and callable(getattr(cls, "run", None)) and cls is not BaseAction:
        attrs["run"] = "run"  # Lagent: a class with a plain ``run`` is a single tool
    cls._liteagent_attrs = attrs  # type: ignore[attr-defined]
    return attrs


def _class_specs(cls: type) -> list[ApiSpec]:
    cached = cls.__dict__.get("_liteagent_specs")
    if cached is not None:
        return cached
    specs = []
    for api_name, attr in _class_attr_names(cls).items():
        fn = inspect.getattr_static(cls, attr)
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        mark = getattr(fn, _MARK, None) or {}
        specs.append(
            build_api_spec(
                fn,
                owner=cls.__name__,
                name=api_name,
                skip_self=True,
                timeout=mark.get("timeout"),
            )
        )
        specs[-1].needs_approval = mark.get("needs_approval", False)
        specs[-1].idempotent = bool(mark.get("idempotent", False))
    if not specs:
        warn_once(f"{cls.__name__} has no @tool_api method and no run(): the model sees no API")
    cls._liteagent_specs = specs  # type: ignore[attr-defined]
    return specs


class FunctionTool(BaseAction):
    """A plain function as a single-tool plugin (made by :func:`tool`)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        timeout: float | None = None,
        needs_approval: bool | Callable[[dict[str, Any]], bool] = False,
        idempotent: bool = False,
        input_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name or fn.__name__)
        self.fn = fn
        if input_schema is None:
            self._spec = build_api_spec(fn, owner="", name=self.name, skip_self=False, timeout=timeout)
        else:
            self._spec = _schema_spec(fn, self.name, input_schema, timeout)
        self._spec.needs_approval, self._spec.idempotent = needs_approval, idempotent
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @property
    def description(self) -> str:
        return self._spec.description

    @property
    def is_toolkit(self) -> bool:
        return False

    def api_specs(self) -> list[ApiSpec]:
        return [self._spec]

    def api_callable(self, spec: ApiSpec) -> Callable[..., Any]:
        return self.fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


@overload
def tool(fn: Callable[..., Any]) -> FunctionTool: ...
@overload
def tool(
    fn: None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    needs_approval: bool | Callable[[dict[str, Any]], bool] = False,
    idempotent: bool = False,
    input_schema: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    needs_approval: bool | Callable[[dict[str, Any]], bool] = False,
    idempotent: bool = False,
    input_schema: dict[str, Any] | None = None,
) -> Any:
    """Make a plain (sync or async) function a plugin; its docstring is the description.

    Args:
        fn: the function (when used bare, ``@tool``).
        name: the tool's name for the model; the function's name by default.
        timeout: seconds one call may take, overriding the executor's default.
        needs_approval: see :func:`tool_api`: True, or a callable of the call's arguments.
        idempotent: see :func:`tool_api`: may run again after its run was cut off.
        input_schema: the arguments' JSON Schema as you wrote it (any 2020-12 schema with
            ``"type": "object"``), shown to models and MCP clients as given and checked with
            ``jsonschema``; the function then takes the arguments as keywords (``**kwargs``, a
            ``ToolContext`` parameter aside). Default: built from the signature.
    """
    opts: dict[str, Any] = {
        "name": name,
        "timeout": timeout,
        "needs_approval": needs_approval,
        "idempotent": idempotent,
        "input_schema": input_schema,
    }
    if fn is not None:
        return FunctionTool(fn, **opts)
    return lambda f: FunctionTool(f, **opts)


def _schema_spec(fn: Callable[..., Any], name: str, schema: dict[str, Any], timeout: float | None) -> ApiSpec:
    """An API whose arguments' schema was written by hand (``@tool(input_schema=...)``)."""
    from .schema import JsonSchemaApiSpec, _is_context, _names_context, _parse_doc, doc_description

    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise TypeError(f'tool {name!r}: input_schema must be a JSON Schema with "type": "object"')
    spec = JsonSchemaApiSpec.from_schema(
        name, doc_description(_parse_doc(fn)), schema, timeout, is_async=inspect.iscoroutinefunction(fn)
    )
    hints = getattr(fn, "__annotations__", {})
    for pname, hint in hints.items():
        if pname != "return" and (_is_context(hint) or _names_context(hint)):
            spec.context_param, spec.may_run_inline = pname, False
    return spec


def as_action(obj: Any) -> BaseAction:
    """Accept what users hand us: an instance, a BaseAction subclass, a FunctionTool or a function."""
    if isinstance(obj, BaseAction):
        return obj
    if isinstance(obj, type) and issubclass(obj, BaseAction):
        return obj()
    if inspect.isfunction(obj) or inspect.iscoroutinefunction(obj):
        return FunctionTool(obj)
    raise TypeError(
        f"{obj!r} is not a liteagent plugin: subclass liteagent.BaseAction or decorate a function with @tool"
    )
