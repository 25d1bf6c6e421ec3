"""Compare a baseline configuration with a candidate: what changed in the set-up, whether the
steady-state step got faster or slower beyond noise, where (kernel categories and operations,
aligned by what they do), and a verdict.

Significance. A phase's figure is the median over its steady steps. The change is significant when

    |candidate - baseline| > max(K_SIGMA * noise, REL_FLOOR * baseline)

    noise^2 = se_b^2 + se_c^2 + run_to_run^2 * (1/r_b + 1/r_c)
    se      = 1.2533 * sigma / sqrt(n)   (standard error of a median of n steps; sigma itself for n = 1)

`sigma` is the robust step-to-step spread (1.4826 * MAD) of each side's steady steps, pooled over its
repeated traces. A phase with a single step per trace (prefill) has no spread of its own: it borrows
the relative spread of the same trace's decode steps (same host, same launch-bound loop). `run_to_run`
is the spread of the per-trace medians of repeated traces of one configuration (`r` traces per side);
without repeats it is unknown and left out, which the reason text says. The floor keeps changes too
small to matter (a few per cent) from being called significant on very stable figures such as
GPU busy time.

Alignment. Kernels are grouped by the top-level CPU operation whose call launched them (the
operation the model's Python code called). Operations are keyed by what they compute, not by kernel
names (cuBLAS picks different kernels per GPU, dtype and version): a call that runs a GEMM is
'linear K->N' from its primary GEMM's shapes (aten::linear, aten::mm, bitsandbytes int8 matmul all
align), attention by its op, other operations by name and kernel category. Rows whose calls have the
same op and input shapes on both sides are 'exact' matches, the others 'semantic'. Kernels replayed
from CUDA graphs have no launching operation and align by kernel name. Everything is per step
(averaged over steady steps and repeats) and, where batch or prompt differ, per token too.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

import numpy as np
import orjson

from profkit.analyses.kernels import CATEGORIES, CATEGORY_LABELS, GEMM, INT8_GEMM, categorize
from profkit.analyses.runs import cuda_version_text, read_run
from profkit.analyses.steps import GRAPH_LAUNCH_CALLS, Step
from profkit.analyses.summary import TraceAnalysis, analyze_trace
from profkit.analyses.workload import Workload, describe_workload
from profkit.errors import ProfkitError, TraceError
from profkit.trace.model import Trace

K_SIGMA = 2.0
"""A change is significant beyond K_SIGMA times the combined noise of the two medians (about 95%)."""
REL_FLOOR = 0.03
"""... and beyond this fraction of the baseline: smaller changes are never called significant."""
MEDIAN_SE_FACTOR = 1.2533  # standard error of a median = 1.2533 * sigma / sqrt(n) (normal data)
TOP_N = 8
"""Top regressions and improvements listed per phase."""
ROW_MIN_FRACTION = 0.01
"""An op row is a regression/improvement only if its change is at least this fraction of the
baseline phase's GPU busy time (host rows: of its wall time) and at least ROW_MIN_CHANGE relative."""
ROW_MIN_CHANGE = 0.02
SYNC_CHANGE_MIN = 8
"""Sync / device-to-host copy count changes per step at least this large are named in the verdict."""

_GEMM_CORE_OPS = {
    # op name -> (index of A, index of B, B is [N, K])
    "aten::mm": (0, 1, False),
    "aten::addmm": (1, 2, False),
    "aten::_scaled_mm": (0, 1, False),
    "aten::_int_mm": (0, 1, False),
    "bitsandbytes::int8_linear_matmul": (0, 1, True),
    "aten::bmm": (0, 1, False),
    "aten::baddbmm": (1, 2, False),
}
_ATTENTION_WORDS = ("attention", "attn", "flash", "sdpa")
_CONTAINER_OPS = ("Torch-Compiled Region", "CompiledFunction", "CUDAGraphNode", "## Call CompiledFxGraph")
_SETUP_SOFTWARE = (
    ("driver_version", "NVIDIA driver"),
    ("cuda_driver", "CUDA driver API"),
    ("cuda_runtime", "CUDA runtime"),
    ("cupti", "CUPTI"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("bitsandbytes", "bitsandbytes"),
    ("cudnn", "cuDNN"),
)

SideInput = Union[str, Path, Trace, TraceAnalysis, "tuple[Trace, TraceAnalysis]", "Side"]


# ---- data ------------------------------------------------------------------------------------------
@dataclass
class Side:
    """One configuration: its trace(s) (the first, plus repeats of the same set-up) and analyses."""

    traces: list[Trace]
    analyses: list[TraceAnalysis]
    workload: Workload

    @property
    def paths(self) -> list[str]:
        return [t.path for t in self.traces]

    @property
    def label(self) -> str:
        manifest = self.traces[0].manifest or {}
        config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
        if manifest.get("run_id") and config.get("name"):
            name = f"{manifest['run_id']}/{config['name']}"
        else:
            name = Path(self.traces[0].path).name
            for suffix in (".pt.trace.json.gz", ".pt.trace.json", ".json.gz", ".json"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
                    break
        return name + (f" (+{len(self.traces) - 1} repeat{'s' if len(self.traces) > 2 else ''})" if len(self.traces) > 1 else "")


@dataclass
class SideSummary:
    label: str
    paths: list[str]
    repeats: int  # traces beyond the first
    workload: Workload


@dataclass
class SetupField:
    """One set-up fact side by side. `differs`: both known and unequal."""

    name: str
    label: str
    kind: str  # "workload", "model", "hardware" or "software"
    baseline: Any
    candidate: Any
    differs: bool


@dataclass
class MetricChange:
    """Median of a per-step metric (ms) on both sides, the change and whether it is beyond noise."""

    metric: str  # "wall_ms" or "gpu_busy_ms"
    baseline: float
    candidate: float
    delta_ms: float
    change: float | None  # candidate / baseline - 1
    significant: bool
    threshold_ms: float  # |delta| must exceed this
    noise_ms: float  # combined standard error of the two medians (incl. run-to-run when known)
    baseline_spread_ms: float  # robust step-to-step sigma
    candidate_spread_ms: float
    baseline_steps: int
    candidate_steps: int
    run_to_run_ms: float | None  # spread of per-trace medians of repeats; None without repeats
    spread_borrowed: bool  # single-step phase: spread borrowed from the decode steps
    baseline_per_token_ms: float | None
    candidate_per_token_ms: float | None
    per_token_change: float | None
    reason: str
    baseline_values: list[float] = field(default_factory=list)
    candidate_values: list[float] = field(default_factory=list)


@dataclass
class CounterChange:
    """A per-step count or host time (median over steady steps; mean over repeats)."""

    name: str
    label: str
    baseline: float
    candidate: float
    delta: float


@dataclass
class DiffRow:
    """One category or operation, per step, on both sides. Times in ms per step."""

    key: str
    label: str
    category: str  # dominant kernel category (category rows: the category itself; "host" when no GPU work)
    match: str  # "category", "exact", "semantic", "kernel name", "baseline only", "candidate only"
    baseline_ms: float  # GPU time (sum of activity durations) per step
    candidate_ms: float
    delta_ms: float
    change: float | None
    baseline_count: float  # GPU activities per step (op rows: also calls_per_step)
    candidate_count: float
    baseline_share: float  # of the side's step wall time
    candidate_share: float
    delta_share: float  # delta_ms / baseline step wall time
    baseline_per_token_ms: float | None = None
    candidate_per_token_ms: float | None = None
    baseline_host_ms: float = 0.0  # host time of the calls (inclusive, on the calling thread) per step
    candidate_host_ms: float = 0.0
    delta_host_ms: float = 0.0
    baseline_calls: float = 0.0  # op calls per step
    candidate_calls: float = 0.0
    baseline_op: str = ""  # most time-consuming launching op path and its input shapes
    candidate_op: str = ""
    baseline_kernel: str = ""  # longest-running kernel name
    candidate_kernel: str = ""


@dataclass
class PhaseComparison:
    phase: str
    wall_ms: MetricChange
    gpu_busy_ms: MetricChange
    baseline_tokens_per_step: int | None
    candidate_tokens_per_step: int | None
    baseline_bound: str | None  # host / sync / memory / compute, from each side's verdict
    candidate_bound: str | None
    counters: list[CounterChange]
    categories: list[DiffRow]
    ops: list[DiffRow]
    regressions: list[DiffRow]  # op rows by GPU time, largest increase first
    improvements: list[DiffRow]
    host_regressions: list[DiffRow]  # op rows by host time
    host_improvements: list[DiffRow]
    baseline_sync_issuers: list[str] = field(default_factory=list)  # "op path -> call: N per step"
    candidate_sync_issuers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    baseline: SideSummary
    candidate: SideSummary
    setup: list[SetupField]
    workload_differences: list[str]  # e.g. "batch differs: 1 vs 16"
    phases: dict[str, PhaseComparison]
    verdict: str
    identical: bool  # the same trace file(s) on both sides
    kind: str = "comparison"  # or "repeat": the candidate repeats the baseline's set-up
    notes: list[str] = field(default_factory=list)

    @property
    def setup_diff(self) -> list[SetupField]:
        return [f for f in self.setup if f.differs]


@dataclass
class CompareReport:
    """Everything `profkit compare` shows: one Comparison per (baseline, candidate) pair."""

    comparisons: list[Comparison]
    unpaired: list[str] = field(default_factory=list)  # configurations with no partner
    notes: list[str] = field(default_factory=list)
    k_sigma: float = K_SIGMA  # the significance test used
    rel_floor: float = REL_FLOOR


# ---- loading -----------------------------------------------------------------------------------------
def load_side(spec: SideInput | list) -> Side:
    """A Side from a path, a Trace, a TraceAnalysis, a (Trace, TraceAnalysis) pair or a list of those
    (repeats of one configuration, the first being the main one)."""
    if isinstance(spec, Side):
        return spec
    items = list(spec) if isinstance(spec, list) else [spec]
    if not items:
        raise ProfkitError("a comparison side needs at least one trace")
    pairs = [_load_one(x) for x in items]
    side = Side([t for t, _ in pairs], [a for _, a in pairs], describe_workload(pairs[0][0], pairs[0][1]))
    _check_side(side)
    return side


def _load_one(x) -> tuple[Trace, TraceAnalysis]:
    from profkit.trace import load_trace

    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], Trace):
        return x[0], x[1] if x[1] is not None else _analysis(x[0])
    if isinstance(x, Trace):
        return x, _analysis(x)
    if isinstance(x, TraceAnalysis):
        return load_trace(x.metadata.path), x
    if isinstance(x, (str, Path)):
        trace = load_trace(x)
        return trace, _analysis(trace)
    raise ProfkitError(f"cannot compare a {type(x).__name__}: give a trace path, a Trace or a TraceAnalysis")


