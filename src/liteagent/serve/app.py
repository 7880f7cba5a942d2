"""The OpenAI-compatible service: ``POST /v1/chat/completions`` (streamed or not), ``GET /v1/models``,
``GET /health``. The agent runs its tools on the server; the answer is the assistant message.
Server-side tool progress travels in an extra field of each chunk, ``x_liteagent``, which stock
clients ignore (no fake ``tool_calls``, no named SSE events: the official client parses every
``data:`` line as a chunk). A run that fails ends a stream with a chunk carrying an ``error``
object (the official client raises ``APIError`` on it) and ``data: [DONE]``; what the model server
said, and any unexpected exception, goes to the log under the request id, never to the client."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request  # the "serve" extra; FastAPI reads these annotations at run time
from fastapi.responses import JSONResponse, StreamingResponse

from ..agent import Agent, RunResult
from ..events import ErrorEvent, FinalAnswer, TextDelta, ToolCallEvent, ToolResultEvent
from ..messages import Message, ToolCall
from ..sessions import InMemorySession, Session
from .guard import RequestGuard, check_allowlists
from .store import SessionStore, key_owner

log = logging.getLogger("liteagent.serve")
_JSON = json.JSONEncoder(ensure_ascii=False)
# what clients read when a run fails on our side: the detail (the model server's URL and answer,
# a traceback) is in the log under the same request id
UPSTREAM_FAILED = "the model server failed; see the service log (request id {rid})"
INTERNAL_FAILURE = "the service failed while answering; see the service log (request id {rid})"


class RequestError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def create_app(
    agent: Agent,
    store: SessionStore,
    *,
    model_name: str = "liteagent",
    api_key: str | None = None,
    max_body_bytes: int = 1_000_000,
    run_timeout: float = 300.0,
    bound_host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
) -> Any:
    """A FastAPI app serving ``agent``. With ``api_key``, every request needs
    ``Authorization: Bearer KEY`` (401 otherwise); a session id is only usable with the key that
    created it (404 otherwise). With or without a key, a request must name this service in
    ``Host`` (``bound_host``, loopback, or one of ``allowed_hosts``; 421), come from no page or
    from one of ``allowed_origins`` (403) and send JSON (415): see :class:`.guard.RequestGuard`."""
    check_allowlists(allowed_hosts, allowed_origins)
    app = FastAPI(title="liteagent", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        RequestGuard, bound_host=bound_host, allowed_hosts=list(allowed_hosts), allowed_origins=list(allowed_origins)
    )
    expected = f"Bearer {api_key}".encode() if api_key else None

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

    def authorize(request: Request) -> str:
        if expected is None:
            return key_owner(None)
        got = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(got, expected):
            raise RequestError(401, "missing or wrong API key (Authorization: Bearer KEY)", "authentication_error")
        return key_owner(api_key)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        try:
            authorize(request)
        except RequestError as exc:
            return error(exc.status, exc.message, exc.kind)
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "liteagent"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        t0 = time.perf_counter()
        try:
            owner = authorize(request)
            body = await _read_body(request, max_body_bytes)
            question, session, sid = await _conversation(body, request, store, owner)
        except RequestError as exc:
            log.info("%s %s status=%d ms=%.1f", rid, "-", exc.status, (time.perf_counter() - t0) * 1000)
            return error(exc.status, exc.message, exc.kind)
        except Exception:  # the session store, say: the detail is the operator's
            log.exception("%s the request failed before the run", rid)
            return error(500, INTERNAL_FAILURE.format(rid=rid), "server_error")
        if body.get("stream"):
            events = _stream(agent, question, session, rid, model_name, run_timeout, sid, t0)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        try:
            result = await asyncio.wait_for(agent.arun(question, session), run_timeout)
        except (asyncio.TimeoutError, TimeoutError):
            _log(rid, sid, None, "timeout", t0)
            return error(504, f"the agent did not answer within {run_timeout:g} s", "timeout")
        except Exception:
            log.exception("%s the run failed", rid)
            _log(rid, sid, None, "internal_error", t0)
            return error(500, INTERNAL_FAILURE.format(rid=rid), "server_error")
        _log(rid, sid, result, result.status, t0)
        if result.status == "error":  # the model server failed (its own words name its URL)
            log.warning("%s %s", rid, result.error)
            return error(502, UPSTREAM_FAILED.format(rid=rid), "upstream_error")
        if result.status not in ("ok", "truncated"):
            return error(502, f"the agent could not answer: {result.error}", "agent_error")
        return _completion(rid, model_name, result)

    return app


async def _read_body(request: Any, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the request is larger than {limit} bytes")
    raw = b""
    async for piece in request.stream():
        raw += piece
        if len(raw) > limit:
            raise RequestError(413, f"the request is larger than {limit} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise RequestError(400, "the body is not JSON") from None
    except RecursionError:
        raise RequestError(400, "the body is JSON nested too deeply (arrays and objects inside one another)") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    return body


async def _conversation(
    body: dict[str, Any], request: Any, store: SessionStore, owner: str
) -> tuple[str, Session, str]:
    """The question and the session to answer it in: a stored one (X-Session-Id or ``user``), or
    the request's own messages as the history."""
    if body.get("tools") or body.get("functions"):
        raise RequestError(400, "client-side tools are not supported: the server runs its own tools; send no 'tools'")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list")
    items = [_to_message(m, i) for i, m in enumerate(messages)]
    last = items[-1]
    if last.role != "user" or not last.content.strip():
        raise RequestError(400, "the last message must be the user's question (role user, non-empty content)")
    sid = request.headers.get("x-session-id") or body.get("user") or ""
    if sid:
        if not isinstance(sid, str) or len(sid) > 200:
            raise RequestError(400, "the session id must be a string of at most 200 characters")
        session = store.open(sid, owner)
        if session is None:
            raise RequestError(404, f"no session {sid!r} for this key", "not_found_error")
        return last.content, session, sid
    return last.content, InMemorySession(items=items[:-1]), ""


