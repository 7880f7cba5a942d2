"""How long the README's install command takes, as a newcomer runs it: a fresh clone, a fresh
virtual environment, an empty pip cache (nothing built before, everything downloaded), this
machine's cores. Prints the wall time, the CPU time of the command and its children, and the
machine it ran on (issue 25's target: <= 5 minutes of wall time on 2 idle cores).

Run: python bench/install_time.py [--command "pip install -r requirements.txt"] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_install_command() -> str:
    """The first command of the README's first bash block (the one marked ``# install``)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README has no bash block"
    for line in block.group(1).splitlines():
        if "# install" in line:
            return line.split("#", 1)[0].strip()
    raise SystemExit("the README's first bash block marks no line '# install'")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--command", default=None, help="the install command (default: the README's)")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    command = args.command or readme_install_command()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="liteagent-install-"))
    work.mkdir(parents=True, exist_ok=True)
    clone = work / "liteagent"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(work / "venv"),
        "PATH": f"{work / 'venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PIP_CACHE_DIR": str(work / "pip-cache"),  # empty: every wheel built and downloaded anew
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for var in ("CMAKE_ARGS", "CMAKE_BUILD_PARALLEL_LEVEL", "PIP_FIND_LINKS"):  # only what the command itself says
        env.pop(var, None)
    # the README asks for a current pip first (per-requirement build settings need pip >= 23.1)
    subprocess.run(["python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"], cwd=clone, env=env, check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    done = subprocess.run(shlex.split(command), cwd=clone, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.exit(f"the install failed ({done.returncode}):\n{done.stderr[-3000:]}")
    libs = sorted(p.name for p in (work / "venv").glob("lib/python*/site-packages/llama_cpp/lib/*.so*"))
    check = subprocess.run(
        ["liteagent", "run", "--quiet", "Say hi."], cwd=clone, env=env, capture_output=True, text=True, timeout=600
    )
    print(f"command           {command}")
    print(f"machine           {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"wall time         {wall:7.1f} s  ({wall / 60:.1f} min; target <= 300 s on 2 idle cores)")
    print(f"CPU time          {cpu:7.1f} s  (the command and its children)")
    print(f"llama.cpp libs    {', '.join(libs)}")
    print(f"first run after   exit {check.returncode}: {check.stdout.strip()[:80] or check.stderr.strip()[:200]}")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
