"""`analyze_trace`: every analysis of one trace, as data (the facade the CLI and dashboard call)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses import bandwidth, idle, kernels, steps as steps_mod
from profkit.analyses.verdict import Verdict, phase_verdict
from profkit.hardware.catalog import GpuSpec, match_gpu
from profkit.trace.model import Trace


@dataclass
class Metadata:
    path: str
    trace_name: str
    gpu_name: str | None
    sm_count: int | None
    memory_bytes: int | None
    compute_capability: str | None
    cuda_driver_version: int | None
    cuda_runtime_version: int | None
    cupti_version: int | None
    gpu_spec_key: str | None  # catalog entry matched (or given)
    peak_bandwidth_gbps: float | None
    peak_source: str | None  # "spec" or "measured"
    manifest: dict | None


@dataclass
class PhaseReport:
    stats: steps_mod.PhaseStats
    kernels: kernels.KernelBreakdown
    causes: idle.Causes | None
    bandwidth: bandwidth.PhaseBandwidth | None
    verdict: Verdict


@dataclass
class CpuOp:
    name: str
    count: int
    total_ms: float


@dataclass
class TraceAnalysis:
    metadata: Metadata
    has_gpu_activity: bool
    steps: list[steps_mod.Step]
    step_source: steps_mod.StepSource
    phases: dict[str, PhaseReport]
    kernel_categories: kernels.KernelBreakdown  # over all steps
    idle_streams: list[idle.StreamIdle]  # HTA-style split over every GPU activity of the trace
    cpu_ops: list[CpuOp]
    warnings: list[str] = field(default_factory=list)


def analyze_trace(trace: Trace, gpu: GpuSpec | None = None) -> TraceAnalysis:
    """Steps, phases, kernel categories, idle causes, bandwidth and verdicts of one trace."""
    gpu = gpu or _match_gpu(trace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", steps_mod.StepWarning)
        all_steps, source = steps_mod.find_steps(trace)
    stats = steps_mod.phase_stats(all_steps)
    notes = list(trace.warnings) + list(source.warnings)  # what reading the file dropped or repaired comes first
    if not trace.has_gpu_activity:
        notes.append("no GPU activity in this trace (CPU-only run or CUDA activities not recorded): GPU sections are empty")
    elif gpu is None:
        notes.append(f"GPU {_device_name(trace)!r} is not in the catalog: no peak bandwidth, MBU or MFU (give --gpu or --bandwidth-gbps)")
    phases = _phase_reports(trace, all_steps, stats, gpu)
    all_rows = steps_mod.gpu_rows_launched_in(trace, all_steps)
    return TraceAnalysis(
        metadata=_metadata(trace, gpu),
        has_gpu_activity=trace.has_gpu_activity,
        steps=all_steps,
        step_source=source,
        phases=phases,
        kernel_categories=kernels.breakdown(trace, all_rows, "all", len(all_steps)),
        idle_streams=idle.idle_breakdown(trace, np.flatnonzero(trace.gpu_runtime_row >= 0)),
        cpu_ops=_cpu_ops(trace),
        warnings=notes,
    )


def _phase_reports(trace: Trace, all_steps, stats, gpu) -> dict[str, PhaseReport]:
    steady = {p: [s for s in all_steps if s.phase == p and not s.outlier] or [s for s in all_steps if s.phase == p] for p in stats}
    rows = {p: steps_mod.gpu_rows_launched_in(trace, steady[p]) for p in stats}
    bws = {p: bandwidth.phase_bandwidth(trace, p, steady[p], rows[p], gpu) if trace.has_gpu_activity else None for p in stats}
    if any(bw is not None and bw.bytes_per_step is None for bw in bws.values()):
        fallback = _weight_bytes_fallback(trace, steady, rows)
        bws.update({p: bandwidth.phase_bandwidth(trace, p, steady[p], rows[p], gpu, fallback[p]) for p in fallback})
    reports = {}
    for p, st in stats.items():
        group = _step_index(trace, steady[p], rows[p])
        causes = idle.phase_causes(trace, p, steady[p], rows[p], group) if trace.has_gpu_activity else None
        bw = bws[p]
        reports[p] = PhaseReport(
            stats=st,
            kernels=kernels.breakdown(trace, rows[p], p, len(steady[p])),
            causes=causes,
            bandwidth=bw,
            verdict=phase_verdict(st, causes, bw),
        )
    return reports


def _weight_bytes_fallback(trace: Trace, steady, rows) -> dict:
    """For phases whose GEMMs carry no shapes, the weight bytes per step another phase read."""
    if not trace.has_gpu_activity:
        return {}
    per_phase = {p: bandwidth.weight_bytes_per_step(trace, steady[p], rows[p]) for p in steady}
    donors = [(b, p) for p, b in per_phase.items() if b > 0]
    if not donors:
        return {}
    donor_bytes, donor = max(donors)
    return {p: (donor_bytes, f"the GEMM weight shapes of the {donor} steps") for p, b in per_phase.items() if b == 0}


def _step_index(trace: Trace, steps, rows: np.ndarray) -> np.ndarray:
    launch = trace.gpu_launch_ts_ns[rows]
    starts = np.array([s.lo_ns for s in steps], dtype=np.int64)
    return np.searchsorted(starts, launch, side="right") - 1 if len(starts) else np.zeros(len(rows), np.int64)


def _device_name(trace: Trace) -> str | None:
    props = trace.device_properties
    return props[0].get("name") if props else None


def _match_gpu(trace: Trace) -> GpuSpec | None:
    props = trace.device_properties
    if not props:
        return None
    return match_gpu(str(props[0].get("name", "")), props[0].get("totalGlobalMem"))


def _metadata(trace: Trace, gpu: GpuSpec | None) -> Metadata:
    props = trace.device_properties[0] if trace.device_properties else {}
    md = trace.metadata
    cc = f"{props['computeMajor']}.{props['computeMinor']}" if "computeMajor" in props else None
    return Metadata(
        path=trace.path,
        trace_name=str(md.get("traceName") or trace.path.rsplit("/", 1)[-1]),
        gpu_name=props.get("name"),
        sm_count=props.get("numSms"),
        memory_bytes=props.get("totalGlobalMem"),
        compute_capability=cc,
        cuda_driver_version=md.get("cuda_driver_version"),
        cuda_runtime_version=md.get("cuda_runtime_version"),
        cupti_version=md.get("cupti_version"),
        gpu_spec_key=gpu.key if gpu else None,
        peak_bandwidth_gbps=gpu.bandwidth_gbps if gpu else None,
        peak_source=gpu.source if gpu else None,
        manifest=trace.manifest,
    )


def _cpu_ops(trace: Trace, top_n: int = 15) -> list[CpuOp]:
    """Top-level CPU operators by total host time (what the host spent its time on)."""
    ops = trace.ops
    top = np.flatnonzero(trace.op_parent_row < 0)
    if len(top) == 0:
        return []
    names = ops.name_id[top]
    sums = np.bincount(names, weights=ops.dur_ns[top].astype(np.float64), minlength=len(trace.strings))
    counts = np.bincount(names, minlength=len(trace.strings))
    order = np.argsort(-sums)[:top_n]
    return [CpuOp(trace.name(int(i)), int(counts[i]), float(sums[i]) / 1e6) for i in order if counts[i]]


def analyze_path(path, gpu: GpuSpec | None = None, use_cache: bool = True) -> TraceAnalysis:
    """Load (cached) and analyze one trace file."""
    from profkit.trace import load_trace

    return analyze_trace(load_trace(path, use_cache=use_cache), gpu)
