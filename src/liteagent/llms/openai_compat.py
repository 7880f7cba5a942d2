"""A client for any OpenAI-compatible server: lmdeploy api_server, vLLM, Ollama, llama_cpp.server,
OpenAI. /v1/completions for special-token dialects, /v1/chat/completions otherwise; streaming or
not; retries (logged, never silent) on connection errors, 429 and 5xx."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import random
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .. import sync_bridge, tracing
from ..errors import LLMError
from ..jsontext import dumps

if TYPE_CHECKING:
    import aiohttp
from ..request import Request
from .base import LLM, Chunk, GenerationConfig, ToolCallDelta

log = logging.getLogger("liteagent.llm")
_LIVE: weakref.WeakSet[OpenAICompatibleLLM] = weakref.WeakSet()


async def _close_all() -> None:
    """At exit, on each reused loop: close that loop's HTTP sessions (no 'unclosed' warnings)."""
    for llm in list(_LIVE):
        await llm.aclose()


sync_bridge.on_exit(_close_all)

DEFAULT_TIMEOUT = 180.0  # one model call, all in: fits an interactive CLI, room for a 1k-token reply on CPU
START_HINT = (
    "start one, e.g. `lmdeploy serve api_server internlm/internlm2_5-7b-chat --model-name internlm2_5-7b-chat` "
    "(then `base_url=` http://127.0.0.1:23333/v1), or use the embedded model (no `base_url=`)"
)


def normalize_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    path = urlsplit(url).path
    if path in ("", "/"):
        url += "/v1"
    return url


def api_key_from_env() -> str | None:
    return os.environ.get("LITEAGENT_API_KEY") or os.environ.get("OPENAI_API_KEY") or None


