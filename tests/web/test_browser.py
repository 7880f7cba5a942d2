"""End to end in real headless Chromium (Debian's chromium, driven by playwright's Python
package): open the page, ask, see the tool-call panel and the final answer, keep a screenshot;
then a hostile model and tools write every link trick, and the page makes no link of any."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .hostile import HOSTILE_TEXT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@functools.lru_cache(maxsize=1)
def _chromium_problem() -> str | None:
    """Why Chromium cannot run here (None: it rendered a page headless): a path that exists is
    not enough (a broken install, missing libraries, a sandbox it cannot start)."""
    if not Path(CHROMIUM).exists():
        return "Chromium is not installed (apt-get install chromium)"
    try:
        out = subprocess.run(
            [CHROMIUM, "--headless", *FLAGS, "--dump-dom", "data:text/html,<p>ok</p>"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Chromium at {CHROMIUM} does not start ({type(exc).__name__})"
    if out.returncode != 0 or "<p>ok</p>" not in out.stdout:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return f"Chromium at {CHROMIUM} cannot render a page headless ({tail})"
    return None


def _browser_or_skip():
    """Skips with its reason where no Chromium is installed (a fresh machine), and fails there
    when LITEAGENT_REQUIRE_BROWSER=1 (CI sets it after installing Chromium)."""
    required = os.environ.get("LITEAGENT_REQUIRE_BROWSER") == "1"
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
    if missing is None:
        missing = _chromium_problem()
    if missing is not None:
        if required:
            pytest.fail(f"{missing}, and LITEAGENT_REQUIRE_BROWSER=1")
        pytest.skip(f"{missing}: the browser test needs it (LITEAGENT_REQUIRE_BROWSER=1 makes this a failure)")
    return sync_playwright


@pytest.fixture
def web(server, tmp_path, free_port):
    env = {**os.environ, "LITEAGENT_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liteagent",
            "web",
            "--port",
            str(free_port),
            "--base-url",
            server.url,
            "--model",
            "scripted-model",
            "--plugin",
            "EnvChecker",
            "--plugin",
            f"{HERE / 'hostile.py'}:Hostile",
            "--db",
            str(tmp_path / "web.sqlite3"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", free_port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "liteagent web exited"
            time.sleep(0.2)
    yield f"http://127.0.0.1:{free_port}/"
    proc.terminate()
    proc.wait(timeout=10)


def test_chat_in_chromium(web, server):
    sync_playwright = _browser_or_skip()
    server.replies = [
        'Let me check.<tool_call>{"name": "EnvChecker.check_torch_env", "arguments": {}}</tool_call>',
        "This machine has **no NVIDIA GPU**. <b>bold?</b> <script>window.pwned = 1</script>",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(web)
            page.wait_for_selector("h1:has-text('liteagent')", timeout=30_000)
            assert page.title() == "liteagent"
            box = page.get_by_placeholder("Ask something…")
            box.fill("Check my GPU and CUDA setup")
            box.press("Enter")
            # the final answer's Markdown (its bold part is unique on the page)
            page.locator("strong", has_text="no NVIDIA GPU").first.wait_for(state="visible", timeout=30_000)
            panel = page.locator("summary:has-text('EnvChecker.check_torch_env')")
            panel.first.wait_for(timeout=30_000)
            assert "success" in panel.first.inner_text()
            # open the panel; the page may still rerun once after the answer (the conversation is
            # saved and the sidebar redrawn), which recreates the panel closed: retry until open
            details = page.locator("details", has=page.locator("summary", has_text="EnvChecker.check_torch_env")).first
            content = details.get_by_text("System Information").first
            for _ in range(20):
                if details.get_attribute("open") is None:
                    details.locator("summary").first.click()
                try:
                    content.wait_for(state="visible", timeout=1_000)
                    break
                except Exception:
                    continue
            assert content.is_visible()
            # model output is text, never HTML: the tags show as text and nothing ran
            assert page.locator("b:has-text('bold?')").count() == 0
            assert page.evaluate("() => window.pwned === undefined")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "web-chat.png").stat().st_size > 10_000


# Every <a href>, <img src> and <iframe src> ever put on the page, the passing ones too (a
# streamed answer is redrawn many times a second): a MutationObserver installed before the app.
RECORD_LINKS = """
window.__links = [];
const note = (el) => {
    for (const attr of ["href", "src", "xlink:href", "action", "formaction"]) {
        const v = el.getAttribute && el.getAttribute(attr);
        if (v !== null && v !== undefined) window.__links.push(el.tagName + " " + attr + "=" + v);
    }
};
new MutationObserver((records) => {
    for (const r of records) {
        if (r.type === "attributes") note(r.target);
        for (const n of r.addedNodes || []) {
            if (n.nodeType !== 1) continue;
            note(n);
            n.querySelectorAll("*").forEach(note);
        }
    }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def _open_panels(page):
    for d in page.locator("details:not([open]) > summary").all():
        try:
            d.click(timeout=2_000)
        except Exception:
            pass  # redrawn under the click: the next pass opens it


def test_no_link_from_model_or_tool_text_in_chromium(web, server):
    """A model that writes every link trick into its answer, thinking, tool names and
    arguments, tools that return and raise them, a server error that carries them, and a
    question (the sidebar's title) full of them: the page shows them all as text, and no
    <a href> or <img src> of them ever exists, streamed, final or re-drawn from the history."""
    sync_playwright = _browser_or_skip()
    calls = [
        {"name": "https://evil.example/toolname [t](https://evil.example/tn) www.evil.example", "arguments": {}},
        {"name": "Hostile.echo", "arguments": {"text": "[arg](https://evil.example/arg) https://evil.example/a"}},
        {"name": "Hostile.data", "arguments": {"text": "bob@evil.example"}},
        {"name": "Hostile.fail", "arguments": {"text": "<https://evil.example/fail>"}},
        {"name": "EnvChecker.check_torch_env", "arguments": {"nope": "![x](https://evil.example/argimg)"}},
    ]
    tool_calls = "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)
    server.replies = [
        f"<think>{HOSTILE_TEXT}</think>Checking [this](https://evil.example/pre) first.{tool_calls}",
        "Here is **the answer**, with a list:\n\n- one *item*\n- two\n\n```python\nprint('https://evil.example/in-code')\n```\n\n"
        + HOSTILE_TEXT
        + "\n\nEND-OF-ANSWER",
        {"status": 400, "error": "server says " + HOSTILE_TEXT},  # 400: not retried,
    ]
    question = "[q](https://evil.example/q) https://evil.example/title " + HOSTILE_TEXT
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(RECORD_LINKS)
            page.goto(web)
            page.wait_for_selector("h1:has-text('liteagent')", timeout=30_000)
            page.wait_for_timeout(1_000)
            chrome = set(page.evaluate("() => window.__links"))  # Streamlit's own, before any model text
            box = page.get_by_placeholder("Ask something…")
            box.fill(question)
            box.press("Enter")
            page.get_by_text("END-OF-ANSWER").first.wait_for(timeout=60_000)
            page.locator("[data-testid=stSidebar] button", has_text="evil.example").first.wait_for(timeout=30_000)
            _open_panels(page)
            box.fill("again")
            box.press("Enter")
            page.locator("[data-testid=stAlertContentError]", has_text="server says").first.wait_for(timeout=60_000)
            # the conversation drawn again from the history
            page.locator("[data-testid=stSidebar] button", has_text="evil.example").first.click()
            page.get_by_text("END-OF-ANSWER").first.wait_for(timeout=30_000)
            page.wait_for_timeout(2_000)
            _open_panels(page)
            page.wait_for_timeout(1_000)
            _open_panels(page)
            ARTIFACTS.mkdir(exist_ok=True)
            tall = page.evaluate("() => document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
            page.set_viewport_size({"width": 1280, "height": min(tall + 200, 16_000)})  # the page scrolls inside
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "web-chat-links.png"), full_page=True)
            seen = page.evaluate("() => window.__links")
            now = page.evaluate(
                """() => [...document.querySelectorAll('[href], [src]')].map(
                    e => e.tagName + ' ' + (e.getAttribute('href') ?? e.getAttribute('src')))"""
            )
            text = page.locator("[data-testid=stMainBlockContainer]").inner_text()
            sidebar = page.locator("[data-testid=stSidebar]").inner_text()
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-chat-links-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    own_code = re.compile(rf"(LINK|SCRIPT) (href|src)={re.escape(web)}static/")  # Streamlit's lazy chunks
    made = sorted({x for x in seen if x not in chrome and not own_code.match(x)})
    assert made == [], f"links or images made from model or tool text: {made}"
    assert not [x for x in now if "evil" in x or "javascript:" in x.lower() or "mailto:" in x.lower()], now
    # ... while the text itself is shown: in the answer, the panels, the tool output and errors
    for shown in (
        "https://evil.example/inline?d=secret",
        "https://evil.example/ref",
        "https://evil.example/angle",
        "bob@evil.example",
        "https://evil.example/toolname",
        "https://evil.example/json",
        "https://evil.example/fail",
        "server says",
        "the answer",
    ):
        assert shown in text, shown
    assert "[q](https://evil.example/q)" in sidebar  # the title, as written