def _analysis(trace: Trace) -> TraceAnalysis:
    if "analysis" not in trace.memo:
        trace.memo["analysis"] = analyze_trace(trace)
    return trace.memo["analysis"]


def _check_side(side: Side) -> None:
    for trace, analysis in zip(side.traces, side.analyses):
        if not analysis.has_gpu_activity:
            raise TraceError(
                trace.path,
                "has no GPU activity (a CPU-only run, or CUDA activities were not recorded), so there are no kernel or "
                "GPU-busy times to compare; profile with activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]",
            )
        if analysis.step_source.steps == "window" or not analysis.phases:
            raise TraceError(
                trace.path,
                "has no steps (no ProfilerStep or prefill/decode annotations), so it has no steady state to compare; "
                "profile with a schedule and call prof.step() once per generated token",
            )
    first = side.workload
    for trace, analysis in zip(side.traces[1:], side.analyses[1:]):
        other = describe_workload(trace, analysis)
        diffs = _workload_differences(first, other)
        if diffs:
            raise ProfkitError(
                f"{trace.path} is given as a repeat of {side.traces[0].path} but is not the same configuration "
                f"({'; '.join(diffs)}); give it as a candidate instead"
            )


# ---- the comparison ------------------------------------------------------------------------------------
def compare_traces(baseline: SideInput | list, candidate: SideInput | list, k_sigma: float = K_SIGMA, rel_floor: float = REL_FLOOR) -> Comparison:
    """Compare two configurations. Each side: a trace path, Trace, TraceAnalysis, (Trace, TraceAnalysis),
    a Side, or a list of those for repeated traces of one configuration (they pool into the noise)."""
    base, cand = load_side(baseline), load_side(candidate)
    _check_comparable(base, cand)
    identical = sorted(map(_resolved, base.paths)) == sorted(map(_resolved, cand.paths))
    setup = _setup_fields(base, cand)
    workload_diffs = _workload_differences(base.workload, cand.workload)
    phases = {}
    notes = []
    common = [p for p in base.analyses[0].phases if all(p in a.phases for a in base.analyses + cand.analyses)]
    for side_name, side in (("baseline", base), ("candidate", cand)):
        extra = sorted({p for a in side.analyses for p in a.phases} - set(common))
        if extra:
            notes.append(f"phase(s) {', '.join(extra)} only in the {side_name}: not compared")
    for p in common:
        phases[p] = _compare_phase(p, base, cand, k_sigma, rel_floor)
    comparison = Comparison(
        baseline=SideSummary(base.label, base.paths, len(base.traces) - 1, base.workload),
        candidate=SideSummary(cand.label, cand.paths, len(cand.traces) - 1, cand.workload),
        setup=setup,
        workload_differences=workload_diffs,
        phases=phases,
        verdict="",
        identical=identical,
        notes=notes,
    )
    comparison.verdict = compose_verdict(comparison)
    return comparison


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def _check_comparable(base: Side, cand: Side) -> None:
    conflicts = base.workload.model.conflicts(cand.workload.model)
    if conflicts:
        raise ProfkitError(
            f"cannot compare traces of different models: {base.label} ({base.workload.model_hint or base.workload.model.describe()}) vs "
            f"{cand.label} ({cand.workload.model_hint or cand.workload.model.describe()}) differ in {', '.join(conflicts)}; "
            "compare runs of the same model"
        )
    common = set(base.analyses[0].phases) & set(cand.analyses[0].phases)
    if not common:
        raise ProfkitError(
            f"no phase in common: {base.label} has {', '.join(base.analyses[0].phases) or 'none'}, {cand.label} has "
            f"{', '.join(cand.analyses[0].phases) or 'none'}; annotate prefill/decode (or ProfilerStep) the same way in both runs"
        )