class OpenAICompatibleLLM(LLM):
    """Args:
    base_url: the server, e.g. ``http://127.0.0.1:23333/v1``; ``/v1`` is added to a bare host.
    model: the served model name; None asks the server (its first model).
    api_key: sent as a bearer token; default ``$LITEAGENT_API_KEY`` or ``$OPENAI_API_KEY``.
    timeout: seconds one model call may take in all (connecting, retries, the whole reply): a
        server that trickles bytes or stays silent fails at this deadline, not later.
    read_timeout: seconds to wait for the next bytes of a reply (at most ``timeout``).
    max_retries: extra attempts on connection errors, 429 and 5xx, and on a stream that broke off
        before any of it was used (each one logged).
    stream: stream replies (server-sent events) or not.
    """

    base_url: str

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        read_timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        stream: bool = True,
        config: GenerationConfig | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.model = model or ""
        self.api_key = api_key if api_key is not None else api_key_from_env()
        self.timeout = timeout
        self.read_timeout = min(read_timeout, timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.stream = stream
        self.config = config or GenerationConfig()
        self._sessions: dict[int, aiohttp.ClientSession] = {}
        self._model_checked = False
        _LIVE.add(self)

    # -- plumbing ---------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _session(self) -> aiohttp.ClientSession:
        # One session per event loop: sync wrappers may run each call on a loop of their own.
        import aiohttp  # imported on first use: it costs ~0.2 s, which `liteagent tools` need not pay

        loop_id = id(asyncio.get_running_loop())
        session = self._sessions.get(loop_id)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=self.read_timeout),
                # plain-http servers (lmdeploy, vLLM on loopback) need no TLS context: building the
                # default one reads the system's CA store (~40 ms)
                connector=aiohttp.TCPConnector(
                    limit=1024, limit_per_host=1024, ssl=True if self.base_url.startswith("https:") else False
                ),
                headers=self._headers(),
                trust_env=False,
            )
            self._sessions = {k: v for k, v in self._sessions.items() if not v.closed}
            self._sessions[loop_id] = session
        return session

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        loop_id = id(asyncio.get_running_loop())
        for lid, s in sessions.items():
            if lid != loop_id:
                continue  # a session of a finished loop cannot be closed from this one
            await s.close()
        await asyncio.sleep(0)  # let transports finish closing before the loop ends

    def __del__(self) -> None:
        # a client dropped without aclose() (a function's local agent): close its connections
        # here rather than let aiohttp warn about them at garbage collection
        for session in list(getattr(self, "_sessions", {}).values()):
            if not session.closed:
                with contextlib.suppress(Exception):
                    connector = session.connector
                    session.detach()
                    if connector is not None:
                        connector._close()

    def _unreachable(self, exc: BaseException) -> LLMError:
        import aiohttp

        if isinstance(exc, _Deadline):
            reason = f"the reply took longer than {self.timeout:g} s in all"
        elif isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            reason = f"nothing received for {self.read_timeout:g} s"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            refused = getattr(exc.os_error, "errno", None) == errno.ECONNREFUSED or "refused" in str(exc).lower()
            reason = "connection refused" if refused else str(exc.os_error or exc)
        else:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return LLMError(f"cannot reach the model server at {self.base_url} ({reason}); {START_HINT}")

    def _http_error(self, status: int, body: str) -> LLMError:
        detail = body.strip()
        try:
            data = json.loads(body)
            err = data.get("error", data) if isinstance(data, dict) else data
            if isinstance(err, dict):
                detail = err.get("message") or err.get("detail") or json.dumps(err)
            elif isinstance(err, str):
                detail = err
            if isinstance(data, dict) and isinstance(data.get("detail"), str):
                detail = data["detail"]
        except (json.JSONDecodeError, AttributeError):
            pass
        detail = " ".join(str(detail).split())[:300]
        if status in (401, 403):
            return LLMError(
                f"the server at {self.base_url} refused the request ({status}: {detail}); check `api_key=` or $LITEAGENT_API_KEY"
            )
        if status == 404 and self.model and "model" in detail.lower():
            return LLMError(
                f"the server at {self.base_url} does not serve model {self.model!r} ({detail}); see `model=` and GET {self.base_url}/models"
            )
        return LLMError(f"the model server at {self.base_url} answered {status}: {detail}")

    async def list_models(self) -> list[str]:
        import aiohttp

        try:
            async with self._session().get(f"{self.base_url}/models") as r:
                status, text = r.status, await r.text(errors="replace")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None
        if status != 200:
            raise self._http_error(status, text)
        try:
            return [m["id"] for m in json.loads(text).get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LLMError(f"{self.base_url}/models did not answer with an OpenAI model list") from None

    async def resolve_model(self) -> str:
        """Check the model is served (or pick the server's first) once, with a clear error."""
        if self._model_checked:
            return self.model
        try:
            models = await self.list_models()
        except LLMError as exc:
            if "answered 404" in str(exc) and self.model:  # a server without /models: trust the name
                self._model_checked = True
                return self.model
            raise
        if not self.model:
            if not models:
                raise LLMError(f"the server at {self.base_url} serves no model; pass `model=`")
            self.model = models[0]
        elif models and self.model not in models:
            raise LLMError(
                f"the server at {self.base_url} does not serve model {self.model!r}; it serves: {', '.join(models)} (use `model=`)"
            )
        self._model_checked = True
        return self.model

    # -- requests ---------------------------------------------------------------------------
    def build_body(self, request: Request, config: GenerationConfig | None, stream: bool) -> tuple[str, dict[str, Any]]:
        cfg = config or self.config
        body: dict[str, Any] = {"model": self.model, "stream": stream}
        if request.prompt is not None:
            path = "/completions"
            body["prompt"] = request.prompt
        else:
            path = "/chat/completions"
            body["messages"] = request.messages or []
            if request.tools:
                body["tools"] = request.tools
                if request.tool_choice:
                    body["tool_choice"] = request.tool_choice
        if stream and path == "/chat/completions":  # token usage in the stream's last event
            body["stream_options"] = {"include_usage": True}
        if request.stop:
            body["stop"] = request.stop
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.top_p is not None:
            body["top_p"] = cfg.top_p
        body.update(request.extra)
        body.update(cfg.extra)
        return path, body

    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        """The reply in chunks. The call has one deadline (``timeout``) for everything; a stream
        must end with a ``finish_reason`` or ``[DONE]``, or it is an error, never a short reply."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(self.timeout, expire)
        try:
            async for chunk in self._astream(request, config):
                yield chunk
        except asyncio.CancelledError:
            if not expired:
                raise
            uncancel = getattr(task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            raise self._unreachable(_Deadline()) from None
        finally:
            timer.cancel()

    async def _astream(self, request: Request, config: GenerationConfig | None) -> AsyncIterator[Chunk]:
        import aiohttp

        if not self._model_checked:
            await self.resolve_model()
        path, body = self.build_body(request, config, self.stream)
        url = self.base_url + path
        attempt = 0
        while True:
            received = False
            try:
                payload = dumps(body).encode()  # one encode (aiohttp's json= makes an encoder per call)
                traced = tracing.outgoing_headers() if tracing.TURN.get() is not None else None
                headers = {**_JSON_HEADERS, **traced} if traced else _JSON_HEADERS
                async with self._session().post(url, data=payload, headers=headers) as r:
                    if r.status != 200:
                        raise _Status(r.status, await r.text(errors="replace"), r.headers.get("Retry-After"))
                    ctype = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
                    if ctype != "text/event-stream":  # a whole JSON reply (a server that does not stream)
                        if ctype not in ("application/json", "") and not ctype.endswith("+json"):
                            raise self._not_openai(ctype, await r.read())
                        raw = await r.read()
                        try:
                            data = json.loads(raw)
                        except ValueError:
                            raise self._not_openai(ctype or "no content type", raw) from None
                        if not isinstance(data, dict):
                            raise self._not_openai(ctype, raw)
                        if data.get("error"):
                            raise self._http_error(500, json.dumps(data))
                        chunks = self._read(parse_full, data)
                        received = True
                        for chunk in chunks:
                            yield chunk
                        return
                    finished = False
                    events = _sse_data(r.content)
                    async for data in events:
                        if data == "[DONE]":
                            await events.aclose()  # closed here, not left to the loop's finalizer
                            if finished or received:
                                return
                            raise _Incomplete(EMPTY)  # [DONE] alone is no answer, not even an empty one
                        try:
                            event = json.loads(data)
                        except json.JSONDecodeError:
                            raise LLMError(
                                f"the server at {self.base_url} sent a malformed stream event: {data[:120]!r}"
                            ) from None
                        if not isinstance(event, dict):
                            raise LLMError(f"the server at {self.base_url} sent a stream event that is not an object")
                        if event.get("error"):
                            raise self._http_error(500, json.dumps(event))
                        delta = self._read(parse_delta, event)
                        if delta is not None:
                            if delta.finish_reason in _FAILED:  # vLLM: the engine gave up on it
                                raise _Incomplete(f"finish_reason {delta.finish_reason!r}")
                            received = received or bool(delta.text or delta.thinking or delta.tool_calls)
                            finished = finished or delta.finish_reason is not None
                            yield delta
                    if finished:
                        return  # a finish_reason, then the connection closed without [DONE]: complete
                    raise _Incomplete(BROKE_OFF)
            except _Incomplete as inc:
                if attempt >= self.max_retries or received:
                    raise self._incomplete(inc.why) from None
                delay = self.backoff * 2**attempt
                reason = {EMPTY: "the reply was empty", BROKE_OFF: "the stream broke off before any text"}.get(
                    inc.why, f"the reply ended with {inc.why}"
                )
            except _Status as st:
                retryable = st.status == 429 or st.status >= 500
                if not retryable or attempt >= self.max_retries or received:
                    raise self._http_error(st.status, st.body) from None
                delay = _retry_after(st.retry_after) or self.backoff * 2**attempt
                reason = f"{st.status}"
            except (asyncio.TimeoutError, TimeoutError) as exc:  # aiohttp's read timeout is one too
                raise self._unreachable(exc) from None
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                if attempt >= self.max_retries or received:
                    raise self._unreachable(exc) from None
                delay = self.backoff * 2**attempt
                reason = type(exc).__name__
            except aiohttp.ClientError as exc:
                raise LLMError(f"request to {url} failed: {type(exc).__name__}: {exc}") from None
            attempt += 1
            delay *= 1 + random.random() * 0.1
            log.warning(
                "model server %s: %s; retry %d/%d in %.1f s", self.base_url, reason, attempt, self.max_retries, delay
            )
            await asyncio.sleep(delay)

    def _incomplete(self, why: str) -> LLMError:
        if why is EMPTY:
            return LLMError(
                f"the model server at {self.base_url} sent an empty reply (its stream ended with [DONE] and "
                "no text, tool call or finish_reason): no answer came"
            )
        if why is BROKE_OFF:
            return LLMError(
                f"the reply from {self.base_url} broke off before it was complete (the stream ended "
                "without a finish_reason or [DONE]); the partial reply was not used"
            )
        return LLMError(
            f"the model server at {self.base_url} ended the reply with {why}, not a complete answer; "
            "the partial reply was not used (see the server's log)"
        )

    def _read(self, parse: Callable[[dict[str, Any]], _T], data: dict[str, Any]) -> _T:
        """``parse(data)``, an LLMError where the server's JSON is not shaped as OpenAI's."""
        try:
            return parse(data)
        except _Failed as exc:
            raise self._incomplete(str(exc)) from None
        except _EmptyReply as exc:
            raise LLMError(f"the model server at {self.base_url} sent an empty reply ({exc}): no answer came") from None
        except _NotOpenAI as exc:
            raise LLMError(f"the model server at {self.base_url} sent a reply that is not OpenAI's: {exc}") from None
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            raise LLMError(
                f"the model server at {self.base_url} sent a reply that is not OpenAI's (choices, delta, "
                "message or tool_calls of the wrong type)"
            ) from None

    def _not_openai(self, ctype: str, raw: bytes) -> LLMError:
        head = " ".join(raw[:120].decode("utf-8", "replace").split())
        return LLMError(
            f"the server at {self.base_url} answered 200 with {ctype or 'no content type'}, not an OpenAI "
            f"JSON reply or event stream ({head!r}); is `base_url=` the API's address (…/v1)?"
        )


class _Incomplete(Exception):
    """The reply ended short of an answer; ``why`` is EMPTY, BROKE_OFF or a failed finish_reason."""

    def __init__(self, why: str) -> None:
        self.why = why


EMPTY, BROKE_OFF = "empty", "broke off"
#: finish reasons that end a reply short of an answer (vLLM's engine: the request was aborted,
#: or failed); "stop", "length", "tool_calls", "content_filter" are answers, read as such
_FAILED = frozenset({"abort", "error"})
_T = TypeVar("_T")


class _NotOpenAI(ValueError):
    """A reply shaped unlike OpenAI's (the message says how)."""


class _EmptyReply(ValueError):
    """A whole (non-streamed) reply that holds no answer (the message says why)."""


class _Failed(ValueError):
    """A whole reply the server ended with a failed finish_reason (the message names it)."""


_JSON_HEADERS = {"Content-Type": "application/json"}


class _Deadline(Exception):
    pass


async def _sse_data(content: aiohttp.StreamReader) -> AsyncGenerator[str, None]:
    """The ``data:`` payloads of a server-sent-event stream, however the bytes are split."""
    parts: list[bytes] = []  # an unfinished line's pieces: joined once its end comes (bytes += copies)
    async for piece in content.iter_any():
        if b"\n" not in piece:
            parts.append(piece)
            continue
        if parts:
            parts.append(piece)
            piece = b"".join(parts)
        *lines, rest = piece.split(b"\n")  # linear however many events one read holds
        parts = [rest] if rest else []
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip().decode("utf-8", "replace")
    buf = b"".join(parts)
    if buf.startswith(b"data:"):
        yield buf[5:].strip().decode("utf-8", "replace")


class _Status(Exception):
    def __init__(self, status: int, body: str, retry_after: str | None) -> None:
        self.status, self.body, self.retry_after = status, body, retry_after


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), 30.0) if value else None
    except ValueError:
        return None


