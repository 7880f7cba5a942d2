"""The embedded model's state after reading a fixed prompt prefix (system prompt + tools), kept
on disk, so the next process does not read the same prompt from scratch.

An entry is keyed by the model file (path, size, modification time), the settings that shape the
state (context size, GPU layers, llama-cpp version) and the prefix's token ids; it holds those ids
and llama.cpp's state bytes (the KV cache for them). Least recently used entries go when the
folder passes its size cap; entries of a model file that changed or is gone are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

MAGIC = b"LITEAGENT-KV1\n"
DEFAULT_MAX_BYTES = 512 * 2**20


class PrefixCache:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._known: set[str] = set()  # keys this process saved or found

    def key(self, model: Path, settings: tuple[Any, ...], tokens: list[int]) -> str:
        st = model.stat()
        h = hashlib.sha256()
        h.update(json.dumps([str(model.resolve()), st.st_size, st.st_mtime_ns, list(settings)]).encode())
        h.update(b"\0" + b",".join(str(t).encode() for t in tokens))
        return h.hexdigest()[:40]

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.kv"

    def has(self, key: str) -> bool:
        return key in self._known or self._path(key).is_file()

    def load(self, llama: Any, key: str, tokens: list[int]) -> bool:
        """Put the saved state for ``tokens`` into ``llama``; False when there is none (or it
        does not fit: a damaged or foreign file is removed)."""
        import llama_cpp

        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return False
        try:
            if not data.startswith(MAGIC):
                raise ValueError("not a state file")
            head_end = data.index(b"\n", len(MAGIC))
            head = json.loads(data[len(MAGIC) : head_end])
            if head.get("tokens") != tokens:
                raise ValueError("another prefix")
            state = data[head_end + 1 :]
            if len(state) != head["state_size"]:
                raise ValueError("truncated")
            buf = (llama_cpp.ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_set_data(llama._ctx.ctx, buf, len(state)) != len(state):
                raise ValueError("llama.cpp refused the state")
        except (ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                path.unlink()
            llama.reset()
            return False
        n = len(tokens)
        llama.input_ids[:n] = tokens
        llama.n_tokens = n
        self._known.add(key)
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return True

    def save(self, llama: Any, key: str, tokens: list[int], model: Path) -> None:
        """Write the state of ``llama`` (which has read exactly ``tokens``) for ``key``."""
        import llama_cpp

        if self.has(key):
            return
        size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
        buf = (llama_cpp.ctypes.c_uint8 * int(size))()
        n = int(llama_cpp.llama_state_get_data(llama._ctx.ctx, buf, size))
        head = json.dumps({"tokens": tokens, "state_size": n, "model": str(model), "saved": time.time()})
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(MAGIC + head.encode() + b"\n")
                f.write(memoryview(buf)[:n])
            os.replace(tmp, self._path(key))  # whole or nothing, also with processes side by side
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        self._known.add(key)
        self.prune()

    def prune(self) -> None:
        """Remove entries of model files that are gone or changed, then the least recently used
        until the folder fits its cap."""
        entries = []
        for p in self.root.glob("*.kv"):
            try:
                st = p.stat()
                with open(p, "rb") as f:
                    f.readline()
                    model = json.loads(f.readline()).get("model", "")
            except (OSError, ValueError):
                continue
            if model and (not Path(model).is_file() or Path(model).stat().st_mtime > st.st_mtime):
                with contextlib.suppress(OSError):
                    p.unlink()
                continue
            entries.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size
