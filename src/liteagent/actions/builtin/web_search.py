"""WebSearch through the ddgs metasearch library (optional extra: pip install 'liteagent[websearch]')."""

from __future__ import annotations

import asyncio
from typing import Any

from ...errors import ToolError
from ...messages import ResultItem
from ..base import BaseAction, tool_api


class WebSearch(BaseAction):
    """Search the web and return titles, links and snippets of the top results.

    Args:
        backend: the ddgs backend ("auto", "duckduckgo", "bing", ...).
        region: result region such as "wt-wt" (no region) or "cn-zh".
        timeout: seconds to wait for results.
    """

    def __init__(
        self, backend: str = "auto", region: str = "wt-wt", timeout: float = 15.0, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.backend, self.region, self.timeout = backend, region, timeout

    @tool_api
    async def search(self, query: str, max_results: int = 5) -> list[ResultItem]:
        """Search the web.

        Args:
            query: what to search for
            max_results: how many results to return (1-20)
        """
        try:
            from ddgs import DDGS  # type: ignore[import-not-found]
        except ImportError:
            raise ToolError("WebSearch needs the ddgs package: pip install 'liteagent[websearch]'") from None
        n = max(1, min(int(max_results), 20))

        def go() -> list[dict[str, Any]]:
            return list(
                DDGS(timeout=int(self.timeout)).text(query, region=self.region, backend=self.backend, max_results=n)
            )

        try:
            hits = await asyncio.to_thread(go)
        except Exception as exc:  # ddgs raises its own types for network failures
            raise ToolError(f"web search failed (are you offline?): {type(exc).__name__}: {exc}") from None
        if not hits:
            raise ToolError(f"no web results for {query!r}")
        results = [
            {"title": h.get("title", ""), "url": h.get("href") or h.get("url", ""), "snippet": h.get("body", "")}
            for h in hits
        ]
        text = "\n\n".join(f"{r['title']}\n{r['url']}\n{r['snippet']}" for r in results)
        return [ResultItem.text(text), ResultItem.json(results)]
