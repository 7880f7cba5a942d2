"""The liteagent web chat (Streamlit). Started by ``liteagent web``; the page is titled liteagent.

Each browser has its own id (the ``u`` query parameter), its own conversations, uploads and
interpreter kernels. Model and tool output is rendered as text, code, JSON or local images, never
as HTML, a link or a remote image (see ``markup``).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import streamlit as st

from liteagent import sync_bridge
from liteagent.actions.context import progress_text
from liteagent.agent import TOOL_CHOICES
from liteagent.agent_host import ToolProgress, with_tool_progress
from liteagent.controls import Tail
from liteagent.errors import LiteAgentError
from liteagent.events import (
    ApprovalRequired,
    ContextTrimmed,
    ErrorEvent,
    FinalAnswer,
    Progress,
    TextDelta,
    TextReset,
    ThinkingDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnEnd,
)
from liteagent.messages import Message
from liteagent.protocols import DIALECTS
from liteagent.web import runtime
from liteagent.web.i18n import t, web_words
from liteagent.web.markup import STYLE, code_span, plain
from liteagent.web.pending import approval_box, continue_box
from liteagent.web.store import ConversationStore
from liteagent.web.view import (
    render_conversation,
    render_tool,
    show_error,
    show_markdown,
    show_typed,
    timeline_of,
    typed_answer,
)

PAGE = 20  # conversations listed at a time in the sidebar
MAX_UPLOAD_MB = 50


@st.cache_resource
def _store(path: str):  # type: ignore[no-untyped-def]
    return ConversationStore(path)


def _owner() -> str:
    owner = st.query_params.get("u")
    if not owner:
        owner = uuid.uuid4().hex
        st.query_params["u"] = owner
    return owner


def _init(defaults: runtime.Settings) -> None:
    s = st.session_state
    if "initialized" in s:
        return
    s.initialized = True
    lang = st.query_params.get("lang")
    s.lang = lang if lang in ("en", "zh") else defaults.language
    s.backend = defaults.backend
    s.model = defaults.model
    s.base_url = defaults.base_url
    s.api_key = ""  # what a visitor types; the operator's key never reaches the page
    s.conv_page = 1
    s.protocol = defaults.protocol if defaults.protocol in DIALECTS else "auto"
    s.plugins_sel = list(defaults.plugins)
    s.interpreter = defaults.interpreter
    s.max_turns = defaults.max_turns
    s.temperature = float(defaults.temperature)
    s.tool_choice = defaults.tool_choice if defaults.tool_choice in TOOL_CHOICES else "auto"
    s.pending_settings = None
    s.conversation = None
    s.view = None
    s.agent_cache = {}
    s.last_request = None
    s.prompt_dialect = None
    s.custom_system = defaults.system_prompt
    s.custom_plugin = defaults.plugin_prompt
    s.reopen = st.query_params.get("c")  # the conversation open before a reload or a restart


RESTORED = ("backend", "model", "protocol", "plugins_sel", "interpreter", "max_turns", "temperature", "tool_choice")


def _apply_pending(defaults: runtime.Settings) -> None:
    """A reopened conversation's settings, put into the sidebar before its widgets exist."""
    s = st.session_state
    saved = s.get("pending_settings")
    if not saved:
        return
    s.pending_settings = None
    values = {
        "backend": saved.get("backend"),
        "model": saved.get("model"),
        "protocol": saved.get("protocol"),
        "plugins_sel": saved.get("plugins"),
        "interpreter": saved.get("interpreter"),
        "max_turns": saved.get("max_turns"),
        "temperature": saved.get("temperature"),
        "tool_choice": saved.get("tool_choice"),
    }
    for key, value in values.items():
        if value is not None:
            s[key] = value
    if saved.get("base_url") and not runtime.url_locked(defaults):
        s.base_url = saved["base_url"]
    for key, custom in (("system_prompt", "system_prompt"), ("plugin_prompt", "plugin_prompt")):
        if saved.get(custom) is not None:
            s[key] = saved[custom]
    s.prompt_dialect = runtime.resolved_protocol(
        runtime.Settings(backend=s.backend, model=s.model, protocol=s.protocol)
    )


