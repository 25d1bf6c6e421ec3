"""Steps and phases: per-step wall/GPU-busy time, launches, syncs and copies; phase assignment
(prefill/decode/mixed); outlier steps; steady-state statistics per phase.

Steps come from, in this order: the profiler's `ProfilerStep#N` ranges; a serving engine's step
annotations (vLLM `execute_context_..._generation_...`, SGLang `step[DECODE bs=32]`, see
`profkit.analyses.engines`); `prefill`/`decode` annotations; else the whole trace is one window.

Definitions (the same as the reference figures in traces/samples/README.md and traces/external/README.md):
  wall        -- the step's duration on the host. An engine step lasts from its annotation's start to
                 the later of its end and the end of the GPU work it launched (serving engines return
                 before the GPU finishes), but no later than the next engine step's start
  GPU busy    -- union of kernel, memcpy and memset intervals (all streams) clipped to the step
  idle        -- 1 - busy / wall
  kernels     -- kernels launched in the step (launching runtime call inside the step; kernels a
                 CUDA/HIP graph replay launches count too). Kernels with no launch record were
                 launched before recording began: they belong to no step (`pretrace_activities`)
  syncs       -- stream/device/event synchronizations and blocking copies (CUDA and HIP, see
                 `profkit.analyses.vocabulary`) in the step
  D2H copies  -- device-to-host memcpy activities launched in the step
The whole trace (`whole_trace`) is one more window: from the first to the last complete event of any
category, with the same measures.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses import intervals
from profkit.analyses.engines import engine_steps
from profkit.analyses.vocabulary import BLOCKING_COPY_CALLS, GRAPH_LAUNCH_CALLS, LAUNCH_CALLS, SYNC_CALLS, runtime_flags  # noqa: F401 (re-exported)
from profkit.trace.model import COPY_DTOH, KERNEL, NO_ID, Trace

STEP_PATTERN = re.compile(r"^ProfilerStep\s*#\s*(\d+)$")
PHASES = ("prefill", "decode", "mixed")
EMBEDDING_OPS = frozenset({"aten::embedding"})
WHOLE_TRACE = "whole trace"

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
    batch_size: int | None = None  # requests in the step, where a serving engine annotated it
    tokens: int | None = None  # tokens computed in the step (prompt + generated), where annotated
    context_tokens: int | None = None  # KV tokens attention read in the step, where annotated
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
    batch_size: float | None = None  # median requests per step, where annotated
    tokens_per_step: float | None = None  # median tokens per step, where annotated
    tokens_per_s: float | None = None  # tokens_per_step / wall: decode tokens/s (or prompt tokens/s in prefill)
    wall_ms_values: list[float] = field(default_factory=list)
    gpu_busy_ms_values: list[float] = field(default_factory=list)


@dataclass
class StepSource:
    """How steps and phases were found: 'ProfilerStep', 'engine' (serving-engine step annotations),
    'annotation' (prefill/decode ranges) or 'window'; phases: 'annotation', 'engine', 'inferred' or 'none'."""

    steps: str
    phases: str
    warnings: list[str] = field(default_factory=list)


def find_steps(trace: Trace) -> tuple[list[Step], StepSource]:
    """Measure every step of the trace and assign phases; flag outliers and zero-length steps."""
    windows, source = _step_windows(trace)
    steps = [_measure(trace, name, lo, hi) for name, lo, hi in windows]
    if steps and all(s.wall_ms == 0 for s in steps):
        msg = (
            f"every {source.steps} step has zero length (the profiler closed each range as soon as it opened it): "
            "measuring the whole trace as one window instead"
        )
        warnings.warn(msg, StepWarning, stacklevel=2)
        lo, hi = trace_extent(trace)
        source = StepSource("window", "none", [*source.warnings, msg])
        steps = [_measure(trace, WHOLE_TRACE, lo, hi)]
    _assign_phases(trace, steps, source)
    _flag_zero_length(steps, source)
    _flag_outliers(steps)
    return steps, source


def whole_trace(trace: Trace) -> Step:
    """The whole trace as one window (first to last complete event of any category), measured like a step."""
    lo, hi = trace_extent(trace)
    return _measure(trace, WHOLE_TRACE, lo, hi)


def pretrace_activities(trace: Trace) -> np.ndarray:
    """Rows of the GPU activities with no launch record: launched before recording began (their runtime
    call was not captured), or in a trace that records no runtime calls at all. They belong to no step."""
    return np.flatnonzero(trace.gpu_runtime_row < 0)


def phase_stats(steps: list[Step]) -> dict[str, PhaseStats]:
    """Steady-state statistics per phase, in the order prefill, decode, others."""
    names = [p for p in PHASES if any(s.phase == p for s in steps)]
    names += sorted({s.phase for s in steps} - set(names))
    return {p: _stats(p, [s for s in steps if s.phase == p]) for p in names}


# ---- windows ---------------------------------------------------------------------------------
def profiler_step_windows(trace: Trace) -> list[tuple[str, int, int]]:
    """(name, start ns, end ns) of every ProfilerStep#N range, in step order."""
    ann = trace.annotations
    names = trace.names(ann.name_id)
    found = [(int(m.group(1)), n, int(ts), int(ts + d)) for n, ts, d in zip(names, ann.ts_ns, ann.dur_ns) if (m := STEP_PATTERN.match(n))]
    found.sort()
    return [(n, lo, hi) for _, n, lo, hi in found]


