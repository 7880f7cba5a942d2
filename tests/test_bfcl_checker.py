"""liteagent's BFCL checker gives the official checker's verdict (issue 26): on every probe recorded
from bfcl-eval 2026.3.23 (tests/fixtures/bfcl_verdicts.jsonl.gz, made by bench/bfcl_agreement.py), on
the rules one by one, and in BFCL's overall and group scores."""

from __future__ import annotations

import gzip
import json

import pytest

from liteagent.errors import UsageError
from liteagent.evals import CATEGORIES, categories, check, group_scores, load_category, to_json_schema

from .conftest import FIXTURES, TESTS

SAMPLE = TESTS / "data" / "bfcl_sample"
VERDICTS = FIXTURES / "bfcl_verdicts.jsonl.gz"


def recorded() -> tuple[dict, list[dict]]:
    with gzip.open(VERDICTS, "rt", encoding="utf-8") as f:
        head = json.loads(f.readline())
        return head, [json.loads(x) for x in f]


def test_every_recorded_official_verdict_is_liteagents():
    head, cases = recorded()
    assert head["bfcl_eval"] == "2026.3.23"
    assert {c["category"] for c in cases} == set(CATEGORIES)  # every single-turn category of the release
    probes = disagree = 0
    shown = []
    for case in cases:
        for rule, calls, official in case["probes"]:
            probes += 1
            ours = check(case["category"], case["functions"], case["ground_truth"], [(n, a) for n, a in calls])
            if ours.ok is not (official is True):  # "error": the official checker raised, so not right
                disagree += 1
                if len(shown) < 10:
                    shown.append(f"{case['id']} [{rule}] official={official} ours={ours}: {json.dumps(calls)[:200]}")
    assert probes > 100_000
    assert disagree == 0, "\n".join(shown)


# -- the rules, one example each (all also among the recorded verdicts) ----------------------------
def fn(props: dict, required: list[str], name: str = "f") -> list[dict]:
    return [{"name": name, "parameters": {"type": "dict", "properties": props, "required": required}}]


LIMITS = fn({"filters": {"type": "dict"}, "n": {"type": "integer"}}, ["filters"])
LIMITS_GT = [{"f": {"filters": [{"limit": [50], "sort": ["asc", ""]}], "n": [3, ""]}}]
SCALARS = fn(
    {"x": {"type": "float"}, "k": {"type": "integer"}, "b": {"type": "boolean"}, "s": {"type": "string"}}, ["x"]
)
SCALARS_GT = [{"f": {"x": [2.0], "k": ["", 4], "b": ["", True], "s": ["", "New York, NY"]}}]


@pytest.mark.parametrize(
    "functions, truth, args, ok, rule",
    [
        (LIMITS, LIMITS_GT, {"filters": {"limit": 50}}, True, "a dict answer: one allowed list per key"),
        (LIMITS, LIMITS_GT, {"filters": {"limit": [50]}}, False, "the answer's list shape is not a value"),
        (LIMITS, LIMITS_GT, {"filters": {"limit": 50, "sort": "ASC"}}, True, "dict strings standardised"),
        (LIMITS, LIMITS_GT, {"filters": {"limit": 50, "page": 1}}, False, "a key the answer lacks"),
        (LIMITS, LIMITS_GT, {"filters": {"limit": 50}, "n": 3.0}, False, "a float for an integer"),
        (LIMITS, LIMITS_GT, {"filters": {"limit": 50}, "n": ""}, False, '"" for an optional integer'),
        (SCALARS, SCALARS_GT, {"x": 2}, True, "an int for a float"),
        (SCALARS, SCALARS_GT, {"x": 2.0, "b": 1}, False, "1 for a boolean"),
        (SCALARS, SCALARS_GT, {"x": 2.0, "s": ""}, True, '"" for an optional string is a standardised match'),
        (SCALARS, SCALARS_GT, {"x": 2.0, "s": "new york ny"}, True, "spaces and ,./-_*^ removed, lower-cased"),
        (SCALARS, SCALARS_GT, {"x": 2.0, "s": "New York; NY"}, False, "other punctuation counts"),
        (SCALARS, SCALARS_GT, {"x": 2.0, "z": 1}, False, "a parameter the schema lacks"),
        (
            SCALARS,
            [{"f": {"x": ["", 2.0]}}],
            {},
            False,
            "required by the schema, though the answer allows leaving it out",
        ),
        (fn({"q": {"type": "string"}}, []), [{"f": {"q": ["it's"]}}], {"q": 'it"s'}, True, "' and \" are one"),
        (
            fn({"n": {"type": "integer"}}, []),
            [{"f": {"n": ["dontcare"]}}],
            {"n": "DontCare"},
            False,
            "a variable answer: exact",
        ),
        (
            fn({"t": {"type": "array", "items": {"type": "string"}}}, []),
            [{"f": {"t": [["A b"]]}}],
            {"t": ["ab"]},
            True,
            "list items standardised",
        ),
        (
            fn({"t": {"type": "array", "items": {"type": "float"}}}, []),
            [{"f": {"t": [[1.0, 2.5]]}}],
            {"t": [1, 2.5]},
            False,
            "no int for a float inside a list",
        ),
    ],
)
def test_rules(functions, truth, args, ok, rule):
    assert check("simple_python", functions, truth, [("f", args)]).ok is ok, rule


