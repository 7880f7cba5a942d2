"""The OpenAI-compatible service: ``POST /v1/chat/completions`` (streamed or not), ``GET /v1/models``,
``GET /health``. The agent runs its tools on the server; the answer is the assistant message.
Server-side tool progress travels in an extra field of each chunk, ``x_liteagent``, which stock
clients ignore (no fake ``tool_calls``, no named SSE events: the official client parses every
``data:`` line as a chunk). A run that fails ends a stream with a chunk carrying an ``error``
object (the official client raises ``APIError`` on it) and ``data: [DONE]``; what the model server
said, and any unexpected exception, goes to the log under the request id, never to the client.
A run that stops for a person's approval (or a tool's question, for a client that answers them)
ends its answer with ``finish_reason: "tool_calls"`` and the waiting calls (:mod:`.approvals`); the decision comes in a follow-up request on the session,
and a run cut off by a crash goes on before the conversation's next question (:mod:`.jobs`)."""

from __future__ import annotations

import asyncio
import copy
import functools
import hmac
import json
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request  # the "serve" extra; FastAPI reads these annotations at run time
from fastapi.responses import JSONResponse, StreamingResponse

from .. import tracing
from ..agent import Agent, RunResult
from ..agent_host import ToolProgress, with_tool_progress
from ..errors import RunConflict, UsageError
from ..events import ApprovalRequired, ErrorEvent, FinalAnswer, TextDelta, ToolCallEvent, ToolResultEvent
from ..messages import Message, ToolCall
from ..output import OutputSpec
from ..results import PAUSED
from ..sessions import InMemorySession, Session
from . import approvals
from .guard import RequestGuard, check_allowlists
from .jobs import ANSWER, Job, Waiting
from .leases import describe, new_holder
from .store import SessionStore, key_owner

log = logging.getLogger("liteagent.serve")
_JSON = json.JSONEncoder(ensure_ascii=False)
# what clients read when a run fails on our side: the detail (the model server's URL and answer,
# a traceback) is in the log under the same request id
UPSTREAM_FAILED = "the model server failed; see the service log (request id {rid})"
INTERNAL_FAILURE = "the service failed while answering; see the service log (request id {rid})"
LEASE_MARGIN = 30.0  # seconds a conversation's lease outlives the run's time limit


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
            return _error(exc.status, exc.message, exc.kind)
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "liteagent"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        r = Reply(f"chatcmpl-{uuid.uuid4().hex[:24]}", model_name, run_timeout, time.perf_counter())
        try:
            owner = authorize(request)
            parent = tracing.incoming_context(request.headers)
            if parent is not None:  # the run continues the caller's trace (this request's context only)
                tracing.PARENT.set(parent)
            body = await _read_body(request, max_body_bytes)
            job = await _job(agent, body, request, store, owner)
            holder = _lease(store, job.sid, run_timeout)
        except RequestError as exc:
            log.info("%s %s status=%d ms=%.1f", r.rid, "-", exc.status, (time.perf_counter() - r.t0) * 1000)
            return _error(exc.status, exc.message, exc.kind)
        except Exception:  # the session store, say: the detail is the operator's
            log.exception("%s the request failed before the run", r.rid)
            return _error(500, INTERNAL_FAILURE.format(rid=r.rid), "server_error")
        release = functools.partial(store.release, job.sid, holder) if holder else None
        try:
            refused = await _prepare(job, r)
            if refused is not None:
                return refused
            if not body.get("stream"):
                return await _whole(job, r)
            events = job.events()
            first = await _first_event(job, events, r) if job.decision is not None else None
            if isinstance(first, JSONResponse):
                return first
            stream = _stream(job, r, events, first, release)
            release = None  # the stream gives the lease back when it ends
            return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        finally:
            _give_back(release, r.rid)

    return app


@dataclass(frozen=True)
class Reply:
    """How a request is answered: its id, the model name shown, the run's time limit, its start."""

    rid: str
    model: str
    timeout: float
    t0: float


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _lease(store: SessionStore, sid: str, run_timeout: float) -> str | None:
    """Take the conversation's run lease (None for a stateless request); 409 while another request
    runs in it, here or in another process sharing the store."""
    if not sid:
        return None
    holder = new_holder()
    other = store.acquire(sid, holder, run_timeout + LEASE_MARGIN)
    if other is not None:
        raise RequestError(
            409,
            f"a run of conversation {sid!r} is in progress (process {describe(other)}); "
            "send this request again when it has answered",
            "conflict_error",
        )
    return holder


def _give_back(release: Any, rid: str) -> None:
    """Give the conversation's lease back (it would end with its time limit anyway)."""
    if release is None:
        return
    try:
        release()
    except Exception:
        log.exception("%s giving back the conversation's lease failed", rid)


