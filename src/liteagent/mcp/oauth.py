"""OAuth 2.1 for MCP servers over HTTP (``"auth": "oauth"`` in a config entry), on the SDK's client
provider: discovery of the server's authorization server, PKCE, dynamic client registration
(or the entry's ``client_id``/``client_secret``, or a client metadata document the user hosts:
``client_metadata_url``), token refresh, and a scope step-up when the
server asks for more.

The person signs in in a browser: the address is printed (and opened where a browser is set up:
Python's ``webbrowser``, ``$BROWSER``), and the authorization server sends the browser back to a
listener on 127.0.0.1 that only this sign-in uses. Tokens and the registered client are kept per
server in ``<data dir>/mcp-auth/`` (files of mode 0600), so the next run signs in no more.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import threading
import weakref
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..errors import ToolError

log = logging.getLogger("liteagent.mcp")
SIGN_IN_S = 300.0  # how long a person has to sign in


def auth_dir() -> Path:
    from ..llms.local import data_dir

    return data_dir() / "mcp-auth"


class FileTokenStorage:
    """The SDK's TokenStorage in a file of mode 0600 per server (its URL's digest)."""

    def __init__(self, server_url: str, folder: Path | None = None) -> None:
        folder = folder or auth_dir()
        self.path = folder / f"{hashlib.sha256(server_url.encode()).hexdigest()[:24]}.json"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, key: str, value: Any) -> None:
        data = self._read()
        data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)

    async def get_tokens(self) -> Any:
        from mcp.shared.auth import OAuthToken

        raw = self._read().get("tokens")
        return OAuthToken.model_validate(raw) if raw else None

    async def set_tokens(self, tokens: Any) -> None:
        self._write("tokens", tokens.model_dump(mode="json", exclude_none=True))

    async def get_client_info(self) -> Any:
        from mcp.shared.auth import OAuthClientInformationFull

        raw = self._read().get("client")
        return OAuthClientInformationFull.model_validate(raw) if raw else None

    async def set_client_info(self, client_info: Any) -> None:
        self._write("client", client_info.model_dump(mode="json", exclude_none=True))

    @property
    def has_tokens(self) -> bool:
        return bool(self._read().get("tokens"))


class SignIn:
    """One person's sign-in: the address shown to them, and the listener the browser comes back to."""

    def __init__(self, server: str, port: int = 0) -> None:
        self.server = server
        self.result: dict[str, str] = {}
        self.done = threading.Event()
        sign_in = self

        class Back(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                if urlparse(self.path).path != "/callback":
                    self.send_error(404)
                    return
                sign_in.result = {k: v[0] for k, v in query.items() if v}
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                what = "failed: " + sign_in.result.get("error", "") if "error" in sign_in.result else "done"
                self.wfile.write(f"liteagent: signing in to {server} {what}. You may close this page.".encode())
                sign_in.done.set()

            def log_message(self, *args: Any) -> None:
                pass

        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Back)  # the port registered before
        except OSError:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Back)
        self.redirect_uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"
        self._thread: threading.Thread | None = None
        weakref.finalize(self, self.httpd.server_close)

    async def redirect(self, authorization_url: str) -> None:
        """Show the person where to sign in (and open it where a browser is set up). The listener
        stays up for the connection's life: a server may ask again (more scope, a new token)."""
        self.done.clear()
        self.result = {}
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, name="mcp-oauth", daemon=True)
            self._thread.start()
        print(f"liteagent: sign in to the MCP server {self.server}: {authorization_url}", file=sys.stderr, flush=True)
        await asyncio.to_thread(_open_browser, authorization_url)

    async def callback(self) -> Any:
        """The code the authorization server sent the browser back with."""
        from mcp.shared.auth import AuthorizationCodeResult

        if not await asyncio.to_thread(self.done.wait, SIGN_IN_S):
            raise ToolError(f"MCP server {self.server}: nobody signed in within {SIGN_IN_S:g} s")
        got = self.result
        if "error" in got:
            why = got.get("error_description") or got["error"]
            raise ToolError(f"MCP server {self.server}: signing in failed ({why})")
        if "code" not in got:
            raise ToolError(f"MCP server {self.server}: the sign-in came back without a code")
        return AuthorizationCodeResult(code=got["code"], state=got.get("state"), iss=got.get("iss"))

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread = None
        self.httpd.server_close()


def _port_of(uris: list[str]) -> int:
    for uri in uris:
        parsed = urlparse(str(uri))
        if parsed.hostname == "127.0.0.1" and parsed.port:
            return parsed.port
    return 0


def _open_browser(url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception as exc:  # no browser here: the printed address is enough
        log.debug("no browser opened: %s", exc)


def oauth_provider(cfg: Any, folder: Path | None = None) -> Any:
    """The SDK's OAuthClientProvider (an httpx Auth) for one config entry."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata
    from pydantic import AnyUrl

    assert cfg.url
    storage = FileTokenStorage(cfg.url, folder)
    registered = storage._read().get("client") or {}
    sign_in = SignIn(cfg.name, _port_of(registered.get("redirect_uris") or []))
    if registered and sign_in.redirect_uri not in (registered.get("redirect_uris") or []) and not cfg.client_id:
        storage._write("client", None)  # its redirect port is taken now: register again
    redirect = [AnyUrl(sign_in.redirect_uri)]
    if cfg.client_id:  # registered ahead: the entry's client, not a dynamic registration
        info = OAuthClientInformationFull(
            client_id=cfg.client_id,
            client_secret=cfg.client_secret,
            redirect_uris=redirect,
            token_endpoint_auth_method="client_secret_basic" if cfg.client_secret else "none",
        )
        storage._write("client", info.model_dump(mode="json", exclude_none=True))
    metadata = OAuthClientMetadata(
        client_name="liteagent",
        redirect_uris=redirect,
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_basic" if cfg.client_secret else "none",
    )
    return OAuthClientProvider(
        server_url=cfg.url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=sign_in.redirect,
        callback_handler=sign_in.callback,
        client_metadata_url=cfg.client_metadata_url,
    )
