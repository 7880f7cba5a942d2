"""``liteagent models pull`` and ``models list``: fetch a model to run in-process, and see what
this machine has: the models pulled, and the model servers that answer on it."""

from __future__ import annotations

import argparse
import sys

from ..models import CATALOG, find_servers, installed, pull
from ..models.index import index_path
from ..models.servers import probe_ports
from .term import print_json


def cmd_models_pull(args: argparse.Namespace) -> int:
    """Download, verify and record one model; then say how to run it."""
    model = pull(args.name, args.revision, progress=not args.quiet)
    sys.stderr.write(
        f"liteagent models: {model.name} ({_mb(model.size)}, dialect {model.dialect}) is in {model.path}\n"
        f"run it with: liteagent chat --model {model.name}\n"
    )
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    """The pulled models, the catalog, and the local servers with their models and base URL."""
    ports = probe_ports()
    models, servers = installed(), find_servers(ports)
    if args.json:
        print_json(
            {
                "installed": [{**m.to_dict(), "path": m.path, "present": m.present()} for m in models],
                "index": str(index_path()),
                "catalog": [
                    {"name": e.name, "repo": e.repo, "files": list(e.files), "dialect": e.dialect,
                     "context": e.context, "size_mb": e.size_mb}
                    for e in CATALOG
                ],
                "servers": [s.to_dict() for s in servers],
            }
        )  # fmt: skip
        return 0
    out = ["pulled models (run one with --model NAME):"]
    for m in models:
        gone = "" if m.present() else "  (files gone: pull it again)"
        out.append(f"  {m.name:<18} {m.dialect:<10} {_mb(m.size):>9}  {m.path}{gone}")
    if not models:
        out.append("  none yet: liteagent models pull NAME")
    pulled = {m.name for m in models}
    more = [f"{e.name} ({_mb(e.size_mb * 1_000_000) if e.size_mb else '?'})" for e in CATALOG if e.name not in pulled]
    if more:
        out.append("to pull: " + ", ".join(more) + ", or any REPO/FILE.gguf on the Hub")
    out.append("model servers on this machine:")
    for s in servers:
        names = ", ".join(s.models) or "no models listed"
        out.append(f"  {s.kind:<10} --base-url {s.base_url}  ({names})")
    if not servers:
        asked = ", ".join(f"{kind} {port}" for kind, port in ports.items()) or "no port"
        out.append(f"  none answer at 127.0.0.1 ({asked})")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _mb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def add_models_parser(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """``models pull`` and ``models list`` under ``sub``."""
    p = sub.add_parser("models", help="pull GGUF models to run in-process; list them and the local servers")
    models_sub = p.add_subparsers(dest="models_command", metavar="COMMAND", parser_class=parser_class)
    models_sub.required = True
    names = ", ".join(e.name for e in CATALOG)
    p = models_sub.add_parser(
        "pull",
        help="download a model from the Hugging Face Hub (resumable, sha256-checked) for --model NAME",
        description=f"Download a GGUF model into the Hugging Face cache: {names}, or any REPO/FILE.gguf. "
        "A cut download resumes on the next pull. HF_ENDPOINT (a mirror) and HF_TOKEN are honoured.",
    )
    p.add_argument("name", help=f"{names}, or REPO/FILE.gguf (hf:REPO/FILE.gguf)")
    p.add_argument("--revision", default="main", help="a branch, tag or commit of the repository (default main)")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_models_pull)
    p = models_sub.add_parser(
        "list", help="the models pulled, and the model servers answering on this machine with their --base-url"
    )
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.set_defaults(func=cmd_models_list)
