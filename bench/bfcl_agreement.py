"""Does liteagent's BFCL checker give the official verdict? Probes are replies to BFCL's own cases:
the oracle's (the ground truth turned into calls) and one-rule mutations of it (a float for an int,
1/0 for a bool, ``""`` for an optional parameter, a parameter dropped or added, a dict answer sent with
lists, case, punctuation and quote changes, a wrong name, calls reordered, dropped or duplicated,
another case's calls, Java/JavaScript values written otherwise, ...). The official checker
(``bfcl-eval``'s ``ast_checker``; irrelevance and relevance by its "no call" rule) gives each probe
its verdict; liteagent's ``evals.bfcl_checker.check`` must give the same.

Three uses:
  python bench/bfcl_agreement.py
      compare liteagent with the verdicts in tests/fixtures/bfcl_verdicts.jsonl.gz (no BFCL needed)
  python bench/bfcl_agreement.py --official /tmp/bfcl-venv/bin/python [--write]
      record fresh verdicts with the official package installed in that interpreter's environment,
      compare, and with --write replace the fixture. `pip install bfcl-eval==2026.3.23` pulls ~500
      packages (torch included); importing the checker needs far fewer (117, no torch):
        python -m venv /tmp/bfcl-venv && /tmp/bfcl-venv/bin/pip install --no-deps bfcl-eval==2026.3.23
        /tmp/bfcl-venv/bin/pip install anthropic openai cohere==5.18.0 mistralai==1.7.0 google-genai
          boto3 qwen-agent writer-sdk datamodel-code-generator soundfile numpy filelock tenacity
          overrides tree_sitter==0.21.3 tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4   (one command)
  /tmp/bfcl-venv/bin/python bench/bfcl_agreement.py --record OUT.jsonl.gz
      the recording step alone (needs only the standard library and bfcl_eval)

Probes are generated deterministically from the data the package ships (every AST category, live
and non-live, Java and JavaScript, and the (ir)relevance ones); the fixture keeps all of them
(``--keep N``: one in N per case, every oracle kept, a deterministic choice), and per case only the
schema parts the checker reads (the recording checks that this changes no official verdict).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "bfcl_verdicts.jsonl.gz"
AST_CATEGORIES = [
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
]  # fmt: skip
RELEVANCE_CATEGORIES = ["irrelevance", "live_irrelevance", "live_relevance"]
MODEL = "gorilla-openfunctions-v2"  # any model BFCL knows whose function names are compared as written
OMIT = object()


# -- probes ----------------------------------------------------------------------------------------
def first(values: list[Any]) -> Any:
    """The value the oracle sends for an allowed list: its first, OMIT when that is ``""``."""
    if not values or values[0] == "":
        return OMIT
    return plain(values[0])


def plain(v: Any) -> Any:
    """An answer value as a model would send it: a dict answer holds allowed lists per key."""
    if isinstance(v, dict):
        return {
            k: x for k, x in ((k, first(vs) if isinstance(vs, list) else vs) for k, vs in v.items()) if x is not OMIT
        }
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        return [plain(x) for x in v]
    return v


def java_literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return str(v)


JAVA_ITEM = {"String": "String", "integer": "int", "long": "long", "char": "char", "any": "Object", "double": "double"}


def java_source(v: Any, declared: str, item: str | None) -> Any:
    if isinstance(v, str):
        return v  # a variable's name, or text: sent as is
    if declared == "boolean" and isinstance(v, bool):
        return java_literal(v)
    if declared == "long" and isinstance(v, int):
        return f"{v}L"
    if declared == "float" and isinstance(v, (int, float)):
        return f"{v}f"
    if declared == "Array" and isinstance(v, list):
        items = [f"{x}L" if item == "long" else java_literal(x) for x in v]
        return f"new {JAVA_ITEM.get(item or '', 'Object')}[]{{{', '.join(items)}}}"
    if declared == "ArrayList" and isinstance(v, list):
        items = [f"{x}L" if item == "long" else java_literal(x) for x in v]
        return f"new ArrayList<>(Arrays.asList({', '.join(items)}))"
    if declared == "HashMap" and isinstance(v, dict):
        puts = " ".join(f"put({json.dumps(k)}, {java_literal(x)});" for k, x in v.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    return java_literal(v)


def js_literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(js_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {js_literal(x)}" for k, x in v.items()) + "}"
    return str(v)


def js_source(v: Any, declared: str, item: str | None) -> Any:
    if isinstance(v, str):
        return v
    if declared == "Bigint" and isinstance(v, int):
        return f"{v}n"
    return js_literal(v)


def encode(v: Any, spec: dict[str, Any], lang: str) -> Any:
    if v is OMIT or lang == "python":
        return v
    item = (spec.get("items") or {}).get("type")
    return (java_source if lang == "java" else js_source)(v, spec.get("type", "any"), item)


def lang_of(category: str) -> str:
    return "javascript" if "javascript" in category else "java" if "java" in category else "python"


def schema_for(case: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((f for f in case["function"] if f["name"] == name), None)


def oracle(case: dict[str, Any], lang: str) -> list[list[Any]]:
    calls = []
    for answer in case["ground_truth"]:
        ((name, allowed),) = answer.items()
        props = ((schema_for(case, name) or {}).get("parameters") or {}).get("properties") or {}
        args = {p: encode(first(vs), props.get(p, {}), lang) for p, vs in allowed.items()}
        calls.append([name, {p: v for p, v in args.items() if v is not OMIT}])
    return calls


def value_mutations(v: Any, spec: dict[str, Any], lang: str) -> list[tuple[str, Any]]:
    """One-rule changes of a value the oracle sends."""
    out: list[tuple[str, Any]] = [("null", None), ("empty_string", "")]
    if isinstance(v, bool):
        out += [("bool_as_int", int(v)), ("bool_as_str", str(v).lower()), ("bool_flipped", not v)]
    elif isinstance(v, int):
        out += [("int_as_float", float(v)), ("int_as_str", str(v)), ("int_changed", v + 1), ("int_as_bool", bool(v))]
    elif isinstance(v, float):
        if v.is_integer():
            out.append(("float_as_int", int(v)))
        out += [("float_as_str", str(v)), ("float_changed", v + 0.5)]
    elif isinstance(v, str):
        out += [
            ("str_upper", v.upper()),
            ("str_title", v.title()),
            ("str_spaced", " ".join(v.split()) + " "),
            ("str_punct_ignored", v.replace(" ", "-") + "."),
            ("str_punct_kept", v + "!"),
            ("str_colon", v.replace(" ", ":")),
            ("str_quote_swap", v.replace("'", "\x00").replace('"', "'").replace("\x00", '"')),
            ("str_quoted", json.dumps(v)),
            ("str_single_quoted", f"'{v}'"),
            ("str_changed", v + "x"),
            ("str_as_list", [v]),
        ]
        number = json.loads(v) if _is_json(v) else None
        if isinstance(number, (int, float)):
            out.append(("str_as_number", number))
        out.append(("str_no_spaces", v.replace(" ", "")))
    elif isinstance(v, list):
        out += [("list_empty", []), ("list_as_str", json.dumps(v)), ("list_doubled", v + v[:1])]
        if len(v) > 1:
            out += [("list_reversed", v[::-1]), ("list_shorter", v[:-1])]
        if len(v) == 1:
            out.append(("list_unwrapped", v[0]))
        if any(isinstance(x, str) for x in v):
            out.append(("list_items_upper", [x.upper() if isinstance(x, str) else x for x in v]))
            out.append(("list_items_punct", [x.replace(" ", "_") if isinstance(x, str) else x for x in v]))
        if any(isinstance(x, int) and not isinstance(x, bool) for x in v):
            out.append(
                (
                    "list_items_int_as_float",
                    [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v],
                )
            )
        if any(isinstance(x, float) and x.is_integer() for x in v):
            out.append(
                ("list_items_float_as_int", [int(x) if isinstance(x, float) and x.is_integer() else x for x in v])
            )
        if any(isinstance(x, list) for x in v):
            out.append(("list_flattened", [y for x in v for y in (x if isinstance(x, list) else [x])]))
        if any(isinstance(x, dict) for x in v):
            out.append(
                ("list_dicts_list_wrapped", [{k: [y] for k, y in x.items()} if isinstance(x, dict) else x for x in v])
            )
            out.append(
                (
                    "list_dicts_upper",
                    [
                        {k: y.upper() if isinstance(y, str) else y for k, y in x.items()} if isinstance(x, dict) else x
                        for x in v
                    ],
                )
            )
        out.append(("list_nested", [v]))
    elif isinstance(v, dict):
        out += [
            ("dict_list_wrapped", {k: [x] for k, x in v.items()}),
            ("dict_empty", {}),
            ("dict_as_str", json.dumps(v)),
        ]
        out.append(("dict_extra_key", {**v, "zz_extra": 1}))
        for k, x in list(v.items())[:4]:
            out.append(("dict_key_dropped", {kk: xx for kk, xx in v.items() if kk != k}))
            if isinstance(x, str):
                out.append(("dict_value_upper", {**v, k: x.upper() + " "}))
                out.append(("dict_value_changed", {**v, k: x + "x"}))
            elif isinstance(x, bool):
                out.append(("dict_value_bool_as_int", {**v, k: int(x)}))
            elif isinstance(x, int):
                out.append(("dict_value_int_as_float", {**v, k: float(x)}))
                out.append(("dict_value_int_as_str", {**v, k: str(x)}))
            elif isinstance(x, float):
                out.append(("dict_value_float_as_str", {**v, k: str(x)}))
    if lang != "python" and isinstance(v, str):
        declared = spec.get("type", "")
        out += [("src_native_python", json.loads(v) if _is_json(v) else [v])]
        if declared == "long" and v.endswith("L"):
            out.append(("src_long_without_L", v[:-1]))
        if declared == "integer" and v.lstrip("-").isdigit():
            out += [("src_int_with_L", v + "L"), ("src_int_as_float", v + ".0")]
        if declared == "float" and v.endswith("f"):
            out.append(("src_float_without_f", v[:-1]))
        if declared in ("boolean", "Boolean"):
            out += [("src_bool_title", v.title()), ("src_bool_as_int", "1" if v == "true" else "0")]
        if declared in ("Array", "ArrayList"):
            out += [
                ("src_items_unquoted", v.replace('"', "")),
                ("src_spaced", v.replace("{", " { ").replace("}", " } ")),
            ]
            if declared == "ArrayList":
                out.append(("src_arraylist_add", v.replace("(Arrays.asList(", "() {{ add(").replace("))", "); }}")))
        if declared == "HashMap":
            out += [
                ("src_map_empty", "new HashMap<>()"),
                ("src_map_single_braces", v.replace("{{", "{").replace("}}", "}")),
            ]
        if declared in ("array", "dict"):
            out += [
                ("src_single_quotes", v.replace('"', "'")),
                ("src_new_array", f"new Array({v[1:-1]})" if v.startswith("[") else v),
            ]
    return out


def _is_json(v: str) -> bool:
    try:
        json.loads(v)
        return True
    except ValueError:
        return False


def typed_value(spec: dict[str, Any]) -> Any:
    return {"integer": 1, "float": 1.5, "boolean": True, "array": ["x"], "tuple": [1], "dict": {"k": "v"}}.get(
        spec.get("type", ""), "x"
    )


def probes(case: dict[str, Any], other: list[list[Any]] | None) -> list[tuple[str, list[list[Any]]]]:
    category = case["category"]
    lang = lang_of(category)
    if category in RELEVANCE_CATEGORIES:
        f = case["function"][0] if case["function"] else {"name": "f", "parameters": {"properties": {}}}
        props = (f.get("parameters") or {}).get("properties") or {}
        args = {p: typed_value(s) for p, s in list(props.items())[:2]}
        return [("no_call", []), ("a_call", [[f["name"], args]]), ("two_calls", [[f["name"], args], [f["name"], {}]])]
    base = oracle(case, lang)
    out: list[tuple[str, list[list[Any]]]] = [("oracle", base)]

    def with_call(i: int, name: str, args: dict[str, Any]) -> list[list[Any]]:
        calls = copy.deepcopy(base)
        calls[i] = [name, args]
        return calls

    for i, (name, args) in enumerate(base):
        ((_, allowed),) = case["ground_truth"][i].items()
        schema = schema_for(case, name) or {}
        props = (schema.get("parameters") or {}).get("properties") or {}
        for p, vs in allowed.items():
            sent = p in args
            for alt in vs[1:4]:
                v = encode(first([alt]), props.get(p, {}), lang)
                if v is OMIT:
                    if sent:
                        out.append(("alt_omitted", with_call(i, name, {k: x for k, x in args.items() if k != p})))
                else:
                    out.append(("alt_value", with_call(i, name, {**args, p: v})))
            if not sent:
                if vs and vs[0] == "" and p in props:
                    out.append(("optional_sent_empty", with_call(i, name, {**args, p: ""})))
                continue
            out.append(("param_dropped", with_call(i, name, {k: x for k, x in args.items() if k != p})))
            for rule, v in value_mutations(args[p], props.get(p, {}), lang):
                out.append((rule, with_call(i, name, {**args, p: v})))
        out.append(("extra_undeclared", with_call(i, name, {**args, "zz_extra": "x"})))
        unanswered = [p for p in props if p not in allowed]
        if unanswered:
            out.append(
                ("extra_declared", with_call(i, name, {**args, unanswered[0]: typed_value(props[unanswered[0]])}))
            )
        out.append(("name_changed", with_call(i, name + "_x", args)))
        if name != name.upper():
            out.append(("name_upper", with_call(i, name.upper(), args)))
        if "." in name:
            out.append(("name_dots_underscored", with_call(i, name.replace(".", "_"), args)))
    out.append(("no_call", []))
    out.append(("call_duplicated", base + base[:1]))
    if len(base) > 1:
        out.append(("calls_reversed", base[::-1]))
        out.append(("call_dropped", base[:-1]))
        a, b = base[0], base[1]
        shared = [p for p in a[1] if p in b[1] and a[1][p] != b[1][p]]
        if a[0] == b[0] and shared:
            p = shared[0]
            out.append(("values_swapped", [[a[0], {**a[1], p: b[1][p]}], [b[0], {**b[1], p: a[1][p]}], *base[2:]]))
    if other is not None:
        out.append(("other_case_calls", other))
    return out


# -- recording with the official package -----------------------------------------------------------
def load(data: Path, category: str) -> list[dict[str, Any]]:
    cases = [
        json.loads(x) for x in (data / f"BFCL_v4_{category}.json").read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    answer = data / "possible_answer" / f"BFCL_v4_{category}.json"
    if answer.exists():
        truths = [json.loads(x) for x in answer.read_text(encoding="utf-8").splitlines() if x.strip()]
        for c, t in zip(cases, truths, strict=True):  # BFCL pairs them by position
            c["ground_truth"] = t["ground_truth"]
    for c in cases:
        c["category"] = category
    return cases


def slim(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema parts the checker reads: the first function (simple categories check against it)
    and those the answers name; per parameter its type and item type; the required list."""
    if case["category"] in RELEVANCE_CATEGORIES:
        return []
    names = {next(iter(a)) for a in case["ground_truth"]}
    keep = [f for i, f in enumerate(case["function"]) if i == 0 or f["name"] in names]
    out = []
    for f in keep:
        params = f["parameters"]
        props = {}
        for p, s in params["properties"].items():
            props[p] = {"type": s["type"]} if "type" in s else {}
            if isinstance(s.get("items"), dict) and "type" in s["items"]:
                props[p]["items"] = {"type": s["items"]["type"]}
        slim_params: dict[str, Any] = {"properties": props}
        if "required" in params:
            slim_params["required"] = params["required"]
        out.append({"name": f["name"], "parameters": slim_params})
    return out