def test_a_python_tuple_counts_only_where_a_tuple_is_declared():
    schema = fn(
        {"t": {"type": "tuple", "items": {"type": "float"}}, "a": {"type": "array", "items": {"type": "float"}}}, []
    )
    gt = [{"f": {"t": ["", [1.5, 2.0]], "a": ["", [1.5, 2.0]]}}]
    assert check("simple_python", schema, gt, [("f", {"t": (1.5, 2.0)})]).ok
    assert not check("simple_python", schema, gt, [("f", {"a": (1.5, 2.0)})]).ok


def test_categories_choose_the_checks():
    gt = [{"f": {"city": ["Paris"]}}, {"f": {"city": ["Rome"]}}]
    schema = fn({"city": {"type": "string"}}, ["city"])
    assert check("parallel", schema, gt, [("f", {"city": "rome"}), ("f", {"city": "Paris"})]).ok  # any order
    assert not check("parallel", schema, gt, [("f", {"city": "Rome"}), ("f", {"city": "Rome"})]).ok
    assert not check("parallel", schema, gt, [("f", {"city": "Rome"})]).ok
    # multiple: one call, checked against the answer's function (chosen among several)
    two = fn({"city": {"type": "string"}}, ["city"], "g") + schema
    assert check("live_multiple", two, gt[:1], [("f", {"city": "Paris"})]).ok
    assert not check("live_multiple", two, gt[:1], [("g", {"city": "Paris"})]).ok
    assert not check("simple_python", schema, gt[:1], [("f", {"city": "Paris"})] * 2).ok
    assert check("irrelevance", [], None, []).ok and not check("live_irrelevance", [], None, [("f", {})]).ok
    assert check("live_relevance", [], None, [("f", {})]).ok and not check("live_relevance", [], None, []).ok
    assert not check("simple_python", schema, gt[:1], [("f", {"city": "Paris"})], malformed=1).ok
    assert check("irrelevance", [], None, [], malformed=1).ok  # an unreadable call is no call


def test_java_and_javascript_values_are_source_text():
    java = fn({"id": {"type": "long"}, "on": {"type": "boolean"}, "ids": {"type": "ArrayList", "items": {"type": "String"}}}, ["id"])  # fmt: skip
    gt = [{"f": {"id": [42], "on": ["", True], "ids": ["", ["a", "b"]]}}]
    assert check("simple_java", java, gt, [("f", {"id": "42L", "on": "true"})]).ok
    assert not check("simple_java", java, gt, [("f", {"id": "42"})]).ok  # an int literal is not a long
    assert not check("simple_java", java, gt, [("f", {"id": 42})]).ok  # nor a JSON number
    assert check("simple_java", java, gt, [("f", {"id": "42L", "ids": 'new ArrayList<>(Arrays.asList("a", "b"))'})]).ok
    js = fn({"s": {"type": "String"}, "xs": {"type": "array", "items": {"type": "float"}}, "o": {"type": "dict"}}, [])
    gt = [{"f": {"s": ["hi"], "xs": ["", [60.0, 30.5]], "o": ["", {"k": ["v"], "n": [1]}]}}]
    assert check("simple_javascript", js, gt, [("f", {"s": "'hi'", "xs": "[60, 30.5]", "o": "{k: 'v', n: 1}"})]).ok
    assert not check("simple_javascript", js, gt, [("f", {"s": "hi", "xs": "[60, 31]"})]).ok


def test_group_scores_are_bfcls():
    """The numbers bfcl-eval 2026.3.23's own aggregation gives for these results (computed with its
    eval_runner_helper functions), categories not run counted as BFCL does."""
    sizes = {"simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200,
             "parallel_multiple": 200, "irrelevance": 240, "live_simple": 258, "live_multiple": 1053,
             "live_parallel": 16, "live_parallel_multiple": 24, "live_irrelevance": 884, "live_relevance": 16}  # fmt: skip
    results = {"simple_python": (300, 400), "multiple": (150, 200), "parallel": (10, 20), "parallel_multiple": (5, 20),
               "irrelevance": (200, 240), "live_simple": (100, 258), "live_multiple": (50, 100),
               "live_irrelevance": (800, 884)}  # fmt: skip
    rows = dict(group_scores(results, sizes))
    overall = next(s for label, s in rows.items() if label.startswith("Overall"))
    assert overall.accuracy == pytest.approx(0.16835397765600252)
    assert rows["Non-Live Overall Acc"].accuracy == pytest.approx(0.4375)
    assert rows["Non-Live AST Summary"].display() == "N/A"  # Java and JavaScript were not run
    assert rows["Live Overall Acc"].accuracy == pytest.approx(0.3768844221105528)
    assert rows["Irrelevance Detection"].accuracy == pytest.approx(0.8691553544494721)
    assert rows["Python Simple AST"].display() == "75.00%"


