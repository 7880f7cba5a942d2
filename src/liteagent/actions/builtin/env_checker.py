"""EnvChecker: the seed tutorial's plugin, grown up. Diagnoses a deep-learning environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...messages import ResultItem
from ..base import BaseAction, tool_api
from . import env_probe

Runner = Callable[[list[str]], "tuple[str | None, str | None]"]


class EnvChecker(BaseAction):
    """Diagnose the deep-learning environment of this machine: PyTorch, CUDA, cuDNN, GPUs, nvcc, Python, OS and CPU."""

    def __init__(
        self,
        run: Runner | None = None,
        torch_probe: Callable[[], dict[str, Any]] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._run = run or env_probe.run_tool
        self._torch_probe = torch_probe or env_probe.probe_torch

    @tool_api
    def check_torch_env(self) -> list[ResultItem]:
        """Check the PyTorch / CUDA / cuDNN stack, the GPUs (name, driver, memory, compute capability), nvcc, Python, OS, CPU and key package versions.

        Returns:
            report (str): a readable report, plus the same facts as JSON.
        """
        data = self.collect()
        return [ResultItem.text(format_report(data)), ResultItem.json(data)]

    def collect(self) -> dict[str, Any]:
        """Every fact, as structured fields; what is missing is said in ``notes``."""
        notes: list[str] = []
        torch = self._torch_probe()
        if torch.get("note"):
            notes.append(torch["note"])
        gpus: list[dict[str, Any]] = []
        driver: dict[str, Any] = {}
        query = ["nvidia-smi", f"--query-gpu={','.join(env_probe.QUERY_FIELDS)}", "--format=csv,noheader"]
        out, why = self._run(query)
        if out is not None:
            gpus = env_probe.parse_query_csv(out)
            header, _ = self._run(["nvidia-smi"])
            driver = env_probe.parse_nvidia_smi(header or "")
        else:
            notes.append(f"no NVIDIA GPU visible: {why}")
        nvcc_out, nvcc_why = self._run(["nvcc", "--version"])
        nvcc = env_probe.parse_nvcc(nvcc_out) if nvcc_out else {}
        if nvcc_out is None:
            notes.append(f"CUDA toolkit (nvcc) not available: {nvcc_why}")
        return {
            "torch": torch,
            "gpus": gpus,
            "driver": driver,
            "nvcc": nvcc,
            "system": env_probe.system_info(),
            "packages": env_probe.package_versions(),
            "notes": notes,
        }


def _mib(value: Any) -> str:
    return f"{value} MiB" if value is not None else "?"


def format_report(data: dict[str, Any]) -> str:
    """The readable form of :meth:`EnvChecker.collect`'s data."""
    lines = ["=== PyTorch Environment ==="]
    torch = data["torch"]
    if not torch.get("installed"):
        lines.append(f"PyTorch: {torch.get('note', 'not installed')}")
    else:
        lines.append(f"PyTorch Version: {torch.get('version')}")
        if "cuda_available" in torch:
            lines.append(f"CUDA Available: {torch['cuda_available']}")
            lines.append(f"CUDA Version (torch build): {torch.get('cuda_version') or 'none (CPU build)'}")
            lines.append(f"cuDNN Version: {torch.get('cudnn_version') or 'not available'}")
            lines.append(f"GPU Count: {torch.get('device_count', 0)}")
            for dev in torch.get("devices", []):
                free = f", {_mib(dev['free_memory_mib'])} free" if dev.get("free_memory_mib") is not None else ""
                lines.append(
                    f"GPU {dev['index']}: {dev['name']} ({_mib(dev['total_memory_mib'])}{free}, "
                    f"compute capability {dev['compute_capability']}, {dev['multi_processor_count']} SMs)"
                )
        elif torch.get("note"):
            lines.append(torch["note"])
    lines.append("")
    lines.append("=== GPUs (nvidia-smi) ===")
    driver = data.get("driver") or {}
    if data["gpus"]:
        if driver:
            lines.append(
                f"Driver Version: {driver.get('driver_version', '?')}  "
                f"CUDA Version (driver): {driver.get('cuda_driver_version', '?')}"
            )
        for g in data["gpus"]:
            lines.append(
                f"GPU {g['index']}: {g['name']} | driver {g['driver_version']} | memory "
                f"{_mib(g['memory_used_mib'])} used / {_mib(g['memory_total_mib'])} total "
                f"({_mib(g['memory_free_mib'])} free) | compute capability {g['compute_capability']} | "
                f"util {g['utilization_pct']} % | {g['temperature_c']} C"
            )
    else:
        lines.append("No NVIDIA GPU visible (nvidia-smi is not available).")
    lines.append("")
    lines.append("=== CUDA Toolkit ===")
    nvcc = data.get("nvcc") or {}
    if nvcc:
        lines.append(f"nvcc: release {nvcc.get('release')} (V{nvcc.get('version')})")
    else:
        lines.append("nvcc not available (the CUDA toolkit is not installed or not on PATH).")
    lines.append("")
    lines.append("=== System Information ===")
    sysinfo = data["system"]
    lines.append(f"Python Version: {sysinfo['python_version']}")
    lines.append(f"Operating System: {sysinfo['os']}")
    lines.append(f"CPU: {sysinfo['cpu']} ({sysinfo['cpu_count']} logical cores)")
    if data.get("packages"):
        lines.append("")
        lines.append("=== Key Packages ===")
        lines.extend(f"{k}: {v}" for k, v in data["packages"].items())
    if data.get("notes"):
        lines.append("")
        lines.append("=== Notes ===")
        lines.extend(f"- {n}" for n in data["notes"])
    return "\n".join(lines)
