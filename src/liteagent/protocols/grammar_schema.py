"""Any tool's JSON Schema as one llama.cpp's schema converter turns into a grammar that loads.

The converter (``llama_cpp.llama_grammar.SchemaConverter``) asserts on what it does not know
(``"type": "any"``, BFCL's ``dict``/``float``/``tuple`` and Java names, a property without a type),
reads only the first of a list of types, ignores keywords next to ``anyOf``, and writes a string's
``maxLength`` as nested brackets that llama.cpp's parser refuses past ~1 000 (measured: 400 loads,
4 000 does not). Here every schema is first rewritten into the part of JSON Schema it handles:
a superset of what the schema allows where a keyword cannot be kept (``not``, ``uniqueItems``,
a pattern llama.cpp cannot read), never a subset, except that strings are bounded.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from llama_cpp.llama_grammar import PRIMITIVE_RULES, RESERVED_NAMES, STRING_FORMAT_RULES, SchemaConverter

#: the largest repetition bound llama.cpp's grammar parser keeps (a larger one reads as unbounded)
MAX_REPEAT = 2000
# A string argument without its own maxLength gets this one: unbounded, a small model can loop
# inside a string (one query grew to ~1 000 tokens of "arXiv:arXiv:…" and was cut off).
DEFAULT_MAX_STRING = 400
#: nesting of refs (a recursive schema) and of "any value" written out before it stops
MAX_DEPTH = 6
#: the rule a value of any type is (a string bounded as every other, any nesting)
ANY = "liteagent-any"
_ANY_REF = {"$ref": f"#/$defs/{ANY}"}

# JSON Schema type names, BFCL's Python and Java ones (``dict``, ``float``, ``tuple``, ``HashMap``...)
_TYPES = {
    **{t: t for t in ("string", "integer", "number", "boolean", "array", "object", "null")},
    "str": "string",
    "char": "string",
    "String": "string",
    "int": "integer",
    "long": "integer",
    "short": "integer",
    "byte": "integer",
    "Bigint": "integer",
    "float": "number",
    "double": "number",
    "bool": "boolean",
    "Boolean": "boolean",
    "list": "array",
    "tuple": "array",
    "set": "array",
    "Array": "array",
    "ArrayList": "array",
    "Queue": "array",
    "Stack": "array",
    "dict": "object",
    "HashMap": "object",
    "Hashtable": "object",
    "None": "null",
}
_STRING_KEYS = {"maxLength", "minLength", "pattern", "format"}
_OBJECT_KEYS = {"properties", "additionalProperties", "patternProperties", "required"}
_ARRAY_KEYS = {"items", "prefixItems", "minItems", "maxItems"}


def any_value_schema() -> dict[str, Any]:
    """What ``{}``, ``true``, ``"type": "any"`` and unknown types allow: every JSON value."""
    return {
        "anyOf": [
            {"type": "string", "maxLength": DEFAULT_MAX_STRING},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": dict(_ANY_REF)},
            {"type": "object", "additionalProperties": dict(_ANY_REF)},
        ]
    }


class Normalizer:
    """Rewrites one tool's parameter schema; ``notes`` says what could not be kept."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def arguments(self) -> dict[str, Any]:
        """The schema of the arguments object (a call's arguments are always an object)."""
        out = self.visit(self.root, 0)
        if out.get("type") != "object":
            if out != _ANY_REF:
                self.note("the parameters' schema is not an object: any arguments object is allowed")
            out = {"type": "object", "additionalProperties": dict(_ANY_REF)}
        out["$defs"] = {ANY: any_value_schema()}
        return out

    def visit(self, node: Any, depth: int) -> dict[str, Any]:
        if node is True or node is None or (isinstance(node, dict) and not node):
            return dict(_ANY_REF)
        if not isinstance(node, dict):
            return dict(_ANY_REF)  # false or junk: nothing sensible to constrain to
        if depth > MAX_DEPTH:
            self.note(f"nested deeper than {MAX_DEPTH}: any value allowed below")
            return dict(_ANY_REF)
        s = dict(node)
        ref = s.pop("$ref", None)
        if isinstance(ref, str):
            target = self._resolve(ref)
            if target is None:
                self.note(f"$ref {ref!r} cannot be resolved: any value allowed there")
                return dict(_ANY_REF)
            s = {**target, **s}  # keywords beside a $ref apply too
            return self.visit(s, depth + 1)
        if s.pop("nullable", False) is True:
            return self._union([s, {"type": "null"}], {}, depth)
        if "allOf" in s:
            s = self._merge_all(s)
        for key in ("anyOf", "oneOf"):
            branches = s.pop(key, None)
            if isinstance(branches, list) and branches:
                s.pop("anyOf", None)
                s.pop("oneOf", None)
                return self._union(branches, s, depth)
        if "not" in s:
            s.pop("not")
            self.note("'not' is not enforced")
        if "const" in s:
            return {"const": s["const"]}
        enum = s.pop("enum", None)
        if isinstance(enum, list) and enum:
            return {"enum": enum}
        t = s.get("type")
        if isinstance(t, list):
            kinds = [_TYPES.get(x, "") if isinstance(x, str) else "" for x in t]
            if not kinds or "" in kinds:  # "any" among them, or a name nobody knows
                return dict(_ANY_REF)
            if len(set(kinds)) > 1:
                return self._union([{**s, "type": k} for k in dict.fromkeys(kinds)], {}, depth)
            t = kinds[0]
        elif isinstance(t, str):
            t = _TYPES.get(t)
            if t is None:  # "any", "Any", a class name: BFCL's checker takes any value there
                return dict(_ANY_REF)
        else:
            t = self._implied_type(s)
            if t is None:
                return dict(_ANY_REF)
        return self._typed(t, s, depth)

    def _implied_type(self, s: dict[str, Any]) -> str | None:
        if _OBJECT_KEYS & set(s):
            return "object"
        if _ARRAY_KEYS & set(s):
            return "array"
        if _STRING_KEYS & set(s):
            return "string"
        return None

    def _typed(self, t: str, s: dict[str, Any], depth: int) -> dict[str, Any]:
        if t == "object":
            return self._object(s, depth)
        if t == "array":
            return self._array(s, depth)
        if t == "string":
            return self._string(s)
        if t in ("integer", "number"):
            return self._numeric(t, s)
        return {"type": t}

    def _numeric(self, t: str, s: dict[str, Any]) -> dict[str, Any]:
        """Bounds the grammar can write out: a range of whole numbers, small, not negative (an
        age, a score, a confidence from 0 to 1), as ``x-range`` for the converter; other bounds
        are noted and left to validation."""
        keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        if not any(k in s for k in keys):
            return {"type": t}
        lo: Any = s.get("minimum")
        hi: Any = s.get("maximum")
        ex_lo: Any = s.get("exclusiveMinimum")
        ex_hi: Any = s.get("exclusiveMaximum")
        if t == "integer":  # exclusive bounds on whole numbers are inclusive ones moved by one
            if _whole(ex_lo) and lo is None:
                lo, ex_lo = ex_lo + 1, None
            if _whole(ex_hi) and hi is None:
                hi, ex_hi = ex_hi - 1, None
        if (
            _whole(lo)
            and _whole(hi)
            and 0 <= lo <= hi
            and hi - lo <= MAX_RANGE
            and ex_lo is None
            and ex_hi is None
            and "multipleOf" not in s
        ):
            return {"type": t, "x-range": [int(lo), int(hi)]}
        self.note(f"{t} bounds are not enforced")
        return {"type": t}

    def _object(self, s: dict[str, Any], depth: int) -> dict[str, Any]:
        props = s.get("properties")
        props = props if isinstance(props, dict) else {}
        out_props = {str(k): self.visit(v, depth + 1) for k, v in props.items() if v is not False}
        required = s.get("required")
        required = [r for r in required if isinstance(r, str) and r in out_props] if isinstance(required, list) else []
        # declared properties (even none: a tool without arguments) and nothing said of others: no
        # others; no properties declared at all (``{"type": "dict"}``): any object
        extra = s.get("additionalProperties", "properties" not in s and "patternProperties" not in s)
        patterned = s.get("patternProperties")
        if isinstance(patterned, dict) and patterned:
            self.note("patternProperties read as additionalProperties")
            extra = {"anyOf": list(patterned.values()) + ([extra] if isinstance(extra, dict) else [])}
        out: dict[str, Any] = {"type": "object", "properties": out_props, "required": required}
        if extra is False:
            out["additionalProperties"] = False  # JSON Schema allows extras; a call with them fails
        else:
            out["additionalProperties"] = self.visit(extra, depth + 1)
        return out

    def _array(self, s: dict[str, Any], depth: int) -> dict[str, Any]:
        items = s.get("items", True)
        prefix = s.get("prefixItems")
        if isinstance(items, list):  # draft-4 tuples
            prefix, items = items, s.get("additionalItems", True)
        if "uniqueItems" in s:
            self.note("uniqueItems is not enforced")
        if isinstance(prefix, list) and prefix and items is False:
            return {"type": "array", "prefixItems": [self.visit(p, depth + 1) for p in prefix]}
        if isinstance(prefix, list) and prefix:
            self.note("prefixItems followed by more items: each item may be any of them")
            items = {"anyOf": [*prefix, items]}
        out: dict[str, Any] = {"type": "array", "items": self.visit(items, depth + 1)}
        lo, hi = s.get("minItems"), s.get("maxItems")
        if isinstance(lo, int) and lo > 0:
            out["minItems"] = lo
        if isinstance(hi, int) and hi >= max(lo if isinstance(lo, int) else 0, 0):
            out["maxItems"] = hi
        return out

    def _string(self, s: dict[str, Any]) -> dict[str, Any]:
        fmt = s.get("format")
        if isinstance(fmt, str) and (fmt.startswith("uuid") or f"{fmt}-string" in STRING_FORMAT_RULES):
            return {"type": "string", "format": fmt}
        pattern = s.get("pattern")
        if isinstance(pattern, str) and pattern:
            if pattern_loads(pattern):
                return {"type": "string", "pattern": pattern}
            self.note(f"pattern {pattern[:40]!r} is not enforced")
        lo, hi = s.get("minLength"), s.get("maxLength")
        lo = lo if isinstance(lo, int) and lo >= 0 else 0
        hi = hi if isinstance(hi, int) and hi >= 0 else lo + DEFAULT_MAX_STRING
        return {"type": "string", "minLength": min(lo, hi), "maxLength": hi}

    def _union(self, branches: list[Any], siblings: dict[str, Any], depth: int) -> dict[str, Any]:
        out = []
        for b in branches:
            merged = {**siblings, **b} if isinstance(b, dict) else b
            v = self.visit(merged, depth + 1)
            if v == _ANY_REF:
                return v
            if v not in out:
                out.append(v)
        return out[0] if len(out) == 1 else {"anyOf": out}

    def _merge_all(self, s: dict[str, Any]) -> dict[str, Any]:
        """allOf as one schema: properties and required joined, other keywords the last one's."""
        parts = s.pop("allOf")
        out: dict[str, Any] = {}
        props: dict[str, Any] = {}
        required: list[str] = []
        for part in [*(parts if isinstance(parts, list) else []), s]:
            if isinstance(part, dict) and isinstance(part.get("$ref"), str):
                part = {**(self._resolve(part["$ref"]) or {}), **{k: v for k, v in part.items() if k != "$ref"}}
            if not isinstance(part, dict):
                continue
            if "allOf" in part:
                part = self._merge_all(dict(part))
            props.update(part.get("properties") or {})
            required += [r for r in part.get("required") or [] if r not in required]
            out.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        if props:
            out["properties"] = props
        if required:
            out["required"] = required
        return out

    def _resolve(self, ref: str) -> dict[str, Any] | None:
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node if isinstance(node, dict) else ({} if node is True else None)


