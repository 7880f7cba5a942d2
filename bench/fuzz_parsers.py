"""Fuzz every dialect's parser with mutated valid calls (not run by CI; CI keeps a smaller
hypothesis run in tests/protocols/test_streaming_property.py).

Valid calls in each dialect are mutated: cut at every position, markers duplicated or dropped,
junk inserted, quoting changed, fences added, split into random chunks. Every case must parse
without an exception; a mutation that keeps the call intact must give the same call; a cut one
must never give a call with arguments the model did not write.
Run: python bench/fuzz_parsers.py [--cases 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import traceback
from collections import Counter

from liteagent import ActionExecutor, BaseAction, tool_api
from liteagent.protocols import get_protocol


class Mail(BaseAction):
    """Mail."""

    @tool_api
    def send(self, to: str, body: str = "", cc: list[str] | None = None) -> str:
        """Send.

        Args:
            to: address
            body: text
            cc: copies
        """
        return to


TOOLS = ActionExecutor([Mail()]).tool_set()
ARGS = [
    {"to": "a@b.c"},
    {"to": "ann@x.org", "body": "Hi,\nthe report.\n\tBo", "cc": ["x@y.z"]},
    {"to": "李@例子.中国", "body": '你好 🌍 {braces} [brackets] "quotes"'},
    {},
]
KEY = {"internlm2": "parameters", "hermes": "arguments"}


def render(dialect: str, args: dict, style: str) -> str:
    """A valid call in ``dialect``; ``style`` varies the JSON's form (all intact)."""
    if dialect == "react":
        payload = json.dumps(args, ensure_ascii=False)
        if style == "python":
            payload = repr(args)
        elif style == "fence":
            payload = f"```json\n{payload}\n```"
        return f"Thought: send it\nAction: Mail.send\nAction Input: {payload}"
    obj = {"name": "Mail.send", KEY[dialect]: args}
    payload = json.dumps(obj, ensure_ascii=False)
    if style == "python":
        payload = repr(obj)
    elif style == "fence":
        payload = f"```json\n{payload}\n```"
    elif style == "junk":
        payload += " }"
    if dialect == "internlm2":
        return f"Sending.<|action_start|><|plugin|>\n{payload}<|action_end|>"
    if style == "bare":
        return payload
    return f"Sending.<tool_call>\n{payload}\n</tool_call>"


MARKERS = {
    "internlm2": ["<|action_start|>", "<|plugin|>", "<|action_end|>", "<|interpreter|>", "<|im_end|>"],
    "hermes": ["<tool_call>", "</tool_call>", "<think>", "</think>", "<|im_end|>"],
    "react": ["Thought:", "Action:", "Action Input:", "Observation:", "Final Answer:"],
}
JUNK = ["}", "{", "]", '"', "'", "\n", "```", "<", "|", "\\", "\x00", "🌍", "null", ",", ":", "<|", "Action"]


def parse(dialect: str, text: str, rng: random.Random):
    parser = get_protocol(dialect).new_parser(TOOLS)
    i = 0
    while i < len(text):
        n = rng.randint(1, 9)
        parser.feed(text[i : i + n])
        i += n
    parser.finish()
    return parser.result()


def calls(reply) -> list[tuple[str, dict]]:
    return [(c.name, c.arguments) for c in reply.calls if c.error is None]


def mutate(dialect: str, text: str, rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["cut", "dup_marker", "drop_marker", "insert_junk", "delete_span", "swap_case"])
    if kind == "cut":
        return kind, text[: rng.randint(0, len(text))]
    if kind in ("dup_marker", "drop_marker"):
        present = [m for m in MARKERS[dialect] if m in text]
        if not present:
            return kind, text
        m = rng.choice(present)
        return kind, text.replace(m, m + m if kind == "dup_marker" else "", 1)
    if kind == "insert_junk":
        at = rng.randint(0, len(text))
        return kind, text[:at] + rng.choice(JUNK) + text[at:]
    if kind == "delete_span":
        a = rng.randint(0, len(text))
        return kind, text[:a] + text[a + rng.randint(1, 5) :]
    at = rng.randint(0, len(text))
    return kind, text[:at] + text[at:].swapcase()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ns = ap.parse_args()
    rng = random.Random(ns.seed)
    stats: Counter[str] = Counter()
    problems: list[str] = []
    t = time.perf_counter()
    styles = {"internlm2": ["json", "python", "fence", "junk"], "hermes": ["json", "python", "fence", "junk", "bare"]}
    styles["react"] = ["json", "python", "fence"]
    dialects = list(styles)
    n = 0
    while n < ns.cases:
        dialect = rng.choice(dialects)
        args = rng.choice(ARGS)
        style = rng.choice(styles[dialect])
        text = render(dialect, args, style)
        expected = [("Mail.send", args)]
        # intact: the same text in random chunks must give the same call
        try:
            got = calls(parse(dialect, text, rng))
        except Exception:
            stats["exceptions"] += 1
            problems.append(f"{dialect} intact {text!r}\n{traceback.format_exc()}")
            n += 1
            continue
        stats["intact"] += 1
        if got != expected:
            stats["intact_misread"] += 1
            problems.append(f"{dialect}/{style} intact misread {text!r} -> {got}")
        n += 1
        # mutated: never an exception; a call read from a damaged text must be one the model wrote
        kind, bad = mutate(dialect, text, rng)
        try:
            got = calls(parse(dialect, bad, rng))
        except Exception:
            stats["exceptions"] += 1
            problems.append(f"{dialect} {kind} {bad!r}\n{traceback.format_exc()}")
            n += 1
            continue
        stats[f"mutated:{kind}"] += 1
        if kind == "cut":
            for name, a in got:
                if name == "Mail.send" and a and any(a.get(k) != v for k, v in a.items() if k in args):
                    # a cut call must not carry a value the model never wrote (a guess, a truncation)
                    if not all(isinstance(v, str) and args.get(k, "").startswith(v) for k, v in a.items()):
                        stats["cut_invented"] += 1
                        problems.append(f"{dialect} cut gave {a!r} from {bad!r}")
        n += 1
    wall = time.perf_counter() - t
    print(f"{n} cases in {wall:.1f} s ({wall / n * 1e6:.1f} us per case), seed {ns.seed}")
    for k in sorted(stats):
        print(f"  {k:28s} {stats[k]}")
    print(
        f"  exceptions: {stats['exceptions']}; intact calls misread: {stats['intact_misread']}; cut calls with invented values: {stats['cut_invented']}"
    )
    for p in problems[:10]:
        print("  PROBLEM:", p[:500])


if __name__ == "__main__":
    main()
