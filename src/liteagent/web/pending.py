"""What the page shows while the conversation's last run is not finished: each call that waits for
a person (its tool and the exact arguments that will run, with Approve, Reject with a reason, and
Always; or the question its tool asked, as a form with Send and Decline), or Continue for a run cut
off by a restart. A click stores a ``runtime.Decision`` in the
page's state; the page then resumes the run with it (``app``). What is shown comes from the
session's items (``runtime.run_state``), so a reload or a server restart shows the same."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from ..actions.context import form_choices
from ..results import PendingCall
from .i18n import t
from .markup import code_span, plain
from .runtime import Decision


def _decide(decision: Decision) -> None:
    st.session_state.decision = decision


def _reject(call: PendingCall, reason_key: str) -> None:
    reason = str(st.session_state.get(reason_key) or "")
    st.session_state.decision = Decision("reject", call.id, call.tool, reason)


def _tag(conversation: str, call_id: str) -> str:
    """A widget key part for one call (its id is the model's text: hashed, never a key as is)."""
    return hashlib.sha256(f"{conversation}\0{call_id}".encode()).hexdigest()[:16]


def approval_box(pending: list[PendingCall], conversation: str, lang: str, refused: str | None = None) -> None:
    """The calls that wait, each with its buttons; ``refused``: a message typed meanwhile, not sent."""
    with st.chat_message("assistant"):
        asks = all(c.question is not None for c in pending)
        st.markdown(f"**{t(lang, 'question_title' if asks else 'approval_title')}**")
        if refused is not None:
            st.warning(t(lang, "decide_first"))
            st.code(refused, language=None, wrap_lines=True)
        for call in pending:
            tag = _tag(conversation, call.id)
            if call.question is not None:
                question_box(call, tag, lang)
                continue
            with st.container(border=True, key=f"pending-{tag}"):
                st.markdown(t(lang, "approval_call", tool=code_span(call.tool)))
                # the exact arguments, as JSON text (st.code shows text: nothing in it is markup)
                st.code(json.dumps(call.arguments, ensure_ascii=False, indent=2), language="json", wrap_lines=True)
                reason_key = f"reason-{tag}"
                st.text_input(t(lang, "reject_reason"), key=reason_key)
                approve, reject, always = st.columns(3)
                approve.button(
                    t(lang, "approve"),
                    key=f"approve-{tag}",
                    type="primary",
                    on_click=_decide,
                    args=(Decision("approve", call.id, call.tool),),
                    use_container_width=True,
                )
                reject.button(
                    t(lang, "reject"),
                    key=f"reject-{tag}",
                    on_click=_reject,
                    args=(call, reason_key),
                    use_container_width=True,
                )
                always.button(
                    t(lang, "always"),
                    key=f"always-{tag}",
                    help=t(lang, "always_help"),
                    on_click=_decide,
                    args=(Decision("always", call.id, call.tool),),
                    use_container_width=True,
                )


def question_box(call: PendingCall, tag: str, lang: str) -> None:
    """A tool's question: its words (shown as text: a tool or an MCP server wrote them), a field
    per property of its form, Send and Decline. The answer is checked against the form when the
    run resumes (an answer that does not fit is said, and the question stays)."""
    question = call.question or {}
    schema = question.get("schema") or {}
    props = {k: v for k, v in (schema.get("properties") or {}).items() if isinstance(v, dict)}
    required = set(schema.get("required") or ())
    with st.container(border=True, key=f"question-{tag}"):
        st.markdown(t(lang, "question_from", tool=code_span(call.tool)))
        st.text(str(question.get("message", "")))
        keys = {name: f"field-{tag}-{_tag(tag, name)}" for name in props}
        with st.form(key=f"form-{tag}", border=False):
            for name, prop in props.items():
                _field(name, prop, name in required, keys[name], lang)
            st.form_submit_button(t(lang, "send_answer"), type="primary", on_click=_answer, args=(call, keys, props))
        st.button(
            t(lang, "decline"), key=f"decline-{tag}", on_click=_decide, args=(Decision("decline", call.id, call.tool),)
        )


def _field(name: str, prop: dict[str, Any], required: bool, key: str, lang: str) -> None:
    label = plain(prop.get("title") or name) + (" *" if required else "")
    helptext = plain(prop["description"]) if isinstance(prop.get("description"), str) else None
    default = prop.get("default")
    kind = prop.get("type")
    items = prop.get("items") if kind == "array" and isinstance(prop.get("items"), dict) else None
    choices = form_choices(items if items is not None else prop)
    if items is not None and choices:  # several of the choices
        values = [v for v, _ in choices]
        titles = dict((json.dumps(v), title) for v, title in choices)
        chosen = [v for v in default if v in values] if isinstance(default, list) else []
        st.multiselect(
            label,
            values,
            default=chosen,
            key=key,
            help=helptext,
            placeholder=t(lang, "choose"),
            format_func=lambda v: plain(titles.get(json.dumps(v), str(v))),
        )
    elif choices:
        values = [v for v, _ in choices]
        titles = dict((json.dumps(v), title) for v, title in choices)
        index = values.index(default) if default in values else None
        st.selectbox(
            label,
            values,
            index=index,
            key=key,
            help=helptext,
            placeholder=t(lang, "choose"),
            format_func=lambda v: plain(titles.get(json.dumps(v), str(v))),
        )
    elif kind == "boolean":
        st.checkbox(label, value=bool(default), key=key, help=helptext)
    elif kind in ("integer", "number"):
        whole = kind == "integer"
        value = default if isinstance(default, (int, float)) and not isinstance(default, bool) else None
        st.number_input(label, value=value, step=1 if whole else None, key=key, help=helptext)
    else:
        st.text_input(label, value=str(default) if default is not None else "", key=key, help=helptext)


def _answer(call: PendingCall, keys: dict[str, str], props: dict[str, Any]) -> None:
    """The form's values as the answer: an empty field is left out (its default, if any, is filled
    in on resume; a required one left empty makes the answer not fit, which is said); a whole
    number field gives an int."""
    out: dict[str, Any] = {}
    for name, key in keys.items():
        value = st.session_state.get(key)
        if value is None or value == "" or value == []:
            continue
        if props[name].get("type") == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value
    st.session_state.decision = Decision("answer", call.id, call.tool, answer=tuple(out.items()))


def continue_box(state: str, lang: str) -> None:
    """A run that stopped before its answer (cut off by a restart, or the model failed): Continue."""
    with st.chat_message("assistant"):
        st.info(t(lang, "cut_off" if state == "cut_off" else "unanswered"))
        st.button(t(lang, "continue"), key="continue-run", on_click=_decide, args=(Decision("continue"),))
