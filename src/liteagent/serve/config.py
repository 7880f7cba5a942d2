"""ServeConfig: the service around an agent (sessions, key, limits, allowed hosts and origins) and
the AgentConfig it serves, as plain data that worker processes and Ray replicas rebuild from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..agent_config import AgentConfig
from ..errors import UsageError

_SECRETS = ("server_key",)


@dataclass(frozen=True)
class ServeConfig:
    """What ``liteagent serve`` serves. ``server_key`` None: ``$LITEAGENT_SERVE_KEY`` (none if unset);
    like the agent's API key, it is left out of ``repr`` and of ``to_dict()`` unless ``secrets=True``."""

    agent: AgentConfig = field(default_factory=AgentConfig)
    sessions: str | None = None  # a SQLite path, sqlite:///path or redis://…; None: the data directory's
    server_key: str | None = field(default=None, repr=False)
    served_name: str = "liteagent"  # the model name clients see
    max_body: int = 1_000_000  # bytes
    run_timeout: float = 300.0  # seconds one answer may take
    host: str = "127.0.0.1"  # the address served: a Host header naming it is accepted
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("allowed_hosts", "allowed_origins"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.agent, AgentConfig):
            raise UsageError(f"`agent=` must be an AgentConfig, not {type(self.agent).__name__}")
        from .guard import host_error, origin_error

        for name, why_not in (("allowed_hosts", host_error), ("allowed_origins", origin_error)):
            values = getattr(self, name)
            if not isinstance(values, tuple) or not all(isinstance(v, str) for v in values):
                raise UsageError(f"`{name}=` must be a list of strings, not {values!r}")
            for value in values:
                if (why := why_not(value)) is not None:
                    raise UsageError(f"`{name}=` {value!r}: {why}")
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int) or self.max_body < 1:
            raise UsageError(f"`max_body=` {self.max_body!r} must be a whole number of bytes, 1 or more")
        if (
            isinstance(self.run_timeout, bool)
            or not isinstance(self.run_timeout, (int, float))
            or self.run_timeout <= 0
        ):
            raise UsageError(f"`run_timeout=` {self.run_timeout!r} must be more than 0 seconds")

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """JSON-ready values (the agent's as ``AgentConfig.to_dict``); keys only with ``secrets=True``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["agent"] = self.agent.to_dict(secrets=secrets)
        out["allowed_hosts"], out["allowed_origins"] = list(self.allowed_hosts), list(self.allowed_origins)
        if not secrets:
            for name in _SECRETS:
                out.pop(name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServeConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown service setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values = dict(data)
        values["agent"] = AgentConfig.from_dict(values.get("agent") or {})
        return cls(**values)
