"""ArxivSearch against a local server on 127.0.0.1 serving recorded-shape arXiv Atom feeds."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from liteagent import ActionExecutor, ActionStatus
from liteagent.actions.builtin.arxiv import ArxivSearch

from ..conftest import FIXTURES

ARXIV = FIXTURES / "arxiv"


class FakeArxiv(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        FakeArxiv.seen.append(q)
        search = q.get("search_query", "")
        status, body = 200, None
        if q.get("id_list") == "1706.03762":
            body = (ARXIV / "id_1706.03762.xml").read_bytes()
        elif q.get("id_list") == "1234.12345":
            body = (ARXIV / "error_bad_id.xml").read_bytes()
        elif "qwzxqwzx" in search:
            body = (ARXIV / "empty.xml").read_bytes()
        elif "slow" in search:
            time.sleep(2)
            body = b"late"
        elif "boom" in search:
            status, body = 503, b"Service Unavailable\nretry later"
        elif "garbage" in search:
            body = b"<feed><entry><title>unclosed"
        else:
            body = (ARXIV / "search_llm_agents.xml").read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass


@pytest.fixture(scope="module")
def arxiv_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeArxiv)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/api/query"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ex(arxiv_url):
    e = ActionExecutor([ArxivSearch(base_url=arxiv_url, timeout=0.5, min_interval=0)])
    yield e
    e.close()


def test_search_returns_text_and_json(ex):
    FakeArxiv.seen.clear()
    r = ex.execute("ArxivSearch.get_arxiv_article_information", {"query": "llm agents", "max_results": 2})
    assert r.status is ActionStatus.SUCCESS, r.error
    assert FakeArxiv.seen[-1] == {"search_query": "all:llm AND all:agents", "start": "0", "max_results": "2"}
    text, papers = r.result[0].content, r.result[1].content
    assert papers[0] == {
        "id": "2210.03629v3",
        "title": "ReAct: Synergizing Reasoning and Acting in Language Models",
        "authors": [
            "Shunyu Yao",
            "Jeffrey Zhao",
            "Dian Yu",
            "Nan Du",
            "Izhak Shafran",
            "Karthik Narasimhan",
            "Yuan Cao",
        ],
        "published": "2022-10-06",
        "updated": "2023-03-10",
        "summary": papers[0]["summary"],
        "categories": ["cs.CL", "cs.AI", "cs.LG"],
        "abs_url": "http://arxiv.org/abs/2210.03629v3",
        "pdf_url": "http://arxiv.org/pdf/2210.03629v3",
    }
    assert papers[0]["summary"].startswith("While large language models (LLMs)")
    assert "Roberto Dessì" in papers[1]["authors"]  # unicode kept
    assert "Title: Toolformer: Language Models Can Teach Themselves to Use Tools" in text
    assert "et al." in text  # nine authors are shortened in the text, not in the JSON


def test_get_paper(ex):
    r = ex.execute("ArxivSearch.get_paper", {"arxiv_id": "1706.03762"})
    assert r.ok and r.result[1].content["title"] == "Attention Is All You Need"


@pytest.mark.parametrize(
    "api, args, message",
    [
        ("get_arxiv_article_information", {"query": "qwzxqwzx"}, "no arXiv papers match 'qwzxqwzx'"),
        ("get_arxiv_article_information", {"query": "slow"}, "arXiv did not answer within 0.5 s"),
        ("get_arxiv_article_information", {"query": "boom"}, "arXiv answered 503: Service Unavailable"),
        ("get_arxiv_article_information", {"query": "garbage"}, "arXiv sent malformed XML"),
        ("get_arxiv_article_information", {"query": "  "}, "the query is empty"),
        ("get_paper", {"arxiv_id": "1234.12345"}, "arXiv rejected the query: incorrect id format for 1234.12345"),
        ("get_paper", {"arxiv_id": "not an id"}, "is not an arXiv identifier"),
    ],
)
def test_errors_are_api_errors_with_clear_messages(ex, api, args, message):
    r = ex.execute(f"ArxivSearch.{api}", args)
    assert r.status is ActionStatus.API_ERROR
    assert message in r.error
    assert not r.error.startswith("ToolError")


def test_unreachable_server(free_port):
    e = ActionExecutor([ArxivSearch(base_url=f"http://127.0.0.1:{free_port}/api/query", min_interval=0)])
    r = e.execute("ArxivSearch.get_arxiv_article_information", {"query": "x"})
    assert r.status is ActionStatus.API_ERROR and "cannot reach arXiv" in r.error


def test_url_from_environment(monkeypatch, arxiv_url):
    monkeypatch.setenv("LITEAGENT_ARXIV_URL", arxiv_url)
    assert ArxivSearch().base_url == arxiv_url


def test_rate_limit_spaces_requests(arxiv_url):
    a = ArxivSearch(base_url=arxiv_url, min_interval=0.3)
    e = ActionExecutor([a])
    e.execute("ArxivSearch.get_paper", {"arxiv_id": "1706.03762"})
    first = a._last
    e.execute("ArxivSearch.get_paper", {"arxiv_id": "1706.03762"})
    assert a._last - first >= 0.3  # the second request waited its turn