def _sync_prompts(settings: runtime.Settings) -> None:
    """Follow the dialect's default prompts until the user edits them."""
    s = st.session_state
    dialect = runtime.resolved_protocol(settings)
    if s.prompt_dialect == dialect:
        return
    old_sys, old_plug = runtime.default_prompts(s.prompt_dialect) if s.prompt_dialect else (None, None)
    new_sys, new_plug = runtime.default_prompts(dialect)
    if "system_prompt" not in s or s.system_prompt == old_sys:
        s.system_prompt = s.custom_system if s.custom_system is not None and s.prompt_dialect is None else new_sys
    if "plugin_prompt" not in s or s.plugin_prompt == old_plug:
        s.plugin_prompt = s.custom_plugin if s.custom_plugin is not None and s.prompt_dialect is None else new_plug
    s.prompt_dialect = dialect


def _sidebar(defaults: runtime.Settings, store: Any, owner: str) -> runtime.Settings:
    s = st.session_state
    sb = st.sidebar
    lang: str = (
        sb.radio(
            "Language / 语言",
            ["en", "zh"],
            key="lang",
            horizontal=True,
            format_func=lambda v: "English" if v == "en" else "中文",
        )
        or "en"
    )
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang  # the choice survives a reload
    sb.subheader(t(lang, "settings"))
    sb.radio(
        t(lang, "backend"),
        ["local", "openai"],
        key="backend",
        format_func=lambda v: t(lang, "backend_local" if v == "local" else "backend_openai"),
    )
    local = s.backend == "local"
    sb.text_input(
        t(lang, "model"),
        key="model",
        placeholder=runtime.DEFAULT_MODEL_NAME if local else "internlm2_5-7b-chat",
        disabled=local,
        help=t(lang, "model_local") if local else None,
    )
    locked = runtime.url_locked(defaults)
    if locked:
        s.base_url = defaults.base_url
    sb.text_input(
        t(lang, "base_url"),
        key="base_url",
        placeholder="http://127.0.0.1:23333/v1",
        disabled=s.backend == "local" or locked,
        help=t(lang, "url_locked") if locked else None,
    )
    sb.text_input(
        t(lang, "api_key"),
        key="api_key",
        type="password",
        disabled=s.backend == "local",
        placeholder=t(lang, "key_operator") if defaults.api_key else "",
    )
    sb.selectbox(t(lang, "protocol"), DIALECTS, key="protocol")
    base_url, api_key = runtime.connection(defaults, s.base_url, s.api_key)
    settings = dataclasses.replace(  # what visitors cannot set (the embedded model's, the limits) stays the operator's
        defaults,
        backend=s.backend,
        # the embedded backend runs the operator's model (one `liteagent models pull` fetched, or the shipped one)
        model=(defaults.model if defaults.backend == "local" else "") if local else s.model.strip(),
        base_url=base_url,
        api_key=api_key,
        protocol=s.protocol,
        language=lang,
    )
    _sync_prompts(settings)
    sb.text_area(t(lang, "system_prompt"), key="system_prompt", height=90)
    sb.text_area(t(lang, "plugin_prompt"), key="plugin_prompt", height=120)
    choices = runtime.plugin_choices(settings)
    s.plugins_sel = [p for p in s.plugins_sel if p in choices]
    sb.multiselect(t(lang, "plugins"), choices, key="plugins_sel")
    if runtime.INTERPRETER in runtime.available_plugins():
        sb.toggle(t(lang, "interpreter"), key="interpreter")
    sb.selectbox(
        t(lang, "tool_choice"),
        TOOL_CHOICES,
        key="tool_choice",
        format_func=lambda v: t(lang, f"tool_choice_{v}"),
    )
    sb.slider(t(lang, "max_turns"), 1, 20, key="max_turns")
    sb.slider(t(lang, "temperature"), 0.0, 1.5, step=0.05, key="temperature")
    settings.system_prompt = s.system_prompt
    settings.plugin_prompt = s.plugin_prompt
    settings.plugins = list(s.plugins_sel)
    settings.interpreter = bool(s.get("interpreter", False))
    settings.max_turns = int(s.max_turns)
    settings.temperature = float(s.temperature)
    settings.tool_choice = s.tool_choice

    sb.divider()
    sb.subheader(t(lang, "conversations"))
    if sb.button(t(lang, "new_chat"), key="new_chat", use_container_width=True):
        _open(None)
    shown = PAGE * s.conv_page
    for conv in store.conversations(owner, limit=shown):
        label = ("▶ " if conv.id == s.conversation else "") + plain(conv.title)
        if sb.button(label, key=f"conv-{conv.id}", use_container_width=True):
            _open(conv.id, store, owner)
    total = store.count(owner)
    if total > shown and sb.button(t(lang, "more", n=total - shown), key="more_convs", use_container_width=True):
        s.conv_page += 1
        st.rerun()
    if s.conversation:
        sb.caption(t(lang, "export"))
        c1, c2 = sb.columns(2)
        c1.download_button(
            "JSON",
            store.export_json(owner, s.conversation),
            file_name="conversation.json",
            mime="application/json",
            key="export_json",
        )
        c2.download_button(
            "Markdown",
            store.export_markdown(owner, s.conversation),
            file_name="conversation.md",
            mime="text/markdown",
            key="export_md",
        )
        if sb.button(t(lang, "delete"), key="delete", use_container_width=True):
            store.delete(owner, s.conversation)
            _open(None)
            st.rerun()
    return settings


