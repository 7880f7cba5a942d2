"""Tool calls nested deep (issue 23, item 10): what refusing one costs, by depth, per dialect.

Each call holds ``{"data": [[[...]]]}`` nested N deep, streamed to the agent in 4-character
chunks (as a server sends tokens), plus the shapes that take other readers (unclosed brackets:
the repair path; a bare Hermes call). The agent refuses each at 64 levels and the run goes on to
the model's next reply. Time per run should grow linearly with N (x10 depth, ~x10 time).
Run: python bench/deep_nesting.py [--depths 1000,10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import time

from liteagent import Agent, BaseAction, ScriptedLLM, ScriptedReply, tool_api


class Store(BaseAction):
    """Keeps data."""

    @tool_api
    def put(self, data: list | None = None) -> str:
        """Keep some data.

        Args:
            data: any list
        """
        return "kept"


def shapes(n: int) -> dict[str, str | ScriptedReply]:
    deep = "[" * n + "]" * n
    return {
        "internlm2": f'<|action_start|><|plugin|>\n{{"name": "Store.put", "parameters": {{"data": {deep}}}}}<|action_end|>',
        "hermes": f'<tool_call>\n{{"name": "Store.put", "arguments": {{"data": {deep}}}}}\n</tool_call>',
        "hermes, bare call": f'{{"name": "Store.put", "arguments": {{"data": {deep}}}}}',
        "hermes, unclosed": '<tool_call>\n{"name": "Store.put", "arguments": {"data": ' + "[" * n + "</tool_call>",
        "react": f'Action: Store.put\nAction Input: {{"data": {deep}}}',
        "openai": ScriptedReply(tool_calls=[{"name": "Store__put", "arguments": f'{{"data": {deep}}}'}]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", default="1000,10000,100000,1000000")
    depths = [int(d) for d in ap.parse_args().depths.split(",")]
    print(f"{'case':20}" + "".join(f"{f'N={d:,}':>14}" for d in depths) + "   (ms per run, 4-char chunks)")
    for name in shapes(1):
        row = f"{name:20}"
        for n in depths:
            reply = shapes(n)[name]
            dialect = name.split(",")[0]
            agent = Agent(ScriptedLLM([reply, "done"], chunk_size=4), [Store()], protocol=dialect)
            t = time.perf_counter()
            result = agent.run("keep")
            took = time.perf_counter() - t
            ret = result.steps[0].results[0]
            assert result.status == "ok" and not ret.ok and "64 levels" in (ret.error or ""), (name, n, ret.error)
            row += f"{took * 1000:14.1f}"
        print(row)


if __name__ == "__main__":
    main()