# ---- set-up ----------------------------------------------------------------------------------------------
def setup_facts(trace: Trace, analysis: TraceAnalysis, workload: Workload) -> dict[str, tuple[str, str, Any]]:
    """name -> (label, kind, value) of everything that describes how a trace was taken."""
    md = analysis.metadata
    manifest = trace.manifest or {}
    env = manifest.get("environment") if isinstance(manifest.get("environment"), dict) else {}
    facts: dict[str, tuple[str, str, Any]] = {
        "model": ("model", "model", workload.model_hint or (workload.model.describe() or None)),
        "precision": ("precision", "workload", workload.precision),
        "batch_size": ("batch", "workload", workload.batch_size),
        "prompt_len": ("prompt length", "workload", workload.prompt_len),
        "mode": ("mode", "workload", workload.mode),
        "gpu_name": ("GPU", "hardware", md.gpu_name or env.get("gpu_name")),
        "sm_count": ("SMs", "hardware", md.sm_count or env.get("gpu_sm_count")),
        "memory_bytes": ("GPU memory", "hardware", md.memory_bytes or env.get("gpu_total_mem_bytes")),
        "compute_capability": ("compute capability", "hardware", md.compute_capability or env.get("gpu_compute_capability")),
    }
    software = {
        "driver_version": env.get("driver_version"),
        "cuda_driver": cuda_version_text(md.cuda_driver_version),
        "cuda_runtime": env.get("cuda_runtime") or cuda_version_text(md.cuda_runtime_version),
        "cupti": md.cupti_version,
        "torch": env.get("torch"),
        "transformers": env.get("transformers"),
        "bitsandbytes": env.get("bitsandbytes"),
        "cudnn": env.get("cudnn"),
    }
    for name, label in _SETUP_SOFTWARE:
        facts[name] = (label, "software", software[name])
    return facts


def _setup_fields(base: Side, cand: Side) -> list[SetupField]:
    a = setup_facts(base.traces[0], base.analyses[0], base.workload)
    b = setup_facts(cand.traces[0], cand.analyses[0], cand.workload)
    fields = []
    for name, (label, kind, value) in a.items():
        other = b[name][2]
        if value is None and other is None:
            continue
        fields.append(SetupField(name, label, kind, value, other, value is not None and other is not None and value != other))
    return fields


def _workload_differences(a: Workload, b: Workload) -> list[str]:
    out = []
    for name, label in (("precision", "precision"), ("batch_size", "batch"), ("prompt_len", "prompt length"), ("mode", "mode")):
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None and x != y:
            out.append(f"{label} differs: {x} vs {y}")
    return out


def same_setup(a: tuple[Trace, TraceAnalysis], b: tuple[Trace, TraceAnalysis]) -> bool:
    """Whether two traces were taken with the same workload, model, GPU and software (repeats)."""
    fa = setup_facts(a[0], a[1], describe_workload(*a))
    fb = setup_facts(b[0], b[1], describe_workload(*b))
    return all(fa[k][2] == fb[k][2] for k in fa)


# ---- step level ------------------------------------------------------------------------------------------
def _steady(analysis: TraceAnalysis, phase: str) -> list[Step]:
    steps = [s for s in analysis.steps if s.phase == phase]
    return [s for s in steps if not s.outlier] or steps


def _tokens_per_step(workload: Workload, phase: str) -> int | None:
    if workload.batch_size is None:
        return None
    if phase == "prefill":
        return workload.batch_size * workload.prompt_len if workload.prompt_len else None
    return workload.batch_size


@dataclass
class _SideNoise:
    median: float
    values: list[float]
    sigma: float  # pooled within-trace robust spread
    se: float  # standard error of the median
    n: int
    borrowed: bool
    trace_medians: list[float]


def _side_noise(side: Side, phase: str, metric: str) -> _SideNoise:
    values, spreads, medians, borrowed = [], [], [], False
    for analysis in side.analyses:
        st = analysis.phases[phase].stats
        vals = list(getattr(st, f"{metric}_values"))
        spread = float(getattr(st, f"{metric}_spread"))
        if len(vals) < 2:
            rel = _relative_spread_elsewhere(analysis, phase, metric)
            if rel is not None:
                spread, borrowed = rel * float(np.median(vals)), True
        values += vals
        spreads.append(spread)
        medians.append(float(np.median(vals)))
    n = len(values)
    sigma = math.sqrt(sum(s * s for s in spreads) / len(spreads))
    se = MEDIAN_SE_FACTOR * sigma / math.sqrt(n) if n > 1 else sigma
    return _SideNoise(float(np.median(values)), values, sigma, se, n, borrowed, medians)


def _relative_spread_elsewhere(analysis: TraceAnalysis, phase: str, metric: str) -> float | None:
    """Relative step-to-step spread of another phase of the same trace with several steady steps."""
    for other in ("decode", *analysis.phases):
        if other == phase or other not in analysis.phases:
            continue
        st = analysis.phases[other].stats
        vals = getattr(st, f"{metric}_values")
        if len(vals) >= 3 and getattr(st, metric) > 0:
            return float(getattr(st, f"{metric}_spread")) / float(getattr(st, metric))
    return None


def _metric_change(phase: str, metric: str, base: Side, cand: Side, k_sigma: float, rel_floor: float, tokens: tuple) -> MetricChange:
    a, b = _side_noise(base, phase, metric), _side_noise(cand, phase, metric)
    run_var = [float(np.var(s.trace_medians, ddof=1)) for s in (a, b) if len(s.trace_medians) > 1]
    run_to_run = math.sqrt(sum(run_var) / len(run_var)) if run_var else None
    noise2 = a.se**2 + b.se**2
    if run_to_run is not None:
        noise2 += run_to_run**2 * (1 / len(a.trace_medians) + 1 / len(b.trace_medians))
    noise = math.sqrt(noise2)
    floor = rel_floor * abs(a.median)
    threshold = max(k_sigma * noise, floor)
    delta = b.median - a.median
    significant = abs(delta) > threshold and delta != 0
    change = delta / a.median if a.median else None
    ta, tb = tokens
    pa = a.median / ta if ta else None
    pb = b.median / tb if tb else None
    return MetricChange(
        metric=metric,
        baseline=a.median,
        candidate=b.median,
        delta_ms=delta,
        change=change,
        significant=significant,
        threshold_ms=threshold,
        noise_ms=noise,
        baseline_spread_ms=a.sigma,
        candidate_spread_ms=b.sigma,
        baseline_steps=a.n,
        candidate_steps=b.n,
        run_to_run_ms=run_to_run,
        spread_borrowed=a.borrowed or b.borrowed,
        baseline_per_token_ms=pa,
        candidate_per_token_ms=pb,
        per_token_change=(pb / pa - 1) if pa and pb else None,
        reason=_significance_reason(delta, change, significant, threshold, noise, floor, k_sigma, rel_floor, a, b, run_to_run),
        baseline_values=a.values,
        candidate_values=b.values,
    )


def _significance_reason(delta, change, significant, threshold, noise, floor, k_sigma, rel_floor, a: _SideNoise, b: _SideNoise, run_to_run) -> str:
    if delta == 0:
        return "no change"
    pct = f"{change:+.1%}" if change is not None else f"{delta:+.3f} ms"
    verdict = "beyond" if significant else "within"
    if k_sigma * noise >= floor:
        basis = (
            f"{k_sigma:g} x noise {noise:.3f} ms: step spread {a.sigma:.3f}/{b.sigma:.3f} ms over {a.n}/{b.n} steps"
            + (" (single step: spread borrowed from the decode steps)" if a.borrowed or b.borrowed else "")
            + (f", run-to-run {run_to_run:.3f} ms from repeats" if run_to_run is not None else ", no repeats given (run-to-run noise unknown)")
        )
    else:
        basis = f"the {rel_floor:.0%} floor (noise {noise:.3f} ms is smaller)"
    return f"{pct} ({delta:+.3f} ms) is {verdict} the noise threshold +/-{threshold:.3f} ms = {basis}"


_COUNTERS = (
    ("kernels", "kernels"),
    ("sync_calls", "synchronizations"),
    ("d2h_copies", "device-to-host copies"),
    ("graph_launches", "CUDA graph launches"),
    ("launch_api_ms", "host ms in launch calls"),
    ("sync_wait_ms", "host ms blocked in syncs"),
    ("idle_fraction", "GPU idle fraction"),
)


def _counters(phase: str, base: Side, cand: Side) -> list[CounterChange]:
    out = []
    for name, label in _COUNTERS:
        x = float(np.mean([getattr(a.phases[phase].stats, name) for a in base.analyses]))
        y = float(np.mean([getattr(a.phases[phase].stats, name) for a in cand.analyses]))
        out.append(CounterChange(name, label, x, y, y - x))
    return out


