"""`analyze_trace`: every analysis of one trace, as data (the facade the CLI and dashboard call)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses import bandwidth, host_ops, idle, kernels
from profkit.analyses import steps as steps_mod
from profkit.analyses.engines import engine_steps
from profkit.analyses.verdict import Verdict, phase_verdict
from profkit.analyses.vocabulary import platform
from profkit.hardware.catalog import GpuSpec, identify_gpu
from profkit.trace.metadata import trace_rank
from profkit.trace.model import KERNEL, Trace
from profkit.trace.source import DEFAULT_MAX_TRACE_BYTES


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
    hip_driver_version: int | None = None  # ROCm traces: HIP_VERSION encoding (60443483 = 6.4.43483)
    hip_runtime_version: int | None = None
    roctracer_version: float | None = None
    platform: str | None = None  # "CUDA", "ROCm" or None (the trace records neither's versions)
    rank: int | None = None  # distributedInfo.rank of the process that wrote the trace
    gpu_match: str = ""  # how the catalog entry was found: "name", "SM count and memory", "given"; "" = unknown
    gpu_match_note: str = ""
    engine: str | None = None  # "vllm" / "sglang" when the trace carries a serving engine's step annotations


@dataclass
class PhaseReport:
    stats: steps_mod.PhaseStats
    kernels: kernels.KernelBreakdown
    causes: idle.Causes | None
    bandwidth: bandwidth.PhaseBandwidth | None
    verdict: Verdict


@dataclass
class Pretrace:
    """GPU activities with no launch record: launched before the profiler started recording (their
    runtime call is not in the trace). They ran inside the trace's window and count in GPU busy time
    (and in the idle split where HTA counts them), but belong to no step's kernel counts."""

    activities: int
    kernels: int
    gpu_ms: float  # summed duration
    last_end_ms: float | None  # when the last of them finished (ms from the trace's first event)


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
    idle_streams: list[idle.StreamIdle]  # HTA-style split over the activities HTA covers (idle.hta_scope_rows)
    cpu_ops: list[CpuOp]
    warnings: list[str] = field(default_factory=list)
    whole_trace: steps_mod.Step | None = None  # the whole trace as one window (first to last event)
    whole_trace_categories: kernels.KernelBreakdown | None = None  # every GPU activity, launched in a step or not
    pretrace: Pretrace | None = None
    violations: list[str] = field(default_factory=list)  # impossible figures found and withheld: bugs in a model

    def to_dict(self) -> dict:
        """Plain JSON-ready data: this trace's part of `profkit analyze --json` (docs/analyze-json.md)."""
        from profkit.analyses.analysis_dict import analysis_dict

        return analysis_dict(self)

    def to_frame(self):
        """Steps as a pandas DataFrame: one row per step (name, phase, wall_ms, gpu_busy_ms, kernels, ...)."""
        from profkit.analyses.analysis_dict import STEP_FIELDS, step_records
        from profkit.frames import records_frame

        return records_frame(step_records(self), STEP_FIELDS)

    def phases_frame(self):
        """Phases as a DataFrame: steady-state figures, bandwidth, MBU/MFU and the verdict, one row each."""
        from profkit.analyses.analysis_dict import phase_records
        from profkit.frames import records_frame

        return records_frame(phase_records(self))

    def categories_frame(self, phase: str | None = None):
        """Kernel categories as a DataFrame: over every step, or over one phase's steady steps."""
        from profkit.analyses.analysis_dict import category_records
        from profkit.frames import records_frame

        return records_frame(category_records(self, phase))


