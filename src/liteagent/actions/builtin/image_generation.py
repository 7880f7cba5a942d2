"""ImageGeneration: the tutorial's MagicMaker role, on any OpenAI-images-compatible endpoint."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated

from pydantic import Field

from ...errors import ToolError
from ...messages import ResultItem
from ..base import BaseAction, tool_api
from .http import fetch

_MAGIC = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp", b"GIF8": ".gif"}


class ImageGeneration(BaseAction):
    """Generate an image from a text description.

    Args:
        base_url: an OpenAI-images-compatible API, e.g. http://127.0.0.1:8000/v1
            (default ``$LITEAGENT_IMAGE_URL``).
        model: the image model (default ``$LITEAGENT_IMAGE_MODEL``; the server's own if unset).
        api_key: bearer token (default ``$LITEAGENT_IMAGE_API_KEY``, then ``$OPENAI_API_KEY``).
        out_dir: where images are saved (default: a liteagent-images folder in the temp dir).
        timeout: seconds to wait for the image.
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        timeout: float = 120.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.base_url = (base_url or os.environ.get("LITEAGENT_IMAGE_URL") or "").rstrip("/")
        self.model = model or os.environ.get("LITEAGENT_IMAGE_MODEL")
        self.api_key = api_key or os.environ.get("LITEAGENT_IMAGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.gettempdir()) / "liteagent-images"
        self.timeout = timeout

    @tool_api(timeout=300)
    async def run(
        self,
        prompt: str,
        size: Annotated[str, Field(pattern=r"^\d{2,4}x\d{2,4}$")] = "1024x1024",
    ) -> list[ResultItem]:
        """Generate an image according to a description and return the saved image.

        Args:
            prompt: what the image should show
            size: width x height in pixels, e.g. 1024x1024
        """
        if not self.base_url:
            raise ToolError(
                "ImageGeneration has no endpoint: set LITEAGENT_IMAGE_URL (an OpenAI-images-compatible "
                "API such as http://127.0.0.1:8000/v1) or pass ImageGeneration(base_url=...)"
            )
        url = self.base_url if self.base_url.endswith("/images/generations") else f"{self.base_url}/images/generations"
        body: dict[str, object] = {"prompt": prompt, "size": size, "n": 1, "response_format": "b64_json"}
        if self.model:
            body["model"] = self.model
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else None
        status, raw = await fetch(
            url, service="the image service", method="POST", json_body=body, headers=headers, timeout=self.timeout
        )
        if status != 200:
            raise ToolError(f"the image service answered {status}: {_message(raw)}")
        try:
            item = json.loads(raw)["data"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ToolError("the image service's answer has no data[0] image") from None
        if item.get("b64_json"):
            try:
                data = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise ToolError("the image service sent an image that is not valid base64") from None
        elif item.get("url"):
            status, data = await fetch(item["url"], service="the image download", timeout=self.timeout)
            if status != 200:
                raise ToolError(f"downloading the generated image failed ({status})")
        else:
            raise ToolError("the image service's answer has neither b64_json nor url")
        ext = next((e for magic, e in _MAGIC.items() if data.startswith(magic)), None)
        if ext is None:
            raise ToolError("the image service sent data that is not a PNG, JPEG, WebP or GIF image")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-zA-Z0-9]+", "-", prompt)[:40].strip("-") or "image"
        path = self.out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{uuid.uuid4().hex[:6]}{ext}"
        path.write_bytes(data)
        revised = item.get("revised_prompt")
        text = f"Image saved to {path}" + (f" (prompt as revised by the model: {revised})" if revised else "")
        return [ResultItem.text(text), ResultItem.image(str(path))]


def _message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        err = data.get("error", data)
        msg = err.get("message") if isinstance(err, dict) else err
        return " ".join(str(msg).split())[:300]
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace").strip()[:300]
