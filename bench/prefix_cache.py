"""Time to first token of a fresh process with the embedded model, without and with the prefix
state saved on disk by an earlier process (the README's `liteagent run` with its default tools).

Target: the second process's time to first token <= 15 % of the first's.
Run: python bench/prefix_cache.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
from liteagent import Agent
from liteagent.actions import default_plugins
from liteagent.llms.local import LocalLLM
llm = LocalLLM()
llm.loaded()  # model load is not the prompt: measured apart
agent = Agent(llm, default_plugins(), max_tokens=8)
agent.run("Check my GPU and CUDA setup")
s = llm.stats[0]
print(json.dumps({"ttft": s["ttft_seconds"], "prompt": s["prompt_tokens"], "reused": s["reused_tokens"],
                  "load": s["load_seconds"]}))
"""


def one(env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    data = tempfile.mkdtemp(prefix="liteagent-bench-")
    models = os.path.join(os.environ.get("LITEAGENT_DATA_DIR", ""), "models")
    env = {**os.environ, "LITEAGENT_DATA_DIR": data}
    if os.path.isdir(models):  # reuse the converted model; only the KV cache starts empty
        shutil.copytree(models, os.path.join(data, "models"))
    try:
        first = one(env)
        second = one(env)
        third = one(env)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"prompt: {first['prompt']:.0f} tokens (model load {first['load']:.2f} s, not counted)")
    print(f"process 1 (nothing on disk): TTFT {first['ttft'] * 1000:7.0f} ms, reused {first['reused']:.0f} tokens")
    for i, r in ((2, second), (3, third)):
        print(
            f"process {i} (prefix on disk):  TTFT {r['ttft'] * 1000:7.0f} ms, reused {r['reused']:.0f} tokens "
            f"= {r['ttft'] / first['ttft'] * 100:.1f} % of process 1"
        )


if __name__ == "__main__":
    main()
