"""Where the tutorial saves its EnvChecker plugin (``lagent/actions/env_checker.py``): here it is
liteagent's built-in one, so ``from liteagent.actions.env_checker import EnvChecker`` works. Save
the tutorial's own file over this one, and that works too (its imports, renamed, are ours)."""

from .builtin.env_checker import EnvChecker

__all__ = ["EnvChecker"]
