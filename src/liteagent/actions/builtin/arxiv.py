"""ArxivSearch: the tutorial's arXiv plugin, on the real arXiv API (Atom feed)."""

from __future__ import annotations

import asyncio
import os
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

from ...errors import ToolError
from ...messages import ResultItem
from ..base import BaseAction, tool_api
from .http import fetch

DEFAULT_URL = "https://export.arxiv.org/api/query"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
_ID = re.compile(r"^(?:arxiv:)?((?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?)$", re.I)


class ArxivSearch(BaseAction):
    """Search information from Arxiv.org. Useful for when you need to answer questions about Physics, Mathematics, Computer Science, Quantitative Biology, Quantitative Finance, Statistics, Electrical Engineering, and Economics from scientific articles on arxiv.org.

    Args:
        base_url: the arXiv API endpoint (default ``$LITEAGENT_ARXIV_URL`` or arXiv's own).
        timeout: seconds to wait for arXiv.
        min_interval: seconds between two requests; arXiv asks for one every 3 s.
    """

    def __init__(
        self, base_url: str | None = None, timeout: float = 15.0, min_interval: float = 3.0, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.base_url = base_url or os.environ.get("LITEAGENT_ARXIV_URL") or DEFAULT_URL
        self.timeout = timeout
        self.min_interval = min_interval
        self._last = 0.0
        self._lock: asyncio.Lock | None = None

    @tool_api
    async def get_arxiv_article_information(self, query: str, max_results: int = 3) -> list[ResultItem]:
        """Run Arxiv search and get the article meta information.

        Args:
            query: the content of search query
            max_results: how many papers to return (1-20)

        Returns:
            content (str): title, authors, date, summary and links of each paper
        """
        if not query.strip():
            raise ToolError("the query is empty; say what to search for")
        n = max(1, min(int(max_results), 20))
        papers = await self._query({"search_query": _search_query(query), "start": 0, "max_results": n})
        if not papers:
            raise ToolError(f"no arXiv papers match {query!r}; try other words")
        return [ResultItem.text(format_papers(papers)), ResultItem.json(papers)]

    @tool_api
    async def get_paper(self, arxiv_id: str) -> list[ResultItem]:
        """Get one paper's meta information by its arXiv identifier.

        Args:
            arxiv_id: the identifier, e.g. 1706.03762 or 1706.03762v7

        Returns:
            content (str): title, authors, date, summary and links of the paper
        """
        m = _ID.match(arxiv_id.strip())
        if not m:
            raise ToolError(f"{arxiv_id!r} is not an arXiv identifier (like 1706.03762 or hep-th/9901001)")
        papers = await self._query({"id_list": m.group(1)})
        if not papers:
            raise ToolError(f"arXiv has no paper {arxiv_id}")
        return [ResultItem.text(format_papers(papers)), ResultItem.json(papers[0])]

    async def _query(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # polite: one request at a time, min_interval apart
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                status, body = await fetch(self.base_url, service="arXiv", params=params, timeout=self.timeout)
            finally:
                self._last = time.monotonic()
        if status != 200:
            raise ToolError(f"arXiv answered {status}: {_first_line(body)}; try again later")
        return parse_feed(body)


def _search_query(query: str) -> str:
    q = query.strip()
    if re.search(r"\b(ti|au|abs|co|jr|cat|rn|id|all):", q):
        return q  # already arXiv query syntax
    return "all:" + " AND all:".join(f'"{w}"' if " " in w else w for w in q.split())


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return (text.splitlines() or [""])[0][:200]


def _text(el: ET.Element | None) -> str:
    return " ".join((el.text or "").split()) if el is not None else ""


def parse_feed(body: bytes) -> list[dict[str, Any]]:
    """Papers from an arXiv Atom feed. Raises ToolError on malformed XML or an arXiv error entry."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ToolError(f"arXiv sent malformed XML ({exc})") from None
    if root.tag != f"{{{NS['atom']}}}feed":
        raise ToolError("arXiv's answer is not an Atom feed")
    papers = []
    for entry in root.findall("atom:entry", NS):
        entry_id = _text(entry.find("atom:id", NS))
        if "/api/errors" in entry_id:
            raise ToolError(f"arXiv rejected the query: {_text(entry.find('atom:summary', NS))}")
        if not _text(entry.find("atom:title", NS)):
            continue  # arXiv returns an empty entry for an unknown id
        links = {ln.get("title") or ln.get("rel"): ln.get("href") for ln in entry.findall("atom:link", NS)}
        papers.append(
            {
                "id": entry_id.rsplit("/abs/", 1)[-1],
                "title": _text(entry.find("atom:title", NS)),
                "authors": [_text(a.find("atom:name", NS)) for a in entry.findall("atom:author", NS)],
                "published": _text(entry.find("atom:published", NS))[:10],
                "updated": _text(entry.find("atom:updated", NS))[:10],
                "summary": _text(entry.find("atom:summary", NS)),
                "categories": [c.get("term") for c in entry.findall("atom:category", NS)],
                "abs_url": links.get("alternate") or entry_id,
                "pdf_url": links.get("pdf"),
            }
        )
    return papers


def format_papers(papers: list[dict[str, Any]]) -> str:
    blocks = []
    for p in papers:
        authors = ", ".join(p["authors"][:8]) + (" et al." if len(p["authors"]) > 8 else "")
        blocks.append(
            f"Published: {p['published']}\nTitle: {p['title']}\nAuthors: {authors}\n"
            f"Summary: {p['summary']}\nLinks: {p['abs_url']}" + (f" (PDF: {p['pdf_url']})" if p.get("pdf_url") else "")
        )
    return "\n\n".join(blocks)