def _usage(event: dict[str, Any]) -> dict[str, int] | None:
    u = event.get("usage")
    if isinstance(u, dict):
        return {k: v for k, v in u.items() if isinstance(v, int)}
    return None


def parse_delta(event: dict[str, Any]) -> Chunk | None:
    """One streamed event of /v1/completions or /v1/chat/completions (TypeError and the like
    where its fields have the wrong types: the caller says the reply is not OpenAI's)."""
    choices = event.get("choices")
    usage = _usage(event)
    if not choices:
        return Chunk(usage=usage) if usage else None
    c = choices[0]
    chunk = Chunk(finish_reason=_finish(c), usage=usage)
    if "text" in c:
        chunk.text = _str(c.get("text"))
        return chunk
    delta = c.get("delta") or {}
    chunk.text = _str(delta.get("content"))
    chunk.thinking = _str(delta.get("reasoning_content") or delta.get("reasoning"))
    tcs = delta.get("tool_calls")
    if tcs:
        chunk.tool_calls = [_tool_call(i, tc) for i, tc in enumerate(tcs)]
    return chunk


def parse_full(data: dict[str, Any]) -> list[Chunk]:
    """A non-streamed response as chunks; one with no choices, or a choice with no text, no
    tool call and no finish_reason, is an empty reply (_EmptyReply), not an empty answer."""
    choices = data.get("choices")
    if not choices:
        raise _EmptyReply("no choices")
    c = choices[0]
    usage = _usage(data)
    if "text" in c:
        chunk = Chunk(text=_str(c.get("text")), finish_reason=_finish(c), usage=usage)
    else:
        msg = c.get("message") or {}
        chunk = Chunk(
            text=_str(msg.get("content")),
            thinking=_str(msg.get("reasoning_content") or msg.get("reasoning")),
            finish_reason=_finish(c),
            usage=usage,
        )
        if msg.get("tool_calls"):
            chunk.tool_calls = [_tool_call(i, tc) for i, tc in enumerate(msg["tool_calls"])]
    if chunk.finish_reason in _FAILED:
        raise _Failed(f"finish_reason {chunk.finish_reason!r}")
    if not (chunk.text or chunk.thinking or chunk.tool_calls or chunk.finish_reason):
        raise _EmptyReply("a choice with no text, tool call or finish_reason")
    return [chunk]


def _str(value: Any) -> str:
    if value is None or type(value) is str:
        return value or ""
    raise _NotOpenAI(f"text of type {type(value).__name__} where a string belongs")


def _finish(choice: dict[str, Any]) -> str | None:
    reason = choice.get("finish_reason")
    if reason is None or type(reason) is str:
        return reason
    raise _NotOpenAI(f"a finish_reason of type {type(reason).__name__}")


def _tool_call(i: int, tc: dict[str, Any]) -> ToolCallDelta:
    fn = tc.get("function") or {}
    index, id_, name, args = tc.get("index", i), tc.get("id"), fn.get("name"), fn.get("arguments")
    if type(index) is not int or not all(v is None or type(v) is str for v in (id_, name, args)):
        raise _NotOpenAI("a tool call whose index, id, name or arguments has the wrong type")
    return ToolCallDelta(index, id_, name, args)