def analyze_trace(trace: Trace, gpu: GpuSpec | None = None) -> TraceAnalysis:
    """Steps, phases, kernel categories, idle causes, bandwidth and verdicts of one trace."""
    match = _identify_gpu(trace)
    given = gpu is not None
    gpu = gpu or match.spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", steps_mod.StepWarning)
        all_steps, source = steps_mod.find_steps(trace)
    stats = steps_mod.phase_stats(all_steps)
    notes = list(trace.warnings) + list(source.warnings)  # what reading the file dropped or repaired comes first
    if not trace.has_gpu_activity:
        notes.append(_no_gpu_note(trace))
    elif gpu is None:
        notes.append(unknown_gpu_note(trace))
    elif match.how == "SM count and memory" and not given:
        notes.append(f"GPU {_device_name(trace)!r} matched to the catalog by its {match.note}")
    pretrace = _pretrace(trace)
    if pretrace and len(trace.runtime) == 0:
        notes.append(
            f"the trace records no runtime (launch) calls: its {pretrace.kernels} kernels ({pretrace.gpu_ms:.2f} ms) count in GPU busy time "
            "but in no step's kernel count, and host wait cannot be told apart in the idle split"
        )
    elif pretrace:
        notes.append(
            f"{pretrace.kernels} kernels ({pretrace.activities} GPU activities, {pretrace.gpu_ms:.2f} ms) have no launch record: they were launched before "
            "recording began, so they count in GPU busy time and the idle split but in no step's kernels"
        )
    phases = _phase_reports(trace, all_steps, stats, gpu)
    violations = [v for r in phases.values() if r.bandwidth for v in r.bandwidth.violations]
    notes.extend(f"BUG (figure withheld): {v}" for v in violations)
    all_rows = steps_mod.gpu_rows_launched_in(trace, all_steps)
    return TraceAnalysis(
        metadata=_metadata(trace, gpu, match, given),
        has_gpu_activity=trace.has_gpu_activity,
        steps=all_steps,
        step_source=source,
        phases=phases,
        kernel_categories=kernels.breakdown(trace, all_rows, "all", len(all_steps)) if trace.has_gpu_activity else host_ops.breakdown(trace, all_steps, "all"),
        idle_streams=idle.idle_breakdown(trace, idle.hta_scope_rows(trace)),
        cpu_ops=_cpu_ops(trace),
        warnings=notes,
        whole_trace=steps_mod.whole_trace(trace),
        whole_trace_categories=kernels.breakdown(trace, np.arange(len(trace.gpu)), "whole trace", 1),
        pretrace=pretrace,
        violations=violations,
    )


def unknown_gpu_note(trace: Trace) -> str:
    """Why MBU/MFU are missing when the GPU is not in the catalog, and the way out."""
    props = trace.device_properties[0] if trace.device_properties else {}
    name = props.get("name")
    size = f"{props['totalGlobalMem'] / 2**30:.0f} GiB, " if isinstance(props.get("totalGlobalMem"), (int, float)) else ""
    sms = f"{props['numSms']} SMs/CUs" if props.get("numSms") else "SM count not recorded"
    who = (
        f"GPU {name!r} ({size}{sms}) is not in the catalog" if name else f"the trace does not name its GPU ({size}{sms}), and no catalog GPU has these numbers"
    )
    return (
        f"{who}: peak bandwidth, MBU and MFU are unknown; give --bandwidth-gbps X (its DRAM GB/s) and, for MFU, --gpu KEY of a GPU with the same tensor peaks"
    )


def _no_gpu_note(trace: Trace) -> str:
    props = trace.device_properties
    name = props[0].get("name") if props else None
    if name:
        return (
            f"no GPU kernels, copies or memsets recorded (device {name!r}: a non-GPU accelerator, or a capture without the CUDA activity, "
            "e.g. CUPTI counters only): GPU sections are empty"
        )
    return "no GPU activity in this trace (CPU-only run or CUDA activities not recorded): GPU sections are empty"


def _pretrace(trace: Trace) -> Pretrace | None:
    rows = steps_mod.pretrace_activities(trace)
    if len(rows) == 0:
        return None
    ends = trace.gpu.end_ns[rows]
    return Pretrace(
        activities=len(rows),
        kernels=int((trace.gpu.kind[rows] == KERNEL).sum()),
        gpu_ms=float(trace.gpu.dur_ns[rows].sum()) / 1e6,
        last_end_ms=float(ends.max()) / 1e6,
    )


