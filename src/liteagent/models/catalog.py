"""The models ``liteagent models pull`` knows by a short name, and how any other GGUF on the
Hugging Face Hub is named (``REPO/FILE.gguf``): where its files are and which dialect it speaks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError
from ..protocols import protocol_for_model

_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)  # llama.cpp's split files


@dataclass(frozen=True)
class ModelRef:
    """One model on the Hub: a catalog entry, or a ``REPO/FILE.gguf`` someone named."""

    name: str  # what users type: a catalog name, or REPO/FILE.gguf
    repo: str
    files: tuple[str, ...]  # the first is the file llama.cpp opens; the others are its split parts
    dialect: str
    context: int | None = None  # the model's trained context, in tokens (None: not known)
    size_mb: int | None = None  # approximate download (None: not known)

    @property
    def filename(self) -> str:
        return self.files[0]


CATALOG: tuple[ModelRef, ...] = (
    ModelRef(
        "internlm2.5-1.8b", "internlm/internlm2_5-1_8b-chat-gguf", ("internlm2_5-1_8b-chat-q4_k_m.gguf",),
        "internlm2", 32768, 1170,
    ),
    ModelRef(
        "internlm2.5-7b", "internlm/internlm2_5-7b-chat-gguf", ("internlm2_5-7b-chat-q4_k_m.gguf",),
        "internlm2", 32768, 4710,
    ),
    ModelRef(
        "qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", ("qwen2.5-1.5b-instruct-q4_k_m.gguf",),
        "hermes", 32768, 1120,
    ),
    ModelRef(
        "qwen2.5-3b", "Qwen/Qwen2.5-3B-Instruct-GGUF", ("qwen2.5-3b-instruct-q4_k_m.gguf",),
        "hermes", 32768, 2100,
    ),
    # Qwen publishes this quantization as two split files; llama.cpp opens the first and finds the other
    ModelRef(
        "qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct-GGUF",
        ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "qwen2.5-7b-instruct-q4_k_m-00002-of-00002.gguf"),
        "hermes", 32768, 4680,
    ),
)  # fmt: skip


def find(name: str) -> ModelRef | None:
    """The catalog entry called ``name`` (any case), or the Hub file ``REPO/FILE.gguf`` (also
    ``hf:REPO/FILE.gguf``) it names; None when it is neither."""
    text = name.strip()
    for entry in CATALOG:
        if text.lower() == entry.name:
            return entry
    text = text.removeprefix("hf:").strip("/")
    parts = text.split("/")
    if len(parts) < 3 or not text.lower().endswith(".gguf") or not all(parts):
        return None
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    for entry in CATALOG:
        if entry.repo.lower() == repo.lower() and entry.filename.lower() == filename.lower():
            return entry
    return ModelRef(text, repo, _split_parts(filename), protocol_for_model(text))


def resolve(name: str) -> ModelRef:
    """``find``, or a one-line error naming what can be pulled."""
    ref = find(name)
    if ref is None:
        raise UsageError(
            f"unknown model {name!r}: name one of {', '.join(e.name for e in CATALOG)}, "
            "or a Hugging Face file as REPO/FILE.gguf (e.g. Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf)"
        )
    return ref


def _split_parts(filename: str) -> tuple[str, ...]:
    """A split GGUF (``...-00001-of-00003.gguf``) comes with all its parts; any other file alone."""
    m = _SPLIT.search(filename)
    if m is None:
        return (filename,)
    total = int(m.group(2))
    stem = filename[: m.start()]
    return tuple(f"{stem}-{i:05d}-of-{total:05d}.gguf" for i in range(1, total + 1))
