"""End to end in real headless Chromium (Debian's chromium, driven by playwright's Python
package): open the page, ask, see the tool-call panel and the final answer, keep a screenshot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_or_skip():
    """Skips with its reason where no Chromium is installed (a fresh machine), and fails there
    when LITEAGENT_REQUIRE_BROWSER=1 (CI sets it after installing Chromium)."""
    required = os.environ.get("LITEAGENT_REQUIRE_BROWSER") == "1"
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = "Chromium is not installed (apt-get install chromium)"
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
