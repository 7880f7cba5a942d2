"""What the page shows while the conversation's last run is not finished: each call that waits for
a person (its tool and the exact arguments that will run, with Approve, Reject with a reason, and
Always), or Continue for a run cut off by a restart. A click stores a ``runtime.Decision`` in the
page's state; the page then resumes the run with it (``app``). What is shown comes from the
session's items (``runtime.run_state``), so a reload or a server restart shows the same."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from ..results import PendingCall
from .i18n import t
from .markup import code_span
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
        st.markdown(f"**{t(lang, 'approval_title')}**")
        if refused is not None:
            st.warning(t(lang, "decide_first"))
            st.code(refused, language=None, wrap_lines=True)
        for call in pending:
            tag = _tag(conversation, call.id)
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


def continue_box(state: str, lang: str) -> None:
    """A run that stopped before its answer (cut off by a restart, or the model failed): Continue."""
    with st.chat_message("assistant"):
        st.info(t(lang, "cut_off" if state == "cut_off" else "unanswered"))
        st.button(t(lang, "continue"), key="continue-run", on_click=_decide, args=(Decision("continue"),))
