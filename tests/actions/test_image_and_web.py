"""ImageGeneration against a local OpenAI-images-compatible server; WebSearch's offline paths."""

from __future__ import annotations

import base64
import json
import struct
import sys
import threading
import types
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from liteagent import ActionExecutor, ActionStatus
from liteagent.actions.builtin.image_generation import ImageGeneration
from liteagent.actions.builtin.web_search import WebSearch


def tiny_png() -> bytes:
    """A real 2x2 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class FakeImages(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict]] = []

    def log_message(self, *a):
        pass

    def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, tiny_png(), "image/png")

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        FakeImages.bodies.append(body)
        prompt = body["prompt"]
        if "forbidden" in prompt:
            self._send(
                400, json.dumps({"error": {"message": "Your request was rejected by the safety system."}}).encode()
            )
        elif "by url" in prompt:
            host = self.headers["Host"]
            self._send(200, json.dumps({"data": [{"url": f"http://{host}/img.png"}]}).encode())
        elif "not an image" in prompt:
            self._send(200, json.dumps({"data": [{"b64_json": base64.b64encode(b"hello").decode()}]}).encode())
        else:
            payload = {
                "created": 1,
                "data": [
                    {"b64_json": base64.b64encode(tiny_png()).decode(), "revised_prompt": prompt + ", watercolor"}
                ],
            }
            self._send(200, json.dumps(payload).encode())


@pytest.fixture(scope="module")
def images_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeImages)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_generates_and_saves_an_image(images_url, tmp_path):
    ex = ActionExecutor([ImageGeneration(base_url=images_url, model="sd-turbo", api_key="k", out_dir=tmp_path)])
    r = ex.execute("ImageGeneration", {"prompt": "a red square", "size": "512x512"})
    assert r.ok, r.error
    image = next(i for i in r.result if i.type == "image")
    assert image.content.startswith(str(tmp_path)) and image.content.endswith(".png")
    assert open(image.content, "rb").read() == tiny_png()
    assert "watercolor" in r.result[0].content
    sent = FakeImages.bodies[-1]
    assert sent["model"] == "sd-turbo" and sent["size"] == "512x512" and sent["_auth"] == "Bearer k"


def test_url_responses_are_downloaded(images_url, tmp_path):
    r = ActionExecutor([ImageGeneration(base_url=images_url, out_dir=tmp_path)]).execute(
        "ImageGeneration", {"prompt": "by url"}
    )
    assert r.ok and open(r.result[1].content, "rb").read() == tiny_png()


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("forbidden thing", "answered 400: Your request was rejected by the safety system."),
        ("not an image", "not a PNG, JPEG, WebP or GIF"),
    ],
)
def test_service_errors(images_url, tmp_path, prompt, message):
    r = ActionExecutor([ImageGeneration(base_url=images_url, out_dir=tmp_path)]).execute(
        "ImageGeneration", {"prompt": prompt}
    )
    assert r.status is ActionStatus.API_ERROR and message in r.error


def test_not_configured_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("LITEAGENT_IMAGE_URL", raising=False)
    r = ActionExecutor([ImageGeneration()]).execute("ImageGeneration", {"prompt": "cat"})
    assert r.status is ActionStatus.API_ERROR and "LITEAGENT_IMAGE_URL" in r.error


def test_size_is_validated(images_url):
    r = ActionExecutor([ImageGeneration(base_url=images_url)]).execute(
        "ImageGeneration", {"prompt": "x", "size": "huge"}
    )
    assert r.status is ActionStatus.ARGS_ERROR and "size" in r.error


def test_endpoint_from_environment(monkeypatch, images_url):
    monkeypatch.setenv("LITEAGENT_IMAGE_URL", images_url)
    assert ImageGeneration().base_url == images_url


def test_websearch_without_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ddgs", None)  # as if not installed
    r = ActionExecutor([WebSearch()]).execute("WebSearch.search", {"query": "liteagent"})
    assert r.status is ActionStatus.API_ERROR and "pip install 'liteagent[websearch]'" in r.error


def test_websearch_offline_is_a_clear_error(monkeypatch):
    """The internet is not reachable from tests: ddgs is replaced by a stand-in that fails as it does offline."""

    class OfflineDDGS:
        def __init__(self, timeout=None):
            pass

        def text(self, *a, **k):
            raise ConnectionError("Name or service not known")

    monkeypatch.setitem(sys.modules, "ddgs", types.SimpleNamespace(DDGS=OfflineDDGS))
    r = ActionExecutor([WebSearch()]).execute("WebSearch.search", {"query": "liteagent"})
    assert r.status is ActionStatus.API_ERROR and "are you offline?" in r.error
