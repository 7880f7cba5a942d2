"""Does a grammar allow a text? llama.cpp's own grammar sampler, over the shipped model's
vocabulary only (no weights), one character at a time."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import pytest


def shipped_vocab() -> Iterator[Any]:
    """The shipped model's vocabulary (skips where the model package is not installed)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from liteagent.llms.local import shipped_model

    try:
        path = shipped_model()
    except Exception as exc:
        pytest.skip(f"no shipped model: {exc}")
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    assert model
    yield llama_cpp.llama_model_get_vocab(model)
    llama_cpp.llama_model_free(model)


def accepts(vocab: Any, grammar: str, text: str) -> bool:
    """Would decoding under ``grammar`` allow exactly ``text`` (then the end)?"""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    assert sampler

    def allowed(tok: int) -> bool:
        data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(tok, 0.0, 0.0))
        arr = llama_cpp.llama_token_data_array(data, 1, -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
        return bool(data[0].logit != float("-inf"))

    try:
        for ch in text:  # one character at a time: any tokenisation of the text is then reachable
            raw = ch.encode("utf-8")
            toks = (llama_cpp.llama_token * 8)()
            n = llama_cpp.llama_tokenize(vocab, raw, len(raw), toks, 8, False, True)
            for tok in toks[:n]:
                if not allowed(tok):
                    return False
                llama_cpp.llama_sampler_accept(sampler, tok)
        return allowed(llama_cpp.llama_vocab_eos(vocab))
    finally:
        llama_cpp.llama_sampler_free(sampler)