def _phase_reports(trace: Trace, all_steps, stats, gpu) -> dict[str, PhaseReport]:
    steady = {p: [s for s in all_steps if s.phase == p and not s.outlier] or [s for s in all_steps if s.phase == p] for p in stats}
    rows = {p: steps_mod.gpu_rows_launched_in(trace, steady[p]) for p in stats}
    bws = {
        p: bandwidth.phase_bandwidth(trace, p, steady[p], rows[p], gpu) if trace.has_gpu_activity else host_ops.phase_bandwidth(trace, p, steady[p])
        for p in stats
    }
    if any(bw is not None and bw.bytes_per_step is None for bw in bws.values()):
        fallback = _weight_bytes_fallback(trace, steady, rows)
        bws.update({p: bandwidth.phase_bandwidth(trace, p, steady[p], rows[p], gpu, fallback[p]) for p in fallback})
    unknown = "" if gpu is not None else f"GPU {_device_name(trace) or '(unnamed)'!r} is not in the catalog (give --bandwidth-gbps)"
    reports = {}
    for p, st in stats.items():
        group = _step_index(trace, steady[p], rows[p])
        causes = idle.phase_causes(trace, p, steady[p], rows[p], group) if trace.has_gpu_activity else None
        bw = bws[p]
        breakdown = kernels.breakdown(trace, rows[p], p, len(steady[p])) if trace.has_gpu_activity else host_ops.breakdown(trace, steady[p], p)
        reports[p] = PhaseReport(
            stats=st,
            kernels=breakdown,
            causes=causes,
            bandwidth=bw,
            verdict=phase_verdict(st, causes, bw, breakdown, unknown),
        )
    return reports


def _weight_bytes_fallback(trace: Trace, steady, rows) -> dict:
    """For phases whose GEMMs carry no shapes, the weight bytes per step another phase read."""
    if not trace.has_gpu_activity:
        return {}
    per_phase = {p: bandwidth.weight_bytes_per_step(trace, steady[p], rows[p]) for p in steady}
    recorded = (trace.manifest or {}).get("config") or {}
    if isinstance(recorded.get("decode_weight_bytes"), int) and recorded["decode_weight_bytes"] > 0:
        # weights as stored: another phase's shapes can be a dequantized copy (torchao int8wo eager prefill)
        return {p: (recorded["decode_weight_bytes"], "the run manifest's decode_weight_bytes (weights as stored)") for p, b in per_phase.items() if b == 0}
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


def _identify_gpu(trace: Trace):
    props = trace.device_properties[0] if trace.device_properties else {}
    return identify_gpu(str(props.get("name") or ""), _int(props.get("totalGlobalMem")), _int(props.get("numSms")))


def _int(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _metadata(trace: Trace, gpu: GpuSpec | None, match, given: bool) -> Metadata:
    props = trace.device_properties[0] if trace.device_properties else {}
    md = trace.metadata
    cc = f"{props['computeMajor']}.{props['computeMinor']}" if "computeMajor" in props else None
    engine = engine_steps(trace)
    return Metadata(
        path=trace.path,
        trace_name=str(trace.path).replace("\\", "/").rsplit("/", 1)[-1],  # the file's name; Kineto's traceName is often a temp path
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
        hip_driver_version=md.get("hip_driver_version"),
        hip_runtime_version=md.get("hip_runtime_version"),
        roctracer_version=md.get("roctracer_version"),
        platform=platform(md),
        rank=trace_rank(md),
        gpu_match="given" if given else match.how if gpu else "",
        gpu_match_note="" if given else match.note,
        engine=engine[0].batch.engine if engine else None,
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


def analyze_path(path, gpu: GpuSpec | None = None, use_cache: bool = True, *, max_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> TraceAnalysis:
    """Load and analyze one trace file. With `use_cache`, the parse and the analysis both come from
    the on-disk cache while the file is unchanged (`profkit.analyses.cache`); False reads and
    analyzes it again. A file that unpacks to more than `max_bytes` is refused (TraceTooLarge)."""
    from profkit.analyses.cache import analyze_file

    return analyze_file(path, gpu, use_cache=use_cache, max_bytes=max_bytes).analysis
