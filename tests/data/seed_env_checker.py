import platform
import subprocess
import sys

from liteagent.actions.base_action import BaseAction, tool_api


class EnvChecker(BaseAction):
    """检查深度学习环境的插件"""

    @tool_api
    def check_torch_env(self) -> dict:
        """获取PyTorch相关环境信息"""
        try:
            # 检查PyTorch
            import torch

            torch_info = {
                "torch_version": torch.__version__,
                "cuda_available": torch.cuda.is_available(),
                "cuda_device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
            }

            # 如果CUDA可用,获取更多信息
            if torch.cuda.is_available():
                torch_info.update(
                    {
                        "cuda_device_names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                        "current_device": torch.cuda.current_device(),
                        "cuda_version": torch.version.cuda,
                        "cudnn_version": torch.backends.cudnn.version()
                        if torch.backends.cudnn.is_available()
                        else "Not available",
                        "cudnn_enabled": torch.backends.cudnn.enabled,
                    }
                )

            # 获取系统信息
            sys_info = {
                "python_version": sys.version.split()[0],
                "os": platform.platform(),
                "cpu_info": self._get_cpu_info(),
            }

            # 获取CUDA系统环境
            cuda_sys_info = self._get_cuda_sys_info()

            # 组合所有信息
            full_info = {"torch_info": torch_info, "system_info": sys_info, "cuda_system_info": cuda_sys_info}

            # 格式化输出信息
            output = self._format_env_info(full_info)
            return {"text": output}

        except Exception as e:
            return {"error": f"Error checking environment: {e!s}"}

    def _get_cpu_info(self) -> str:
        """获取CPU信息"""
        if platform.system() == "Linux":
            try:
                with open("/proc/cpuinfo") as f:
                    for line in f:
                        if "model name" in line:
                            return line.split(":")[1].strip()
            except:
                pass
        return platform.processor() or "Unknown"

    def _get_cuda_sys_info(self) -> dict[str, str | None]:
        """获取系统CUDA环境信息"""
        cuda_info = {}

        # 检查 nvidia-smi
        try:
            nvidia_smi = subprocess.check_output(
                ["nvidia-smi", "--query-gpu=gpu_name,driver_version,memory.total", "--format=csv,noheader"]
            ).decode()
            cuda_info["gpu_info"] = nvidia_smi.strip()
        except:
            cuda_info["gpu_info"] = "nvidia-smi not available"

        # 检查 nvcc
        try:
            nvcc_output = subprocess.check_output(["nvcc", "--version"]).decode()
            cuda_info["nvcc_info"] = nvcc_output.strip()
        except:
            cuda_info["nvcc_info"] = "nvcc not available"

        return cuda_info

    def _format_env_info(self, info: dict) -> str:
        """格式化环境信息为易读的文本"""
        output = []

        # PyTorch信息
        output.append("=== PyTorch Environment ===")
        torch_info = info["torch_info"]
        output.append(f"PyTorch Version: {torch_info['torch_version']}")
        output.append(f"CUDA Available: {torch_info['cuda_available']}")
        output.append(f"GPU Count: {torch_info['cuda_device_count']}")

        if torch_info["cuda_available"]:
            output.append("\n=== CUDA Device Information ===")
            for i, name in enumerate(torch_info["cuda_device_names"]):
                output.append(f"GPU {i}: {name}")
            output.append(f"Current Device: {torch_info['current_device']}")
            output.append(f"CUDA Version: {torch_info['cuda_version']}")
            output.append(f"cuDNN Version: {torch_info['cudnn_version']}")
            output.append(f"cuDNN Enabled: {torch_info['cudnn_enabled']}")

        # 系统信息
        output.append("\n=== System Information ===")
        sys_info = info["system_info"]
        output.append(f"Python Version: {sys_info['python_version']}")
        output.append(f"Operating System: {sys_info['os']}")
        output.append(f"CPU: {sys_info['cpu_info']}")

        # CUDA系统信息
        output.append("\n=== CUDA System Information ===")
        cuda_sys_info = info["cuda_system_info"]
        if cuda_sys_info["gpu_info"] != "nvidia-smi not available":
            output.append("GPU Information (from nvidia-smi):")
            output.append(cuda_sys_info["gpu_info"])

        if cuda_sys_info["nvcc_info"] != "nvcc not available":
            output.append("\nNVCC Information:")
            output.append(cuda_sys_info["nvcc_info"])

        return "\n".join(output)
