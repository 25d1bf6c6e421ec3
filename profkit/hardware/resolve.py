"""The GPU to judge figures against, from what the user gave: a catalog key, measured ceilings, or the
GPU's numbers. One home for these rules, used by the library calls and, through them, by the CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from profkit.errors import ProfkitError, option
from profkit.hardware.catalog import DTYPE_KEYS, GpuSpec, get_gpu, match_gpu, with_measured
from profkit.hardware.ceilings import Ceilings, read_ceilings


def gpu_for_trace(
    device: dict,
    gpu: str | None = None,
    bandwidth_gbps: float | None = None,
    ceilings: str | Path | None = None,
    where: str = "the trace",
) -> GpuSpec | None:
    """The GPU a trace's figures are judged against; None = match it from the trace (the default).

    ``device``: the trace's first ``deviceProperties`` entry ({} when it records none).
    ``gpu``: a catalog key or name instead of the recorded device.
    ``bandwidth_gbps``: a measured DRAM bandwidth (GB/s) instead of the datasheet's; alone it judges a
    GPU the catalog does not know (bandwidth only: MFU stays unknown).
    ``ceilings``: a run-results JSON with measured ceilings of the same GPU (copy GB/s, matmul TFLOP/s).
    """
    if gpu is None and bandwidth_gbps is None and ceilings is None:
        return None
    if bandwidth_gbps is not None and not bandwidth_gbps > 0:
        raise ProfkitError(f"{option('bandwidth_gbps')} must be a positive number of GB/s, got {bandwidth_gbps}")
    name = device.get("name")
    spec = get_gpu(gpu) if gpu else match_gpu(str(name or ""), device.get("totalGlobalMem"), device.get("numSms"))
    peaks: dict = {}
    if ceilings is not None:
        measured = _same_gpu_ceilings(ceilings, name)
        bandwidth_gbps = bandwidth_gbps if bandwidth_gbps is not None else measured.bandwidth_gbps
        peaks = measured.peak_tflops
    if spec is None:
        if bandwidth_gbps is None:
            raise ProfkitError(
                f"{where}: GPU {name!r} is not in the catalog; give {option('bandwidth_gbps')} (its DRAM GB/s) "
                f"or {option('gpu')} (a catalog key: see profkit.GPU_CATALOG)"
            )
        return _unlisted(device, bandwidth_gbps, peaks)
    if bandwidth_gbps is None and not peaks:
        return spec
    return with_measured(spec, bandwidth_gbps=bandwidth_gbps, peak_tflops=peaks)


def _unlisted(device: dict, bandwidth_gbps: float, peaks: dict) -> GpuSpec:
    """A GPU the catalog does not know, judged by the bandwidth given (and measured peaks, if any)."""
    memory = device.get("totalGlobalMem")
    sms = device.get("numSms")
    return GpuSpec(
        "unlisted",
        str(device.get("name") or "unnamed GPU"),
        memory if isinstance(memory, int) and memory > 0 else 1,
        float(bandwidth_gbps),
        dict(peaks),
        sms if isinstance(sms, int) else 0,
        source="measured",
    )


def _same_gpu_ceilings(path, trace_gpu: str | None) -> Ceilings:
    measured = read_ceilings(path)
    if trace_gpu and measured.gpu_name and measured.gpu_name != trace_gpu:
        raise ProfkitError(f"{path}: ceilings were measured on {measured.gpu_name}, the trace ran on {trace_gpu}; give ceilings of the same GPU")
    return measured


def gpu_with_numbers(gpu: str, bandwidth_gbps: float | None = None, memory_gb: float | None = None, peak_tflops: float | None = None) -> GpuSpec:
    """The catalog GPU `gpu`, with any of its numbers replaced by the ones given: DRAM bandwidth (GB/s),
    memory (GB = 1e9 bytes, as CUDA reports it) and one dense tensor peak (TFLOP/s) for every GEMM."""
    spec = get_gpu(gpu)
    given = {"bandwidth_gbps": bandwidth_gbps, "memory_gb": memory_gb, "peak_tflops": peak_tflops}
    for name, value in given.items():
        if value is not None and not value > 0:
            raise ProfkitError(f"{option(name)} must be a positive number, got {value}")
    if all(v is None for v in given.values()):
        return spec
    peaks = dict.fromkeys(DTYPE_KEYS, peak_tflops) if peak_tflops is not None else None
    spec = with_measured(spec, bandwidth_gbps=bandwidth_gbps, peak_tflops=peaks)
    if memory_gb is not None:
        spec = replace(spec, memory_bytes=int(memory_gb * 1e9))
    if all(v is not None for v in given.values()):
        return replace(spec, key="custom", name="GPU given by its numbers", sm_count=0)
    return replace(spec, key=f"{spec.key}+given", name=f"{spec.name} (with the numbers given)")