def _open(conversation: str | None, store: Any = None, owner: str = "") -> None:
    s = st.session_state
    for plugin in s.agent_cache.get("plugins", {}).values():  # kernels of the conversation we leave
        close = getattr(plugin, "close", None)
        if close:
            close()
    s.agent_cache = {}
    s.conversation = conversation
    s.view = None
    s.last_request = None
    _address(conversation)
    if conversation and store is not None:
        try:
            s.view = store.load(owner, conversation)
        except KeyError:
            s.conversation = None
            _address(None)
            return
        s.pending_settings = s.view.settings  # the sidebar shows them after the rerun
        st.rerun()


def _address(conversation: str | None) -> None:
    """The open conversation in the page's address (``c``), so that a reload reopens it."""
    if conversation:
        if st.query_params.get("c") != conversation:
            st.query_params["c"] = conversation
    elif "c" in st.query_params:
        del st.query_params["c"]


def _state(view: Any) -> Tail | None:
    """Where the open conversation's last run stands (from its stored items), or None."""
    if view is None or not view.items:
        return None
    try:
        return runtime.run_state(view.items)
    except LiteAgentError as exc:  # a record that does not match its call: nothing is offered to run
        show_error(t(st.session_state.lang, "error"), str(exc))
        return None


def _agent(settings: runtime.Settings, owner: str, cid: str) -> Any:
    """The conversation's agent (None after showing why not), and the plugins' notices."""
    s = st.session_state
    lang = settings.language
    try:
        agent, errors = runtime.agent_for(settings, runtime.work_folder(owner, cid), s.agent_cache)
    except LiteAgentError as exc:
        errors, agent = [], None
        s._error = str(exc)
        show_error(t(lang, "error"), web_words(str(exc), lang))
    # shown now and, after the rerun that follows the turn, once more at the top
    s.notices = [t(lang, "plugin_error", error=code_span(e)) for e in errors]
    for n in s.notices:
        st.warning(n)
    return agent


def _go_on(settings: runtime.Settings, store: Any, owner: str, decision: runtime.Decision) -> None:
    """Resume the open conversation's run with one decision (or none: Continue), streamed as an answer."""
    s = st.session_state
    cid = s.conversation
    s._error = None
    agent = _agent(settings, owner, cid)
    if agent is not None:
        session = store.session(owner, cid)
        with st.chat_message("assistant"):
            _stream(
                lambda: with_tool_progress(agent.aresume_stream(session, **decision.resume_args())), settings.language
            )
    _saved(settings, store, owner, cid)


def _saved(settings: runtime.Settings, store: Any, owner: str, cid: str) -> None:
    s = st.session_state
    store.touch(owner, cid, settings.public())
    if s._error:
        store.add_error(owner, cid, len(store.load(owner, cid).items), s._error)
    timeline = s.get("_timeline")
    if timeline:
        s._timeline = None
        store.add_timeline(owner, cid, len(store.load(owner, cid).items), *timeline)
    s.view = store.load(owner, cid)


