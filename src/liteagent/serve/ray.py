"""The same service on Ray Serve (``pip install "ray[serve]"``): replicas behind Ray's HTTP proxy,
conversations shared through a Redis (or shared SQLite) session store.

    from ray import serve
    from liteagent import AgentConfig
    from liteagent.serve import ServeConfig
    from liteagent.serve.ray import deployment
    agent = AgentConfig(base_url="http://127.0.0.1:23333/v1")
    app = deployment(ServeConfig(agent, sessions="redis://host:6379/0"), num_replicas=2).bind()
    serve.run(app, route_prefix="/")

Each replica builds its own agent and store from the configuration, which travels as JSON
(nothing else is pickled).
"""

from __future__ import annotations

import json
from typing import Any

from ..agent_config import AgentConfig
from .config import ServeConfig


def build_app(config_json: str) -> Any:
    """The FastAPI app of a ServeConfig's JSON (run in each replica)."""
    from .factory import app_from_config

    return app_from_config(ServeConfig.from_dict(json.loads(config_json)))


def deployment(config: ServeConfig | AgentConfig, num_replicas: int = 1, **options: Any) -> Any:
    """A Ray Serve deployment of the service (an AgentConfig alone: served with the defaults)."""
    from ray import serve

    service = config if isinstance(config, ServeConfig) else ServeConfig(config)
    payload = json.dumps(service.to_dict(secrets=True), ensure_ascii=False)

    def builder() -> Any:  # evaluated on the replicas
        return build_app(payload)

    return serve.deployment(serve.ingress(builder)(), name="liteagent", num_replicas=num_replicas, **options)