def _step_windows(trace: Trace) -> tuple[list[tuple[str, int, int]], StepSource]:
    found = profiler_step_windows(trace)
    if found:
        return found, StepSource("ProfilerStep", "none")
    ann = trace.annotations
    names = trace.names(ann.name_id)
    engine = engine_steps(trace)
    if engine:
        return _engine_windows(trace, engine), StepSource("engine", "engine")
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
    lo, hi = trace_extent(trace)
    msg = "no ProfilerStep, serving-engine step or prefill/decode annotations: treating the whole trace as one step"
    warnings.warn(msg, StepWarning, stacklevel=3)
    return [(WHOLE_TRACE, lo, hi)], StepSource("window", "none", [msg])


def _engine_windows(trace: Trace, engine) -> list[tuple[str, int, int]]:
    """Each engine step from its annotation's start to the later of its end and the end of the GPU work
    launched inside it, cut at the next step's start (an engine runs ahead of the GPU)."""
    launch, end = _launches_by_time(trace)
    windows = []
    for i, step in enumerate(engine):
        a, b = np.searchsorted(launch, [step.lo_ns, step.hi_ns])
        hi = max(step.hi_ns, int(end[a:b].max())) if b > a else step.hi_ns
        if i + 1 < len(engine):
            hi = max(step.hi_ns, min(hi, engine[i + 1].lo_ns))
        windows.append((f"{step.name.split('(')[0] if step.batch.engine == 'vllm' else step.name}#{i + 1}", step.lo_ns, hi))
    return windows