def _refusal(exc: Exception, job: Job) -> tuple[int, str, str] | None:
    """Status, message and type for what a client caused (a bad decision, a conflict); None for a bug."""
    if isinstance(exc, (Waiting, RunConflict)):
        return 409, str(exc), "conflict_error"
    if isinstance(exc, UsageError):  # a decision that fits nothing waiting; nothing was written
        return (400, str(exc), "invalid_request_error") if job.decision else (409, str(exc), "conflict_error")
    return None


async def _prepare(job: Job, r: Reply) -> JSONResponse | None:
    """The error status of a question the conversation cannot take now (calls wait: 409), or None."""
    try:
        await job.prepare()
    except Exception as exc:
        return _failed(exc, job, r, "reading the session")
    return None


def _failed(exc: Exception, job: Job, r: Reply, doing: str) -> JSONResponse:
    """The error status for an exception: what the client caused (400, 409), else a logged 500."""
    refused = _refusal(exc, job)
    if refused is not None:
        _log(r.rid, job.sid, None, f"refused {refused[0]}", r.t0)
        return _error(*refused)
    log.exception("%s %s failed", r.rid, doing)
    _log(r.rid, job.sid, None, "internal_error", r.t0)
    return _error(500, INTERNAL_FAILURE.format(rid=r.rid), "server_error")


def _timed_out(job: Job, r: Reply) -> JSONResponse:
    _log(r.rid, job.sid, None, "timeout", r.t0)
    return _error(504, f"the agent did not answer within {r.timeout:g} s", "timeout")


async def _whole(job: Job, r: Reply) -> Any:
    """The answer of a request without streaming."""
    try:
        result = await asyncio.wait_for(job.run(), r.timeout)
        sid = await job.keep() if result.status in PAUSED else job.sid
    except (asyncio.TimeoutError, TimeoutError):
        return _timed_out(job, r)
    except Exception as exc:
        return _failed(exc, job, r, "the run")
    _log(r.rid, sid, result, result.status, r.t0)
    if result.status == "error":  # the model server failed (its own words name its URL)
        log.warning("%s %s", r.rid, result.error)
        return _error(502, UPSTREAM_FAILED.format(rid=r.rid), "upstream_error")
    if result.status not in ("ok", "truncated") and result.status not in PAUSED:
        return _error(502, f"the agent could not answer: {result.error}", "agent_error")
    reply = _completion(r.rid, r.model, result, job)
    return JSONResponse(reply, headers={"X-Session-Id": sid} if sid else None)


async def _first_event(job: Job, events: Any, r: Reply) -> Any:
    """A decision's first event, before the stream starts: a bad decision or a conflict is then an
    error status (400, 409) like without streaming. The core writes nothing before its claim, and
    its first event comes after it."""
    try:
        return await asyncio.wait_for(events.__anext__(), r.timeout)
    except StopAsyncIteration:
        return None
    except (asyncio.TimeoutError, TimeoutError):
        return _timed_out(job, r)
    except Exception as exc:
        return _failed(exc, job, r, "the run")


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


async def _job(agent: Agent, body: dict[str, Any], request: Any, store: SessionStore, owner: str) -> Job:
    """What the request asks: a decision on waiting calls (``x_liteagent``; its session from
    X-Session-Id or ``user``, its messages not read), or a question in a stored session or in the
    request's own messages as the history. A ``response_format`` makes the answer typed."""
    if body.get("tools") or body.get("functions"):
        raise RequestError(400, "client-side tools are not supported: the server runs its own tools; send no 'tools'")
    agent = _typed(agent, body.get("response_format"))
    try:
        decision = approvals.decision_of(body)
        if approvals.can_answer(body):  # a tool's question stops the run for this client's person
            agent = _asking(agent)
    except approvals.BadDecision as exc:
        raise RequestError(400, str(exc)) from None
    sid = request.headers.get("x-session-id") or body.get("user") or ""
    if decision is not None:
        if not sid:
            raise RequestError(
                400, "a decision needs the session of the paused run: X-Session-Id or user (x_liteagent.session)"
            )
        return Job(agent, _stored(store, sid, owner), sid, decision=decision)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list")
    items = [_to_message(m, i) for i, m in enumerate(messages)]
    last = items[-1]
    if last.role != "user" or not last.content.strip():
        raise RequestError(400, "the last message must be the user's question (role user, non-empty content)")
    if sid:
        return Job(agent, _stored(store, sid, owner), sid, last.content)
    return Job(agent, InMemorySession(items=items[:-1]), "", last.content, store=store, owner=owner)