def repeat(item: str, lo: int, hi: int) -> str:
    """``item`` ``lo`` to ``hi`` times, as llama.cpp reads it: a bound above MAX_REPEAT is written
    as whole blocks of MAX_REPEAT and a rest (never two ways to read the same text)."""
    if hi <= MAX_REPEAT:
        return f"{item}{{{lo},{hi}}}"
    block = f"{item}{{{MAX_REPEAT}}}"
    if lo >= MAX_REPEAT:
        return f"{block} {repeat(item, lo - MAX_REPEAT, hi - MAX_REPEAT)}"
    return f"( {block} {repeat(item, 0, hi - MAX_REPEAT)} | {item}{{{lo},{MAX_REPEAT - 1}}} )"


def _whole(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer()


#: the widest range of whole numbers a grammar writes out as alternatives
MAX_RANGE = 256


def range_rule(t: str, lo: int, hi: int) -> str:
    """A number from ``lo`` to ``hi`` (whole numbers; a ``number`` may have up to 6 decimals
    below ``hi``, and ``hi`` itself only zeros after the point)."""
    if t == "integer":
        return "( " + " | ".join(f'"{n}"' for n in range(lo, hi + 1)) + " )"
    below = " | ".join(f'"{n}"' for n in range(lo, hi))
    top = f'"{hi}" ( "." "0"{{1,6}} )?'
    return f'( ( {below} ) ( "." [0-9]{{1,6}} )? | {top} )' if below else f"( {top} )"


_LITERAL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n", "\t": "\\t"}
_LITERAL_SPECIAL = re.compile(r'[\\"\r\n\t]')


class Converter(SchemaConverter):
    """llama.cpp's converter, writing bounded repetitions as ``x{m,n}`` (which its grammar parser
    reads up to ``MAX_REPEAT``) instead of nested brackets, and escaping a backslash in a literal (its own
    does not: an enum value or a property name holding ``"`` or ``\\`` made a grammar that does
    not load)."""

    def _format_literal(self, literal: str) -> str:
        return '"' + _LITERAL_SPECIAL.sub(lambda m: _LITERAL_ESCAPES[m.group(0)], literal) + '"'

    def visit(self, schema: dict[str, Any], name: str) -> str:
        rule_name = name + "-" if name in RESERVED_NAMES else name or "root"
        if "x-range" in schema:
            lo, hi = schema["x-range"]
            return self._add_rule(rule_name, f"{range_rule(schema['type'], lo, hi)} space")  # type: ignore[no-any-return]
        if schema.get("type") == "string" and set(schema) <= {"type", "minLength", "maxLength"}:
            char = self._add_primitive("char", PRIMITIVE_RULES["char"])
            lo, hi = schema.get("minLength", 0), schema.get("maxLength", DEFAULT_MAX_STRING)
            return self._add_rule(rule_name, f'"\\"" {repeat(char, lo, hi)} "\\"" space')  # type: ignore[no-any-return]
        if schema.get("type") == "array" and isinstance(schema.get("items"), dict) and "maxItems" in schema:
            item = self.visit(schema["items"], f"{name}{'-' if name else ''}item")
            lo, hi = schema.get("minItems", 0), schema["maxItems"]
            more = f'( "," space {item} ){{{max(lo - 1, 0)},{hi - 1}}}' if hi > 1 else ""
            body = f"{item} {more}".strip()
            rule = f'"[" space {body} "]" space' if lo > 0 else f'"[" space ( {body} )? "]" space'
            if hi == 0:
                rule = '"[" space "]" space'
            return self._add_rule(rule_name, rule)  # type: ignore[no-any-return]
        return super().visit(schema, name)  # type: ignore[no-any-return]


def gbnf_loads(grammar: str) -> bool:
    """Does llama.cpp's own grammar parser accept this grammar (rule ``root``)? No model needed."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(None, grammar.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


_PATTERNS: dict[str, bool] = {}


def pattern_loads(pattern: str) -> bool:
    """Can the converter write this regex as a grammar llama.cpp reads? (cached per pattern)"""
    ok = _PATTERNS.get(pattern)
    if ok is None:
        if len(_PATTERNS) > 1024:
            _PATTERNS.clear()
        try:
            conv = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
            conv.visit({"type": "string", "pattern": pattern}, "")  # "" is the root rule ("root" is reserved)
            ok = len(pattern) <= 500 and gbnf_loads(conv.format_grammar())
        except Exception:  # the converter asserts and raises on regex syntax it does not know
            ok = False
        _PATTERNS[pattern] = ok
    return ok


def argument_rules(schema: Any, rule: str) -> tuple[dict[str, str], list[str]]:
    """The GBNF rules (name -> body) for one tool's arguments, ``rule`` the arguments object's,
    and notes on what was loosened. A schema that still cannot be converted, or whose rules
    llama.cpp does not load, gets "any arguments object" and a note: the model can still call."""
    norm = Normalizer(copy.deepcopy(schema))
    try:
        args = norm.arguments()
        conv = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        conv.visit(conv.resolve_refs(args, rule), rule)
        rules = dict(conv._rules)
        if gbnf_loads(format_rules({"root": rule, **rules})):
            return rules, norm.notes
        why = "llama.cpp does not load its grammar"
    except Exception as exc:  # a converter gap: fall back below
        why = f"{type(exc).__name__}: {exc}"[:200]
    conv = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    loose = {"type": "object", "additionalProperties": dict(_ANY_REF), "$defs": {ANY: any_value_schema()}}
    conv.visit(conv.resolve_refs(loose, rule), rule)
    return dict(conv._rules), [*norm.notes, f"schema not converted ({why}): any arguments object"]


def format_rules(rules: dict[str, str]) -> str:
    return "\n".join(f"{name} ::= {body}" for name, body in rules.items())


VALUE = "answer-value"  # the value's rule (``value`` is one llama.cpp's converter reserves)


def value_grammar(schema: Any) -> tuple[str, list[str]]:
    """A grammar whose root is one JSON value that fits ``schema`` (a typed answer decoded with
    no tools offered), and notes on what it does not enforce. A schema that cannot be converted
    gives any JSON value and a note."""
    norm = Normalizer(copy.deepcopy(schema))
    try:
        node = norm.visit(norm.root, 0)
        if node == _ANY_REF:
            node = any_value_schema()
        if ANY in repr(node):  # "any value" somewhere inside: its rule
            node = {**node, "$defs": {ANY: any_value_schema()}}
        conv = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        name = conv.visit(conv.resolve_refs(node, VALUE), VALUE)  # a primitive root is named for its type
        grammar = format_rules({"root": name, **conv._rules})
        if gbnf_loads(grammar):
            return grammar, norm.notes
        why = "llama.cpp does not load its grammar"
    except Exception as exc:  # a converter gap: any value below
        why = f"{type(exc).__name__}: {exc}"[:200]
    conv = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    name = conv.visit(conv.resolve_refs({**any_value_schema(), "$defs": {ANY: any_value_schema()}}, VALUE), VALUE)
    return format_rules({"root": name, **conv._rules}), [*norm.notes, f"schema not converted ({why}): any JSON value"]
