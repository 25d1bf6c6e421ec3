"""A `TraceAnalysis` as plain JSON-ready data: one trace's part of the `profkit analyze --json` document
(schema `profkit.analyze/1`, docs/analyze-json.md), and the rows of its DataFrames."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from profkit.analyses.summary import PhaseReport, TraceAnalysis

STEP_FIELDS = (
    "name",
    "phase",
    "start_ms",
    "wall_ms",
    "gpu_busy_ms",
    "idle_fraction",
    "kernels",
    "sync_calls",
    "d2h_copies",
    "memcpys",
    "graph_launches",
    "launch_calls",
    "launch_api_ms",
    "sync_wait_ms",
    "outlier",
    "outlier_reason",
    "batch_size",
    "tokens",
    "context_tokens",
)


def analysis_dict(a: TraceAnalysis) -> dict:
    """One trace's analysis as plain JSON-ready data."""
    return {
        "path": a.metadata.path,
        "metadata": asdict(a.metadata),
        "has_gpu_activity": a.has_gpu_activity,
        "warnings": list(a.warnings),
        "step_source": {"steps": a.step_source.steps, "phases": a.step_source.phases},
        "steps": [{k: getattr(s, k) for k in STEP_FIELDS} for s in a.steps],
        "phases": {name: phase_dict(r) for name, r in a.phases.items()},
        "kernel_categories": [asdict(c) for c in a.kernel_categories.categories],
        "idle_streams": [{**asdict(s), "host_wait_ratio": s.host_wait_ratio} for s in a.idle_streams],
        "cpu_ops": [asdict(c) for c in a.cpu_ops],
        "whole_trace": {k: getattr(a.whole_trace, k) for k in STEP_FIELDS} if a.whole_trace else None,
        "whole_trace_categories": [asdict(c) for c in a.whole_trace_categories.categories] if a.whole_trace_categories else [],
        "pretrace": asdict(a.pretrace) if a.pretrace else None,
        "violations": list(a.violations),
    }


def phase_dict(r: PhaseReport) -> dict:
    st = r.stats
    bw = r.bandwidth
    out = {
        "steps": st.steps,
        "steady_steps": st.steady_steps,
        "outlier_steps": st.outlier_steps,
        "wall_ms": st.wall_ms,
        "wall_ms_p90": st.wall_ms_p90,
        "wall_ms_spread": st.wall_ms_spread,
        "gpu_busy_ms": st.gpu_busy_ms,
        "gpu_busy_ms_p90": st.gpu_busy_ms_p90,
        "gpu_busy_ms_spread": st.gpu_busy_ms_spread,
        "idle_fraction": st.idle_fraction,
        "kernels": st.kernels,
        "sync_calls": st.sync_calls,
        "d2h_copies": st.d2h_copies,
        "graph_launches": st.graph_launches,
        "launch_api_ms": st.launch_api_ms,
        "sync_wait_ms": st.sync_wait_ms,
        "wall_ms_values": st.wall_ms_values,
        "gpu_busy_ms_values": st.gpu_busy_ms_values,
        "batch_size": st.batch_size,
        "tokens_per_step": st.tokens_per_step,
        "tokens_per_s": st.tokens_per_s,
        "bytes_per_step": bw.bytes_per_step if bw else None,
        "bytes_source": bw.bytes_source if bw else None,
        "achieved_bandwidth_gbps": bw.achieved_bandwidth_gbps if bw else None,
        "achieved_bandwidth_wall_gbps": bw.achieved_bandwidth_wall_gbps if bw else None,
        "peak_bandwidth_gbps": bw.peak_bandwidth_gbps if bw else None,
        "mbu": bw.mbu if bw else None,
        "mbu_wall": bw.mbu_wall if bw else None,
        "flops_per_step": bw.flops_per_step if bw else None,
        "achieved_tflops": bw.achieved_tflops if bw else None,
        "peak_tflops": bw.peak_tflops if bw else None,
        "compute_dtype": bw.compute_dtype if bw else None,
        "mfu": bw.mfu if bw else None,
        "kv_read_bytes_per_step": bw.kv_read_bytes_per_step if bw else None,
        "kv_source": bw.kv_source if bw else None,
        "lower_bound": bw.lower_bound if bw else None,
        "unmodelled": list(bw.unmodelled) if bw else [],
        "violations": list(bw.violations) if bw else [],
        "bound": r.verdict.bound,
        "verdict": r.verdict.sentence,
        "kernel_categories": [asdict(c) for c in r.kernels.categories],
        "top_kernels": [asdict(k) for k in r.kernels.top],
        "gemms": [asdict(g) for g in bw.gemms] if bw else [],
        "causes": _causes(r.causes),
    }
    return out


def _causes(c) -> dict | None:
    if c is None:
        return None
    d = asdict(c)
    d["streams"] = [{**asdict(s), "host_wait_ratio": s.host_wait_ratio} for s in c.streams]
    return d


def step_records(a: TraceAnalysis) -> list[dict]:
    """One record per step (STEP_FIELDS), outliers included and flagged."""
    return [{k: getattr(s, k) for k in STEP_FIELDS} for s in a.steps]


def phase_records(a: TraceAnalysis) -> list[dict]:
    """One record per phase: its steady-state figures, bandwidth and verdict (scalars only)."""
    return [{"phase": name, **{k: v for k, v in phase_dict(r).items() if not isinstance(v, (list, dict))}} for name, r in a.phases.items()]


def category_records(a: TraceAnalysis, phase: str | None = None) -> list[dict]:
    """One record per kernel category: over every step (`phase` None) or over one phase's steady steps."""
    breakdown = a.kernel_categories if phase is None else a.phases[phase].kernels
    return [{"phase": phase or "all", **asdict(c)} for c in breakdown.categories]