def keep_probe(case_id: str, i: int, rule: str, keep: int) -> bool:
    if rule == "oracle" or keep <= 1:
        return True
    return int(hashlib.sha1(f"{case_id}/{i}".encode()).hexdigest()[:8], 16) % keep == 0


def record(out: Path, keep: int) -> None:
    import bfcl_eval
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.utils import is_empty_output

    data = Path(bfcl_eval.__file__).parent / "data"
    version = _version()
    lines, count = [], Counter()
    for category in AST_CATEGORIES + RELEVANCE_CATEGORIES:
        cases = load(data, category)
        language = {"java": Language.JAVA, "javascript": Language.JAVASCRIPT}.get(lang_of(category), Language.PYTHON)
        previous = None
        for case in cases:
            kept = []
            seen = set()
            for i, (rule, calls) in enumerate(probes(case, previous)):
                key = json.dumps(calls, sort_keys=True)
                if key in seen or not keep_probe(case["id"], i, rule, keep):
                    continue
                seen.add(key)
                output = [{name: args} for name, args in calls]
                if category in RELEVANCE_CATEGORIES:
                    verdict: Any = is_empty_output(output) if "irrelevance" in category else not is_empty_output(output)
                else:
                    verdict = _official(ast_checker, case["function"], output, case["ground_truth"], language, category)
                    slimmed = _official(ast_checker, slim(case), output, case["ground_truth"], language, category)
                    assert slimmed == verdict, (case["id"], rule, "the slim schema changes the verdict")
                kept.append([rule, calls, verdict])
                count[str(verdict)] += 1
            if category not in RELEVANCE_CATEGORIES:
                previous = oracle(case, lang_of(category))
            lines.append({"id": case["id"], "category": category, "functions": slim(case),
                          "ground_truth": case.get("ground_truth"), "probes": kept})  # fmt: skip
    text = json.dumps({"bfcl_eval": version, "model_name": MODEL, "keep": keep}) + "\n"
    text += "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    out.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))  # the same bytes every time
    print(
        f"recorded {sum(count.values())} probes over {len(lines)} cases with bfcl-eval {version}: {dict(count)}",
        file=sys.stderr,
    )


