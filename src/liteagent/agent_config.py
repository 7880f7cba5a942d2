"""Building an Agent from the shared settings (CLI flags, web sidebar): backend, model, protocol."""

from __future__ import annotations

from typing import Any

from .actions.executor import ActionExecutor
from .agent import Agent
from .errors import UsageError
from .llms.base import LLM
from .llms.openai_compat import DEFAULT_TIMEOUT, OpenAICompatibleLLM
from .protocols import Protocol, get_protocol


def resolve_protocol(
    name: str, model: str, system_prompt: str | None = None, plugin_prompt: str | None = None
) -> Protocol:
    return get_protocol(name or "auto", model, system_prompt, plugin_prompt)


def build_llm(
    backend: str | None,
    base_url: str | None,
    model: str | None,
    api_key: str | None,
    timeout: float | None = None,
    *,
    model_path: str | None = None,
    n_ctx: int = 4096,
    threads: int | None = None,
    gpu_layers: int = 0,
    progress: Any = None,
) -> LLM:
    backend = backend or ("openai" if base_url else "local")
    if backend == "openai":
        if not base_url:
            raise UsageError("`backend=` openai needs `base_url=`, e.g. `base_url=` http://127.0.0.1:23333/v1")
        return OpenAICompatibleLLM(base_url, model, api_key, timeout=timeout or DEFAULT_TIMEOUT)
    from .llms.local import LocalLLM

    llm = LocalLLM(model_path, n_ctx=n_ctx, n_threads=threads, n_gpu_layers=gpu_layers, progress=progress)
    if model and not model_path:
        llm.model = model  # names the dialect for --protocol auto
    return llm


def build_agent(args: Any, executor: ActionExecutor, progress: Any = None) -> Agent:
    """An Agent from parsed CLI flags (see ``liteagent.cli.model_flags``) or any object with
    the same attribute names (the web chat's settings)."""
    llm = build_llm(
        args.backend,
        args.base_url,
        args.model,
        args.api_key,
        args.timeout,
        model_path=args.model_path,
        n_ctx=args.n_ctx,
        threads=args.threads,
        gpu_layers=args.gpu_layers,
        progress=progress,
    )
    return Agent(
        llm,
        executor,
        protocol=args.protocol,
        max_turns=args.max_turns,
        tool_choice=args.tool_choice,
        temperature=args.temperature,
        system_prompt=args.system_prompt,
        plugin_prompt=args.plugin_prompt,
        context_tokens=getattr(args, "context_tokens", None),
    )
