"""How conversation records look on the page. Text is Markdown with HTML escaped and remote
images disabled; tool output is shown as code, JSON, images or downloads, never as HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import streamlit as st

from .i18n import t

STATUS_COLOR = {
    "success": "green",
    "args_error": "orange",
    "invalid_action": "orange",
    "api_error": "red",
    "timeout": "red",
}
_IMAGE = re.compile(r"!\[")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$^=])")


def safe_markdown(text: str) -> str:
    """Streamlit escapes HTML in Markdown; also keep ``![x](url)`` from loading remote images."""
    return _IMAGE.sub(r"!\\[", text)


def plain(text: Any) -> str:
    """Text from a model, a tool or a file, for places Streamlit renders as Markdown (labels,
    titles, errors, captions): every Markdown character escaped, so it shows as written and
    can neither load an image nor make a link."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def render_tool(call: dict[str, Any], result: dict[str, Any] | None, lang: str) -> None:
    status = (result or {}).get("status", "…")
    color = STATUS_COLOR.get(status, "gray")
    elapsed = (result or {}).get("elapsed")
    timing = f" · {elapsed:.2f} s" if isinstance(elapsed, (int, float)) else ""
    name = plain(call.get("name") or "?")
    status_text = plain(status)
    with st.expander(f"🔧 {name} · :{color}[{status_text}]{timing}", expanded=status != "success"):
        st.caption(t(lang, "arguments"))
        if call.get("error"):
            st.code(call.get("raw", ""), language=None)
        else:
            st.json(call.get("arguments", {}))
        if result is None:
            return
        st.caption(t(lang, "result"))
        if result.get("error"):
            st.error(plain(result["error"]))
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


def render_records(records: list[dict[str, Any]], lang: str) -> None:
    """The saved conversation: user turns, assistant turns with their tool panels, errors."""
    results = {r["message"].get("tool_call_id"): r.get("result") for r in records if r["message"]["role"] == "tool"}
    block: list[dict[str, Any]] = []

    def flush() -> None:
        if not block:
            return
        with st.chat_message("assistant"):
            for rec in block:
                m = rec["message"]
                if m.get("name") == "error":
                    st.error(f"{t(lang, 'error')}: {plain(rec.get('error'))}")
                    continue
                if m.get("thinking"):
                    with st.expander(t(lang, "thinking")):
                        st.text(m["thinking"])
                if m.get("content"):
                    st.markdown(safe_markdown(m["content"]))
                for call in m.get("tool_calls", []):
                    render_tool(call, results.get(call.get("id")), lang)
        block.clear()

    for rec in records:
        m = rec["message"]
        if m["role"] == "user":
            flush()
            with st.chat_message("user"):
                if m.get("name") == "file":
                    info = json.loads(m["content"])
                    st.caption(t(lang, "uploaded", name=plain(Path(info["path"]).name), size=info["size"]))
                else:
                    st.markdown(safe_markdown(m["content"]))
        elif m["role"] in ("assistant",) or m.get("name") == "error":
            block.append(rec)
    flush()
