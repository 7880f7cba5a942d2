"""``python -m liteagent.llms.llama_server ARGS``: llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server ARGS``, the same arguments), with the weight repacking that crashes
on CPUs with AMX turned off there (see ``local.repacking_safe``)."""

from __future__ import annotations

import contextlib


def main() -> None:
    from llama_cpp.server.__main__ import main as serve

    from .local import _model_params, repacking_safe

    fields = {} if repacking_safe() else {"use_extra_bufts": False}
    with _model_params(**fields), contextlib.suppress(KeyboardInterrupt):
        serve()


if __name__ == "__main__":
    main()
