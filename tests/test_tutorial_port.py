"""The tutorial's Python code ports by changing its import lines (issue 12): its plugin, its
``action_list``, and appendix 1, against what Lagent 0.2.4 printed for the same code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TESTS = Path(__file__).parent
GOLDEN = json.loads((TESTS / "golden" / "lagent_0.2.4_actions_info.json").read_text(encoding="utf-8"))


def test_tutorial_imports_action_list_and_appendix_1():
    # the tutorial's lines, with "lagent" -> "liteagent"
    from liteagent.actions import ActionExecutor, ArxivSearch, IPythonInterpreter

    sys.path.insert(0, str(TESTS / "data"))
    try:
        from lagent_arxiv_search import ArxivSearch as TutorialArxivSearch  # Lagent's own ArxivSearch, ported
        from seed_env_checker import EnvChecker  # the tutorial's plugin, import line changed
    finally:
        sys.path.pop(0)

    action_list = [TutorialArxivSearch(), EnvChecker()]
    executor = ActionExecutor(action_list)
    assert executor.get_actions_info() == GOLDEN["actions_info"]

    # liteagent's own ArxivSearch stands where Lagent's did, in the same shape
    ours = ActionExecutor([ArxivSearch(), EnvChecker()]).get_actions_info()
    first = ours[0]
    assert first["name"] == "ArxivSearch.get_arxiv_article_information"
    assert set(GOLDEN["actions_info"][0]) <= set(first) | {"return_data"}
    assert ours[-1] == GOLDEN["actions_info"][-1]  # EnvChecker: exactly Lagent's
    assert IPythonInterpreter.__name__ == "PythonInterpreter"