# ---- op alignment ------------------------------------------------------------------------------------------
@dataclass
class _Agg:
    label: str
    kind: str  # "linear"/"bmm"/"attention"/"op"/"kernel"
    gpu_ns: float = 0.0
    host_ns: float = 0.0
    activities: int = 0
    calls: int = 0
    category_ns: Counter = field(default_factory=Counter)
    kernel_ns: Counter = field(default_factory=Counter)
    op_ns: Counter = field(default_factory=Counter)  # launching op path + dims -> ns
    signatures: Counter = field(default_factory=Counter)  # exact: root op + input shapes (or kernel name)

    def merge(self, other: "_Agg") -> None:
        self.gpu_ns += other.gpu_ns
        self.host_ns += other.host_ns
        self.activities += other.activities
        self.calls += other.calls
        for mine, theirs in ((self.category_ns, other.category_ns), (self.kernel_ns, other.kernel_ns), (self.op_ns, other.op_ns), (self.signatures, other.signatures)):
            mine.update(theirs)


def _containers(trace: Trace) -> np.ndarray:
    """For each CPU op, whether it only wraps other calls (a torch.compile region, a CUDA graph node)."""
    if "op_containers" not in trace.memo:
        flag = trace.ids_where(lambda s: s.startswith(_CONTAINER_OPS))
        trace.memo["op_containers"] = flag[trace.ops.name_id] if len(trace.strings) else np.zeros(len(trace.ops), bool)
    return trace.memo["op_containers"]


def _op_roots(trace: Trace) -> np.ndarray:
    """For each CPU op, the call it belongs to: its outermost caller below any container op
    (itself when top-level or called straight from a container)."""
    if "op_roots" not in trace.memo:
        parent = trace.op_parent_row
        container = _containers(trace)
        root = np.arange(len(parent), dtype=np.int64)
        for row in np.flatnonzero(parent >= 0).tolist():  # parents precede children
            if not container[parent[row]]:
                root[row] = root[parent[row]]
        trace.memo["op_roots"] = root
    return trace.memo["op_roots"]


def _primary_gemms(trace: Trace) -> dict[int, tuple[str, int, int]]:
    """Root op row -> (kind, K, N) of the largest GEMM (by K*N) it runs."""
    if "primary_gemms" in trace.memo:
        return trace.memo["primary_gemms"]
    roots = _op_roots(trace)
    ids = {trace.string_id(n): n for n in _GEMM_CORE_OPS}
    ids.pop(-1, None)
    best: dict[int, tuple[int, str, int, int]] = {}
    parsed: dict[int, list] = {}
    if ids:
        ops = trace.ops
        rows = np.flatnonzero(np.isin(ops.name_id, list(ids)))
        for row in rows.tolist():
            name = ids[int(ops.name_id[row])]
            dims_id = int(ops.dims_id[row])
            if dims_id not in parsed:
                parsed[dims_id] = _loads(trace.name(dims_id))
            kn = _gemm_kn(name, parsed[dims_id])
            if kn is None:
                continue
            k, n = kn
            root = int(roots[row])
            if root not in best or k * n > best[root][0]:
                best[root] = (k * n, "bmm" if "bmm" in name else "linear", k, n)
    result = {r: (kind, k, n) for r, (_, kind, k, n) in best.items()}
    trace.memo["primary_gemms"] = result
    return result


def _gemm_kn(op: str, dims: list) -> tuple[int, int] | None:
    ia, ib, nk = _GEMM_CORE_OPS[op]
    if len(dims) <= max(ia, ib):
        return None
    a, b = dims[ia], dims[ib]
    if not (_is_shape(a) and _is_shape(b) and len(a) >= 2 and len(b) >= 2):
        return None
    k = a[-1]
    n = b[-2] if nk else b[-1]
    return int(k), int(n)


def _is_shape(v) -> bool:
    return isinstance(v, list) and all(isinstance(d, int) for d in v)


def _loads(text: str) -> list:
    try:
        v = orjson.loads(text) if text else []
    except orjson.JSONDecodeError:
        return []
    return v if isinstance(v, list) else []


def _root_key(trace: Trace, root: int, category: str) -> tuple[str, str, str]:
    """(key, label, kind) of a top-level op call."""
    gemm = _primary_gemms(trace).get(root)
    if gemm is not None:
        kind, k, n = gemm
        return f"{kind}:{k}->{n}", f"{kind} {k}\u2192{n}", kind
    name = trace.name(int(trace.ops.name_id[root]))
    if any(w in name.lower() for w in _ATTENTION_WORDS):
        return f"attention:{name}", f"attention ({name})", "attention"
    suffix = "" if category in ("elementwise", "host") else f" [{CATEGORY_LABELS.get(category, category)}]"
    return f"op:{name}:{category}", f"{name}{suffix}", "op"


def _graph_launched(trace: Trace) -> np.ndarray:
    """For each GPU activity, whether a CUDA graph launch (replay) issued it."""
    if "graph_launched" not in trace.memo:
        rt_rows = trace.gpu_runtime_row
        is_graph = trace.ids_where(lambda s: s in GRAPH_LAUNCH_CALLS)[trace.runtime.name_id] if len(trace.runtime) else np.zeros(0, bool)
        out = np.zeros(len(rt_rows), dtype=bool)
        ok = rt_rows >= 0
        out[ok] = is_graph[rt_rows[ok]]
        trace.memo["graph_launched"] = out
    return trace.memo["graph_launched"]


def _phase_table(trace: Trace, steps: list[Step]) -> tuple[dict[str, _Agg], dict[str, list]]:
    """Op rows (key -> _Agg, summed over `steps`) and category totals (category -> [ns, count])."""
    launch = trace.gpu_launch_ts_ns
    mask = np.zeros(len(launch), dtype=bool)
    for s in steps:
        mask |= (launch >= s.lo_ns) & (launch < s.hi_ns)
    rows = np.flatnonzero(mask)
    cats = categorize(trace)[rows]
    dur = trace.gpu.dur_ns[rows]
    categories = {}
    for i, c in enumerate(CATEGORIES):
        m = cats == i
        if m.any():
            categories[c] = [float(dur[m].sum()), int(m.sum())]

    op_rows = _activity_op_rows(trace)[rows]
    graph = _graph_launched(trace)[rows]
    roots_all = _op_roots(trace)
    by_root: dict[int, list] = defaultdict(list)  # root -> activity indexes into rows
    loose: list[int] = []
    for i, (op_row, g) in enumerate(zip(op_rows.tolist(), graph.tolist())):
        if op_row < 0 or g:
            loose.append(i)
        else:
            by_root[int(roots_all[op_row])].append(i)

    # Calls issued inside the steps (host time), including those with no GPU work; containers are
    # left out (their children are calls of their own), so no host time counts twice.
    ops = trace.ops
    top = (roots_all == np.arange(len(roots_all))) & ~_containers(trace)
    host_roots = set()
    for s in steps:
        lo, hi = np.searchsorted(ops.ts_ns, [s.lo_ns, s.hi_ns])
        host_roots.update((np.flatnonzero(top[lo:hi]) + lo).tolist())

    table: dict[str, _Agg] = {}
    kernel_names = trace.gpu.name_id[rows]
    root_category = _root_categories(trace)
    for root in host_roots | set(by_root):
        members = by_root.get(root, [])
        key, label, kind = _root_key(trace, root, root_category.get(root, "host"))
        agg = table.get(key)
        if agg is None:
            agg = table[key] = _Agg(label, kind)
        agg.calls += 1
        agg.host_ns += float(ops.dur_ns[root])
        agg.signatures[f"{trace.name(int(ops.name_id[root]))} {trace.name(int(ops.dims_id[root]))}".strip()] += 1
        for i in members:
            d = int(dur[i])
            agg.gpu_ns += d
            agg.activities += 1
            agg.category_ns[CATEGORIES[cats[i]]] += d
            agg.kernel_ns[trace.name(int(kernel_names[i]))] += d
            agg.op_ns[_launching_op(trace, int(op_rows[i]))] += d
    for i in loose:
        cat = CATEGORIES[cats[i]]
        kname = trace.name(int(kernel_names[i]))
        key = f"kernel:{cat}:{kname}"
        agg = table.get(key)
        if agg is None:
            agg = table[key] = _Agg(_short_kernel(kname), "kernel")
        d = int(dur[i])
        agg.gpu_ns += d
        agg.activities += 1
        agg.category_ns[cat] += d
        agg.kernel_ns[kname] += d
        agg.signatures[kname] += 1
        agg.op_ns["(CUDA graph replay)" if graph[i] else "(no launching op)"] += d
    return table, categories


