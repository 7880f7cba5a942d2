"""How conversation records look on the page. Answers and questions are Markdown rendered with no
link or image (``markup``); tool names, errors and output are code, JSON, local images or
downloads; nothing from a model or a tool becomes HTML, a link or a remote image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from ..messages import Message
from ..output import OUTPUT_TOOL, WRAP_KEY
from .i18n import t, web_words
from .markup import answer_parts, code_span, plain

STATUS_COLOR = {
    "success": "green",
    "args_error": "orange",
    "invalid_action": "orange",
    "api_error": "red",
    "timeout": "red",
    "rejected": "orange",
    "interrupted": "red",
}


def show_markdown(text: str, where: Any = None) -> None:
    """Markdown from a model or a user, rendered by ``markup`` (no link, no image, no HTML), into
    ``where`` (a placeholder, replaced whole) or the page."""
    parts = answer_parts(text)
    box = where.container() if where is not None else st.container()
    with box:
        for part in parts:
            if part.code is not None:
                st.code(part.code, language=part.language)
            else:
                st.html(part.html)


def show_error(label: str, message: str) -> None:
    """An error whose text came from outside (a model server, a tool, a plugin): our label, then the
    text as code (Streamlit's alerts render Markdown, which would link it)."""
    st.error(f"{label}: {code_span(message)}")


def show_typed(data: Any, lang: str, where: Any = None) -> None:
    """A typed answer (``output_type``): the validated value as formatted JSON."""
    box = where.container() if where is not None else st.container()
    with box:
        st.caption(t(lang, "typed_answer"))
        st.json(data)


def timeline_of(result: Any) -> tuple[str, str]:
    """Where an answer's time went: a summary (time, the tokens the server reported) and a line
    per model turn (time to the first token) and per call (status, time)."""
    usage = result.usage or {}
    tokens = f" · {usage.get('prompt_tokens', 0)} → {usage.get('completion_tokens', 0)} tokens" if usage else ""
    lines = []
    for i, step in enumerate(result.steps, 1):
        first = f", first token {step.ttft:.2f} s" if step.ttft is not None else ""
        lines.append(f"turn {i}: {step.elapsed:.2f} s{first}")
        for call, ret in zip(step.tool_calls, step.results, strict=False):
            lines.append(f"  {call.name} ({call.id}): {ret.status.value}, {ret.elapsed:.2f} s")
    return f"{result.elapsed:.2f} s{tokens}", "\n".join(lines) or "-"


def show_timeline(summary: str, body: str, lang: str) -> None:
    with st.expander(f"{t(lang, 'timeline')} · {plain(summary)}"):
        st.code(body, language=None)


def typed_answer(call: dict[str, Any], result: dict[str, Any] | None) -> tuple[bool, Any]:
    """Is this call a typed agent's accepted final answer, and its value (unwrapped)?"""
    if call.get("name") != OUTPUT_TOOL or call.get("error") or (result or {}).get("status") != "success":
        return False, None
    args = call.get("arguments")
    if isinstance(args, dict) and list(args) == [WRAP_KEY]:
        return True, args[WRAP_KEY]
    return True, args


def render_tool(
    call: dict[str, Any], result: dict[str, Any] | None, lang: str, waiting: bool = False, asking: bool = False
) -> None:
    """One call's panel; ``waiting``: the call waits for a person (no result yet): for a decision,
    or (``asking``) for the answer to its tool's question."""
    status = t(lang, "asking" if asking else "waiting") if waiting else (result or {}).get("status", "…")
    color = "orange" if waiting else STATUS_COLOR.get(status, "gray")
    elapsed = (result or {}).get("elapsed")
    timing = f" · {elapsed:.2f} s" if isinstance(elapsed, (int, float)) else ""
    name = code_span(call.get("name") or "?")
    status_text = plain(status)
    with st.expander(f"🔧 {name} · :{color}[{status_text}]{timing}", expanded=not waiting and status != "success"):
        st.caption(t(lang, "arguments"))
        if call.get("error"):
            st.code(call.get("raw", ""), language=None)
        else:
            st.json(call.get("arguments", {}))
        if result is None:
            return
        st.caption(t(lang, "result"))
        error = str(result.get("error") or "")
        if "\n" in error.strip():  # a traceback: kept whole, as code
            st.error(t(lang, "error"))
            st.code(error, language=None, wrap_lines=True)
        elif error:
            show_error(t(lang, "error"), error)
        for item in result.get("result", []):
            kind, content = item.get("type"), item.get("content")
            if kind == "text":
                st.code(str(content), language=None)
            elif kind == "json":
                st.json(content)
            elif kind == "image" and Path(str(content)).is_file():
                st.image(str(content))
            elif kind in ("image", "file") and Path(str(content)).is_file():
                path = Path(str(content))
                st.download_button(
                    plain(path.name), path.read_bytes(), file_name=path.name, key=f"dl-{call.get('id')}-{path}"
                )
            else:
                st.code(json.dumps(item, ensure_ascii=False), language=None)


def render_conversation(
    items: list[Message],
    errors: list[tuple[int, str]],
    lang: str,
    waiting: frozenset[str] = frozenset(),
    timelines: list[tuple[int, str, str]] = (),  # type: ignore[assignment]
    asking: frozenset[str] = frozenset(),
) -> None:
    """The saved conversation: user turns, assistant turns with their tool panels (each call with
    the result that answered it, in that turn; ``waiting``: ids of calls that wait for a
    decision or, those in ``asking`` too, an answer), and errors where they happened. Control items (a run's own records) are not shown."""
    errors_at: dict[int, list[str]] = {}
    for pos, msg in errors:
        errors_at.setdefault(pos, []).append(msg)
    timelines_at = {pos: (summary, body) for pos, summary, body in timelines}
    shown: list[tuple[str, str]] = []
    block: list[tuple[Message, list[Message]]] = []  # assistant messages with the tool messages after them
    pending: list[str] = []

    def flush() -> None:
        if not block and not pending:
            return
        with st.chat_message("assistant"):
            for m, tools in block:
                if m.thinking:
                    with st.expander(t(lang, "thinking")):
                        st.text(m.thinking)
                if m.content:
                    show_markdown(m.content)
                for i, call in enumerate(m.tool_calls):
                    answer = next((x for x in tools if x.tool_call_id == call.id), None)
                    if answer is None and i < len(tools) and not tools[i].tool_call_id:
                        answer = tools[i]  # an old record with no ids: by position
                    result = answer.result.to_dict() if answer is not None and answer.result is not None else None
                    typed, value = typed_answer(call.to_dict(), result)
                    if typed:
                        show_typed(value, lang)
                    else:
                        render_tool(
                            call.to_dict(),
                            result,
                            lang,
                            waiting=result is None and call.id in waiting,
                            asking=call.id in asking,
                        )
            for e in pending:
                show_error(t(lang, "error"), web_words(e, lang))
            for summary, body in shown:
                show_timeline(summary, body, lang)
        block.clear()
        pending.clear()
        shown.clear()

    user: list[Message] = []  # one bubble for a question and the files sent with it

    def flush_user() -> None:
        if not user:
            return
        with st.chat_message("user"):
            for u in user:
                if u.name == "file":
                    try:
                        info = json.loads(u.content)
                        name = code_span(Path(info["path"]).name)
                        st.caption(t(lang, "uploaded", name=name, size=int(info["size"])))
                    except (ValueError, KeyError, TypeError):
                        st.caption(code_span(u.content))
                else:
                    show_markdown(u.content)
        user.clear()

    for i, m in enumerate(items):
        if m.role == "user":
            flush()
            user.append(m)
        elif m.role == "assistant":
            flush_user()
            block.append((m, []))
        elif m.role == "tool" and block:
            block[-1][1].append(m)
        pending.extend(errors_at.get(i + 1, []))
        if i + 1 in timelines_at:
            shown.append(timelines_at[i + 1])
    pending.extend(msg for pos, msg in errors if pos > len(items))
    flush_user()
    flush()
