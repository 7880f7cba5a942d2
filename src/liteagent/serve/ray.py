"""The same service on Ray Serve (``pip install "ray[serve]"``): replicas behind Ray's HTTP proxy,
conversations shared through a Redis (or shared SQLite) session store.

    from ray import serve
    from liteagent.serve.ray import deployment
    app = deployment(["--base-url", "http://127.0.0.1:23333/v1", "--sessions", "redis://host:6379/0"],
                     num_replicas=2).bind()
    serve.run(app, route_prefix="/")

Each replica builds its own agent and store from the same flags as ``liteagent serve`` (nothing
is pickled but the flags).
"""

from __future__ import annotations

from typing import Any


def build_app(argv: list[str]) -> Any:
    """The FastAPI app for ``liteagent serve ARGV`` (run in each replica)."""
    from ..cli import build_parser
    from .factory import app_from_args

    return app_from_args(build_parser().parse_args(["serve", *argv]))


def deployment(argv: list[str], num_replicas: int = 1, **options: Any) -> Any:
    """A Ray Serve deployment of ``liteagent serve ARGV`` (model, plugin and session flags)."""
    from ray import serve

    flags = list(argv)

    def builder() -> Any:  # evaluated on the replicas
        return build_app(flags)

    return serve.deployment(serve.ingress(builder)(), name="liteagent", num_replicas=num_replicas, **options)