def _turn(settings: runtime.Settings, store: Any, owner: str, text: str, files: list[Any]) -> None:
    s = st.session_state
    lang = settings.language
    too_big = [f for f in files if f.size > MAX_UPLOAD_MB * 2**20]
    if too_big:  # refuse the whole message: never a question without the file it is about
        st.error(t(lang, "upload_too_big", name=code_span(too_big[0].name), mb=MAX_UPLOAD_MB))
        return
    if s.conversation is not None:
        s.view = store.load(owner, s.conversation)  # another tab may have gone on since
    state = _state(s.view) if s.conversation is not None else None
    if state is not None and state.state == "needs_approval":  # decide first; the message is shown back
        s.refused = "\n".join([text, *(f.name for f in files)]).strip()
        return
    if s.conversation is None:
        title = (text.strip() or (files[0].name if files else "New chat"))[:48]
        s.conversation = store.create(owner, title, settings.public())
        _address(s.conversation)
    cid = s.conversation
    folder = runtime.work_folder(owner, cid)
    session = store.session(owner, cid)
    s._error = None
    agent = _agent(settings, owner, cid)
    if agent is not None and state is not None and state.state == "cut_off":
        with st.chat_message("assistant"):  # the cut-off run goes on first: the core asks that
            _stream(lambda: with_tool_progress(agent.aresume_stream(session)), lang)
        _saved(settings, store, owner, cid)
        after = _state(s.view)
        if after is not None and after.state == "needs_approval":  # it stopped for approval again
            s.refused = "\n".join([text, *(f.name for f in files)]).strip()
            return
        s._error = None
    uploads: list[Message] = []
    with st.chat_message("user"):
        for f in files:
            uploads.append(runtime.save_upload(folder, f.name, f.getvalue()))
            st.caption(t(lang, "uploaded", name=code_span(f.name), size=f.size))
        if text:
            show_markdown(text)
    if uploads:
        sync_bridge.run_sync(lambda: session.add_items(uploads))
    question = Message("user", text) if text else Message("user", "(see the uploaded file)")
    if agent is not None:
        with st.chat_message("assistant"):
            _stream(lambda: with_tool_progress(agent.astream(question, session)), lang)
    _saved(settings, store, owner, cid)


def _stream(run: Callable[[], AsyncIterator[Any]], lang: str) -> None:
    """Run the agent (``run`` starts it) and show its events as they come: text, thinking, tool
    panels, errors. A refusal before the run starts (a stale decision, another tab resumed first)
    is shown once, not kept with the conversation."""
    try:
        _show_events(sync_bridge.iterate_sync(run, background=True), lang)
    except LiteAgentError as exc:
        st.session_state.notices = [*st.session_state.get("notices", []), code_span(web_words(str(exc), lang))]


def _show_events(events: Any, lang: str) -> None:
    s = st.session_state
    placeholder = st.empty()
    text = ""
    # A redraw renders the whole answer (~2.5 ms per KB, measured on 13 KB): one per delta of a few
    # characters would be quadratic, so redraws space out as the answer grows (at most 1/5 of the time)
    redraw_at = 0.0
    for ev in events:
        if isinstance(ev, TextDelta):
            text += ev.text
            if (now := time.monotonic()) >= redraw_at:
                show_markdown(text + "▌", placeholder)
                redraw_at = time.monotonic() + max(0.05, 4 * (time.monotonic() - now))
        elif isinstance(ev, TextReset):
            with st.expander(t(lang, "thinking")):
                st.text(text)
            text = ""
            placeholder.empty()
        elif isinstance(ev, ThinkingDelta):
            pass  # shown whole in the history view; streaming it would flicker
        elif isinstance(ev, ToolCallEvent):
            if text:
                show_markdown(text, placeholder)
            placeholder = st.empty()
            text = ""
        elif isinstance(ev, ToolResultEvent):
            placeholder.empty()  # the tool's progress, if it showed any
            if not typed_answer(ev.call.to_dict(), ev.result.to_dict())[0]:  # that one shows as the answer
                render_tool(ev.call.to_dict(), ev.result.to_dict(), lang)
                placeholder = st.empty()
        elif isinstance(ev, TurnEnd):
            s.last_request = runtime.request_view(ev.request)
        elif isinstance(ev, Progress):
            placeholder.progress(ev.fraction, text=t(lang, "reading_prompt", pct=int(ev.fraction * 100)))
        elif isinstance(ev, ToolProgress):  # a running tool says how far it is: shown until it ends
            said = progress_text(ev.tool, ev.progress, ev.total, ev.message)
            placeholder.progress(ev.fraction or 0.0, text=code_span(said))
        elif isinstance(ev, ContextTrimmed):
            st.caption(t(lang, "trimmed", n=ev.turns))
        elif isinstance(ev, FinalAnswer) and ev.result.typed and ev.result.output is not None:
            show_typed(ev.result.output_data, lang, placeholder)
            s._timeline = timeline_of(ev.result)
        elif isinstance(ev, FinalAnswer):
            show_markdown(text or ev.answer, placeholder)
            s._timeline = timeline_of(ev.result)
            if ev.result.status != "ok" and ev.result.error:  # truncated, or no answer: kept as an error record too
                s._error = ev.result.error
                st.warning(code_span(ev.result.error))
        elif isinstance(ev, ErrorEvent):
            if text:
                show_markdown(text, placeholder)
            s._error = ev.message
            show_error(t(lang, "error"), web_words(ev.message, lang))
        elif isinstance(ev, ApprovalRequired) and text:  # the calls to decide are drawn after the rerun
            show_markdown(text, placeholder)