def _launches_by_time(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Launch times (sorted) of the GPU activities with a launch record, and those activities' GPU ends."""
    if "launches_by_time" not in trace.memo:
        known = np.flatnonzero(_launch_known(trace))
        launch = trace.gpu_launch_ts_ns[known]
        order = np.argsort(launch, kind="stable")
        trace.memo["launches_by_time"] = (launch[order], trace.gpu.end_ns[known][order])
    return trace.memo["launches_by_time"]


def trace_extent(trace: Trace) -> tuple[int, int]:
    """First start and last end (ns) over every complete event of the trace, any category."""
    lo, hi = trace.extent_ns
    if hi > lo:
        return int(lo), int(hi)
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
    sl = intervals.in_window(trace.runtime.ts_ns, lo, hi)
    flags = runtime_flags(trace)
    dur = trace.runtime.dur_ns[sl]
    blocking, launch, graph = flags["blocking"][sl], flags["launch"][sl], flags["graph"][sl]
    launched = np.flatnonzero(_launched_mask(trace, lo, hi))
    kind = trace.gpu.kind[launched]
    return Step(
        name=name,
        phase="step",
        start_ms=lo / 1e6,
        wall_ms=wall / 1e6,
        gpu_busy_ms=busy / 1e6,
        idle_fraction=(1.0 - busy / wall) if wall > 0 else 0.0,
        kernels=int((kind == KERNEL).sum()),
        sync_calls=int(blocking.sum()),
        d2h_copies=int((trace.gpu.copy_kind[launched] == COPY_DTOH).sum()),
        memcpys=int((trace.gpu.copy_kind[launched] >= 0).sum()),
        graph_launches=int(graph.sum()),
        launch_calls=int(launch.sum()),
        launch_api_ms=float(dur[launch].sum()) / 1e6,
        sync_wait_ms=float(dur[blocking].sum()) / 1e6,
        lo_ns=lo,
        hi_ns=hi,
    )


def _gpu_union(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    if "gpu_union" not in trace.memo:
        trace.memo["gpu_union"] = intervals.merge(trace.gpu.ts_ns, trace.gpu.end_ns)
    return trace.memo["gpu_union"]


def gpu_rows_launched_in(trace: Trace, steps) -> np.ndarray:
    """Rows of the GPU activities whose launching call lies inside one of `steps` (sorted)."""
    mask = np.zeros(len(trace.gpu), dtype=bool)
    for s in steps:
        mask |= _launched_mask(trace, s.lo_ns, s.hi_ns)
    return np.flatnonzero(mask)


def _launch_known(trace: Trace) -> np.ndarray:
    """Whether each GPU activity's launch time is known: it has a launch record (runtime call)."""
    return trace.gpu_runtime_row >= 0


def _launched_mask(trace: Trace, lo: int, hi: int) -> np.ndarray:
    launch = trace.gpu_launch_ts_ns
    return _launch_known(trace) & (launch >= lo) & (launch < hi)


# ---- phases --------------------------------------------------------------------------------
def _assign_phases(trace: Trace, steps: list[Step], source: StepSource) -> None:
    if source.steps == "annotation":
        for s in steps:
            s.phase = s.name.split("#")[0].lower()
        return
    engine = engine_steps(trace)
    if source.steps == "engine":
        for s, e in zip(steps, engine):
            _take_batch(s, e.batch)
        return
    ann = trace.annotations
    names = [n.lower() for n in trace.names(ann.name_id)]
    phase_rows = [i for i, n in enumerate(names) if n in PHASES]
    if phase_rows:
        source.phases = "annotation"
        for s in steps:
            s.phase = _dominant_phase(s, ann, names, phase_rows) or "step"
        return
    if engine and source.steps == "ProfilerStep":
        source.phases = "engine"
        for s in steps:
            inside = [e for e in engine if s.lo_ns <= e.lo_ns < s.hi_ns]
            if inside:
                _take_batch(s, _combined(inside))
        return
    inferred = _infer_phases_from_embedding(trace, steps)
    if inferred:
        source.phases = "inferred"
        msg = "no prefill/decode annotations: phases inferred from the token count of aten::embedding (prompt > 1 token = prefill)"
        source.warnings.append(msg)


def _take_batch(step: Step, batch) -> None:
    step.phase = batch.phase
    step.batch_size, step.tokens, step.context_tokens = batch.requests, batch.tokens, batch.context_tokens


def _combined(engine_inside: list):
    """One batch standing for the engine steps inside a ProfilerStep: their phase when they agree (else
    mixed), summed tokens (requests: the largest batch)."""
    from profkit.analyses.engines import MIXED, EngineBatch

    phases = {e.batch.phase for e in engine_inside}
    batches = [e.batch for e in engine_inside]

    def total(attr):
        values = [getattr(b, attr) for b in batches]
        return None if any(v is None for v in values) else sum(values)

    requests = [b.requests for b in batches]
    return EngineBatch(
        engine=batches[0].engine,
        phase=phases.pop() if len(phases) == 1 else MIXED,
        requests=None if any(r is None for r in requests) else max(requests),
        tokens=total("tokens"),
        context_tokens=total("context_tokens"),
    )


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
    """Tokens per sequence of aten::embedding(weight[V, H], indices[B, S]); None for flat indices [T]
    (serving engines pack every sequence's tokens into one row: tokens per sequence unknown)."""
    if not dims or len(dims) < 2 or not isinstance(dims[1], list) or len(dims[1]) < 2:
        return None
    return int(dims[1][-1])


# ---- outliers and statistics ------------------------------------------------------------------
def _flag_zero_length(steps: list[Step], source: StepSource) -> None:
    """Steps of zero duration measure nothing: flagged, left out of the steady state, and warned about."""
    empty = [s for s in steps if s.wall_ms == 0]
    for s in empty:
        s.outlier, s.outlier_reason = True, "zero-length step (the profiler closed its range as soon as it opened it); it measures nothing"
    if empty:
        names = ", ".join(s.name for s in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        source.warnings.append(f"{len(empty)} zero-length step(s) ({names}): reported but left out of the phase figures")


def _flag_outliers(steps: list[Step]) -> None:
    for phase in {s.phase for s in steps}:
        group = [s for s in steps if s.phase == phase and s.wall_ms > 0]
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
    batch = _median_known([s.batch_size for s in steady])
    tokens = _median_known([s.tokens for s in steady])
    wall = med("wall_ms")
    return PhaseStats(
        phase=phase,
        steps=len(group),
        steady_steps=len(steady),
        outlier_steps=[s.name for s in group if s.outlier],
        wall_ms=wall,
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
        batch_size=batch,
        tokens_per_step=tokens,
        tokens_per_s=tokens / wall * 1e3 if tokens and wall > 0 else None,
    )


def _median_known(values: list) -> float | None:
    """Median of the values when every step has one, else None."""
    if not values or any(v is None for v in values):
        return None
    return float(np.median(values))
