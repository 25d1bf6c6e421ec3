"""Where a run happens: the device to use and the software/hardware versions for the manifest."""

from __future__ import annotations

import platform
import socket
import sys

import torch

from profkit.errors import ProfkitError, option


def resolve_device(requested: str) -> str:
    """`auto` -> cuda when a CUDA GPU is visible, else cpu; `cuda` without a GPU is an error."""
    has_cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    if requested == "cuda" and not has_cuda:
        raise ProfkitError(
            f"{option('device')} cuda: no CUDA GPU visible to torch {torch.__version__} "
            f"(check nvidia-smi, CUDA_VISIBLE_DEVICES and that torch is a CUDA build); use {option('device')} cpu or auto"
        )
    return requested


def host_name() -> str:
    return socket.gethostname()


def collect_environment(device: str) -> dict:
    """The manifest's `environment` block."""
    env = {
        "device": device,
        "gpu_name": None,
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "driver_version": _driver_version(),
        "cuda_runtime": torch.version.cuda,
        "cudnn": _cudnn_version(),
        "torch": torch.__version__,
        "transformers": version_of("transformers"),
        "bitsandbytes": version_of("bitsandbytes"),
        "torchao": version_of("torchao"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": _cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        env.update(
            gpu_name=props.name,
            gpu_total_mem_bytes=props.total_memory,
            gpu_sm_count=props.multi_processor_count,
            gpu_compute_capability=f"{props.major}.{props.minor}",
        )
    return env


def version_of(package: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cudnn_version() -> int | None:
    try:
        return torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except RuntimeError:
        return None


def _driver_version() -> str | None:
    """NVIDIA driver version from NVML, or None without one."""
    from profkit.capture.nvml import open_nvml

    pynvml, _ = open_nvml()
    if pynvml is None:
        return None
    try:
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else version
    finally:
        pynvml.nvmlShutdown()


def _cpu_count() -> int | None:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()