def _root_categories(trace: Trace) -> dict[int, str]:
    """Root op row -> the kernel category with most GPU time among everything calls with the same op
    name and input shapes launched (over the whole trace), so a call keeps one key whichever step it
    falls in, even when the profiler lost the link to its kernels."""
    if "root_categories" in trace.memo:
        return trace.memo["root_categories"]
    ops = trace.ops
    roots_all = _op_roots(trace)
    op_rows = _activity_op_rows(trace)
    ok = op_rows >= 0
    result: dict[int, str] = {}
    if ok.any():
        roots = roots_all[op_rows[ok]]
        signature = ops.name_id[roots].astype(np.int64) * (len(trace.strings) + 1) + ops.dims_id[roots].astype(np.int64) + 1
        n = len(CATEGORIES)
        combined, inverse = np.unique(signature * n + categorize(trace)[ok].astype(np.int64), return_inverse=True)
        ns = np.bincount(inverse.reshape(-1), weights=trace.gpu.dur_ns[ok].astype(np.float64))
        best: dict[int, tuple[float, int]] = {}
        for code, t in zip(combined.tolist(), ns.tolist()):
            sig, cat = divmod(code, n)
            if sig not in best or t > best[sig][0]:
                best[sig] = (t, cat)
        top = np.flatnonzero(roots_all == np.arange(len(roots_all)))
        top_sig = ops.name_id[top].astype(np.int64) * (len(trace.strings) + 1) + ops.dims_id[top].astype(np.int64) + 1
        result = {int(r): CATEGORIES[best[int(sg)][1]] for r, sg in zip(top.tolist(), top_sig.tolist()) if int(sg) in best}
    trace.memo["root_categories"] = result
    return result


def _activity_op_rows(trace: Trace) -> np.ndarray:
    """For each GPU activity, the CPU op that launched it: by External id, else (the profiler lost
    the link) the top-level op whose time span holds the launching runtime call on the same thread.
    NO_ID for CUDA-graph replays and activities with no launch call."""
    if "activity_op_rows" in trace.memo:
        return trace.memo["activity_op_rows"]
    rows = trace.gpu_op_row.copy()
    rows[_graph_launched(trace)] = -1
    lost = np.flatnonzero((rows < 0) & ~_graph_launched(trace) & (trace.gpu_runtime_row >= 0))
    if len(lost):
        ops, rt = trace.ops, trace.runtime
        top = np.flatnonzero(trace.op_parent_row < 0)
        starts = ops.ts_ns[top]
        for g in lost.tolist():
            r = int(trace.gpu_runtime_row[g])
            t = int(rt.ts_ns[r])
            i = int(np.searchsorted(starts, t, side="right")) - 1
            while i >= 0 and starts[i] <= t:
                row = int(top[i])
                if ops.tid[row] == rt.tid[r] and ops.ts_ns[row] + ops.dur_ns[row] > t:
                    rows[g] = row
                    break
                i -= 1
                if t - starts[max(i, 0)] > 10**9:  # look back at most a second
                    break
    trace.memo["activity_op_rows"] = rows
    return rows


def _launching_op(trace: Trace, op_row: int) -> str:
    memo = trace.memo.setdefault("launching_op_text", {})
    text = memo.get(op_row)
    if text is None:
        from profkit.analyses.kernels import op_path

        text = memo[op_row] = f"{op_path(trace, op_row)} {trace.name(int(trace.ops.dims_id[op_row]))}".strip()
    return text


def _short_kernel(name: str, limit: int = 80) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _side_tables(side: Side, phase: str) -> tuple[dict[str, _Agg], dict[str, list], int]:
    """Op and category tables of a side summed over its traces, and the number of steps summed."""
    table: dict[str, _Agg] = {}
    categories: dict[str, list] = {}
    n_steps = 0
    for trace, analysis in zip(side.traces, side.analyses):
        steps = _steady(analysis, phase)
        n_steps += len(steps)
        t, c = _phase_table(trace, steps)
        for key, agg in t.items():
            if key in table:
                table[key].merge(agg)
            else:
                table[key] = _copy_agg(agg)
        for cat, (ns, count) in c.items():
            acc = categories.setdefault(cat, [0.0, 0])
            acc[0] += ns
            acc[1] += count
    return table, categories, max(n_steps, 1)


def _copy_agg(agg: _Agg) -> _Agg:
    new = _Agg(agg.label, agg.kind)
    new.merge(agg)
    return new


def _category_rows(cb: dict, nb: int, cc: dict, nc: int, wall: tuple, tokens: tuple) -> list[DiffRow]:
    rows = []
    for cat in CATEGORIES:
        if cat not in cb and cat not in cc:
            continue
        b_ns, b_n = cb.get(cat, [0.0, 0])
        c_ns, c_n = cc.get(cat, [0.0, 0])
        rows.append(_row(cat, CATEGORY_LABELS[cat], cat, "category", b_ns / nb / 1e6, c_ns / nc / 1e6, b_n / nb, c_n / nc, wall, tokens))
    rows.sort(key=lambda r: -max(r.baseline_ms, r.candidate_ms))
    return rows


def _row(key, label, category, match, b_ms, c_ms, b_count, c_count, wall, tokens) -> DiffRow:
    (wb, wc), (tb, tc) = wall, tokens
    delta = c_ms - b_ms
    return DiffRow(
        key=key,
        label=label,
        category=category,
        match=match,
        baseline_ms=b_ms,
        candidate_ms=c_ms,
        delta_ms=delta,
        change=(c_ms / b_ms - 1) if b_ms else None,
        baseline_count=b_count,
        candidate_count=c_count,
        baseline_share=b_ms / wb if wb else 0.0,
        candidate_share=c_ms / wc if wc else 0.0,
        delta_share=delta / wb if wb else 0.0,
        baseline_per_token_ms=b_ms / tb if tb else None,
        candidate_per_token_ms=c_ms / tc if tc else None,
    )


