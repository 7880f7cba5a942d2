"""How BFCL reads a Java or JavaScript argument: the model sends every value as source text (``"42L"``,
``"new ArrayList<>(Arrays.asList(1, 2))"``, ``"{a: 1}"``) and the checker turns it into a Python value
of the parameter's declared type before comparing it with the answer. Text that does not parse stays
a string (and so fails the type check); that fallback, and the regular expressions below, are BFCL's
(bfcl-eval 2026.3.23, ``type_convertor/``): a value is right exactly when it is right there."""

from __future__ import annotations

import re
from typing import Any

# Declared type -> the Python type the converted value must have (BFCL's ``*_TYPE_CONVERSION``).
JAVA_TYPES: dict[str, type] = {
    "byte": int,
    "short": int,
    "integer": int,
    "float": float,
    "double": float,
    "long": int,
    "boolean": bool,
    "char": str,
    "Array": list,
    "ArrayList": list,
    "Set": set,
    "HashMap": dict,
    "Hashtable": dict,
    "Queue": list,
    "Stack": list,
    "String": str,
    "any": str,
}
JS_TYPES: dict[str, type] = {
    "String": str,
    "integer": int,
    "float": float,
    "Bigint": int,
    "Boolean": bool,
    "dict": dict,
    "array": list,
    "any": str,
}
#: declared types whose item type is read from the schema's ``items``
COLLECTIONS = ("Array", "ArrayList", "array")

_INT = re.compile(r"^-?\d+$")
_JAVA_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$")
_JAVA_DOUBLE = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_JAVA_LONG = re.compile(r"^-?\d+[lL]$")
_JS_FLOAT = re.compile(r"^-?\d+(\.\d+)?$")
_JS_BIGINT = re.compile(r"^-?\d+n$")


class Unsupported(Exception):
    """A declared type BFCL cannot convert (its checker raises: the case has no verdict)."""


# -- Java ------------------------------------------------------------------------------------------
def java_value(text: str, declared: str, item_type: str | None = None) -> Any:
    """``text`` (Java source) as the Python value of ``declared``; the text itself when it does not parse."""
    if declared in ("byte", "short", "integer"):
        return int(text) if _INT.match(text) else text
    if declared == "float":
        return float(re.sub(r"[fF]$", "", text)) if _JAVA_FLOAT.match(text) else text
    if declared == "double":
        return float(text) if _JAVA_DOUBLE.match(text) else text
    if declared == "long":
        return int(re.sub(r"[lL]$", "", text)) if _JAVA_LONG.match(text) else text
    if declared == "boolean":
        return text == "true" if text in ("true", "false") else text
    if declared in ("char", "String", "any"):
        # BFCL's char pattern can never match, so a char stays the text as sent
        return text
    if declared == "ArrayList":
        return _java_arraylist(text, item_type)
    if declared == "Array":
        return _java_array(text, item_type)
    if declared == "HashMap":
        return _java_hashmap(text)
    raise Unsupported(f"Java type {declared!r}")


def _java_item(text: str, item_type: str | None) -> Any:
    return java_value(text, item_type) if item_type else java_literal(text)


def _java_arraylist(text: str, item_type: str | None) -> Any:
    as_list = re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", text)
    if as_list:
        parts = [p.strip() for p in as_list.group(1).split(",")]
    else:
        adds = re.search(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", text, re.DOTALL)
        if not adds:
            return [] if re.search(r"new\s+ArrayList<\w*>\(\)", text) else text
        parts = [p.strip() for p in re.findall(r"add\((.+?)\)", adds.group(1))]
    # a char or String item loses its first and last character (its quotes) whatever they are
    return [p[1:-1] if item_type in ("char", "String") else _java_item(p, item_type) for p in parts]


def _java_array(text: str, item_type: str | None) -> Any:
    m = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", text)
    if not m:
        return text
    # unlike ArrayList, a String item keeps its quotes here
    return [_java_item(p.strip(), item_type) for p in m.group(1).split(",") if p.strip()]


def _java_hashmap(text: str) -> Any:
    m = re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", text, re.DOTALL)
    if m:
        puts = m.group(1)
        if not puts.strip():
            return {}
        return {k: java_literal(v.strip()) for k, v in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", puts)}
    return {} if re.search(r"new\s+HashMap<.*?>\s*\(\)", text) else text


def java_literal(text: str) -> Any:
    """A Java literal whose type is not declared: boolean, string, long, float, int or double."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if _JAVA_LONG.match(text):
        return int(text[:-1])
    if _JAVA_FLOAT.match(text):
        return float(re.sub(r"[fF]$", "", text))
    return _number_or_text(text)


def _number_or_text(text: str) -> Any:
    # Python's own int()/float() (which also take "1_000", " 5", "nan"), as BFCL's converter uses them
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# -- JavaScript ------------------------------------------------------------------------------------
def js_value(text: str, declared: str, item_type: str | None = None) -> Any:
    """``text`` (JavaScript source) as the Python value of ``declared``; the text when it does not parse."""
    if declared == "String":
        quoted = len(text) >= 1 and text[0] == text[-1] and text[0] in "\"'"
        return text[1:-1] if quoted else text
    if declared == "integer":
        return int(text) if _INT.match(text) else text
    if declared == "float":
        return float(text) if _JS_FLOAT.match(text) else text
    if declared == "Bigint":
        return int(text[:-1]) if _JS_BIGINT.match(text) else text
    if declared == "Boolean":
        return text == "true" if text in ("true", "false") else text
    if declared == "dict":
        return _js_object(text.strip())
    if declared == "array":
        return _js_array(text.strip(), item_type)
    if declared == "any":
        return text
    raise Unsupported(f"JavaScript type {declared!r}")


_JS_2D = re.compile(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)")
_JS_1D = re.compile(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)")


def _js_array(code: str, item_type: str | None) -> Any:
    try:
        nested = _JS_2D.match(code)
        if nested:
            rows = []
            for i, row in enumerate(re.findall(r"\[(.*?)\]", nested.group(0))):
                row = row.strip()
                if i == 0 and row.startswith("["):
                    row = row[1:]
                rows.append([js_literal(e.strip()) for e in row.split(",")])
            return rows
        flat = _JS_1D.match(code)
        if not flat:
            return code
        inner = flat.group(1) if flat.group(1) is not None else flat.group(2)
        parts = inner.strip().split(",") if inner is not None and inner.strip() else []
        if not item_type:
            return [js_literal(p.strip()) for p in parts]
        # BFCL passes "String" as the item's own item type when it is quoted (matters for arrays of arrays)
        return [js_value(p.strip(), item_type, "String" if p.strip()[:1] in ("'", '"') else None) for p in parts]
    except Exception:  # BFCL keeps the text when an item cannot be converted
        return code


def _js_object(code: str) -> Any:
    if code == "{}":
        return {}
    m = re.match(r"\{(.*?)\}", code)
    if not m:
        return code
    try:
        out: dict[str, Any] = {}
        for key, value in re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", m.group(1)):
            key, value = key.strip().strip("'\""), value.strip()
            if value.startswith("[") and value.endswith("]"):
                out[key] = _js_array(value, None)
            elif value.startswith("{") and value.endswith("}"):
                out[key] = _js_object(value)
            else:
                out[key] = js_literal(value.strip("'\""))
        return out
    except Exception:
        return code


def js_literal(text: str) -> Any:
    """A JavaScript literal whose type is not declared: boolean, quoted string, int or float."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 1 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return _number_or_text(text)