def _signed_in(defaults: runtime.Settings) -> bool:
    """With ``liteagent web --password`` (or LITEAGENT_WEB_PASSWORD) set, nothing shows before it."""
    password = runtime.web_password()
    s = st.session_state
    if not password or s.get("signed_in"):
        return True
    lang = defaults.language
    st.title("liteagent")
    with st.form("sign_in"):
        given = st.text_input(t(lang, "password"), type="password", key="password_input")
        if st.form_submit_button(t(lang, "sign_in")):
            if hmac.compare_digest(given.encode(), password.encode()):
                s.signed_in = True
                s.pop("password_input", None)
                st.rerun()
            else:
                time.sleep(1)  # slow down guessing
                st.error(t(lang, "wrong_password"))
    return False


def main() -> None:
    st.set_page_config(page_title="liteagent", page_icon="🪶", layout="wide")
    st.html(STYLE)  # the look of rendered answers (style only: Streamlit puts it out of the flow)
    defaults = runtime.defaults_from_env()
    if not _signed_in(defaults):
        return
    _init(defaults)
    _apply_pending(defaults)
    owner = _owner()
    store = _store(defaults.db)
    reopen = st.session_state.pop("reopen", None)
    if reopen:
        _open(reopen, store, owner)  # reruns with the conversation open
    settings = _sidebar(defaults, store, owner)
    lang = settings.language
    st.title("liteagent")
    s = st.session_state
    for n in s.pop("notices", []) or []:
        st.warning(n)
    if s.view is None or not s.view.items:
        st.caption(t(lang, "empty"))
        if settings.backend == "local" and not settings.model and not settings.model_path:  # the shipped 135M
            st.info(t(lang, "demo_model"))
    state = _state(s.view)
    if s.view is not None:
        waiting = frozenset(state.waiting) if state is not None else frozenset()
        asking = frozenset(p.id for p in state.pending if p.question is not None) if state is not None else frozenset()
        render_conversation(s.view.items, s.view.errors, lang, waiting, s.view.timelines, asking)
    decision = s.pop("decision", None)
    if decision is not None and s.conversation:
        _go_on(settings, store, owner, decision)
        st.rerun()
    elif state is not None and state.state == "needs_approval":
        approval_box(state.pending, s.conversation, lang, s.pop("refused", None))
    elif state is not None and state.state in ("cut_off", "unanswered"):
        continue_box(state.state, lang)
    prompt = st.chat_input(t(lang, "ask"), accept_file="multiple", key="ask")
    if prompt:
        text = prompt.text if hasattr(prompt, "text") else str(prompt)
        files = list(getattr(prompt, "files", []) or [])
        if text.strip() or files:
            _turn(settings, store, owner, text.strip(), files)
            st.rerun()  # the sidebar (list, exports) was drawn before this turn: draw it again
    with st.expander(t(lang, "show_prompt")):
        if s.last_request is None:
            st.caption(t(lang, "no_prompt"))
        elif "prompt" in s.last_request:
            st.code(s.last_request["prompt"], language=None)
            rest = {k: v for k, v in s.last_request.items() if k != "prompt"}
            st.json(rest)
        else:
            st.json(json.loads(json.dumps(s.last_request, default=str)))


main()