def _op_rows(tb: dict[str, _Agg], nb: int, tc: dict[str, _Agg], nc: int, wall: tuple, tokens: tuple) -> list[DiffRow]:
    rows = []
    for key in list(tb) + [k for k in tc if k not in tb]:
        a, b = tb.get(key), tc.get(key)
        ref = a or b
        if a is not None and b is not None:
            if ref.kind == "kernel":
                match = "kernel name"
            else:
                match = "exact" if set(a.signatures) == set(b.signatures) else "semantic"
        else:
            match = "baseline only" if b is None else "candidate only"
        cat_ns = (a.category_ns if a else Counter()) + (b.category_ns if b else Counter())
        category = cat_ns.most_common(1)[0][0] if cat_ns else "host"
        row = _row(
            key, ref.label, category, match,
            a.gpu_ns / nb / 1e6 if a else 0.0, b.gpu_ns / nc / 1e6 if b else 0.0,
            a.activities / nb if a else 0.0, b.activities / nc if b else 0.0,
            wall, tokens,
        )
        row.baseline_host_ms = a.host_ns / nb / 1e6 if a else 0.0
        row.candidate_host_ms = b.host_ns / nc / 1e6 if b else 0.0
        row.delta_host_ms = row.candidate_host_ms - row.baseline_host_ms
        row.baseline_calls = a.calls / nb if a else 0.0
        row.candidate_calls = b.calls / nc if b else 0.0
        row.baseline_op = a.op_ns.most_common(1)[0][0] if a and a.op_ns else ""
        row.candidate_op = b.op_ns.most_common(1)[0][0] if b and b.op_ns else ""
        row.baseline_kernel = a.kernel_ns.most_common(1)[0][0] if a and a.kernel_ns else ""
        row.candidate_kernel = b.kernel_ns.most_common(1)[0][0] if b and b.kernel_ns else ""
        rows.append(row)
    rows.sort(key=lambda r: -max(r.baseline_ms, r.candidate_ms, r.baseline_host_ms, r.candidate_host_ms))
    return rows


def _sync_issuers(side: Side, phase: str) -> list[str]:
    causes = side.analyses[0].phases[phase].causes
    return [f"{i.op_path}: {i.per_step:.0f} per step" for i in causes.sync_issuers] if causes else []


def _counter_value(analysis: TraceAnalysis, phase: str, name: str) -> float:
    return float(getattr(analysis.phases[phase].stats, name))


def _ranked(rows: list[DiffRow], attr: str, base_attr_total: float, sign: int) -> list[DiffRow]:
    def change(r):
        before = getattr(r, "baseline_host_ms" if attr == "delta_host_ms" else "baseline_ms")
        return abs(getattr(r, attr)) / before if before else math.inf

    keep = [r for r in rows if sign * getattr(r, attr) > 0 and abs(getattr(r, attr)) >= ROW_MIN_FRACTION * base_attr_total and change(r) >= ROW_MIN_CHANGE]
    keep.sort(key=lambda r: -sign * getattr(r, attr))
    return keep[:TOP_N]


def _compare_phase(phase: str, base: Side, cand: Side, k_sigma: float, rel_floor: float) -> PhaseComparison:
    tokens = (_tokens_per_step(base.workload, phase), _tokens_per_step(cand.workload, phase))
    wall = _metric_change(phase, "wall_ms", base, cand, k_sigma, rel_floor, tokens)
    busy = _metric_change(phase, "gpu_busy_ms", base, cand, k_sigma, rel_floor, tokens)
    tb, cb, nb = _side_tables(base, phase)
    tc, cc, nc = _side_tables(cand, phase)
    walls = (wall.baseline, wall.candidate)
    ops = _op_rows(tb, nb, tc, nc, walls, tokens)
    notes = []
    if wall.spread_borrowed:
        notes.append(f"{phase} has one step per trace: its noise is borrowed from the decode steps' relative spread; repeat runs (--baseline-rep) make it firmer")
    for side_name, side in (("baseline", base), ("candidate", cand)):
        for analysis in side.analyses:
            for step in analysis.steps:
                if step.phase == phase and step.outlier:
                    notes.append(f"{side_name} {Path(analysis.metadata.path).name} {step.name} left out of the steady state: {step.outlier_reason}")
    if any(_counter_value(a, phase, "graph_launches") for a in base.analyses + cand.analyses):
        notes.append("kernels replayed from CUDA graphs carry no launching op or shapes: they are aligned by kernel name")
    return PhaseComparison(
        phase=phase,
        wall_ms=wall,
        gpu_busy_ms=busy,
        baseline_tokens_per_step=tokens[0],
        candidate_tokens_per_step=tokens[1],
        baseline_bound=base.analyses[0].phases[phase].verdict.bound,
        candidate_bound=cand.analyses[0].phases[phase].verdict.bound,
        counters=_counters(phase, base, cand),
        categories=_category_rows(cb, nb, cc, nc, walls, tokens),
        ops=ops,
        regressions=_ranked(ops, "delta_ms", busy.baseline, +1),
        improvements=_ranked(ops, "delta_ms", busy.baseline, -1),
        host_regressions=_ranked(ops, "delta_host_ms", wall.baseline, +1),
        host_improvements=_ranked(ops, "delta_host_ms", wall.baseline, -1),
        baseline_sync_issuers=_sync_issuers(base, phase),
        candidate_sync_issuers=_sync_issuers(cand, phase),
        notes=notes,
    )


# ---- verdict ------------------------------------------------------------------------------------------------
_NAMING_FIELDS = ("precision", "mode", "batch_size", "gpu_name", "driver_version", "cuda_runtime", "torch", "transformers", "bitsandbytes", "prompt_len")


def compose_verdict(c: Comparison) -> str:
    """A few sentences with numbers: what changed, by how much, whether beyond noise, and why."""
    if c.identical:
        return "Both sides are the same trace: no differences."
    sentences = []
    setup = [f"{f.label} {_fmt(f.baseline, f.name)} vs {_fmt(f.candidate, f.name)}" for f in c.setup_diff if f.kind != "workload"]
    if c.workload_differences:
        per_token = any(p.baseline_tokens_per_step != p.candidate_tokens_per_step for p in c.phases.values())
        fields = [f"{f.label} {f.baseline} vs {f.candidate}" for f in c.setup_diff if f.kind == "workload"]
        sentences.append("Workload differs (" + "; ".join(fields) + ")" + (": a step does not produce the same number of tokens on both sides, so compare per token." if per_token else "."))
    if setup:
        sentences.append("Set-up differs: " + "; ".join(setup) + ".")
    if not any(p.wall_ms.significant or p.gpu_busy_ms.significant for p in c.phases.values()):
        parts = [f"{p.phase} wall {_pct(p.wall_ms.change)} (noise threshold +/-{p.wall_ms.threshold_ms:.2f} ms), GPU busy {_pct(p.gpu_busy_ms.change)}" for p in c.phases.values()]
        sentences.append("No significant difference: " + "; ".join(parts) + ".")
        return " ".join(sentences)
    names = _side_names(c)
    for name in ("decode", "prefill", *[p for p in c.phases if p not in ("decode", "prefill")]):
        if name in c.phases:
            sentences.append(_phase_sentence(c, c.phases[name], names))
    return " ".join(s for s in sentences if s)


def _side_names(c: Comparison) -> tuple[str, str]:
    """What to call the two sides in prose: the values of the first set-up field that differs."""
    by_name = {f.name: f for f in c.setup_diff}
    for name in _NAMING_FIELDS:
        f = by_name.get(name)
        if f is not None:
            if name == "batch_size":
                return f"batch {f.baseline}", f"batch {f.candidate}"
            if name in ("driver_version", "cuda_runtime", "torch", "transformers", "bitsandbytes", "prompt_len"):
                return f"{f.label} {f.baseline}", f"{f.label} {f.candidate}"
            return str(f.baseline), str(f.candidate)
    return "the baseline", "the candidate"


