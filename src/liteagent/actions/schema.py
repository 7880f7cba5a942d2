"""Function -> description -> validated call, in one place.

An :class:`ApiSpec` holds what the model is told about one API (name, description, JSON Schema of
its parameters, return description) and the pydantic model that turns the model's JSON back into
call arguments. It is built from the signature's type hints and the docstring (Google, NumPy or
reST); imperfect docstrings degrade with one warning, never an exception.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin

import docstring_parser
import typing_extensions
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticSerializationError


class PluginDescriptionWarning(UserWarning):
    """A plugin's docstring or hints are incomplete; its description was degraded."""


_warned: set[str] = set()


def warn_once(message: str) -> None:
    # Streamlit re-executes plugin modules on every rerun: say each thing once per process.
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, PluginDescriptionWarning, stacklevel=3)


_DOC_TYPES: dict[str, Any] = {
    "str": str,
    "string": str,
    "int": int,
    "integer": int,
    "float": float,
    "number": float,
    "bool": bool,
    "boolean": bool,
    "list": list,
    "array": list,
    "dict": dict,
    "object": dict,
}

_LAGENT_TYPES = {
    "string": "STRING",
    "integer": "NUMBER",
    "number": "FLOAT",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "DICT",
    "null": "NULL",
}

PARAMETER_DESCRIPTION = (
    "If you call this tool, you must pass arguments in the JSON format {key: value}, "
    "where the key is the parameter name."
)

_MODEL_CONFIG = ConfigDict(extra="forbid", coerce_numbers_to_str=True, arbitrary_types_allowed=True)


@dataclass(slots=True)
class ParamSpec:
    name: str
    schema: dict[str, Any]
    description: str
    required: bool


@dataclass(slots=True)
class ReturnSpec:
    name: str
    type: str
    description: str


@dataclass(slots=True)
class ApiSpec:
    """One callable API: its description for the model and its argument validator."""

    name: str
    description: str
    params: list[ParamSpec]
    parameters: dict[str, Any]  # JSON Schema object of all parameters
    returns: ReturnSpec | None
    args_model: type[BaseModel]
    return_items: list[ReturnSpec]
    is_async: bool
    timeout: float | None = None
    renamed: dict[str, str] = field(default_factory=dict)  # internal field -> parameter name
    #: may a sync API that has been quick run on an event loop (``ActionExecutor.aexecute``)?
    #: False for calls whose time is not the tool's own (an MCP server's, over a network or pipe)
    may_run_inline: bool = True
    #: must a person approve a call before it runs? True, or a callable of the call's arguments
    #: (one that raises counts as yes); an Agent's ``approvals`` may override it
    needs_approval: Any = False
    #: may a call that was cut off (its process killed while it ran) run again on resume?
    idempotent: bool = False
    #: the parameter that receives the call's :class:`~liteagent.actions.context.ToolContext`
    #: (not part of the schema; a sync API taking it never runs on an event loop)
    context_param: str | None = None
    #: a name for people (an MCP tool's ``title``), and what its server says of it (MCP tool
    #: ``annotations``: readOnlyHint, destructiveHint, idempotentHint, openWorldHint), kept as sent
    title: str | None = None
    annotations: dict[str, Any] | None = None

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated call arguments (raises pydantic.ValidationError)."""
        values = self.args_model.model_validate(arguments).__dict__
        if self.renamed:
            return {self.renamed.get(k, k): v for k, v in values.items()}
        return values

    def as_run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments a call runs with, as JSON: validated, coerced, defaults filled in (what a
        person approving the call must see). Raises as :meth:`validate` does."""
        try:
            values = self.args_model.model_validate(arguments).model_dump(mode="json")
        except PydanticSerializationError:  # a value only Python knows: its text
            values = json.loads(json.dumps(self.validate(arguments), default=str))
            return values if isinstance(values, dict) else {}
        if self.renamed:
            return {self.renamed.get(k, k): v for k, v in values.items()}
        return values

    @property
    def required(self) -> list[str]:
        return [p.name for p in self.params if p.required]


class ArgumentsInvalid(ValueError):
    """Arguments that do not fit a schema given as JSON Schema (an MCP tool's); the message is
    one line the model can act on."""