def _to_message(m: Any, i: int) -> Message:
    if not isinstance(m, dict):
        raise RequestError(400, f"messages[{i}] must be an object")
    role = m.get("role")
    content = m.get("content")
    if isinstance(content, list):  # content parts: their text
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is None:
        content = ""
    if role not in ("system", "user", "assistant", "tool") or not isinstance(content, str):
        raise RequestError(400, f"messages[{i}]: role must be system, user, assistant or tool and content text")
    if role == "tool":  # client-side tool results have no place here: the server runs tools
        raise RequestError(400, f"messages[{i}]: tool messages are not supported (the server runs its own tools)")
    return Message(role, content)


def _usage(result: RunResult) -> dict[str, int]:
    prompt = int(result.usage.get("prompt_tokens", 0))
    completion = int(result.usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(rid: str, model: str, result: RunResult) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.answer},
                "finish_reason": "length" if result.status == "truncated" else "stop",
            }
        ],
        "usage": _usage(result),
    }


def _chunk(rid: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    c: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    c.update(extra)
    return b"data: " + _JSON.encode(c).encode() + b"\n\n"


def _error_chunk(rid: str, model: str, message: str, kind: str, code: int) -> bytes:
    """The last chunk of a failed run: an ``error`` object, which the official client raises as
    ``APIError`` (an empty answer that ends with "stop" would look like a normal one); the same
    message in ``x_liteagent`` as before, for clients that read that."""
    err = {"message": message, "type": kind, "code": code}
    return _chunk(rid, model, {}, "error", error=err, x_liteagent={"type": "error", "message": message})


def _call_info(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}


async def _stream(
    agent: Agent, question: str, session: Session, rid: str, model: str, timeout: float, sid: str, t0: float
) -> AsyncIterator[bytes]:
    """SSE chunks for one run, always ending with ``data: [DONE]`` unless the client went away
    (then the run is cancelled: its generator is closed)."""
    yield _chunk(rid, model, {"role": "assistant", "content": ""})
    deadline = asyncio.get_running_loop().time() + timeout
    events: Any = agent.astream(question, session)  # an async generator: closed below
    result: RunResult | None = None
    status = "cancelled"
    try:
        try:
            while True:
                left = deadline - asyncio.get_running_loop().time()
                try:
                    ev = await asyncio.wait_for(events.__anext__(), max(left, 0.001))
                except StopAsyncIteration:
                    break
                except (asyncio.TimeoutError, TimeoutError):
                    status = "timeout"
                    yield _error_chunk(rid, model, f"the agent did not answer within {timeout:g} s", "timeout", 504)
                    break
                if isinstance(ev, FinalAnswer):
                    result, status = ev.result, ev.result.status
                elif isinstance(ev, ErrorEvent):
                    result, status = ev.result, "error"
                chunk = _event_chunk(ev, rid, model)
                if chunk is not None:
                    yield chunk
        except Exception:  # a bug or a RecursionError deep in a run: the stream still ends properly
            log.exception("%s the run failed mid-stream", rid)
            status = "internal_error"
            yield _error_chunk(rid, model, INTERNAL_FAILURE.format(rid=rid), "server_error", 500)
        yield b"data: [DONE]\n\n"
    finally:
        try:
            await events.aclose()
        except Exception:
            log.exception("%s closing the run failed", rid)
        _log(rid, sid, result, status, t0)


def _event_chunk(ev: Any, rid: str, model: str) -> bytes | None:
    """The SSE chunk for one event of the run (None: not shown to clients)."""
    if isinstance(ev, TextDelta):
        return _chunk(rid, model, {"content": ev.text})
    if isinstance(ev, ToolCallEvent):
        return _chunk(rid, model, {}, x_liteagent=_call_info(ev.call))
    if isinstance(ev, ToolResultEvent):
        text = ev.result.format_for_model(2000)
        info = {"type": "tool_result", "id": ev.call.id, "name": ev.result.name, "status": ev.result.status.value,
                "text": text}  # fmt: skip
        return _chunk(rid, model, {}, x_liteagent=info)
    if isinstance(ev, FinalAnswer):
        finish = "length" if ev.result.status == "truncated" else "stop"
        return _chunk(rid, model, {}, finish, usage=_usage(ev.result))
    if isinstance(ev, ErrorEvent):
        if ev.kind == "llm":  # the model server's words name its URL and carry its answer: the log's
            log.warning("%s %s", rid, ev.message)
            return _error_chunk(rid, model, UPSTREAM_FAILED.format(rid=rid), "upstream_error", 502)
        return _error_chunk(rid, model, f"the agent could not answer: {ev.message}", "agent_error", 502)
    return None


def _log(rid: str, sid: str, result: RunResult | None, status: str, t0: float) -> None:
    turns = result.turns if result else 0
    calls = sum(len(s.tool_calls) for s in result.steps) if result else 0
    log.info(
        "%s session=%s turns=%d tool_calls=%d status=%s ms=%.1f", rid, sid or "-", turns, calls, status,
        (time.perf_counter() - t0) * 1000,
    )  # fmt: skip