def _official(ast_checker: Any, functions: Any, output: Any, truth: Any, language: Any, category: str) -> Any:
    try:
        return bool(
            ast_checker(copy.deepcopy(functions), copy.deepcopy(output), truth, language, category, MODEL)["valid"]
        )
    except Exception:
        return "error"  # the official checker raises on this reply: no verdict (liteagent must say wrong)


def _version() -> str:
    from importlib.metadata import version

    return version("bfcl-eval")


# -- comparing -------------------------------------------------------------------------------------
def read_fixture(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        head = json.loads(f.readline())
        return head, [json.loads(x) for x in f if x.strip()]


def compare(path: Path, show: int) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from liteagent.evals.bfcl_checker import check

    head, cases = read_fixture(path)
    by_cat: dict[str, Counter[str]] = {}
    by_rule: Counter[str] = Counter()
    wrong = []
    for case in cases:
        tally = by_cat.setdefault(case["category"], Counter())
        for rule, calls, verdict in case["probes"]:
            ours = check(case["category"], case["functions"], case["ground_truth"], [(n, a) for n, a in calls]).ok
            agree = ours is (verdict is True)
            tally["probes"] += 1
            tally["agree"] += agree
            tally["official_right"] += verdict is True
            tally["official_error"] += verdict == "error"
            tally["oracle"] += rule == "oracle"
            tally["oracle_right"] += rule == "oracle" and verdict is True
            if not agree:
                by_rule[rule] += 1
                wrong.append((case["id"], rule, calls, verdict, ours))
        tally["cases"] += 1
    total = Counter[str]()
    print(f"official: bfcl-eval {head['bfcl_eval']} (ast_checker, model_name {head['model_name']})")
    print(f"{'category':24} {'cases':>6} {'probes':>7} {'official right':>14} {'oracle right':>12} {'agreement':>10}")
    for cat, t in by_cat.items():
        total.update(t)
        print(f"{cat:24} {t['cases']:6d} {t['probes']:7d} {t['official_right']:14d} "
              f"{t['oracle_right']:>5d}/{t['oracle']:<6d} {t['agree'] / t['probes']:10.3%}")  # fmt: skip
    print(f"{'all':24} {total['cases']:6d} {total['probes']:7d} {total['official_right']:14d} "
          f"{total['oracle_right']:>5d}/{total['oracle']:<6d} {total['agree'] / total['probes']:10.3%}")  # fmt: skip
    print(f"official checker raised on {total['official_error']} probes (counted as wrong)")
    print(f"disagreements: {len(wrong)}" + (f" by rule: {dict(by_rule.most_common())}" if wrong else ""))
    for case_id, rule, calls, verdict, ours in wrong[:show]:
        print(f"  {case_id} [{rule}] official={verdict} liteagent={ours}: {json.dumps(calls)[:300]}")
    return 0 if not wrong else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", type=Path, help="record verdicts into this file (run with BFCL's interpreter)")
    ap.add_argument("--official", help="a Python interpreter with bfcl-eval installed: record, then compare")
    ap.add_argument("--write", action="store_true", help="with --official: replace the fixture")
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    ap.add_argument("--keep", type=int, default=1, help="keep one in N mutation probes per case (default 1: all)")
    ap.add_argument("--show", type=int, default=30, help="disagreements to list (default 30)")
    ns = ap.parse_args()
    if ns.record:
        record(ns.record, ns.keep)
        return 0
    path = ns.fixture
    if ns.official:
        path = ns.fixture if ns.write else Path(tempfile.mkdtemp(prefix="bfcl-")) / "verdicts.jsonl.gz"
        cmd = [ns.official, str(Path(__file__).resolve()), "--record", str(path), "--keep", str(ns.keep)]
        subprocess.run(cmd, check=True)
    return compare(path, ns.show)


if __name__ == "__main__":
    sys.exit(main())