def _phase_sentence(c: Comparison, p: PhaseComparison, names: tuple[str, str]) -> str:
    w, g = p.wall_ms, p.gpu_busy_ms
    base_name, cand_name = names
    if not w.significant and not g.significant:
        return f"{p.phase.capitalize()}: no significant change (wall {_pct(w.change)}, GPU busy {_pct(g.change)})."
    if p.baseline_tokens_per_step != p.candidate_tokens_per_step and w.baseline_per_token_ms and w.candidate_per_token_ms:
        text = _per_token_sentence(p, names)
    elif w.significant:
        text = _wall_sentence(c, p, names)
    else:
        direction = "less" if g.delta_ms < 0 else "more"
        bound = p.baseline_bound or "host"
        text = (
            f"in {p.phase}, GPU time {_pct(g.change)} with {cand_name} ({g.baseline:.2f} -> {g.candidate:.2f} ms per step{_category_drivers(p)}), "
            f"but wall time is unchanged within noise ({w.baseline:.1f} -> {w.candidate:.1f} ms, {_pct(w.change)}): the step is {bound}-bound "
            f"(GPU idle {_counter(p, 'idle_fraction').baseline:.0%}), so {direction} GPU work does not show"
        )
    return text[0].upper() + text[1:] + "." if not text.startswith(cand_name) else text + "."


def _per_token_sentence(p: PhaseComparison, names: tuple[str, str]) -> str:
    w, g = p.wall_ms, p.gpu_busy_ms
    ratio = w.candidate_per_token_ms / w.baseline_per_token_ms
    text = (
        f"{p.phase} per token: {w.baseline_per_token_ms:.3g} -> {w.candidate_per_token_ms:.3g} ms ({_times(ratio)}), "
        f"because a step carries {p.baseline_tokens_per_step} vs {p.candidate_tokens_per_step} tokens while the step's wall time goes "
        f"{w.baseline:.1f} -> {w.candidate:.1f} ms ({_pct(w.change)}, {_sig(w)}) and its GPU busy time {g.baseline:.2f} -> {g.candidate:.2f} ms ({_pct(g.change)}, {_sig(g)})"
    )
    idle = _counter(p, "idle_fraction")
    if p.candidate_bound in ("host", "sync"):
        text += (
            f"; the step is {p.candidate_bound}-bound (GPU idle {idle.baseline:.0%} -> {idle.candidate:.0%}), so extra tokens per step cost little wall time "
            "until the GPU, not the host, becomes the limit"
        )
    elif p.baseline_bound in ("host", "sync"):
        text += (
            f"; the larger step turns it from {p.baseline_bound}-bound (GPU idle {idle.baseline:.0%}) into {p.candidate_bound}-bound (GPU idle {idle.candidate:.0%}): "
            "the GPU is now the limit, so the per-token gain shrinks from here"
        )
    return text


def _wall_sentence(c: Comparison, p: PhaseComparison, names: tuple[str, str]) -> str:
    w, g = p.wall_ms, p.gpu_busy_ms
    base_name, cand_name = names
    ratio = w.candidate / w.baseline if w.baseline else float("nan")
    parts = [
        f"in {p.phase}, {cand_name} is {_times(ratio)} than {base_name}: wall {w.baseline:.1f} -> {w.candidate:.1f} ms per step "
        f"({_pct(w.change)}, beyond the +/-{w.threshold_ms:.2f} ms noise)"
    ]
    syncs, d2h = _counter(p, "sync_calls"), _counter(p, "d2h_copies")
    if abs(d2h.delta) >= SYNC_CHANGE_MIN or abs(syncs.delta) >= SYNC_CHANGE_MIN:
        issuers = p.candidate_sync_issuers if syncs.delta > 0 else p.baseline_sync_issuers
        source = f" from {_issuer_text(issuers[0])}" if issuers else ""
        linear = _linear_host(p)
        parts.append(f"{d2h.delta:+.0f} device-to-host copies and {syncs.delta:+.0f} synchronizations per step{source}{linear}")
    if g.significant:
        gr = g.candidate / g.baseline if g.baseline else float("nan")
        busy = f"GPU busy {g.baseline:.2f} -> {g.candidate:.2f} ms"
        if (ratio > 1) != (gr > 1):
            parts.append(f"{busy} ({_times(gr)}{_category_drivers(p)}), so the wall-time change comes from the host: {_host_shift(p)}")
        else:
            only = abs(math.log(ratio)) > 1.5 * abs(math.log(gr))
            parts.append(f"{busy}, only {_times(gr)}{_category_drivers(p)}" if only else f"{busy} ({_times(gr)}{_category_drivers(p)})")
            who, bound = (cand_name, p.candidate_bound) if ratio > 1 else (base_name, p.baseline_bound)
            if bound in ("host", "sync"):
                if only:
                    parts.append(f"the wall time moves more than the GPU time because the {who} step is {bound}-bound ({_host_shift(p)})")
                else:
                    parts.append(f"host work changes too: the {who} step is {bound}-bound ({_host_shift(p)})")
            elif bound:
                parts.append(f"the {who} step is {bound}-bound, so its wall time follows its GPU time")
    else:
        parts.append(f"GPU busy is unchanged within noise ({_pct(g.change)}{_category_drivers(p, min_share=0.02)}), so the difference is on the host{_host_detail(p)}")
        if c.baseline.repeats == 0 and c.candidate.repeats == 0:
            parts.append("with one trace per configuration, run-to-run host variation cannot be ruled out: confirm with a repeated run (--baseline-rep)")
    return "; ".join(parts)


def _host_shift(p: PhaseComparison) -> str:
    kern, graphs, idle = _counter(p, "kernels"), _counter(p, "graph_launches"), _counter(p, "idle_fraction")
    text = f"{kern.baseline:.0f} -> {kern.candidate:.0f} kernels per step"
    if graphs.baseline or graphs.candidate:
        text += f" ({graphs.baseline:.0f} -> {graphs.candidate:.0f} CUDA graph replays)"
    return text + f", GPU idle {idle.baseline:.0%} -> {idle.candidate:.0%}"


def _issuer_text(issuer: str) -> str:
    """'MatMul8bitLt > bitsandbytes::int8_vectorwise_quant > aten::item -> cudaStreamSynchronize: 224 per step' -> the op part."""
    path = issuer.split(" -> ")[0]
    ops = path.split(" > ")
    return " > ".join(ops[:2]) + (" (bitsandbytes' outlier checks)" if "int8_vectorwise_quant" in path else "")


def _linear_host(p: PhaseComparison) -> str:
    rows = [r for r in p.ops if r.key.startswith("linear:")]
    if not rows:
        return ""
    b = sum(r.baseline_host_ms for r in rows)
    c = sum(r.candidate_host_ms for r in rows)
    return f"; the linear layers take {b:.1f} -> {c:.1f} ms of host time per step" if c > 1.5 * b or b > 1.5 * c else ""


def _host_detail(p: PhaseComparison) -> str:
    kern = _counter(p, "kernels")
    launch = _counter(p, "launch_api_ms")
    bits = [f"{kern.delta:+.0f} kernels per step" if kern.delta else f"the same {kern.baseline:.0f} kernels per step"]
    bits.append(f"host time in launch calls {launch.baseline:.1f} -> {launch.candidate:.1f} ms")
    top = p.host_regressions[:1] if p.wall_ms.delta_ms > 0 else p.host_improvements[:1]
    if top:
        r = top[0]
        bits.append(f"largest host change {r.label} {r.baseline_host_ms:.2f} -> {r.candidate_host_ms:.2f} ms per step")
    return " (" + ", ".join(bits) + ")"


def _category_drivers(p: PhaseComparison, min_share: float = 0.0) -> str:
    """': int8 GEMM +4.04 ms, GEMM (16-bit) -4.20 ms' for the categories that moved most."""
    moved = [r for r in p.categories if abs(r.delta_ms) > max(0.05 * abs(p.gpu_busy_ms.delta_ms), min_share * p.gpu_busy_ms.baseline, 1e-3)]
    moved.sort(key=lambda r: -abs(r.delta_ms))
    if not moved:
        gemm = [r for r in p.categories if r.category in (GEMM, INT8_GEMM)]
        return f"; GEMMs {gemm[0].baseline_ms:.2f} -> {gemm[0].candidate_ms:.2f} ms" if gemm else ""
    return ": " + ", ".join(f"{r.label} {r.delta_ms:+.2f} ms" for r in moved[:3])