@dataclass(slots=True)
class JsonSchemaApiSpec(ApiSpec):
    """An API described by a JSON Schema someone else wrote (an MCP server's ``input_schema``):
    shown to the model as given, arguments checked against it with ``jsonschema``."""

    #: the schema's validator, made on first use (its schema never changes)
    checker: Any = field(default=None, compare=False, repr=False)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        import jsonschema

        try:
            validator = self.checker
            if validator is None:
                validator = self.checker = jsonschema.validators.validator_for(self.parameters)(self.parameters)
            if validator.is_valid(arguments):  # the common call: no error to find and sort
                return dict(arguments)
            errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        except jsonschema.SchemaError:
            return dict(arguments)  # the server's schema is broken: let the server judge
        if errors:
            e = errors[0]
            where = ".".join(str(x) for x in e.path) or "arguments"
            raise ArgumentsInvalid(f"{self.name}: {where}: {e.message}")
        return dict(arguments)

    def as_run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.validate(arguments)  # as given: the server fills its own defaults

    @classmethod
    def from_schema(
        cls, name: str, description: str, schema: dict[str, Any], timeout: float | None, is_async: bool = True
    ) -> JsonSchemaApiSpec:
        raw = schema.get("properties")
        props: dict[str, Any] = raw if isinstance(raw, dict) else {}
        required = set(schema.get("required") or [])
        params = [
            ParamSpec(
                k,
                v if isinstance(v, dict) else {},
                str(v.get("description", "")) if isinstance(v, dict) else "",
                k in required,
            )
            for k, v in props.items()
        ]
        return cls(name, description, params, schema, None, BaseModel, [], is_async, timeout)


_SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|obj|data|func|meth|attr|exc):`~?([^`]+)`")


def _parse_doc(fn: Callable[..., Any]) -> docstring_parser.Docstring | None:
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    # Lagent's plugins write types as :class:`str`, whose colon breaks the Google parser
    doc = _SPHINX_ROLE.sub(r"\1", doc)
    try:
        return docstring_parser.parse(doc)
    except Exception:  # a docstring the parser chokes on still must not break the class
        return docstring_parser.Docstring()


def doc_description(doc: docstring_parser.Docstring | None) -> str:
    if doc is None:
        return ""
    parts = [p for p in (doc.short_description, doc.long_description) if p]
    return "\n\n".join(parts).strip()


_RETURN_NAMED = re.compile(r"^\s*(\w+)\s*\(([^)]*)\)\s*:\s*(.*)$", re.S)
_RETURN_BULLET = re.compile(r"^\s*[*-]\s*(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.+)$", re.M)


def _lagent_type_of(type_name: str) -> str:
    py = _DOC_TYPES.get(type_name.split(",")[0].strip().lower())
    try:
        t = schema_for(py).get("type", "string") if py else "string"
    except Exception:
        t = "string"
    return _LAGENT_TYPES.get(t, "STRING") if isinstance(t, str) else "STRING"


def return_items(doc: docstring_parser.Docstring | None) -> list[ReturnSpec]:
    """Lagent's ``explode_return``: ``* name (type): description`` bullets of the Returns section."""
    if doc is None or doc.returns is None or not doc.returns.description:
        return []
    return [
        ReturnSpec(name=m.group(1), type=_lagent_type_of(m.group(2) or "str"), description=m.group(3).strip())
        for m in _RETURN_BULLET.finditer(doc.returns.description)
    ]


def _returns(doc: docstring_parser.Docstring | None, hint: Any, owner: str) -> ReturnSpec | None:
    if doc is None or doc.returns is None:
        return None
    r = doc.returns
    name, type_name, desc = r.return_name or "", r.type_name or "", (r.description or "").strip()
    m = _RETURN_NAMED.match(desc) if not type_name else None
    if m:  # Google style "content (str): a list of papers"
        name, type_name, desc = m.group(1), m.group(2), m.group(3).strip()
    py_type = _DOC_TYPES.get(type_name.split(",")[0].strip().lower()) if type_name else None
    if py_type is None and hint not in (inspect.Signature.empty, None):
        py_type = hint
    try:
        json_type = schema_for(py_type).get("type", "string") if py_type else "string"
    except Exception:
        json_type = "string"
    lagent_type = _LAGENT_TYPES.get(json_type, "STRING") if isinstance(json_type, str) else "STRING"
    return ReturnSpec(name=name or "result", type=lagent_type, description=desc)


def schema_for(tp: Any) -> dict[str, Any]:
    """JSON Schema of one Python type, self-contained (no $ref) and without titles."""
    model = create_model("_T", __config__=_MODEL_CONFIG, v=(tp, ...))
    s = model.model_json_schema()
    return clean_schema(s["properties"]["v"], s.get("$defs", {}))


def clean_schema(node: Any, defs: dict[str, Any], _depth: int = 0) -> Any:
    """Inline ``$ref`` from ``defs`` and drop pydantic's generated ``title`` keys."""
    if _depth > 30:  # recursive models: stop inlining, leave an open object
        return {"type": "object"}
    if isinstance(node, list):
        return [clean_schema(x, defs, _depth) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return clean_schema(merged, defs, _depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: clean_schema(v, defs, _depth + 1) for k, v in value.items()}
        else:
            out[key] = clean_schema(value, defs, _depth + 1)
    return out


def lagent_type(schema: dict[str, Any]) -> str:
    """The upper-case type name Lagent's dict format uses, for one parameter schema."""
    t = schema.get("type")
    if t is None and "anyOf" in schema:
        kinds = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(kinds) == 1:
            return lagent_type(kinds[0])
        return "STRING" if all(k.get("type") == "string" for k in kinds) else "ANY"
    if t is None and "enum" in schema:
        return "STRING"
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return _LAGENT_TYPES.get(t or "", "STRING")


def portable_hint(hint: Any) -> Any:
    """pydantic needs typing_extensions.TypedDict before Python 3.12; users write typing's."""
    if sys.version_info >= (3, 12):
        return hint
    if (
        isinstance(hint, type)
        and issubclass(hint, dict)
        and hasattr(hint, "__required_keys__")
        and type(hint).__module__ == "typing"
    ):
        fields = {k: portable_hint(v) for k, v in typing.get_type_hints(hint, include_extras=True).items()}
        new = typing_extensions.TypedDict(hint.__name__, fields, total=hint.__total__)  # type: ignore[operator,misc]
        new.__required_keys__ = hint.__required_keys__  # type: ignore[attr-defined]
        new.__optional_keys__ = hint.__optional_keys__  # type: ignore[attr-defined]
        return new
    args = get_args(hint)
    origin = get_origin(hint)
    if args and origin is not None and origin is not Annotated:
        new_args = tuple(portable_hint(a) for a in args)
        if new_args != args:
            try:
                return hint.copy_with(new_args)
            except AttributeError:
                try:
                    return origin[new_args]
                except TypeError:
                    return hint
    return hint


def _annotated_description(hint: Any) -> tuple[Any, str | None]:
    if get_origin(hint) is Annotated:
        args = get_args(hint)
        for meta in args[1:]:
            if isinstance(meta, str):
                return hint, meta
            desc = getattr(meta, "description", None)
            if isinstance(desc, str):
                return hint, desc
    return hint, None


def build_api_spec(
    fn: Callable[..., Any],
    *,
    owner: str,
    name: str | None = None,
    skip_self: bool = True,
    timeout: float | None = None,
) -> ApiSpec:
    """Describe ``fn`` for a model and build its argument validator. Never raises on bad docs."""
    api_name = name or fn.__name__
    where = f"{owner}.{api_name}" if owner and owner != api_name else api_name
    doc = _parse_doc(fn)
    if doc is None:
        warn_once(f"{where} has no docstring: the model sees no description of it")
    doc_params = {p.arg_name: p for p in (doc.params if doc else [])}
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolved forward refs: fall back to raw annotations
        warn_once(f"{where}: type hints could not be resolved ({exc}); using strings")
        hints = {}
    sig = inspect.signature(fn)
    fields: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    order: list[tuple[str, str, bool]] = []
    params = list(sig.parameters.values())
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    context_param: str | None = None
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        hint = hints.get(p.name, inspect.Signature.empty)
        if _is_context(hint) or _names_context(p.annotation):
            context_param = p.name
            continue
        dp = doc_params.get(p.name)
        if hint is inspect.Signature.empty:
            doc_type = (dp.type_name or "").split(",")[0].strip().lower() if dp else ""
            hint = _DOC_TYPES.get(doc_type, str)
            if not doc_type:
                warn_once(f"{where}: parameter '{p.name}' has no type hint; described as string")
        hint, ann_desc = _annotated_description(hint)
        hint = portable_hint(hint)
        desc = ann_desc or ((dp.description or "").strip() if dp else "")
        if not desc:
            warn_once(f"{where}: parameter '{p.name}' is not described in the docstring's Args")
        required = p.default is inspect.Parameter.empty
        default = ... if required else p.default
        internal = p.name
        if internal.startswith(("_", "model_")) or hasattr(BaseModel, internal):
            internal = f"arg_{len(fields)}_"
            renamed[internal] = p.name
        fields[internal] = (hint, Field(default, alias=p.name if internal != p.name else None))
        descriptions[p.name] = desc
        order.append((p.name, internal, required))
    model_name = f"{owner}_{api_name}_args".replace(".", "_").lstrip("_") or "args"
    try:
        model = create_model(model_name, __config__=_MODEL_CONFIG, **fields)
        raw = model.model_json_schema()
    except Exception:
        # Degrade only the parameters whose types pydantic cannot describe.
        for name_, internal, _req in order:
            hint, fld = fields[internal]
            try:
                create_model("_probe", __config__=_MODEL_CONFIG, v=(hint, ...)).model_json_schema()
            except Exception as exc:
                warn_once(
                    f"{where}: the type of '{name_}' cannot be described ({str(exc).splitlines()[0]}); accepting any value"
                )
                fields[internal] = (Any, fld)
        model = create_model(model_name, __config__=_MODEL_CONFIG, **fields)
        raw = model.model_json_schema()
    defs = raw.get("$defs", {})
    props = raw.get("properties", {})
    specs: list[ParamSpec] = []
    out_props: dict[str, Any] = {}
    for pname, _internal, required in order:
        ps = clean_schema(props.get(pname, {}), defs)
        if descriptions[pname]:
            ps = {"description": descriptions[pname], **ps} if "description" not in ps else ps
        out_props[pname] = ps
        specs.append(ParamSpec(pname, ps, descriptions[pname], required))
    parameters: dict[str, Any] = {"type": "object", "properties": out_props}
    parameters["required"] = [p.name for p in specs if p.required]
    return ApiSpec(
        name=api_name,
        description=doc_description(doc),
        params=specs,
        parameters=parameters,
        returns=_returns(doc, hints.get("return", sig.return_annotation), where),
        args_model=model,
        return_items=return_items(doc),
        is_async=inspect.iscoroutinefunction(fn),
        timeout=timeout,
        renamed=renamed,
        may_run_inline=context_param is None,
        context_param=context_param,
    )


def _names_context(annotation: Any) -> bool:
    """A string annotation naming ToolContext (hints that could not be resolved)."""
    return isinstance(annotation, str) and annotation.replace(" ", "").split(".")[-1] in (
        "ToolContext",
        "ToolContext|None",
        "Optional[ToolContext]",
    )


def _is_context(hint: Any) -> bool:
    """Is this parameter's type :class:`ToolContext` (or ``ToolContext | None``)?"""
    from .context import ToolContext

    if hint is ToolContext or (isinstance(hint, type) and issubclass(hint, ToolContext)):
        return True
    args = typing.get_args(hint)
    return bool(args) and any(a is ToolContext for a in args) and all(a in (ToolContext, type(None)) for a in args)


def lagent_api_dict(spec: ApiSpec, name: str, description: str | None = None) -> dict[str, Any]:
    """The Lagent-style description of one API (seed appendix 1), optional parameters included."""
    params = []
    for p in spec.params:
        entry: dict[str, Any] = {"name": p.name, "type": lagent_type(p.schema), "description": p.description}
        if "enum" in p.schema:
            entry["enum"] = p.schema["enum"]
        if not p.required and "default" in p.schema:
            entry["default"] = p.schema["default"]
        params.append(entry)
    d: dict[str, Any] = {
        "name": name,
        "description": spec.description if description is None else description,
        "parameters": params,
        "required": spec.required,
    }
    if spec.return_items:
        d["return_data"] = [{"name": r.name, "description": r.description, "type": r.type} for r in spec.return_items]
    elif spec.returns is not None:
        d["return_data"] = [
            {"name": spec.returns.name, "description": spec.returns.description, "type": spec.returns.type}
        ]
    d["parameter_description"] = PARAMETER_DESCRIPTION
    return d