#: typed copies of a served agent, by response_format (a client sends the same one again and again)
_TYPED: weakref.WeakKeyDictionary[Agent, dict[str, Agent]] = weakref.WeakKeyDictionary()


def _typed(agent: Agent, response_format: Any) -> Agent:
    """The agent answering as ``response_format`` asks: text (as configured), a JSON Schema
    (``json_schema``: the validated JSON is the message content) or any JSON object
    (``json_object``)."""
    if response_format is None:
        return agent
    if not isinstance(response_format, dict) or response_format.get("type") not in (
        "text",
        "json_schema",
        "json_object",
    ):
        raise RequestError(400, "response_format.type must be text, json_schema or json_object")
    kind = response_format["type"]
    if kind == "text":
        return agent
    name: Any
    if kind == "json_object":
        schema: Any = {"type": "object"}
        name = "json_object"
    else:
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise RequestError(400, "response_format.json_schema.schema must be a JSON Schema object")
        schema, name = spec["schema"], spec.get("name")
        if name is not None and not isinstance(name, str):
            raise RequestError(400, "response_format.json_schema.name must be a string")
    key = json.dumps([schema, name], sort_keys=True)
    copies = _TYPED.setdefault(agent, {})
    typed = copies.get(key)
    if typed is None:
        mode = agent.output.mode if agent.output is not None else "auto"
        try:
            typed = agent.with_output(OutputSpec(schema, mode, name=name))
        except UsageError as exc:
            raise RequestError(400, f"response_format: {exc}") from None
        if len(copies) >= 256:
            copies.clear()
        copies[key] = typed
    return typed


#: copies of a served agent whose tools' questions stop the run (for clients that answer them)
_ASKING: weakref.WeakKeyDictionary[Agent, Agent] = weakref.WeakKeyDictionary()


def _asking(agent: Agent) -> Agent:
    """The agent whose tools' questions stop the run for the client's answer (ask_person "pause")."""
    if agent.ask_person == "pause":
        return agent
    other = _ASKING.get(agent)
    if other is None:
        other = copy.copy(agent)
        other.ask_person = "pause"
        _ASKING[agent] = other
    return other


def _stored(store: SessionStore, sid: Any, owner: str) -> Session:
    if not isinstance(sid, str) or len(sid) > 200:
        raise RequestError(400, "the session id must be a string of at most 200 characters")
    session = store.open(sid, owner)
    if session is None:
        raise RequestError(404, f"no session {sid!r} for this key", "not_found_error")
    return session


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
        raise RequestError(
            400,
            f"messages[{i}]: tool messages are not supported (the server runs its own tools; to decide on calls "
            'waiting for approval send x_liteagent {"approve": [ids]} or {"reject": {id: reason}})',
        )
    return Message(role, content)


def _usage(*results: RunResult | None) -> dict[str, int]:
    prompt = sum(int(r.usage.get("prompt_tokens", 0)) for r in results if r is not None)
    completion = sum(int(r.usage.get("completion_tokens", 0)) for r in results if r is not None)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _resumed(job: Job) -> dict[str, Any] | None:
    """What went on before the question: a run cut off by a crash or restart (None: nothing)."""
    if not job.resumed_state or job.resumed is None:
        return None
    asked = job.question_asked
    info = {"type": "resumed", "state": job.resumed_state, "status": job.resumed.status, "answer": job.resumed.answer}
    return {**info, "question_asked": asked}


def _content(result: RunResult) -> str:
    """The message content: the answer, or for a typed run the validated output as JSON."""
    if result.typed and result.output is not None:
        return result.output_json or ""
    return result.answer


def _completion(rid: str, model: str, result: RunResult, job: Job) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": _content(result)}
    finish = "length" if result.status == "truncated" else "stop"
    if result.status in PAUSED:
        finish = "tool_calls"
        message["content"] = approvals.paused_text(result)
        message["tool_calls"] = approvals.tool_calls(result.pending)
        message["x_liteagent"] = approvals.required(job.sid, result.pending)
    before = _resumed(job)
    out = {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(result, job.resumed if before and before["question_asked"] else None),
    }
    if before is not None:
        out["x_liteagent"] = before
    return out


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


