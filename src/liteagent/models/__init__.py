"""Models to run in-process: a catalog of GGUF models known by short names, ``pull`` to fetch one
from the Hugging Face Hub, the index of those pulled, and the local servers that answer."""

from __future__ import annotations

from ..errors import UsageError
from .catalog import CATALOG, ModelRef, find, resolve
from .hub import pull
from .index import InstalledModel, installed, lookup
from .servers import LocalServer, find_servers


def pulled_model(name: str) -> InstalledModel | None:
    """The pulled model ``name`` names, for ``AgentConfig(model=name)`` on the embedded backend;
    None when the name is no model to pull (it then only names the dialect). A catalog model or a
    REPO/FILE.gguf not pulled yet, or one whose files are gone, is a one-line error."""
    model = lookup(name)
    if model is not None and model.present():
        return model
    ref = find(name)
    if ref is None:
        return None
    why = "its files are gone from the Hugging Face cache" if model is not None else "it is not pulled yet"
    raise UsageError(f"`model=` {ref.name!r}: {why}; pull it with: liteagent models pull {ref.name}")


def model_dialect(name: str) -> str | None:
    """The dialect of a pulled or catalog model (None: the name is neither)."""
    model = lookup(name)
    if model is not None:
        return model.dialect
    ref = find(name)
    return ref.dialect if ref is not None else None


__all__ = [
    "CATALOG",
    "InstalledModel",
    "LocalServer",
    "ModelRef",
    "find",
    "find_servers",
    "installed",
    "lookup",
    "model_dialect",
    "pull",
    "pulled_model",
    "resolve",
]
