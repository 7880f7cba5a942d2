"""Plugins as the tutorial writes them: classes, single tools, functions; their descriptions."""

from __future__ import annotations

import json

from liteagent import ActionExecutor, BaseAction, tool, tool_api

from ..conftest import TESTS


class ArxivLike(BaseAction):
    """Search information from Arxiv.org."""

    @tool_api(explode_return=True)
    def get_arxiv_article_information(self, query: str, max_results: int = 3) -> dict:
        """Run Arxiv search and get the article meta information.

        Args:
            query (str): the content of search query
            max_results (int): how many papers to return

        Returns:
            content (str): a list of 3 arxiv search papers
        """
        return {"text": f"{query}:{max_results}"}


class ImageGen(BaseAction):
    """Generate an image."""

    def run(self, keywords: str) -> dict:
        """Run magicmaker and get the generated image according to the keywords.

        Args:
            keywords: the keywords to generate image
        """
        return {"image": f"/tmp/{keywords}.png"}


def test_toolkit_lagent_dict_matches_appendix_1_and_keeps_optional_params():
    d = ArxivLike().lagent_description()
    assert d == {
        "name": "ArxivLike",
        "description": "Search information from Arxiv.org.",
        "api_list": [
            {
                "name": "get_arxiv_article_information",
                "description": "Run Arxiv search and get the article meta information.",
                "parameters": [
                    {"name": "query", "type": "STRING", "description": "the content of search query"},
                    {"name": "max_results", "type": "NUMBER", "description": "how many papers to return", "default": 3},
                ],
                "required": ["query"],
                "return_data": [
                    {"name": "content", "description": "a list of 3 arxiv search papers", "type": "STRING"}
                ],
                "parameter_description": "If you call this tool, you must pass arguments in the JSON format {key: value}, where the key is the parameter name.",
            }
        ],
    }


def test_single_tool_run_is_addressed_by_class_name():
    action = ImageGen()
    assert not action.is_toolkit
    d = action.lagent_description()
    assert d["name"] == "ImageGen" and "api_list" not in d
    assert d["parameters"] == [{"name": "keywords", "type": "STRING", "description": "the keywords to generate image"}]
    ex = ActionExecutor([action])
    assert ex.names() == ["ImageGen"]
    r = ex.execute("ImageGen", {"keywords": "cat"})
    assert r.ok and r.result[0].type == "image" and r.result[0].content == "/tmp/cat.png"
    assert ex.execute("ImageGen.run", {"keywords": "dog"}).ok


def test_name_and_description_overridable():
    a = ArxivLike(name="Papers", description="Find papers.")
    d = a.lagent_description()
    assert d["name"] == "Papers" and d["description"] == "Find papers."
    assert ActionExecutor([a]).names() == ["Papers.get_arxiv_article_information"]

    class Named(BaseAction):
        """Doc."""

        name = "custom_name"

        @tool_api
        def go(self) -> str:
            """Go."""
            return "x"

    assert ActionExecutor([Named()]).names() == ["custom_name.go"]


def test_function_tool_sync_and_async():
    @tool
    def add(a: int, b: int = 1) -> int:
        """Add numbers.

        Args:
            a: first
            b: second
        """
        return a + b

    @tool(name="slow_echo")
    async def echo(text: str) -> str:
        """Echo text back.

        Args:
            text: what to echo
        """
        return text

    assert add(2, 3) == 5  # still callable as a function
    ex = ActionExecutor([add, echo])
    assert ex.names() == ["add", "slow_echo"]
    assert ex.execute("add", {"a": 2}).result[0].content == 3
    assert ex.execute("slow_echo", {"text": "héllo 🌍"}).result[0].content == "héllo 🌍"


def test_openai_tools_render_with_safe_names():
    ex = ActionExecutor([ArxivLike(), ImageGen()])
    tools = ex.openai_tools()
    names = [t["function"]["name"] for t in tools]
    assert names == ["ArxivLike__get_arxiv_article_information", "ImageGen"]
    params = tools[0]["function"]["parameters"]
    assert params == {
        "type": "object",
        "properties": {
            "query": {"description": "the content of search query", "type": "string"},
            "max_results": {"description": "how many papers to return", "type": "integer", "default": 3},
        },
        "required": ["query"],
    }
    assert "a list of 3 arxiv search papers" in tools[0]["function"]["description"]
    json.dumps(tools)  # serialisable as is
    # either spelling resolves
    assert ex.execute("ArxivLike__get_arxiv_article_information", {"query": "x"}).ok
    assert ex.execute("ArxivLike.get_arxiv_article_information", {"query": "x"}).ok
    assert ex.execute("get_arxiv_article_information", {"query": "x"}).ok  # unambiguous short form


def test_seed_env_checker_ports_by_changing_the_import_line():
    seed = (TESTS / "data" / "seed_env_checker.py").read_text(encoding="utf-8")
    assert "from liteagent.actions.base_action import BaseAction, tool_api" in seed  # the tutorial's line, renamed
    ns: dict = {}
    exec(compile(seed, "seed_env_checker.py", "exec"), ns)
    checker = ns["EnvChecker"]()
    assert checker.lagent_description() == {
        "name": "EnvChecker",
        "description": "检查深度学习环境的插件",
        "api_list": [
            {
                "name": "check_torch_env",
                "description": "获取PyTorch相关环境信息",
                "parameters": [],
                "required": [],
                "parameter_description": "If you call this tool, you must pass arguments in the JSON format {key: value}, where the key is the parameter name.",
            }
        ],
    }
    r = ActionExecutor([checker]).execute("EnvChecker.check_torch_env", {})
    # torch is absent here: the seed's own code returns {"error": ...}, which is an API error
    assert r.status.value in ("success", "api_error")
    if r.status.value == "api_error":
        assert "torch" in r.error


def test_streamlit_rerun_recreates_classes_without_conflict():
    src = (TESTS / "data" / "seed_env_checker.py").read_text(encoding="utf-8")
    for _ in range(3):  # each rerun executes the module again
        ns: dict = {}
        exec(compile(src, "seed_env_checker.py", "exec"), ns)
        ex = ActionExecutor([ns["EnvChecker"]()])
        assert ex.names() == ["EnvChecker.check_torch_env"]


def test_lagent_arxiv_plugin_docstrings_match_appendix_1():
    """Lagent writes `query (:class:`str`)` and bullet Returns for explode_return."""
    from liteagent.actions import load_plugin

    (plugin,) = load_plugin(f"{TESTS / 'data' / 'lagent_arxiv_search.py'}:ArxivSearch")
    api = plugin.lagent_description()["api_list"][0]
    assert api["parameters"] == [{"name": "query", "type": "STRING", "description": "the content of search query"}]
    assert api["required"] == ["query"]
    assert api["return_data"] == [
        {"name": "content", "description": "a list of 3 arxiv search papers", "type": "STRING"}
    ]
