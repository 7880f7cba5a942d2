"""Read the deep-learning stack of this machine: torch, CUDA, cuDNN, GPUs, nvcc, Python, OS, CPU.

Parsers take the text real tools print (recorded on an H100 in ``shared/fixtures/gpu-h100``), so
they are tested without a GPU; collectors run the tools with a short timeout and say plainly when
one is absent.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from typing import Any

QUERY_FIELDS = [
    "gpu_name",
    "driver_version",
    "memory.total",
    "memory.used",
    "memory.free",
    "utilization.gpu",
    "temperature.gpu",
    "compute_cap",
]
QUERY_KEYS = [
    "name",
    "driver_version",
    "memory_total_mib",
    "memory_used_mib",
    "memory_free_mib",
    "utilization_pct",
    "temperature_c",
    "compute_capability",
]
KEY_PACKAGES = [
    "torch",
    "torchvision",
    "torchaudio",
    "numpy",
    "transformers",
    "accelerate",
    "lmdeploy",
    "vllm",
    "llama_cpp_python",
    "triton",
    "xformers",
    "flash_attn",
    "bitsandbytes",
    "liteagent",
]


def _number(text: str) -> int | float | str | None:
    text = text.strip()
    if not text or text in ("[N/A]", "N/A", "[Not Supported]"):
        return None
    m = re.match(r"^(-?\d+(?:\.\d+)?)\s*(MiB|%|W|C)?$", text)
    if not m:
        return text
    value = m.group(1)
    return float(value) if "." in value else int(value)


def parse_query_csv(text: str) -> list[dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader``, one GPU a line."""
    gpus = []
    for index, line in enumerate(x for x in text.splitlines() if x.strip()):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < len(QUERY_KEYS):
            continue
        gpu: dict[str, Any] = {"index": index}
        for key, cell in zip(QUERY_KEYS, cells, strict=False):
            if key in ("name", "driver_version", "compute_capability"):
                gpu[key] = cell if cell not in ("[N/A]", "N/A") else None
            else:
                gpu[key] = _number(cell)
        gpus.append(gpu)
    return gpus


def parse_nvidia_smi(text: str) -> dict[str, Any]:
    """Driver and CUDA versions from the header of plain ``nvidia-smi`` (or ``nvidia-smi -q``)."""
    out: dict[str, Any] = {}
    m = re.search(r"Driver Version\s*:?\s*([\d.]+)", text)
    if m:
        out["driver_version"] = m.group(1)
    m = re.search(r"CUDA Version\s*:?\s*([\d.]+)", text)
    if m:
        out["cuda_driver_version"] = m.group(1)
    m = re.search(r"Attached GPUs\s*:\s*(\d+)", text)
    if m:
        out["attached_gpus"] = int(m.group(1))
    archs = re.findall(r"Product Architecture\s*:\s*(.+)", text)
    if archs:
        out["architectures"] = [a.strip() for a in archs]
    return out


def parse_nvcc(text: str) -> dict[str, Any]:
    """``nvcc --version`` -> release, full version, build."""
    out: dict[str, Any] = {}
    m = re.search(r"release\s+([\d.]+),\s*V([\d.]+)", text)
    if m:
        out["release"], out["version"] = m.group(1), m.group(2)
    m = re.search(r"^Build\s+(\S+)", text, re.M)
    if m:
        out["build"] = m.group(1)
    return out


def cudnn_version_text(version: int | None) -> str | None:
    """torch reports cuDNN as an int: 91900 -> '9.19.0' (8902 -> '8.9.2' for cuDNN 8)."""
    if not version:
        return None
    if version >= 90000:
        major, rest = divmod(version, 10000)
        minor, patch = divmod(rest, 100)
    else:
        major, rest = divmod(version, 1000)
        minor, patch = divmod(rest, 100)
    return f"{major}.{minor}.{patch}"


def summarize_torch(info: dict[str, Any]) -> dict[str, Any]:
    """Normalise a torch probe (the shape of ``torch-info.json``) into report fields."""
    devices = []
    free_total = info.get("mem_get_info")
    for i, dev in enumerate(info.get("devices") or []):
        entry = {
            "index": i,
            "name": dev.get("name"),
            "total_memory_mib": round(dev["total_memory"] / 2**20) if dev.get("total_memory") else None,
            "compute_capability": f"{dev['major']}.{dev['minor']}" if "major" in dev else None,
            "multi_processor_count": dev.get("multi_processor_count"),
        }
        if i == 0 and free_total:
            entry["free_memory_mib"] = round(free_total[0] / 2**20)
        devices.append(entry)
    return {
        "installed": True,
        "version": info.get("torch"),
        "cuda_available": bool(info.get("cuda_available")),
        "cuda_version": info.get("cuda_version"),
        "cudnn_available": bool(info.get("cudnn_available")),
        "cudnn_version": cudnn_version_text(info.get("cudnn_version")),
        "device_count": len(devices),
        "devices": devices,
    }


def probe_torch() -> dict[str, Any]:
    """Ask the installed torch, in this process. Never raises."""
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        return {"installed": False, "note": "PyTorch is not installed (pip install torch)"}
    except Exception as exc:  # a broken install (missing CUDA libs, ABI clash) is worth reporting
        return {"installed": False, "note": f"PyTorch failed to import: {type(exc).__name__}: {exc}"}
    try:
        info: dict[str, Any] = {
            "torch": torch.__version__,
            "cuda_available": torch.cuda.is_available(),
            "cuda_version": torch.version.cuda,
            "cudnn_available": torch.backends.cudnn.is_available(),
            "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "devices": [],
        }
        if info["cuda_available"]:
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                info["devices"].append(
                    {
                        "name": p.name,
                        "total_memory": p.total_memory,
                        "major": p.major,
                        "minor": p.minor,
                        "multi_processor_count": p.multi_processor_count,
                    }
                )
            info["mem_get_info"] = list(torch.cuda.mem_get_info())
        return summarize_torch(info)
    except Exception as exc:
        return {
            "installed": True,
            "version": getattr(torch, "__version__", None),
            "note": f"querying torch failed: {type(exc).__name__}: {exc}",
        }


def run_tool(argv: list[str], timeout: float = 15.0) -> tuple[str | None, str | None]:
    """(stdout, None) or (None, why it is unavailable), in plain words."""
    if shutil.which(argv[0]) is None:
        return None, f"{argv[0]} not found on PATH"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return None, f"{argv[0]} did not answer within {timeout:g} s"
    except OSError as exc:
        return None, f"{argv[0]} could not run: {exc}"
    if done.returncode != 0:
        msg = (done.stderr or done.stdout).strip().splitlines()
        return None, f"{argv[0]} failed (exit {done.returncode}): {msg[0] if msg else 'no output'}"
    return done.stdout, None


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    return m.group(1).strip() if m else (platform.processor() or platform.machine() or "unknown")


def package_versions(names: list[str] = KEY_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def system_info() -> dict[str, Any]:
    return {
        "python_version": sys.version.split()[0],
        "python_executable": sys.executable,
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
