"""The runtime's vocabulary, CUDA and HIP alike: which host API calls launch kernels, replay graphs,
block the host until the GPU catches up; and the platform versions a trace records.

Kineto writes CUDA runtime/driver calls (`cudaLaunchKernel`, `cuLaunchKernelEx`) and, on ROCm, HIP
calls (`hipLaunchKernel`, `hipExtModuleLaunchKernel`) under the same categories (`cuda_runtime`,
`cuda_driver`). Every analysis that asks "is this call a launch / a sync?" asks here. The tables are
data: adding a runtime's name is one line.

Names are compared after dropping the version and per-thread-stream suffixes some tools append
(`cudaLaunchKernel_v7000`, `cudaMemcpyAsync_ptsz`).
"""

from __future__ import annotations

import re

import numpy as np

from profkit.trace.model import Trace

KERNEL_LAUNCH_CALLS = frozenset(
    {
        # CUDA runtime and driver
        "cudaLaunchKernel",
        "cudaLaunchKernelExC",
        "cudaLaunchCooperativeKernel",
        "cudaLaunchCooperativeKernelMultiDevice",
        "cuLaunchKernel",
        "cuLaunchKernelEx",
        "cuLaunchCooperativeKernel",
        "cuLaunchCooperativeKernelMultiDevice",
        # HIP
        "hipLaunchKernel",
        "hipLaunchKernelExC",
        "hipExtLaunchKernel",
        "hipModuleLaunchKernel",
        "hipExtModuleLaunchKernel",
        "hipHccModuleLaunchKernel",
        "hipLaunchCooperativeKernel",
        "hipLaunchCooperativeKernelMultiDevice",
        "hipModuleLaunchCooperativeKernel",
        "hipExtLaunchMultiKernelMultiDevice",
    }
)
GRAPH_LAUNCH_CALLS = frozenset({"cudaGraphLaunch", "cuGraphLaunch", "hipGraphLaunch"})
LAUNCH_CALLS = KERNEL_LAUNCH_CALLS | GRAPH_LAUNCH_CALLS
"""Calls that put kernels on the GPU: kernel launches and graph replays."""

SYNC_CALLS = frozenset(
    {
        "cudaStreamSynchronize",
        "cudaDeviceSynchronize",
        "cudaEventSynchronize",
        "cuStreamSynchronize",
        "cuCtxSynchronize",
        "cuEventSynchronize",
        "hipStreamSynchronize",
        "hipDeviceSynchronize",
        "hipEventSynchronize",
        "hipCtxSynchronize",
    }
)
BLOCKING_COPY_CALLS = frozenset(
    {
        # copies that return only when the data has arrived: the host waits for the GPU queue
        "cudaMemcpy",
        "cudaMemcpy2D",
        "cudaMemcpy3D",
        "cudaMemcpyFromSymbol",
        "cudaMemcpyToSymbol",
        "cuMemcpy",
        "cuMemcpyDtoH",
        "cuMemcpyHtoD",
        "cuMemcpyDtoH_v2",
        "cuMemcpyHtoD_v2",
        "hipMemcpy",
        "hipMemcpyWithStream",
        "hipMemcpy2D",
        "hipMemcpy3D",
        "hipMemcpyDtoH",
        "hipMemcpyHtoD",
        "hipMemcpyFromSymbol",
        "hipMemcpyToSymbol",
    }
)
BLOCKING_CALLS = SYNC_CALLS | BLOCKING_COPY_CALLS
"""Calls after which the host has waited for the GPU: synchronizations and blocking copies."""

_SUFFIX = re.compile(r"(_v\d+|_ptsz|_ptds)+$")


def runtime_name(name: str) -> str:
    """A runtime call's name without tool-added suffixes: 'cudaLaunchKernel_v7000' -> 'cudaLaunchKernel'."""
    if name in LAUNCH_CALLS or name in BLOCKING_CALLS:
        return name
    return _SUFFIX.sub("", name)


def is_launch(name: str) -> bool:
    return runtime_name(name) in LAUNCH_CALLS


def is_graph_launch(name: str) -> bool:
    return runtime_name(name) in GRAPH_LAUNCH_CALLS


def is_blocking(name: str) -> bool:
    return runtime_name(name) in BLOCKING_CALLS


def runtime_flags(trace: Trace) -> dict[str, np.ndarray]:
    """Per runtime call (row of `trace.runtime`): 'launch', 'graph' and 'blocking' booleans, memoised."""
    if "runtime_flags" not in trace.memo:
        names = trace.runtime.name_id
        flags = {}
        for key, predicate in (("launch", is_launch), ("graph", is_graph_launch), ("blocking", is_blocking)):
            lookup = trace.ids_where(predicate) if trace.strings else np.zeros(0, bool)
            flags[key] = lookup[names] if len(names) else np.zeros(0, bool)
        trace.memo["runtime_flags"] = flags
    return trace.memo["runtime_flags"]


def graph_launched(trace: Trace) -> np.ndarray:
    """For each GPU activity, whether a CUDA/HIP graph launch (replay) issued it."""
    if "graph_launched" not in trace.memo:
        rows = trace.gpu_runtime_row
        out = np.zeros(len(rows), dtype=bool)
        ok = rows >= 0
        if ok.any():
            out[ok] = runtime_flags(trace)["graph"][rows[ok]]
        trace.memo["graph_launched"] = out
    return trace.memo["graph_launched"]


# ---- platform versions ----------------------------------------------------------------------------------
CUDA_VERSION_KEYS = ("cuda_driver_version", "cuda_runtime_version", "cupti_version")
ROCM_VERSION_KEYS = ("hip_driver_version", "hip_runtime_version", "roctracer_version")


def platform(metadata: dict) -> str | None:
    """'ROCm' when the trace records HIP/roctracer versions, 'CUDA' when it records CUDA ones, else None."""
    if any(metadata.get(k) is not None for k in ROCM_VERSION_KEYS):
        return "ROCm"
    if any(metadata.get(k) is not None for k in CUDA_VERSION_KEYS):
        return "CUDA"
    return None