def _counter(p: PhaseComparison, name: str) -> CounterChange:
    return next(c for c in p.counters if c.name == name)


def _sig(m: MetricChange) -> str:
    return "significant" if m.significant else "within noise"


def _pct(change: float | None) -> str:
    return "n/a" if change is None else f"{change:+.1%}"


def _times(ratio: float) -> str:
    if not ratio or math.isnan(ratio):
        return "n/a"
    return f"{ratio:.2f}x slower" if ratio >= 1 else f"{1 / ratio:.2f}x faster"


def _fmt(v, name: str = "") -> str:
    if v is None:
        return "unknown"
    if name.endswith("_bytes") and isinstance(v, (int, float)):
        return f"{v / 1e9:.1f} GB"
    return str(v)


# ---- inputs: files, run folders, repeats ---------------------------------------------------------------------
@dataclass
class _Entry:
    path: Path
    key: tuple | None  # (precision, batch_size, prompt_len, mode) when a manifest says so
    origin: str  # the input it came from
    manifest: dict | None = None  # the run's manifest.json entry for this trace (run-level part + "config")


def expand_input(path) -> tuple[list[_Entry], list[str]]:
    """Trace files an input stands for: a trace file, a run folder (its manifest's ok configurations)
    or a folder of traces. Returns (entries, notes about configurations that cannot be compared)."""
    from profkit.layout import MANIFEST_FILE
    from profkit.trace import find_traces

    p = Path(path)
    if not p.exists():
        raise ProfkitError(f"{p}: no such file or folder; give a trace file (.json/.json.gz) or a run folder with {MANIFEST_FILE}")
    if p.is_dir() and (p / MANIFEST_FILE).is_file():
        run = read_run(p)
        entries, notes = [], list(run.warnings)
        manifest = _read_json(p / MANIFEST_FILE)
        raw_configs = {c.get("name"): c for c in manifest.get("configs") or [] if isinstance(c, dict)}
        run_level = {k: v for k, v in manifest.items() if k != "configs"}
        for cfg in run.configs:
            trace = Path(cfg.trace_path) if cfg.trace_path else None
            if cfg.status != "ok" or trace is None or not trace.is_file():
                why = cfg.error or (f"status {cfg.status}" if cfg.status != "ok" else "trace file missing")
                notes.append(f"{run.run_id}/{cfg.name}: not compared ({why})")
                continue
            embedded = {**run_level, "config": raw_configs.get(cfg.name, {})}
            entries.append(_Entry(trace, (cfg.precision, cfg.batch_size, cfg.prompt_len, cfg.mode), str(p), embedded))
        if not entries:
            raise ProfkitError(f"{p}: the run has no configuration with a trace to compare ({'; '.join(notes) or 'no configs'})")
        return entries, notes
    return [_Entry(f, None, str(p)) for f in find_traces([p])], []


def _read_json(path: Path) -> dict:
    import json

    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def compare_paths(baseline, candidates: Iterable, baseline_reps: Iterable = (), k_sigma: float | None = None, rel_floor: float | None = None) -> CompareReport:
    """The front ends' entry point: compare a baseline (trace file or run folder) with candidates.

    Run folder vs run folder: configurations pair by (precision, batch, prompt length, mode).
    `baseline_reps`: repeated traces of the baseline configuration(s), pooled into its noise.
    A candidate with exactly the baseline's set-up is treated as a repeat: it is compared with the
    baseline on its own (the noise floor) and pooled into the baseline for the other candidates.
    `k_sigma`, `rel_floor`: the significance test (None: K_SIGMA, REL_FLOOR).
    """
    k_sigma = K_SIGMA if k_sigma is None else k_sigma
    rel_floor = REL_FLOOR if rel_floor is None else rel_floor
    if not k_sigma > 0:
        raise ProfkitError(f"--k-sigma must be a positive number, got {k_sigma}")
    if not 0 <= rel_floor < 1:
        raise ProfkitError(f"--rel-floor must be a fraction in [0, 1), got {rel_floor}")
    loaded: dict[str, tuple[Trace, TraceAnalysis]] = {}

    def load(entry: _Entry) -> tuple[Trace, TraceAnalysis]:
        from profkit.trace import load_trace

        key = _resolved(str(entry.path))
        if key not in loaded:
            trace = load_trace(entry.path)
            if trace.manifest is None and entry.manifest:
                # A trace of a run folder that does not embed its manifest (older capture, or copied in):
                # the folder's manifest.json says how it was taken. In memory only; the file is untouched.
                trace.metadata["profkit_manifest"] = entry.manifest
            loaded[key] = (trace, _analysis(trace))
        return loaded[key]

    def key_of(entry: _Entry) -> tuple:
        return entry.key if entry.key is not None else describe_workload(*load(entry)).key()

    base_entries, notes = expand_input(baseline)
    rep_entries: list[_Entry] = []
    for r in baseline_reps:
        e, n = expand_input(r)
        rep_entries += e
        notes += n
    cand_entries: list[_Entry] = []
    for cnd in candidates:
        e, n = expand_input(cnd)
        cand_entries += e
        notes += n
    if not cand_entries:
        raise ProfkitError("give at least one candidate to compare with the baseline")

    single = len(base_entries) == 1
    base_keys = [None if single else key_of(e) for e in base_entries]

    def partner(entry: _Entry) -> int | None:
        if single:
            return 0
        k = key_of(entry)
        return base_keys.index(k) if k in base_keys else None

    reps: dict[int, list[_Entry]] = defaultdict(list)
    for e in rep_entries:
        i = partner(e)
        if i is None:
            notes.append(f"--baseline-rep {e.path}: no baseline configuration with the same workload; ignored")
        else:
            reps[i].append(e)

    pairs: dict[int, list[_Entry]] = defaultdict(list)
    unpaired = []
    for e in cand_entries:
        i = partner(e)
        if i is None:
            unpaired.append(f"{e.path} ({_key_text(key_of(e))}): no baseline configuration with the same precision, batch, prompt length and mode")
        else:
            pairs[i].append(e)
    for i, e in enumerate(base_entries):
        if i not in pairs and not single:
            unpaired.append(f"{e.path} ({_key_text(base_keys[i])}): no candidate configuration to compare with")

    comparisons = []
    for i, base_entry in enumerate(base_entries):
        if i not in pairs:
            continue
        base_pair = load(base_entry)
        explicit = [load(e) for e in reps[i]]
        repeats, others = [], []
        for e in pairs[i]:
            cand_pair = load(e)
            same_file = _resolved(str(e.path)) == _resolved(str(base_entry.path))
            (repeats if not same_file and same_setup(base_pair, cand_pair) else others).append(cand_pair)
        for rep in repeats:
            comp = compare_traces([base_pair, *explicit], rep, k_sigma, rel_floor)
            comp.kind = "repeat"
            comp.notes.append("the candidate has the baseline's exact set-up: this comparison is the run-to-run noise floor; it is pooled into the baseline for the other candidates")
            comparisons.append(comp)
        pooled = [base_pair, *explicit, *repeats]
        for cand_pair in others:
            comparisons.append(compare_traces(pooled, cand_pair, k_sigma, rel_floor))
    if not comparisons:
        raise ProfkitError("nothing to compare: no candidate configuration matches a baseline configuration (" + "; ".join(unpaired) + ")")
    return CompareReport(comparisons, unpaired, notes, k_sigma, rel_floor)


def _key_text(key: tuple) -> str:
    precision, batch, prompt, mode = key
    return f"{precision or '?'} batch {batch if batch is not None else '?'} prompt {prompt if prompt is not None else '?'} {mode or '?'}"
