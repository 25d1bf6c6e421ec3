"""Steps and phases: per-ProfilerStep wall/GPU-busy time, launches, syncs and copies; phase
assignment (prefill/decode); outlier steps; steady-state statistics per phase.

Definitions (the same as the reference figures in traces/samples/README.md):
  wall        -- the ProfilerStep's duration on the host
  GPU busy    -- union of kernel, memcpy and memset intervals (all streams) clipped to the step
  idle        -- 1 - busy / wall
  kernels     -- kernels launched in the step (launching runtime call inside the step; kernels a
                 CUDA graph replay launches count too)
  syncs       -- cudaStreamSynchronize / cudaDeviceSynchronize / cudaEventSynchronize (and driver
                 equivalents) and blocking cudaMemcpy calls in the step
  D2H copies  -- device-to-host memcpy activities launched in the step
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses import intervals
from profkit.trace.model import COPY_DTOH, KERNEL, NO_ID, Trace

STEP_PATTERN = re.compile(r"^ProfilerStep\s*#\s*(\d+)$")
PHASES = ("prefill", "decode")
SYNC_CALLS = frozenset(
    {
        "cudaStreamSynchronize",
        "cudaDeviceSynchronize",
        "cudaEventSynchronize",
        "cuStreamSynchronize",
        "cuCtxSynchronize",
        "cuEventSynchronize",
    }
)
BLOCKING_COPY_CALLS = frozenset({"cudaMemcpy", "cudaMemcpy2D", "cudaMemcpyFromSymbol", "cudaMemcpyToSymbol", "cuMemcpyDtoH_v2", "cuMemcpyHtoD_v2", "cuMemcpy"})
LAUNCH_CALLS = frozenset({"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch", "cuGraphLaunch", "cudaLaunchCooperativeKernel"})
GRAPH_LAUNCH_CALLS = frozenset({"cudaGraphLaunch", "cuGraphLaunch"})
EMBEDDING_OPS = frozenset({"aten::embedding"})

# A step is an outlier when its wall time is this far from its phase's median:
# more than OUTLIER_ROBUST_SIGMAS robust standard deviations and more than OUTLIER_MIN_FRACTION of it.
OUTLIER_ROBUST_SIGMAS = 6.0
OUTLIER_MIN_FRACTION = 0.5


class StepWarning(UserWarning):
    """Raised (as a warning) when steps had to be guessed."""


@dataclass
class Step:
    """One iteration of the profiled loop. Times in milliseconds."""

    name: str
    phase: str  # "prefill", "decode" or "step" (unknown)
    start_ms: float  # from the trace's first event
    wall_ms: float
    gpu_busy_ms: float
    idle_fraction: float
    kernels: int
    sync_calls: int
    d2h_copies: int
    memcpys: int
    graph_launches: int
    launch_calls: int
    launch_api_ms: float  # host time inside kernel-launch API calls
    sync_wait_ms: float  # host time blocked in synchronizing calls
    outlier: bool = False
    outlier_reason: str = ""
    lo_ns: int = field(default=0, repr=False)
    hi_ns: int = field(default=0, repr=False)


@dataclass
class PhaseStats:
    """Steady-state (outliers excluded) statistics of one phase. Medians unless named p90."""

    phase: str
    steps: int
    steady_steps: int
    outlier_steps: list[str]
    wall_ms: float
    wall_ms_p90: float
    gpu_busy_ms: float
    gpu_busy_ms_p90: float
    idle_fraction: float
    kernels: float
    sync_calls: float
    d2h_copies: float
    graph_launches: float
    launch_api_ms: float
    sync_wait_ms: float
    wall_ms_spread: float  # robust std of steady wall times (1.4826 * MAD), the step-to-step noise
    gpu_busy_ms_spread: float
    wall_ms_values: list[float] = field(default_factory=list)
    gpu_busy_ms_values: list[float] = field(default_factory=list)


@dataclass
class StepSource:
    """How steps and phases were found: 'ProfilerStep', 'annotation' or 'window'; phases: 'annotation', 'inferred' or 'none'."""

    steps: str
    phases: str
    warnings: list[str] = field(default_factory=list)


def find_steps(trace: Trace) -> tuple[list[Step], StepSource]:
    """Measure every step of the trace and assign phases; flag outliers."""
    windows, source = _step_windows(trace)
    steps = [_measure(trace, name, lo, hi) for name, lo, hi in windows]
    _assign_phases(trace, steps, source)
    _flag_outliers(steps)
    return steps, source


def phase_stats(steps: list[Step]) -> dict[str, PhaseStats]:
    """Steady-state statistics per phase, in the order prefill, decode, others."""
    names = [p for p in PHASES if any(s.phase == p for s in steps)]
    names += sorted({s.phase for s in steps} - set(names))
    return {p: _stats(p, [s for s in steps if s.phase == p]) for p in names}


# ---- windows ---------------------------------------------------------------------------------
def _step_windows(trace: Trace) -> tuple[list[tuple[str, int, int]], StepSource]:
    ann = trace.annotations
    names = trace.names(ann.name_id)
    found = [(int(m.group(1)), n, int(ts), int(ts + d)) for n, ts, d in zip(names, ann.ts_ns, ann.dur_ns) if (m := STEP_PATTERN.match(n))]
    if found:
        found.sort()
        return [(n, lo, hi) for _, n, lo, hi in found], StepSource("ProfilerStep", "none")
    phase_ranges = [(n, int(ts), int(ts + d)) for n, ts, d in zip(names, ann.ts_ns, ann.dur_ns) if n.lower() in PHASES]
    if phase_ranges:
        phase_ranges.sort(key=lambda r: r[1])
        msg = "no ProfilerStep annotations: using the prefill/decode annotations as steps"
        warnings.warn(msg, StepWarning, stacklevel=3)
        counts: dict[str, int] = {}
        windows = []
        for n, lo, hi in phase_ranges:
            counts[n] = counts.get(n, 0) + 1
            windows.append((f"{n}#{counts[n]}", lo, hi))
        return windows, StepSource("annotation", "annotation", [msg])
    lo, hi = _trace_extent(trace)
    msg = "no ProfilerStep or prefill/decode annotations: treating the whole trace as one step"
    warnings.warn(msg, StepWarning, stacklevel=3)
    return [("whole trace", lo, hi)], StepSource("window", "none", [msg])


def _trace_extent(trace: Trace) -> tuple[int, int]:
    lows, highs = [], []
    for table in (trace.gpu, trace.runtime, trace.ops, trace.annotations):
        if len(table):
            lows.append(int(table.ts_ns.min()))
            highs.append(int(table.end_ns.max()))
    return (min(lows), max(highs)) if lows else (0, 0)


# ---- per-step measurement --------------------------------------------------------------------
def _measure(trace: Trace, name: str, lo: int, hi: int) -> Step:
    busy = intervals.covered_ns(*_gpu_union(trace), lo, hi)
    wall = hi - lo
    rt = _runtime_in(trace, lo, hi)
    launched = np.flatnonzero(_launched_mask(trace, lo, hi))
    kind = trace.gpu.kind[launched]
    rt_names = rt["names"]
    sync_mask = np.array([n in SYNC_CALLS or n in BLOCKING_COPY_CALLS for n in rt_names], dtype=bool)
    launch_mask = np.array([n in LAUNCH_CALLS for n in rt_names], dtype=bool)
    graph_mask = np.array([n in GRAPH_LAUNCH_CALLS for n in rt_names], dtype=bool)
    return Step(
        name=name,
        phase="step",
        start_ms=lo / 1e6,
        wall_ms=wall / 1e6,
        gpu_busy_ms=busy / 1e6,
        idle_fraction=(1.0 - busy / wall) if wall > 0 else 0.0,
        kernels=int((kind == KERNEL).sum()),
        sync_calls=int(sync_mask.sum()),
        d2h_copies=int((trace.gpu.copy_kind[launched] == COPY_DTOH).sum()),
        memcpys=int((trace.gpu.copy_kind[launched] >= 0).sum()),
        graph_launches=int(graph_mask.sum()),
        launch_calls=int(launch_mask.sum()),
        launch_api_ms=float(rt["dur_ns"][launch_mask].sum()) / 1e6,
        sync_wait_ms=float(rt["dur_ns"][sync_mask].sum()) / 1e6,
        lo_ns=lo,
        hi_ns=hi,
    )


def _gpu_union(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    if "gpu_union" not in trace.memo:
        trace.memo["gpu_union"] = intervals.merge(trace.gpu.ts_ns, trace.gpu.end_ns)
    return trace.memo["gpu_union"]


def _runtime_in(trace: Trace, lo: int, hi: int) -> dict:
    sl = intervals.in_window(trace.runtime.ts_ns, lo, hi)
    return {"names": trace.names(trace.runtime.name_id[sl]), "dur_ns": trace.runtime.dur_ns[sl]}


def gpu_rows_launched_in(trace: Trace, steps) -> np.ndarray:
    """Rows of the GPU activities whose launching call lies inside one of `steps` (sorted)."""
    mask = np.zeros(len(trace.gpu), dtype=bool)
    for s in steps:
        mask |= _launched_mask(trace, s.lo_ns, s.hi_ns)
    return np.flatnonzero(mask)


def _launched_mask(trace: Trace, lo: int, hi: int) -> np.ndarray:
    launch = trace.gpu_launch_ts_ns
    return (launch >= lo) & (launch < hi)


# ---- phases --------------------------------------------------------------------------------
def _assign_phases(trace: Trace, steps: list[Step], source: StepSource) -> None:
    if source.steps == "annotation":
        for s in steps:
            s.phase = s.name.split("#")[0].lower()
        return
    ann = trace.annotations
    names = [n.lower() for n in trace.names(ann.name_id)]
    phase_rows = [i for i, n in enumerate(names) if n in PHASES]
    if phase_rows:
        source.phases = "annotation"
        for s in steps:
            s.phase = _dominant_phase(s, ann, names, phase_rows) or "step"
        return
    inferred = _infer_phases_from_embedding(trace, steps)
    if inferred:
        source.phases = "inferred"
        msg = "no prefill/decode annotations: phases inferred from the token count of aten::embedding (prompt > 1 token = prefill)"
        source.warnings.append(msg)


def _dominant_phase(step: Step, ann, names, phase_rows) -> str | None:
    best, best_overlap = None, 0
    for i in phase_rows:
        lo, hi = int(ann.ts_ns[i]), int(ann.ts_ns[i] + ann.dur_ns[i])
        overlap = min(hi, step.hi_ns) - max(lo, step.lo_ns)
        if overlap > best_overlap:
            best, best_overlap = names[i], overlap
    return best


def _infer_phases_from_embedding(trace: Trace, steps: list[Step]) -> bool:
    """Prefill = a step whose embedding lookup takes more than one token per sequence; steps after a
    prefill with no visible embedding (e.g. CUDA graph replays) or a one-token lookup are decode."""
    ops = trace.ops
    emb_ids = {trace.string_id(n) for n in EMBEDDING_OPS} - {NO_ID}
    if not emb_ids:
        return False
    rows = np.flatnonzero(np.isin(ops.name_id, list(emb_ids)))
    tokens_per_row = [_embedding_tokens(trace.json_list(int(ops.dims_id[r]))) for r in rows]
    seen_prefill = False
    for s in steps:
        inside = [t for r, t in zip(rows, tokens_per_row) if s.lo_ns <= ops.ts_ns[r] < s.hi_ns and t is not None]
        if inside and max(inside) > 1:
            s.phase, seen_prefill = "prefill", True
        elif seen_prefill:
            s.phase = "decode"
    return seen_prefill


def _embedding_tokens(dims: list) -> int | None:
    """Tokens per sequence of aten::embedding(weight[V, H], indices[B, S])."""
    if not dims or len(dims) < 2 or not isinstance(dims[1], list) or not dims[1]:
        return None
    return int(dims[1][-1])


# ---- outliers and statistics ------------------------------------------------------------------
def _flag_outliers(steps: list[Step]) -> None:
    for phase in {s.phase for s in steps}:
        group = [s for s in steps if s.phase == phase]
        if len(group) < 3:
            continue
        walls = np.array([s.wall_ms for s in group])
        median = float(np.median(walls))
        sigma = _robust_sigma(walls)
        limit = max(OUTLIER_ROBUST_SIGMAS * sigma, OUTLIER_MIN_FRACTION * median)
        for s in group:
            if abs(s.wall_ms - median) > limit:
                s.outlier = True
                direction = "above" if s.wall_ms > median else "below"
                s.outlier_reason = f"wall {s.wall_ms:.1f} ms is {s.wall_ms / median:.1f}x the {phase} median {median:.1f} ms ({direction} the steady state)"


def _robust_sigma(values: np.ndarray) -> float:
    if len(values) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _stats(phase: str, group: list[Step]) -> PhaseStats:
    steady = [s for s in group if not s.outlier] or group

    def med(attr):
        return float(np.median([getattr(s, attr) for s in steady]))

    def p90(attr):
        return float(np.percentile([getattr(s, attr) for s in steady], 90))

    walls = np.array([s.wall_ms for s in steady])
    busys = np.array([s.gpu_busy_ms for s in steady])
    return PhaseStats(
        phase=phase,
        steps=len(group),
        steady_steps=len(steady),
        outlier_steps=[s.name for s in group if s.outlier],
        wall_ms=med("wall_ms"),
        wall_ms_p90=p90("wall_ms"),
        gpu_busy_ms=med("gpu_busy_ms"),
        gpu_busy_ms_p90=p90("gpu_busy_ms"),
        idle_fraction=med("idle_fraction"),
        kernels=med("kernels"),
        sync_calls=med("sync_calls"),
        d2h_copies=med("d2h_copies"),
        graph_launches=med("graph_launches"),
        launch_api_ms=med("launch_api_ms"),
        sync_wait_ms=med("sync_wait_ms"),
        wall_ms_spread=_robust_sigma(walls),
        gpu_busy_ms_spread=_robust_sigma(busys),
        wall_ms_values=walls.tolist(),
        gpu_busy_ms_values=busys.tolist(),
    )