async def _stream(job: Job, r: Reply, events: Any, first: Any, release: Any) -> AsyncIterator[bytes]:
    """SSE chunks for one request, always ending with ``data: [DONE]`` unless the client went away
    (then the run is cancelled: its generator is closed). ``first``: an event read already."""
    yield _chunk(r.rid, r.model, {"role": "assistant", "content": ""})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + r.timeout
    typed = getattr(job.agent, "output", None) is not None  # (an app may serve any object with astream)
    result: RunResult | None = None
    status = "cancelled"
    # the run's events, and its tools' progress while they run (one task drives the run)
    merged = with_tool_progress(events)
    try:
        try:
            while True:
                if first is not None:
                    (phase, ev), first = first, None
                else:
                    left = deadline - loop.time()
                    try:
                        item = await asyncio.wait_for(merged.__anext__(), max(left, 0.001))
                    except StopAsyncIteration:
                        break
                    except (asyncio.TimeoutError, TimeoutError):
                        status = "timeout"
                        message = f"the agent did not answer within {r.timeout:g} s"
                        yield _error_chunk(r.rid, r.model, message, "timeout", 504)
                        break
                    if isinstance(item, ToolProgress):
                        yield _progress_chunk(r, item)
                        continue
                    phase, ev = item
                if isinstance(ev, (FinalAnswer, ErrorEvent, ApprovalRequired)) and phase == ANSWER:
                    result, status = ev.result, "error" if isinstance(ev, ErrorEvent) else ev.result.status
                if isinstance(ev, ApprovalRequired):
                    status = ev.result.status if ev.result is not None else "needs_approval"
                    for piece in _approval_chunks(job, r, ev.result, await job.keep()):
                        yield piece
                    continue
                if phase == ANSWER:
                    if typed and isinstance(ev, TextDelta):
                        continue  # a typed answer comes whole, validated, with the final chunk
                    if typed and isinstance(ev, FinalAnswer) and ev.result.output is not None:
                        yield _chunk(r.rid, r.model, {"content": _content(ev.result)})
                chunk = _event_chunk(ev, r.rid, r.model) if phase == ANSWER else _resumed_chunk(job, ev, r)
                if chunk is not None:
                    yield chunk
        except Exception as exc:  # a conflict, or a bug deep in a run: the stream still ends properly
            refused = _refusal(exc, job)
            if refused is None:
                log.exception("%s the run failed mid-stream", r.rid)
                refused = 500, INTERNAL_FAILURE.format(rid=r.rid), "server_error"
            status = f"refused {refused[0]}" if refused[0] != 500 else "internal_error"
            yield _error_chunk(r.rid, r.model, refused[1], refused[2], refused[0])
        yield b"data: [DONE]\n\n"
    finally:
        try:
            await merged.aclose()  # ends the run's task, and the run
        except Exception:
            log.exception("%s closing the run failed", r.rid)
        _give_back(release, r.rid)
        _log(r.rid, job.sid, result, status, r.t0)


def _progress_chunk(r: Reply, p: ToolProgress) -> bytes:
    """A running tool's progress (``x_liteagent``), sent while it runs."""
    info: dict[str, Any] = {"type": "tool_progress", "id": p.call_id, "name": p.tool, "progress": p.progress}
    info["total"] = p.total
    if p.message:
        info["message"] = p.message
    return _chunk(r.rid, r.model, {}, x_liteagent=info)


def _approval_chunks(job: Job, r: Reply, result: RunResult, sid: str) -> list[bytes]:
    """The end of a stream whose run stopped for approval: the waiting calls as ``tool_calls``
    deltas, then ``finish_reason: "tool_calls"`` with ``x_liteagent`` (and what went on before)."""
    info = approvals.required(sid, result.pending)
    before = _resumed(job)
    if before is not None:
        info["resumed"] = before
    usage = _usage(result)
    return [
        _chunk(r.rid, r.model, {"tool_calls": approvals.tool_calls(result.pending, indexed=True)}),
        _chunk(r.rid, r.model, {}, "tool_calls", usage=usage, x_liteagent=info),
    ]


def _resumed_chunk(job: Job, ev: Any, r: Reply) -> bytes | None:
    """A chunk for an event of the cut-off run that goes on before the question: its tool progress
    and, at its end, its answer in ``x_liteagent`` (never in the content: that is the question's)."""
    if isinstance(ev, (ToolCallEvent, ToolResultEvent, ErrorEvent)):
        return _event_chunk(ev, r.rid, r.model)
    if isinstance(ev, FinalAnswer) and not job.question_asked:
        message = f"the conversation's cut-off run went on and ended with {ev.result.status}: {ev.result.error}"
        return _error_chunk(r.rid, r.model, message + "; the question was not asked", "agent_error", 502)
    if isinstance(ev, FinalAnswer):
        return _chunk(r.rid, r.model, {}, x_liteagent=_resumed(job))
    return None


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
    usage = result.usage if result else {}
    log.info(
        "%s session=%s turns=%d tool_calls=%d tokens_in=%d tokens_out=%d status=%s ms=%.1f", rid, sid or "-", turns,
        calls, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), status,
        (time.perf_counter() - t0) * 1000,
    )  # fmt: skip
