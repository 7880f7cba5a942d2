"""EnvChecker: parsing real H100 outputs (recorded in tests/fixtures/gpu-h100) and the real
no-GPU path of this machine."""

from __future__ import annotations

import json
import shutil

from liteagent import ActionExecutor
from liteagent.actions.builtin import env_probe
from liteagent.actions.builtin.env_checker import EnvChecker, format_report

from ..conftest import FIXTURES

H100 = FIXTURES / "gpu-h100"


def read(name: str) -> str:
    return (H100 / name).read_text(encoding="utf-8")


def test_parse_query_csv():
    (gpu,) = env_probe.parse_query_csv(read("nvidia-smi-query.csv"))
    assert gpu == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "driver_version": "580.159.04",
        "memory_total_mib": 81559,
        "memory_used_mib": 0,
        "memory_free_mib": 81079,
        "utilization_pct": 0,
        "temperature_c": 34,
        "compute_capability": "9.0",
    }


def test_parse_nvidia_smi_header_and_q():
    assert env_probe.parse_nvidia_smi(read("nvidia-smi.txt")) == {
        "driver_version": "580.159.04",
        "cuda_driver_version": "13.0",
    }
    q = env_probe.parse_nvidia_smi(read("nvidia-smi-q.txt"))
    assert q["driver_version"] == "580.159.04" and q["cuda_driver_version"] == "13.0"
    assert q["attached_gpus"] == 1 and q["architectures"] == ["Hopper"]


def test_parse_nvcc():
    assert env_probe.parse_nvcc(read("nvcc-version.txt")) == {
        "release": "13.0",
        "version": "13.0.88",
        "build": "cuda_13.0.r13.0/compiler.36424714_0",
    }


def test_torch_info_and_cudnn():
    t = env_probe.summarize_torch(json.loads(read("torch-info.json")))
    assert t["version"] == "2.11.0+cu130" and t["cuda_available"] and t["cuda_version"] == "13.0"
    assert t["cudnn_version"] == "9.19.0"
    assert t["devices"] == [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "total_memory_mib": 81079,
            "compute_capability": "9.0",
            "multi_processor_count": 132,
            "free_memory_mib": 80552,
        }
    ]
    assert env_probe.cudnn_version_text(8902) == "8.9.2"


def test_cpu_model_from_cpuinfo():
    assert env_probe.cpu_model(read("cpuinfo-model.txt")) == "Intel(R) Xeon(R) Processor"


def fake_runner(argv):
    """Replays the H100's recorded outputs for the commands EnvChecker runs."""
    if argv[0] == "nvidia-smi" and len(argv) > 1:
        assert argv[1].startswith("--query-gpu=gpu_name,driver_version,memory.total,memory.used")
        return read("nvidia-smi-query.csv"), None
    if argv == ["nvidia-smi"]:
        return read("nvidia-smi.txt"), None
    if argv == ["nvcc", "--version"]:
        return read("nvcc-version.txt"), None
    raise AssertionError(argv)


def test_gpu_path_with_recorded_h100_outputs():
    checker = EnvChecker(
        run=fake_runner, torch_probe=lambda: env_probe.summarize_torch(json.loads(read("torch-info.json")))
    )
    r = ActionExecutor([checker]).execute("EnvChecker.check_torch_env")
    assert r.ok
    text, data = r.result[0].content, r.result[1].content
    assert r.result[0].type == "text" and r.result[1].type == "json"
    assert data["gpus"][0]["memory_free_mib"] == 81079
    assert data["driver"]["cuda_driver_version"] == "13.0"
    assert data["nvcc"]["version"] == "13.0.88"
    assert data["notes"] == []
    assert (
        "GPU 0: NVIDIA H100 80GB HBM3 | driver 580.159.04 | memory 0 MiB used / 81559 MiB total (81079 MiB free) | compute capability 9.0"
        in text
    )
    assert "cuDNN Version: 9.19.0" in text and "PyTorch Version: 2.11.0+cu130" in text


def test_real_no_gpu_path_of_this_machine():
    """No fakes: whatever this machine has. CI machines have no GPU (and no torch)."""
    r = ActionExecutor([EnvChecker()]).execute("EnvChecker.check_torch_env")
    assert r.ok, r.error
    data = r.result[1].content
    text = r.result[0].content
    assert "=== System Information ===" in text
    assert data["system"]["cpu_count"] >= 1
    if shutil.which("nvidia-smi") is None:
        assert data["gpus"] == []
        assert "No NVIDIA GPU visible" in text
        assert any("nvidia-smi not found" in n for n in data["notes"])
    if shutil.which("nvcc") is None:
        assert "nvcc not available" in text
    if not data["torch"]["installed"]:
        assert "PyTorch is not installed" in text


def test_report_when_nothing_is_installed():
    data = {
        "torch": {"installed": False, "note": "PyTorch is not installed (pip install torch)"},
        "gpus": [],
        "driver": {},
        "nvcc": {},
        "system": {"python_version": "3.11", "os": "Linux", "cpu": "x", "cpu_count": 2},
        "packages": {},
        "notes": ["no NVIDIA GPU visible: nvidia-smi not found on PATH"],
    }
    text = format_report(data)
    assert "PyTorch is not installed" in text and "nvcc not available" in text and "No NVIDIA GPU visible" in text


def test_failing_tool_is_reported_not_raised():
    def runner(argv):
        return None, f"{argv[0]} failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the driver"

    r = ActionExecutor([EnvChecker(run=runner, torch_probe=lambda: {"installed": False, "note": "no torch"})]).execute(
        "EnvChecker.check_torch_env"
    )
    assert r.ok
    assert any("couldn't communicate with the driver" in n for n in r.result[1].content["notes"])