# -- the data ----------------------------------------------------------------------------------------
def test_every_category_loads_and_groups_expand():
    assert categories("all", SAMPLE) == CATEGORIES
    assert categories("live,irrelevance", SAMPLE)[-1] == "irrelevance"
    with pytest.raises(UsageError):
        categories("live", TESTS / "data" / "plugins")
    for cat in CATEGORIES:
        cases = load_category(SAMPLE, cat)
        assert len(cases) == 4 and all(c["category"] == cat for c in cases)
        assert all((c["ground_truth"] is None) == ("relevance" in cat) for c in cases)
    java = load_category(SAMPLE, "simple_java", 2)[1]
    offered = java["tools"][0]["parameters"]["properties"]
    assert {p["type"] for p in offered.values()} == {"string"}  # BFCL offers Java values as source text
    assert "Java boolean type parameter in string representation" in offered["useShortName"]["description"]
    assert java["tools"][0]["description"].endswith("Note that the provided function is in Java 8 SDK syntax.")
    assert java["function"][0]["parameters"]["properties"]["useShortName"]["type"] == "boolean"  # checked as declared


def test_bfcl_schemas_become_json_schema_as_bfcl_offers_them():
    s = to_json_schema(
        {
            "type": "dict",
            "properties": {"x": {"type": "float"}, "t": {"type": "tuple", "items": {"type": "any"}}, "u": {}},
        }
    )
    assert s == {
        "type": "object",
        "properties": {
            "x": {"type": "number"},
            "t": {"type": "array", "items": {"type": "string"}},  # BFCL: any is a string
            "u": {"type": "string"},
        },
    }


def test_eval_gives_the_official_verdict_of_every_sample_case(cli, server, tmp_path):
    """The oracle's reply to each sample case of every category goes through the hermes dialect and
    `liteagent eval`: each category's count of right cases is the official checker's."""
    _, cases = recorded()
    oracle = {c["id"]: next((p for p in c["probes"] if p[0] == "oracle"), None) for c in cases}
    replies, expected = {}, {}
    for cat in CATEGORIES:
        for case in load_category(SAMPLE, cat):
            key = json.dumps(case["question"][0])
            assert key not in replies
            if "relevance" in cat:
                calls, official = ([(case["function"][0]["name"], {})], True) if cat == "live_relevance" else ([], True)
            else:
                _, calls, official = oracle[case["id"]]
            replies[key] = "".join(f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>" for n, a in calls) or "No call."  # fmt: skip
            expected[cat] = expected.get(cat, 0) + (official is True)

    def reply(body):
        turn = [m for m in body["messages"] if m["role"] != "system"]
        for key, text in replies.items():
            if [m["content"] for m in json.loads(key) if m["role"] != "system"] == [m["content"] for m in turn]:
                return text
        return "No call."

    server.default_reply = reply
    r = cli("eval", "--data", str(SAMPLE), "--categories", "all", "--concurrency", "2", "--base-url", server.url,
            "--model", "scripted-model", "--protocol", "hermes", "--json", timeout=180)  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)["dialects"]["hermes"]
    assert {c: v["correct"] for c, v in out["categories"].items()} == expected
    overall = next(v for k, v in out["bfcl"].items() if k.startswith("Overall"))
    assert 0 < overall["accuracy"] <= 0.3 and out["bfcl"]["Live AST Summary"]["complete"]
    text = cli("eval", "--data", str(SAMPLE), "--categories", "live_relevance", "--base-url", server.url,
               "--model", "scripted-model", "--protocol", "hermes")  # fmt: skip
    assert "Relevance Detection" in text.out and "N/A" in text.out  # the other categories were not run


def test_a_call_is_scored_by_the_name_as_written():
    # BFCL compares function names exactly: a model that shouts the name fails the case, while a
    # batch row records the tool the agent would have run.
    import asyncio

    from liteagent import Agent, ScriptedLLM
    from liteagent.batch.turn import one_turn
    from liteagent.evals.tools import toolset_from_schemas
    from liteagent.messages import Message

    schema = [{"name": "calc_area", "description": "Area.", "parameters": {"type": "object", "properties": {}}}]
    reply = '<tool_call>{"name": "CALC_AREA", "arguments": {}}</tool_call>'
    names = []
    for calls_only in (True, False):
        rec = asyncio.run(
            one_turn(
                Agent(ScriptedLLM([reply]), protocol="hermes"),
                toolset_from_schemas(schema),
                [Message("user", "area?")],
                calls_only=calls_only,
            )
        )
        names.append(rec.calls[0][0])
    assert names == ["CALC_AREA", "calc_area"]
