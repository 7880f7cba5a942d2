"""One HTTP request for a built-in plugin, with failures worded for the model (ToolError)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ...errors import ToolError


async def fetch(
    url: str,
    *,
    service: str,
    method: str = "GET",
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> tuple[int, bytes]:
    """(status, body). Connection failures and timeouts raise ToolError naming ``service``."""
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False, headers=headers
            ) as session,
            session.request(method, url, params=params, json=json_body) as r,
        ):
            return r.status, await r.read()
    except (asyncio.TimeoutError, TimeoutError):
        raise ToolError(f"{service} did not answer within {timeout:g} s ({url})") from None
    except aiohttp.ClientConnectorError as exc:
        raise ToolError(f"cannot reach {service} at {url} ({exc.os_error or exc})") from None
    except aiohttp.ClientError as exc:
        raise ToolError(f"request to {service} failed: {type(exc).__name__}: {exc}") from None
