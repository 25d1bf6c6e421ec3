"""Ranked recommendations -- what to change, why, the expected gain, how sure, and how -- from
measurements (sweeps and traces, `profkit.analyses.evidence`) and the hardware model
(`profkit.analyses.estimate`, `profkit.hardware.catalog`). Every figure says whether it was
measured or modelled.

Pure: `recommend(inputs, target, config)` returns data; nothing here reads files or prints.

How a measured decode step moves to the target GPU and the user's context length (`_Projector`):

  GPU time there  = the roofline time (`estimate`) / the kernel efficiency, the fraction of the
                    roofline the profiled kernels reached (roofline time / GPU busy time in a trace
                    of the same precision; `DEFAULT_KERNEL_EFFICIENCY` without one). Where a trace
                    measured the GPU busy time, that is used and scaled by the roofline ratio.
  host time       = unchanged: the same CPU and software are assumed.
  host/launch-bound step (the GPU idles >= half the step; it runs ahead of the host)
                  -> max(measured step, GPU time on the target)
  sync-bound step (host and GPU take turns) -> measured step + (GPU time on the target - there)
  GPU-bound step  -> measured step x GPU time on the target / there

Ranking: score = log2(geometric mean of the expected-gain range on the target) x the confidence
weight (`CONFIDENCE_WEIGHT`): doublings of speed, discounted by how sure profkit is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from profkit.analyses.estimate import DEFAULT_CONTEXT_LEN, PRECISIONS, estimate, kv_bytes_per_token
from profkit.analyses.evidence import MeasuredConfig, RecommendInputs, TraceEvidence
from profkit.analyses.verdict import HOST, IDLE_BOUND_FRACTION, MEMORY, SYNC
from profkit.errors import ProfkitError
from profkit.hardware.catalog import GpuSpec, match_gpu
from profkit.models import LlamaShape

#: The user's GPU when none is named: the issue's question is about an A100 40GB.
DEFAULT_TARGET_GPU = "a100-40gb-sxm"

PRECISION, BATCH, LAUNCH_OVERHEAD = "precision", "batch", "launch_overhead"
KINDS = (PRECISION, BATCH, LAUNCH_OVERHEAD)
HIGH, MEDIUM, LOW = "high", "medium", "low"
#: Weight of each confidence level in the ranking score.
CONFIDENCE_WEIGHT = {HIGH: 1.0, MEDIUM: 0.7, LOW: 0.4}
MEASURED, MODELLED = "measured", "modelled"

SIXTEEN_BIT = ("bf16", "fp16")
EIGHT_BIT = ("int8",)
#: Fraction of the bandwidth roofline decode kernels reach while they run, when no trace of the
#: precision measured it: profkit's H200 reference traces ran eager bf16/fp16 decode kernels at
#: 43-51% of the roofline (GPU busy time against bytes / datasheet bandwidth).
DEFAULT_KERNEL_EFFICIENCY = 0.5
#: Throughput that grows by at least this fraction of the batch growth counts as still linear.
LINEAR_SCALING_MIN = 0.9
#: The batch curve is extrapolated at most this factor beyond the largest measured batch.
MAX_EXTRAPOLATION = 4
#: Host time per token left after static cache + CUDA graphs (graph replay, sampling, the generate
#: loop) when no compiled run measured it: profkit's H100 reference (bf16 batch 1, static cache +
#: torch.compile) took 11.47 ms per token with the GPU busy 6.77 ms.
COMPILED_RESIDUAL_HOST_MS = 4.7


@dataclass(frozen=True)
class RecommendConfig:
    """What the user deploys and the latency they need. Defaults live here (the CLI reads them)."""

    context_len: int = DEFAULT_CONTEXT_LEN
    """Tokens per sequence in the KV cache (prompt + generated) on the target: sets the memory limit
    on the batch and the KV bytes each decode step reads."""
    tpot_slo_ms: float | None = None
    """Latency target for the time per output token, checked against the p90 (median where no p90
    was measured), in ms; None = no target."""
    ttft_slo_ms: float | None = None
    """Latency target for the time to first token at the measured prompt length, in ms; None = no target."""

    def __post_init__(self):
        if not isinstance(self.context_len, int) or self.context_len < 1:
            raise ProfkitError(f"--context-len must be a whole number >= 1, got {self.context_len!r}")
        for option, value in (("--tpot-slo-ms", self.tpot_slo_ms), ("--ttft-slo-ms", self.ttft_slo_ms)):
            if value is not None and not value > 0:
                raise ProfkitError(f"{option} must be a positive number of milliseconds, got {value}")


@dataclass(frozen=True)
class Evidence:
    """One fact behind a recommendation and where it comes from."""

    text: str
    source: str  # file(s) the numbers come from; "model" for catalog/roofline figures
    measured: bool = True


@dataclass(frozen=True)
class Gain:
    """Expected gain of a change, as a factor (2.0 = twice as fast) on the target GPU."""

    metric: str  # what gets faster: "decode tokens/s per sequence", "decode tokens/s (aggregate)"
    low: float
    high: float
    gpu: str  # the GPU low/high apply to (the target)
    basis: str  # MEASURED when low/high were measured on that GPU at that context, else MODELLED
    measured_low: float | None = None  # the same gain as measured where it was profiled
    measured_high: float | None = None
    measured_gpu: str | None = None
    text: str = ""

    @property
    def mid(self) -> float:
        return math.sqrt(max(self.low, 1e-9) * max(self.high, 1e-9))


@dataclass
class Recommendation:
    """One ranked recommendation."""

    kind: str  # one of KINDS
    change: str  # what to change, one sentence
    why: str  # the measured numbers in one or two sentences
    evidence: list[Evidence]
    expected_gain: Gain
    measured: bool  # the gain rests on a measured before and after (expected_gain.measured_*), not only the model
    confidence: str  # HIGH, MEDIUM or LOW
    confidence_reason: str
    how: list[str]  # flags, options and code
    target: dict  # gpu_key, gpu_name, context_len, scaled_from, scaling
    flags: list[str] = field(default_factory=list)  # e.g. "throughput_still_linear", "headroom_beyond_measured", "scaled_to_target"
    details: dict = field(default_factory=dict)  # kind-specific numbers
    score: float = 0.0
    rank: int = 0


# ---- entry point ------------------------------------------------------------------------------
def recommend(inputs: RecommendInputs, target: GpuSpec, config: RecommendConfig | None = None) -> list[Recommendation]:
    """Ranked recommendations for running `inputs.model` on `target`, best first."""
    config = config or RecommendConfig()
    p = _Projector(inputs, target, config)
    precision_rec = p.fresh(_precision_recommendation)
    chosen = precision_rec.details.get("recommended_precision") if precision_rec else None
    recs = [precision_rec, p.fresh(_batch_recommendation, chosen), p.fresh(_launch_recommendation, chosen)]
    recs = [r for r in recs if r is not None]
    for r in recs:
        r.score = math.log2(r.expected_gain.mid) * CONFIDENCE_WEIGHT[r.confidence]
    recs.sort(key=lambda r: -r.score)
    for i, r in enumerate(recs, 1):
        r.rank = i
    return recs


# ---- the model that moves measurements to the target ------------------------------------------
@lru_cache(maxsize=4096)
def _ideal_ms(shape: LlamaShape, gpu: GpuSpec, precision: str, batch: int, context: int) -> tuple[float, float]:
    """(decode step ms, prefill ms of `batch` prompts of `context` tokens) at the roofline."""
    est = estimate(shape, gpu, precision, context_len=max(int(context), 1), batch_size=max(int(batch), 1))
    return est.decode_ms_ideal, est.prefill_ms_ideal


@dataclass(frozen=True)
class Projection:
    """A step time moved from the GPU it was measured on to the target at the user's context (ms)."""

    measured_ms: float
    gpu_from_ms: float
    gpu_to_ms: float
    bound: str
    target_ms: float
    on_target: bool  # measured on the target GPU at (at least) the user's context: target_ms = measured_ms


class _Projector:
    """Shared model state for one `recommend` call: shape, target, efficiencies from the traces."""

    def __init__(self, inputs: RecommendInputs, target: GpuSpec, config: RecommendConfig):
        self.inputs, self.target, self.config = inputs, target, config
        self.shape = inputs.model
        self.context = config.context_len
        self.scaled_from: set[str] = set()

    def fresh(self, builder, *args):
        """Run one recommendation builder with its own record of the GPUs it scaled from."""
        self.scaled_from = set()
        return builder(self, *args)

    # -- efficiencies and bounds --
    def efficiency(self, precision: str, mode: str, phase: str = "decode") -> tuple[float, str]:
        """Fraction of the roofline the kernels reached (median over traces of this precision; same mode first)."""
        for same_mode in (True, False):
            values, names = [], []
            for t in self.inputs.traces:
                if t.precision != precision or (same_mode and t.mode != mode) or t.gpu is None or not t.batch_size:
                    continue
                rep = t.analysis.phases.get(phase)
                if rep is None or rep.stats.gpu_busy_ms <= 0:
                    continue
                ctx = (t.prompt_len or 1) + (1 if phase == "decode" else 0)
                decode_ms, prefill_ms = _ideal_ms(self.shape, t.gpu, precision, t.batch_size, ctx)
                values.append((decode_ms if phase == "decode" else prefill_ms) / rep.stats.gpu_busy_ms)
                names.append(t.name)
            if values:
                return float(np.median(values)), f"{phase} kernels at {np.median(values):.0%} of the roofline in {', '.join(names)}"
        return DEFAULT_KERNEL_EFFICIENCY, f"assumed {DEFAULT_KERNEL_EFFICIENCY:.0%} of the roofline (no {precision} trace)"

    def decode_trace(self, precision: str, mode: str) -> TraceEvidence | None:
        found = [t for t in self.inputs.traces if t.precision == precision and t.mode == mode and "decode" in t.analysis.phases]
        return sorted(found, key=lambda t: (t.batch_size or 0, t.path))[0] if found else None

    def bound(self, precision: str, mode: str, gpu_ms: float, step_ms: float) -> str:
        """The decode bound from a trace of this precision and mode; else host when the modelled GPU time is under half the step."""
        t = self.decode_trace(precision, mode)
        if t is not None and t.analysis.phases["decode"].verdict.bound:
            return t.analysis.phases["decode"].verdict.bound
        return HOST if gpu_ms < IDLE_BOUND_FRACTION * step_ms else MEMORY

    # -- projections --
    def ratio(self, gpu_from: GpuSpec, precision: str, batch: int, ctx_from: int, phase: str = "decode") -> float:
        """Roofline time on the target at the user's context / on `gpu_from` at `ctx_from`."""
        i = 0 if phase == "decode" else 1
        to = _ideal_ms(self.shape, self.target, precision, batch, self.context if phase == "decode" else ctx_from)[i]
        return to / _ideal_ms(self.shape, gpu_from, precision, batch, ctx_from)[i]

    def decode(self, step_ms: float, gpu_from: GpuSpec, precision: str, mode: str, batch: int, ctx_from: int,
               ctx_end: int | None, busy_ms: float | None = None) -> Projection:
        """Move one measured decode step (median or p90) to the target at the user's context."""
        if busy_ms is None:
            eff, _ = self.efficiency(precision, mode)
            busy_ms = _ideal_ms(self.shape, gpu_from, precision, batch, ctx_from)[0] / eff
        to_ms = busy_ms * self.ratio(gpu_from, precision, batch, ctx_from)
        bound = self.bound(precision, mode, busy_ms, step_ms)
        on_target = gpu_from.key == self.target.key and ctx_end is not None and self.context <= ctx_end
        if on_target:
            return Projection(step_ms, busy_ms, busy_ms, bound, step_ms, True)
        self.scaled_from.add(gpu_from.name)
        if bound == SYNC:
            ms = step_ms + (to_ms - busy_ms)
        elif bound == HOST:
            ms = max(step_ms, to_ms)
        else:
            ms = step_ms * to_ms / busy_ms
        return Projection(step_ms, busy_ms, to_ms, bound, ms, False)

    def prefill(self, ttft_ms: float, gpu_from: GpuSpec, precision: str, mode: str, batch: int, prompt: int) -> float:
        """TTFT on the target: the measured TTFT + the change in prefill GPU time (no overlap assumed)."""
        if gpu_from.key == self.target.key:
            return ttft_ms
        eff, _ = self.efficiency(precision, mode, "prefill")
        here = _ideal_ms(self.shape, gpu_from, precision, batch, prompt)[1]
        there = _ideal_ms(self.shape, self.target, precision, batch, prompt)[1]
        return max(ttft_ms + (there - here) / eff, 0.0)

    def max_batch(self, precision: str) -> int:
        """Largest batch whose KV cache fits on the target at the user's context (the memory model)."""
        return estimate(self.shape, self.target, precision, context_len=self.context, batch_size=1).max_batch

    def target_info(self) -> dict:
        return {
            "gpu_key": self.target.key,
            "gpu_name": self.target.name,
            "context_len": self.context,
            "scaled_from": sorted(self.scaled_from),
            "scaling": self.scaling_text(),
        }

    def scaling_text(self) -> str:
        if not self.scaled_from:
            return f"measured on the target ({self.target.name}); no scaling"
        parts = []
        for name in sorted(self.scaled_from):
            spec = self._spec_named(name)
            if spec is None:
                continue
            bw = self.target.bandwidth_gbps / spec.bandwidth_gbps
            tf = self.target.peak_tflops.get("bf16", 0) / spec.peak_tflops.get("bf16", 1)
            measured = self._measured_copy_gbps(spec)
            parts.append(
                f"from {spec.name} with the catalog's datasheet numbers: bandwidth {spec.bandwidth_gbps:,.0f} -> "
                f"{self.target.bandwidth_gbps:,.0f} GB/s ({bw:.2f}x), bf16 peak {spec.peak_tflops.get('bf16', 0):,.0f} -> "
                f"{self.target.peak_tflops.get('bf16', 0):,.0f} TFLOP/s ({tf:.2f}x)"
                + (f" (measured copy bandwidth there {measured:,.0f} GB/s, {measured / spec.bandwidth_gbps:.0%} of the datasheet; "
                   "the same fraction is assumed on the target)" if measured else "")
            )
        return (f"modelled for {self.target.name} at {self.context:,} tokens of context, "
                + "; ".join(parts) + "; GPU time scaled by the roofline ratio, host time kept (same CPU and software assumed)")

    def _measured_copy_gbps(self, spec: GpuSpec) -> float | None:
        """The run's measured device-to-device copy bandwidth (read + write) on `spec`'s GPU, if recorded."""
        for name, ceilings in self.inputs.ceilings.items():
            found = match_gpu(name)
            if found is not None and found.key == spec.key and ceilings.get("d2d_copy_GBps_read_plus_write"):
                return float(ceilings["d2d_copy_GBps_read_plus_write"])
        return None

    def _spec_named(self, name: str) -> GpuSpec | None:
        for c in self.inputs.configs:
            if c.gpu is not None and c.gpu.name == name:
                return c.gpu
        for t in self.inputs.traces:
            if t.gpu is not None and t.gpu.name == name:
                return t.gpu
        return None


# ---- measured curves ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvePoint:
    """One measured batch of a (precision, mode) curve on one GPU (times in ms)."""

    batch: int
    tpot_ms: float
    tpot_p90_ms: float | None
    ttft_ms: float | None
    tokens_per_s: float  # aggregate decode rate
    prompt_len: int
    context_end: int | None
    source: str
    profiled: bool  # from a trace (under the profiler) rather than an un-profiled timing
    busy_ms: float | None = None  # GPU busy per decode step, when a trace measured it


@dataclass(frozen=True)
class Curve:
    precision: str
    mode: str
    gpu: GpuSpec
    points: tuple[CurvePoint, ...]

    def at(self, batch: int) -> CurvePoint | None:
        return next((p for p in self.points if p.batch == batch), None)


def _curves(inputs: RecommendInputs) -> list[Curve]:
    """One curve per (GPU, precision, mode): un-profiled sweeps where present, else traces."""
    groups: dict = {}
    for c in inputs.configs:
        if c.ok and c.gpu is not None and c.precision in PRECISIONS:
            groups.setdefault((c.gpu, c.precision, c.mode), {"configs": [], "traces": []})["configs"].append(c)
    for t in inputs.traces:
        if t.gpu is not None and t.precision in PRECISIONS and t.batch_size and "decode" in t.analysis.phases:
            groups.setdefault((t.gpu, t.precision, t.mode), {"configs": [], "traces": []})["traces"].append(t)
    curves = []
    for (gpu, precision, mode), g in groups.items():
        points = [_point_from_config(c) for c in g["configs"]] or _points_from_traces(g["traces"])
        by_batch = {p.batch: p for p in sorted(points, key=lambda p: p.source)}
        curves.append(Curve(precision, mode, gpu, tuple(by_batch[b] for b in sorted(by_batch))))
    return curves


def _point_from_config(c: MeasuredConfig) -> CurvePoint:
    tps = c.decode_tokens_per_s or c.batch_size * 1e3 / c.tpot_median_ms
    return CurvePoint(c.batch_size, c.tpot_median_ms, c.tpot_p90_ms, c.ttft_ms, tps, c.prompt_len or 1,
                      c.context_len, _short(c.source), False)


def _points_from_traces(traces: list[TraceEvidence]) -> list[CurvePoint]:
    by_batch: dict[int, list[TraceEvidence]] = {}
    for t in traces:
        by_batch.setdefault(t.batch_size, []).append(t)
    points = []
    for batch, group in by_batch.items():
        t = sorted(group, key=lambda t: t.path)[0]
        dec = t.analysis.phases["decode"].stats
        pre = t.analysis.phases.get("prefill")
        ctx_end = (t.prompt_len or 0) + dec.steps + 1 if t.prompt_len else None
        points.append(CurvePoint(batch, dec.wall_ms, dec.wall_ms_p90, pre.stats.wall_ms if pre else None,
                                 batch * 1e3 / dec.wall_ms, t.prompt_len or 1, ctx_end, t.name, True, dec.gpu_busy_ms))
    return points


def _short(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _primary_gpu(curves: list[Curve]) -> GpuSpec | None:
    """The GPU with the most measured points (where the sweep ran)."""
    counts: dict = {}
    for c in curves:
        counts[c.gpu] = counts.get(c.gpu, 0) + len(c.points)
    return max(counts, key=lambda g: (counts[g], g.key)) if counts else None


def _main_curve(curves: list[Curve], gpu: GpuSpec, precision: str) -> Curve | None:
    """The curve of `precision` on `gpu`, eager first (what a sweep measures), longest first."""
    found = [c for c in curves if c.gpu == gpu and c.precision == precision]
    return sorted(found, key=lambda c: (c.mode != "eager", -len(c.points)))[0] if found else None


def _interp(xs: list[int], ys: list[float], x: float) -> float:
    """Piecewise-linear in batch; beyond the last point, the last segment's slope (never decreasing)."""
    if len(xs) == 1 or x <= xs[0]:
        return ys[0]
    if x <= xs[-1]:
        return float(np.interp(x, xs, ys))
    slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0)
    return ys[-1] + slope * (x - xs[-1])


# ---- batch points on the target -------------------------------------------------------------------
@dataclass(frozen=True)
class BatchPoint:
    """One batch on the target at the user's context: measured there, or modelled."""

    batch: int
    tpot_ms: float
    tpot_p90_ms: float
    ttft_ms: float | None
    tokens_per_s: float
    measured: bool  # measured on the target at this batch and context
    measured_on_profiled: bool  # this batch was measured (on the profiled GPU)
    fits: bool
    failed: tuple[str, ...]  # what rules it out: "memory", "tpot_slo", "ttft_slo"


def _batch_point(p: _Projector, curve: Curve, batch: int, max_batch: int) -> BatchPoint:
    """Batch `batch` on the target: measured points moved there, others interpolated along the curve first."""
    exact = curve.at(batch)
    xs = [pt.batch for pt in curve.points]

    def along(values):  # a per-point quantity at `batch`: exact, interpolated or extrapolated
        return values(exact) if exact else _interp(xs, [values(pt) for pt in curve.points], batch)

    median = along(lambda pt: pt.tpot_ms)
    p90_ratio = along(lambda pt: (pt.tpot_p90_ms or pt.tpot_ms) / pt.tpot_ms)
    # The measured rate is a mean over steps; keep its ratio to batch / median TPOT.
    rate_ratio = along(lambda pt: pt.tokens_per_s * pt.tpot_ms / (pt.batch * 1e3))
    ref = exact or min(curve.points, key=lambda pt: abs(pt.batch - batch))
    proj = p.decode(median, curve.gpu, curve.precision, curve.mode, batch, ref.prompt_len + _half_new(ref), ref.context_end,
                    exact.busy_ms if exact else None)
    ttft = None
    ttfts = [(pt.batch, pt.ttft_ms) for pt in curve.points if pt.ttft_ms is not None]
    if ttfts:
        measured_ttft = exact.ttft_ms if exact and exact.ttft_ms is not None else _interp([b for b, _ in ttfts], [t for _, t in ttfts], batch)
        ttft = p.prefill(measured_ttft, curve.gpu, curve.precision, curve.mode, batch, ref.prompt_len)
    tpot, tpot_p90 = proj.target_ms, proj.target_ms * p90_ratio
    failed = []
    if batch > max_batch:
        failed.append("memory")
    if p.config.tpot_slo_ms is not None and tpot_p90 > p.config.tpot_slo_ms:
        failed.append("tpot_slo")
    if p.config.ttft_slo_ms is not None and ttft is not None and ttft > p.config.ttft_slo_ms:
        failed.append("ttft_slo")
    return BatchPoint(batch, tpot, tpot_p90, ttft, batch * 1e3 / tpot * rate_ratio, proj.on_target and exact is not None,
                      exact is not None, batch <= max_batch, tuple(failed))


def _half_new(pt: CurvePoint) -> int:
    """Average tokens generated before a decode step of the measured run (its mean context = prompt + this)."""
    return max(((pt.context_end or pt.prompt_len) - pt.prompt_len) // 2, 1)


def _candidates(curve: Curve, max_batch: int) -> list[int]:
    """Measured batches, powers of two and the memory limit, up to MAX_EXTRAPOLATION x the largest measured."""
    measured = [pt.batch for pt in curve.points]
    cap = max(measured) * MAX_EXTRAPOLATION
    powers = [2**k for k in range(0, int(math.log2(cap)) + 1)]
    return sorted({b for b in (*measured, *powers, max_batch, cap) if 1 <= b <= cap})


@dataclass(frozen=True)
class BatchChoice:
    """The batch to run one curve's precision at on the target, and what stops it growing."""

    curve: Curve
    points: tuple[BatchPoint, ...]
    best: BatchPoint | None  # the best batch within the measured range (None: none meets the targets)
    limit: str  # why not larger: "memory", "tpot_slo", "ttft_slo" or "measured_range" (the model allows more)
    headroom: BatchPoint | None  # the best batch beyond the measured range, when the model says it meets the targets
    max_batch: int


def _choose_batch(p: _Projector, curve: Curve) -> BatchChoice:
    """Best throughput among batches that fit and meet the targets. On the profiled GPU only measured
    batches are picked; on another GPU anything within the measured range (all of it is modelled there).
    Batches beyond the largest measured one are reported as headroom, never picked."""
    max_batch = p.max_batch(curve.precision)
    largest = curve.points[-1].batch
    same_gpu = curve.gpu.key == p.target.key
    points = tuple(_batch_point(p, curve, b, max_batch) for b in _candidates(curve, max_batch))
    inside = [pt for pt in points if pt.batch <= largest and (pt.measured_on_profiled or not same_gpu)]
    ok = [pt for pt in inside if not pt.failed]
    best = max(ok, key=lambda pt: (pt.tokens_per_s, -pt.batch)) if ok else None
    beyond = [pt for pt in points if pt.batch > largest and not pt.failed]
    headroom = max(beyond, key=lambda pt: pt.tokens_per_s) if beyond and best and beyond[0].batch > best.batch else None
    eligible = inside + [pt for pt in points if pt.batch > largest]
    nxt = next((pt for pt in eligible if best is None or pt.batch > best.batch), None)
    if nxt is not None and nxt.failed:
        limit = nxt.failed[0]
    else:
        limit = "measured_range"
    return BatchChoice(curve, points, best, limit, headroom, max_batch)


# ---- precision -------------------------------------------------------------------------------------
def _precision_recommendation(p: _Projector) -> Recommendation | None:
    curves = _curves(p.inputs)
    gpu = _primary_gpu([c for c in curves if c.precision in EIGHT_BIT]) if curves else None
    int8 = _main_curve(curves, gpu, "int8") if gpu else None
    sixteen = [c for c in (_main_curve(curves, gpu, d) for d in SIXTEEN_BIT) if c is not None] if gpu else []
    if int8 is None or not sixteen:
        return None
    common = sorted({pt.batch for pt in int8.points} & {pt.batch for c in sixteen for pt in c.points})
    if not common:
        return None
    best16 = {b: max((c for c in sixteen if c.at(b)), key=lambda c: c.at(b).tokens_per_s) for b in common}
    if not all(best16[b].at(b).tokens_per_s > int8.at(b).tokens_per_s for b in common):
        return None  # int8 wins somewhere: nothing to recommend on precision
    counts = {c.precision: sum(1 for b in common if best16[b] is c) for c in sixteen}
    fast = max(sixteen, key=lambda c: (counts[c.precision], c.precision == "bf16"))
    other = next((c for c in sixteen if c is not fast), None)
    if p.max_batch(fast.precision) >= 1:
        return _switch_to_16bit(p, int8, fast, other, common)
    return _keep_8bit(p, int8, fast, common)


def _precision_evidence(p: _Projector, int8: Curve, fast: Curve, other: Curve | None, common: list[int]) -> list[Evidence]:
    how = "profiled (the profiler adds host overhead)" if int8.points[0].profiled else "un-profiled"
    ev = []
    for b in common:
        a, f = int8.at(b), fast.at(b)
        extra = f", {other.precision} {other.at(b).tokens_per_s:,.1f}" if other and other.at(b) else ""
        ev.append(Evidence(
            f"batch {b}: int8 {a.tokens_per_s:,.1f} tok/s vs {fast.precision} {f.tokens_per_s:,.1f}{extra} "
            f"({f.tokens_per_s / a.tokens_per_s:.1f}x); TPOT {a.tpot_ms:.1f} vs {f.tpot_ms:.1f} ms ({how}, {int8.gpu.name})",
            ", ".join(sorted({a.source, f.source}))))
    ev += _int8_cause_evidence(p, fast.precision)
    return ev


def _int8_cause_evidence(p: _Projector, sixteen: str) -> list[Evidence]:
    t = p.decode_trace("int8", "eager")
    if t is None:
        return [Evidence("no int8 trace given: profile int8 (profkit run --precisions int8) to see where its time goes", "", False)]
    rep = t.analysis.phases["decode"]
    ev = [Evidence(f"{t.name}: {rep.verdict.sentence}", t.name)]
    if rep.causes and rep.causes.sync_issuers:
        top = rep.causes.sync_issuers[0]
        ev.append(Evidence(f"top sync issuer: {top.op_path} ({top.per_step:.0f} per token); "
                           f"{rep.stats.sync_calls:.0f} syncs and {rep.stats.d2h_copies:.0f} device-to-host copies per token", t.name))
    if t.int8_outlier_check_ms:
        ev.append(Evidence(f"bitsandbytes' outlier checks (|x| >= threshold, .any(), argwhere in int8_vectorwise_quant) take "
                           f"{t.int8_outlier_check_ms:.1f} ms of host time per token ({t.int8_outlier_check_ms / rep.stats.wall_ms:.0%})", t.name))
    ref = p.decode_trace(sixteen, "eager")
    if ref is not None:
        r = ref.analysis.phases["decode"].stats
        s = rep.stats
        ev.append(Evidence(f"GPU busy per token int8 {s.gpu_busy_ms:.2f} ms vs {sixteen} {r.gpu_busy_ms:.2f} ms "
                           f"({s.gpu_busy_ms / r.gpu_busy_ms:.1f}x) but wall {s.wall_ms:.1f} vs {r.wall_ms:.1f} ms "
                           f"({s.wall_ms / r.wall_ms:.1f}x): int8 loses its time on the host, not on the GPU", f"{t.name}, {ref.name}"))
    return ev


def _memory_evidence(p: _Projector, precisions: tuple[str, ...]) -> Evidence:
    parts = []
    for prec in precisions:
        est = estimate(p.shape, p.target, prec, context_len=p.context, batch_size=1)
        parts.append(f"{prec} weights {est.weights_bytes / 1e9:.2f} GB leave {est.headroom_bytes / 2**30:.1f} GiB -> max batch {est.max_batch}")
    kv = kv_bytes_per_token(p.shape)
    return Evidence(f"memory on {p.target.name} at {p.context:,} tokens (KV cache {kv / 1024:.0f} KiB/token, "
                    f"{kv * p.context / 2**30:.2f} GiB per sequence): " + "; ".join(parts), "model", False)


def _projected_ratio(p: _Projector, slow: Curve, fast: Curve, batches: list[int]) -> tuple[list[float], bool]:
    """tokens/s ratio fast/slow on the target at the user's context over `batches`; whether all were measured there."""
    ratios, on_target = [], True
    for b in batches:
        s, f = slow.at(b), fast.at(b)
        ps = p.decode(s.tpot_ms, slow.gpu, slow.precision, slow.mode, b, s.prompt_len + _half_new(s), s.context_end, s.busy_ms)
        pf = p.decode(f.tpot_ms, fast.gpu, fast.precision, fast.mode, b, f.prompt_len + _half_new(f), f.context_end, f.busy_ms)
        ratios.append((f.tokens_per_s * f.tpot_ms / pf.target_ms) / (s.tokens_per_s * s.tpot_ms / ps.target_ms))
        on_target = on_target and ps.on_target and pf.on_target
    return ratios, on_target


def _switch_to_16bit(p: _Projector, int8: Curve, fast: Curve, other: Curve | None, common: list[int]) -> Recommendation:
    measured = [fast.at(b).tokens_per_s / int8.at(b).tokens_per_s for b in common]
    fit = [b for b in common if b <= p.max_batch(fast.precision)] or [1]
    fit = [b for b in fit if int8.at(b) and fast.at(b)] or common[:1]
    modelled, on_target = _projected_ratio(p, int8, fast, fit)
    gain = Gain(
        "decode tokens/s", min(modelled), max(modelled), p.target.name, MEASURED if on_target else MODELLED,
        min(measured), max(measured), int8.gpu.name,
        _gain_text(min(measured), max(measured), int8.gpu.name, min(modelled), max(modelled), p, on_target, _batches_text(fit)),
    )
    lo, hi = common[0], common[-1]
    a_lo, f_lo, a_hi, f_hi = int8.at(lo), fast.at(lo), int8.at(hi), fast.at(hi)
    why = (f"bitsandbytes int8 is slower than {fast.precision} at every measured batch on {int8.gpu.name}: "
           f"{a_lo.tokens_per_s:.1f} vs {f_lo.tokens_per_s:.1f} tok/s at batch {lo}"
           + (f", {a_hi.tokens_per_s:,.1f} vs {f_hi.tokens_per_s:,.1f} at batch {hi}" if hi != lo else "")
           + f"; 16-bit weights fit on {p.target.name} with room for the KV cache at {p.context:,} tokens "
           f"(max batch {p.max_batch(fast.precision)}).")
    cause = _int8_cause_sentence(p)
    if cause:
        why += " " + cause
    ev = _precision_evidence(p, int8, fast, other, common) + [_memory_evidence(p, (fast.precision, "int8"))]
    if other is not None:
        ev.append(_bf16_fp16_note(p, fast, other))
    conf, reason = _precision_confidence(p, int8, common)
    dtype = {"bf16": "torch.bfloat16", "fp16": "torch.float16"}[fast.precision]
    return Recommendation(
        kind=PRECISION,
        change=f"Load the weights in {fast.precision}{' (or ' + other.precision + ')' if other else ''} instead of bitsandbytes int8",
        why=why,
        evidence=ev,
        expected_gain=gain,
        measured=True,
        confidence=conf,
        confidence_reason=reason,
        how=[
            f"transformers: AutoModelForCausalLM.from_pretrained(name, torch_dtype={dtype}) -- drop load_in_8bit=True / "
            "quantization_config=BitsAndBytesConfig(load_in_8bit=True)",
            f"vLLM: vllm serve <model> --dtype {'bfloat16' if fast.precision == 'bf16' else 'float16'} --max-model-len {p.context}",
            f"confirm on the target: profkit run --precisions {fast.precision},int8 --batch-sizes {','.join(map(str, common))}",
        ],
        target=p.target_info(),
        flags=_scaled_flag(p),
        details={
            "recommended_precision": fast.precision,
            "measured_on": int8.gpu.name,
            "tokens_per_s": {c.precision: {str(pt.batch): round(pt.tokens_per_s, 2) for pt in c.points} for c in (int8, fast, other) if c},
            "max_batch_on_target": {prec: p.max_batch(prec) for prec in (fast.precision, "int8")},
            "int8_cause": _int8_cause_details(p),
        },
    )


def _bf16_fp16_note(p: _Projector, fast: Curve, other: Curve) -> Evidence:
    a, b = p.decode_trace(fast.precision, "eager"), p.decode_trace(other.precision, "eager")
    common = sorted({pt.batch for pt in fast.points} & {pt.batch for pt in other.points})
    spread = ", ".join(f"b{x}: {fast.at(x).tokens_per_s:,.1f} vs {other.at(x).tokens_per_s:,.1f}" for x in common)
    text = f"{fast.precision} vs {other.precision} tok/s ({spread})"
    sources = {fast.points[0].source, other.points[0].source}
    if a is not None and b is not None:
        sources |= {a.name, b.name}
        ga, gb = a.analysis.phases["decode"].stats.gpu_busy_ms, b.analysis.phases["decode"].stats.gpu_busy_ms
        wa, wb = a.analysis.phases["decode"].stats.wall_ms, b.analysis.phases["decode"].stats.wall_ms
        text += (f"; in the traces their GPU time per token is the same within {abs(ga - gb) / max(ga, gb):.0%} ({ga:.2f} vs {gb:.2f} ms; "
                 f"wall {wa:.1f} vs {wb:.1f} ms), so the gap is on the host, not in the dtype: re-measure before choosing between "
                 "them (bf16 is Llama 3's native dtype)")
    return Evidence(text, ", ".join(sorted(sources)))


def _int8_cause_sentence(p: _Projector) -> str:
    t = p.decode_trace("int8", "eager")
    if t is None:
        return ""
    rep = t.analysis.phases["decode"]
    issuer = rep.causes.sync_issuers[0].op_path.split(" > ")[0] if rep.causes and rep.causes.sync_issuers else "its int8 linears"
    return (f"The int8 trace says why: decode is {rep.verdict.bound}-bound -- {rep.stats.sync_calls:.0f} syncs and "
            f"{rep.stats.d2h_copies:.0f} device-to-host copies per token from {issuer} (the outlier checks), "
            f"the GPU idle {rep.stats.idle_fraction:.0%} of each {rep.stats.wall_ms:.1f} ms token.")


def _int8_cause_details(p: _Projector) -> dict | None:
    t = p.decode_trace("int8", "eager")
    if t is None:
        return None
    rep = t.analysis.phases["decode"]
    return {
        "trace": t.name,
        "bound": rep.verdict.bound,
        "syncs_per_token": rep.stats.sync_calls,
        "d2h_copies_per_token": rep.stats.d2h_copies,
        "top_sync_issuer": rep.causes.sync_issuers[0].op_path if rep.causes and rep.causes.sync_issuers else None,
        "outlier_check_host_ms_per_token": t.int8_outlier_check_ms,
        "wall_ms": rep.stats.wall_ms,
        "gpu_busy_ms": rep.stats.gpu_busy_ms,
    }


def _precision_confidence(p: _Projector, int8: Curve, common: list[int]) -> tuple[str, str]:
    sweep = not int8.points[0].profiled
    traced = p.decode_trace("int8", "eager") is not None
    if sweep and len(common) >= 2 and traced:
        return HIGH, (f"measured un-profiled at {len(common)} batch sizes and explained by the int8 trace; "
                      "the cause (host syncs) does not depend on the GPU, so it carries over to the target")
    if sweep and len(common) >= 2:
        return MEDIUM, f"measured at {len(common)} batch sizes, but no int8 trace explains the cause"
    return MEDIUM, (f"measured at batch {', '.join(map(str, common))} only" + (" and under the profiler" if not sweep else "")
                    + "; run an un-profiled sweep (profkit run) to confirm")


def _keep_8bit(p: _Projector, int8: Curve, fast: Curve, common: list[int]) -> Recommendation:
    b = 1
    a = int8.at(b) or int8.points[0]
    proj = p.decode(a.tpot_ms, int8.gpu, "int8", int8.mode, a.batch, a.prompt_len + _half_new(a), a.context_end, a.busy_ms)
    now_tps = a.batch * 1e3 / proj.target_ms
    est_wo = estimate(p.shape, p.target, "int8-weight-only", context_len=p.context, batch_size=a.batch)
    wo_lo, wo_hi = (x * a.batch / now_tps for x in est_wo.decode_tokens_per_s_engine_range)
    t = p.decode_trace("int8", "eager")
    lows, ev = [wo_lo], []
    if t is not None and t.int8_outlier_check_ms:
        wall = t.analysis.phases["decode"].stats.wall_ms
        thr = wall / (wall - t.int8_outlier_check_ms)
        lows.append(thr)
        ev.append(Evidence(f"llm_int8_threshold=0 skips the outlier checks: {t.int8_outlier_check_ms:.1f} of {wall:.1f} ms of host time "
                           f"per token in {t.name} -> about {thr:.2f}x (modelled from the trace's op times; int8 stays host-bound)", t.name, False))
    ev.append(Evidence(f"int8 weight-only kernels (torchao/gpt-fast + torch.compile, vLLM/TensorRT-LLM W8A16) read "
                       f"{est_wo.decode_bytes_per_step / 1e9:.2f} GB per token: {est_wo.decode_tokens_per_s_engine_range[0]:.0f}-"
                       f"{est_wo.decode_tokens_per_s_engine_range[1]:.0f} tok/s per sequence on {p.target.name} at the engine efficiency "
                       f"range, against about {now_tps / a.batch:.1f} tok/s for bitsandbytes int8 (modelled)", "model", False))
    est16 = estimate(p.shape, p.target, fast.precision, context_len=p.context, batch_size=1)
    why = (f"bitsandbytes int8 is slower than {fast.precision} at every measured batch ({a.tokens_per_s:.1f} vs "
           f"{fast.at(a.batch).tokens_per_s:.1f} tok/s at batch {a.batch} on {int8.gpu.name}), but {fast.precision} weights "
           f"({est16.weights_bytes / 1e9:.2f} GB) leave no room for one {p.context:,}-token sequence on {p.target.name}: keep 8-bit and use a faster 8-bit path.")
    cause = _int8_cause_sentence(p)
    gain = Gain("decode tokens/s per sequence", min(lows), wo_hi, p.target.name, MODELLED, text=(
        f"{min(lows):.1f}-{wo_hi:.1f}x modelled on {p.target.name} at {p.context:,} tokens: threshold 0 at the low end, "
        "int8 weight-only kernels with CUDA graphs at the high end"))
    return Recommendation(
        kind=PRECISION,
        change="Keep 8-bit weights (16-bit does not fit) but switch to a faster 8-bit path: llm_int8_threshold=0, or int8 weight-only kernels",
        why=why + (" " + cause if cause else ""),
        evidence=_precision_evidence(p, int8, fast, None, common) + ev + [_memory_evidence(p, (fast.precision, "int8"))],
        expected_gain=gain,
        measured=False,
        confidence=LOW if t is None else MEDIUM,
        confidence_reason=("the slowness of bitsandbytes int8 is measured; the faster paths' gains are modelled "
                           "(threshold 0 from the trace's op times, weight-only from the roofline)"),
        how=[
            "BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=0.0) -- no outlier decomposition: check output quality",
            "profkit run --precisions int8 --int8-threshold 0 to measure it",
            "torchao: quantize_(model, Int8WeightOnlyConfig()); model.forward = torch.compile(model.forward, mode='reduce-overhead') with a static KV cache",
            "vLLM / TensorRT-LLM with int8 weight-only (W8A16) quantization",
        ],
        target=p.target_info(),
        flags=_scaled_flag(p) + ["16bit_does_not_fit"],
        details={"recommended_precision": "int8", "max_batch_on_target": {prec: p.max_batch(prec) for prec in (fast.precision, "int8")},
                 "int8_cause": _int8_cause_details(p)},
    )


# ---- batch -----------------------------------------------------------------------------------------
def _batch_choices(p: _Projector) -> dict[str, BatchChoice]:
    """The batch choice of each precision's eager curve on the GPU with the most measurements."""
    curves = _curves(p.inputs)
    gpu = _primary_gpu(curves)
    if gpu is None:
        return {}
    mains = (_main_curve(curves, gpu, prec) for prec in PRECISIONS)
    return {c.precision: _choose_batch(p, c) for c in mains if c is not None and c.mode == "eager" and c.points}


def _batch_recommendation(p: _Projector, precision: str | None) -> Recommendation | None:
    choices = _batch_choices(p)
    if not choices:
        return None
    if precision not in choices:
        precision = max(choices, key=lambda k: choices[k].best.tokens_per_s if choices[k].best else 0)
    choice = choices[precision]
    curve = choice.curve
    base = _batch_point(p, curve, curve.points[0].batch, max(choice.max_batch, curve.points[0].batch))
    best = choice.best
    linear = _linear_scaling(curve)
    flags = _scaled_flag(p)
    if linear:
        flags.append("throughput_still_linear")
    ev = _curve_evidence(curve, p.config)
    if linear:
        ev.append(Evidence(linear["text"], curve.points[-1].source))
    ev.append(_memory_evidence(p, (precision,)))
    slo_text = _slo_text(p.config)
    if best is None:
        return _no_batch_meets_slo(p, choice, base, ev, flags, slo_text)
    extrapolated = False
    if best.batch == base.batch:  # one measured batch, or none larger meets the targets
        if choice.headroom is None:
            return None
        best, extrapolated = choice.headroom, True
        flags.append("extrapolated")
    gain, basis = _batch_gain(p, curve, best, base)
    limit = {"memory": f"memory (the KV cache of more than {choice.max_batch} sequences of {p.context:,} tokens does not fit)",
             "tpot_slo": "the TPOT target", "ttft_slo": "the TTFT target",
             "measured_range": f"the measured range (largest measured batch {curve.points[-1].batch})"}[choice.limit]
    where = ("extrapolated with the model beyond the measured batches, not measured" if extrapolated else "measured" if best.measured else
             f"measured on {curve.gpu.name}, modelled here" if best.measured_on_profiled else "interpolated between measured batches and modelled")
    why = (f"{precision} batch {best.batch} on {p.target.name} at {p.context:,} tokens: TPOT {best.tpot_ms:.1f} ms "
           f"(p90 {best.tpot_p90_ms:.1f}){slo_text}, {best.tokens_per_s:,.0f} tok/s vs {base.tokens_per_s:,.1f} at batch {base.batch} "
           f"({where}); larger batches are limited by {limit}.")
    if linear:
        why += f" Throughput still scales linearly at batch {curve.points[-1].batch}: measure larger batches."
    if choice.headroom is not None and not extrapolated:
        h = choice.headroom
        flags.append("headroom_beyond_measured")
        why += (f" The model says batch {h.batch} would also meet the targets (TPOT p90 {h.tpot_p90_ms:.1f} ms, "
                f"{h.tokens_per_s:,.0f} tok/s; extrapolated, not measured).")
        ev.append(Evidence(f"extrapolated with the model (not measured): batch {h.batch}, TPOT {h.tpot_ms:.1f} ms (p90 {h.tpot_p90_ms:.1f}), "
                           f"{h.tokens_per_s:,.0f} tok/s on {p.target.name} at {p.context:,} tokens", "model", False))
    conf, reason = _batch_confidence(best, basis, curve, p, extrapolated)
    return Recommendation(
        kind=BATCH,
        change=f"Run {precision} at batch {best.batch}" + ("" if best.measured else " (modelled for this GPU and context: measure it)"),
        why=why,
        evidence=ev,
        expected_gain=gain,
        measured=best.measured_on_profiled,
        confidence=conf,
        confidence_reason=reason,
        how=[
            f"transformers: generate on {best.batch} prompts at once (tokenizer.padding_side='left', padding=True)",
            f"vLLM: vllm serve <model> --max-num-seqs {best.batch} --max-model-len {p.context}",
            f"measure around it: profkit run --precisions {precision} --batch-sizes {_measure_list(best.batch, choice)}",
        ],
        target=p.target_info(),
        flags=flags,
        details={
            "precision": precision,
            "batch": best.batch,
            "limit": choice.limit,
            "headroom_batch": choice.headroom.batch if choice.headroom else None,
            "max_batch_memory": choice.max_batch,
            "measured_on": curve.gpu.name,
            "tpot_slo_ms": p.config.tpot_slo_ms,
            "ttft_slo_ms": p.config.ttft_slo_ms,
            "linear_scaling": linear,
            "points": [_point_dict(pt) for pt in choice.points],
            "per_precision": {k: {"batch": v.best.batch if v.best else None, "tokens_per_s": round(v.best.tokens_per_s, 1) if v.best else None,
                                  "limit": v.limit} for k, v in choices.items()},
        },
    )


def _batch_gain(p: _Projector, curve: Curve, best: BatchPoint, base: BatchPoint) -> tuple[Gain, str]:
    """Aggregate tokens/s at `best` over `base` on the target (median- and p90-paced), and as measured where profiled."""
    measured_b = max((pt.batch for pt in curve.points if pt.batch <= best.batch), default=base.batch)
    measured_gain = curve.at(measured_b).tokens_per_s / curve.points[0].tokens_per_s if measured_b != base.batch else None
    gain_median = best.tokens_per_s / base.tokens_per_s
    gain_p90 = gain_median * best.tpot_ms / best.tpot_p90_ms  # paced by the p90 token instead of the median
    basis = MEASURED if best.measured and base.measured else MODELLED
    text = (f"batch {best.batch} vs batch {base.batch}: {gain_median:.1f}x {basis} on {p.target.name} at {p.context:,} tokens "
            f"({gain_p90:.1f}x if every token took the p90 time)")
    if basis == MODELLED and measured_gain:
        text += f"; {measured_gain:.1f}x measured on {curve.gpu.name} (batch {measured_b} vs {base.batch})"
    return Gain("decode tokens/s (aggregate)", min(gain_p90, gain_median), max(gain_p90, gain_median), p.target.name, basis,
                measured_gain, measured_gain, curve.gpu.name, text), basis


def _no_batch_meets_slo(p, choice: BatchChoice, base: BatchPoint, ev, flags, slo_text) -> Recommendation:
    curve = choice.curve
    gain = Gain("decode tokens/s (aggregate)", 1.0, 1.0, p.target.name, MODELLED, text="none: no batch meets the latency target")
    return Recommendation(
        kind=BATCH,
        change=f"No {curve.precision} batch meets the latency target{slo_text} on {p.target.name}: fix the per-token time first (see the other recommendations) or relax the target",
        why=f"batch {base.batch}: TPOT p90 {base.tpot_p90_ms:.1f} ms, TTFT {base.ttft_ms or float('nan'):.0f} ms on {p.target.name} at {p.context:,} tokens.",
        evidence=ev, expected_gain=gain, measured=False, confidence=LOW,
        confidence_reason="nothing to gain by batching until the per-token time comes down", how=[],
        target=p.target_info(), flags=flags + ["no_batch_meets_slo"],
        details={"precision": curve.precision, "batch": None, "limit": choice.limit, "points": [_point_dict(pt) for pt in choice.points]},
    )


def _linear_scaling(curve: Curve) -> dict | None:
    """Throughput growth between the two largest measured batches, when it is still (nearly) linear."""
    if len(curve.points) < 2:
        return None
    a, b = curve.points[-2], curve.points[-1]
    efficiency = (b.tokens_per_s / a.tokens_per_s) / (b.batch / a.batch)
    if efficiency < LINEAR_SCALING_MIN:
        return None
    return {
        "from_batch": a.batch, "to_batch": b.batch, "throughput_ratio": b.tokens_per_s / a.tokens_per_s, "efficiency": efficiency,
        "text": (f"throughput still scales linearly at the largest measured batch: batch {a.batch} -> {b.batch} gives "
                 f"{b.tokens_per_s / a.tokens_per_s:.2f}x tokens/s for {b.batch / a.batch:.0f}x sequences ({efficiency:.0%} of linear; "
                 f"TPOT {a.tpot_ms:.1f} -> {b.tpot_ms:.1f} ms): the GPU is not yet the limit on {curve.gpu.name}, measure larger batches"),
    }


def _curve_evidence(curve: Curve, config: RecommendConfig) -> list[Evidence]:
    how = "profiled" if curve.points[0].profiled else "un-profiled"
    rows = "; ".join(f"b{pt.batch}: TPOT {pt.tpot_ms:.1f} ms" + (f" (p90 {pt.tpot_p90_ms:.1f})" if pt.tpot_p90_ms else "")
                     + (f", TTFT {pt.ttft_ms:.0f} ms" if pt.ttft_ms is not None else "") + f", {pt.tokens_per_s:,.1f} tok/s"
                     for pt in curve.points)
    ctx = curve.points[0].context_end
    return [Evidence(f"{curve.precision} {curve.mode} on {curve.gpu.name} ({how}, prompt {curve.points[0].prompt_len}"
                     + (f", context up to {ctx}" if ctx else "") + f"): {rows}", ", ".join(sorted({pt.source for pt in curve.points})))]


def _slo_text(config: RecommendConfig) -> str:
    parts = []
    if config.tpot_slo_ms is not None:
        parts.append(f"TPOT p90 <= {config.tpot_slo_ms:g} ms")
    if config.ttft_slo_ms is not None:
        parts.append(f"TTFT <= {config.ttft_slo_ms:g} ms")
    return f" (target: {', '.join(parts)})" if parts else ""


def _batch_confidence(best: BatchPoint, basis: str, curve: Curve, p: _Projector, extrapolated: bool) -> tuple[str, str]:
    if extrapolated:
        return LOW, (f"batch {best.batch} lies beyond the measured batches ({', '.join(str(pt.batch) for pt in curve.points)}): "
                     "the model's extrapolation, to be measured")
    if basis == MEASURED:
        return HIGH, f"measured on {p.target.name} at this batch, at {curve.points[0].context_end or 'the measured'} tokens"
    first = f"batch {best.batch} was measured" if best.measured_on_profiled else f"batch {best.batch} lies between measured batches"
    return MEDIUM, (f"{first} on {curve.gpu.name} at {curve.points[0].context_end or curve.points[0].prompt_len} tokens; "
                    f"{p.target.name} at {p.context:,} tokens is modelled (GPU time by the roofline, memory by the KV-cache model)")


def _measure_list(batch: int, choice: BatchChoice) -> str:
    """Batches worth measuring next: around the pick, the memory limit and any modelled headroom."""
    top = choice.headroom.batch if choice.headroom else batch * 2
    wanted = {batch, top, min(choice.max_batch, top * 2)} if choice.limit != "memory" else {batch // 2, batch, choice.max_batch}
    return ",".join(str(b) for b in sorted(wanted) if 1 <= b <= max(choice.max_batch, 1))


def _point_dict(pt: BatchPoint) -> dict:
    return {
        "batch": pt.batch,
        "tpot_ms": round(pt.tpot_ms, 2),
        "tpot_p90_ms": round(pt.tpot_p90_ms, 2),
        "ttft_ms": None if pt.ttft_ms is None else round(pt.ttft_ms, 1),
        "tokens_per_s": round(pt.tokens_per_s, 1),
        "measured": pt.measured,
        "measured_on_profiled_gpu": pt.measured_on_profiled,
        "fits": pt.fits,
        "failed": list(pt.failed),
    }


# ---- launch overhead -------------------------------------------------------------------------------
def _launch_recommendation(p: _Projector, precision: str | None) -> Recommendation | None:
    eager = [t for t in p.inputs.traces if t.mode == "eager" and t.precision in SIXTEEN_BIT and t.gpu is not None
             and t.batch_size and "decode" in t.analysis.phases and t.analysis.phases["decode"].verdict.bound == HOST
             and p.max_batch(t.precision) >= 1]
    if not eager:
        return _launch_from_sweep(p, precision)
    compiled_traces = [t for t in p.inputs.traces if t.mode == "compiled" and t.gpu is not None and "decode" in t.analysis.phases]
    compiled_precisions = {t.precision for t in compiled_traces}
    t = sorted(eager, key=lambda t: (t.precision not in compiled_precisions, t.precision != precision, t.batch_size, t.path))[0]
    dec = t.analysis.phases["decode"]
    s = dec.stats
    ctx = (t.prompt_len or 1) + 1
    before = p.decode(s.wall_ms, t.gpu, t.precision, "eager", t.batch_size, ctx, None, s.gpu_busy_ms)
    comp = next((c for c in sorted(compiled_traces, key=lambda c: c.path) if c.precision == t.precision and c.batch_size == t.batch_size), None)
    comp_cfg = _compiled_config(p, t)
    ev = [Evidence(f"{t.name}: {dec.verdict.sentence}", t.name)]
    for o in sorted(eager, key=lambda o: (o.batch_size, o.path)):
        if o is not t and o.batch_size != t.batch_size:
            os_ = o.analysis.phases["decode"].stats
            ev.append(Evidence(f"also host-bound at batch {o.batch_size} ({o.name}): {os_.wall_ms:.1f} ms per step, GPU busy "
                               f"{os_.gpu_busy_ms:.2f} ms: the fix applies at every batch until the GPU becomes the limit", o.name))
    after, measured_gain, after_ev = _after_graphs(p, t, before, comp)
    ev += after_ev
    if comp_cfg is not None:
        ev.append(Evidence(f"un-profiled {comp_cfg.label} on {comp_cfg.gpu_name}: {comp_cfg.tpot_median_ms:.1f} ms per token"
                           + (f" ({comp_cfg.note})" if comp_cfg.note else ""), _short(comp_cfg.source)))
    ev.append(Evidence(f"on {p.target.name} at {p.context:,} tokens: eager {before.target_ms:.1f} ms per token "
                       f"(host {s.wall_ms:.1f} ms vs GPU {before.gpu_to_ms:.1f} ms modelled); with CUDA graphs "
                       f"{after[0]:.1f}-{after[1]:.1f} ms (GPU busy {'of the compiled kernels ' if comp else ''}scaled by the roofline ratio"
                       f"{', plus the measured residual host time' if comp else ''})", "model", False))
    low, high = before.target_ms / after[1], before.target_ms / after[0]
    on_target = comp is not None and comp.gpu.key == p.target.key and t.gpu.key == p.target.key
    gain = Gain("decode tokens/s per sequence", low, high, p.target.name, MEASURED if on_target else MODELLED,
                measured_gain, measured_gain, f"{t.gpu_name} eager -> {comp.gpu_name} compiled" if comp else None,
                _gain_text(measured_gain, measured_gain, f"{t.gpu_name} eager vs {comp.gpu_name} compiled" if comp else "",
                           low, high, p, on_target, f"batch {t.batch_size}"))
    conf, reason = _launch_confidence(t, comp, on_target)
    why = (f"decode is host/launch-bound: the GPU idles {s.idle_fraction:.0%} of each {s.wall_ms:.1f} ms token "
           f"(busy {s.gpu_busy_ms:.2f} ms) while the host launches {s.kernels:.0f} kernels, one at a time."
           + (f" Static cache + CUDA graphs measured {comp.analysis.phases['decode'].stats.wall_ms:.1f} ms per token ({comp.gpu_name})." if comp else "")
           + f" The gain is bounded by GPU busy time: at best {high:.1f}x on {p.target.name}.")
    return Recommendation(
        kind=LAUNCH_OVERHEAD,
        change="Remove launch overhead: static KV cache + torch.compile (CUDA graphs), or a serving engine (vLLM, TensorRT-LLM)",
        why=why,
        evidence=ev,
        expected_gain=gain,
        measured=comp is not None,
        confidence=conf,
        confidence_reason=reason,
        how=_launch_how(),
        target=p.target_info(),
        flags=_scaled_flag(p),
        details={
            "eager_trace": t.name,
            "compiled_trace": comp.name if comp else None,
            "eager_wall_ms": s.wall_ms,
            "eager_gpu_busy_ms": s.gpu_busy_ms,
            "compiled_wall_ms": comp.analysis.phases["decode"].stats.wall_ms if comp else None,
            "compiled_gpu_busy_ms": comp.analysis.phases["decode"].stats.gpu_busy_ms if comp else None,
            "target_eager_ms": before.target_ms,
            "target_after_ms": list(after),
        },
    )


def _after_graphs(p: _Projector, t: TraceEvidence, before: Projection, comp: TraceEvidence | None):
    """(ms per token on the target after CUDA graphs as (best, worst), the measured gain or None, evidence).

    Best: the GPU busy time alone; worst: plus the residual host time a compiled run still shows."""
    s = t.analysis.phases["decode"].stats
    if comp is None:
        busy = before.gpu_to_ms
        return (busy, busy + COMPILED_RESIDUAL_HOST_MS), None, [Evidence(
            f"no compiled trace given: after CUDA graphs a token takes at least the GPU busy time ({s.gpu_busy_ms:.2f} ms here), "
            f"plus up to {COMPILED_RESIDUAL_HOST_MS} ms of residual host time (profkit's H100 reference)", "model", False)]
    cs = comp.analysis.phases["decode"].stats
    busy = cs.gpu_busy_ms * p.ratio(comp.gpu, comp.precision, t.batch_size, (comp.prompt_len or 1) + 1)
    residual = max(cs.wall_ms - cs.gpu_busy_ms, 0.0)
    p.scaled_from.add(comp.gpu.name)
    gain = s.wall_ms / cs.wall_ms
    ev = [Evidence(f"{comp.name}: static KV cache + torch.compile (CUDA graphs) on {comp.gpu_name}: {cs.wall_ms:.1f} ms per token "
                   f"(GPU busy {cs.gpu_busy_ms:.2f} ms, idle {cs.idle_fraction:.0%}, {cs.kernels:.0f} kernels, "
                   f"{cs.graph_launches:.0f} graph launch per token) against {s.wall_ms:.1f} ms eager: {gain:.1f}x measured", comp.name),
          _gpu_class_note(t, comp)]
    return (busy, busy + residual), gain, ev


def _launch_confidence(t: TraceEvidence, comp: TraceEvidence | None, on_target: bool) -> tuple[str, str]:
    if comp is not None and on_target:
        return HIGH, "eager and compiled both measured on the target GPU"
    if comp is not None:
        return MEDIUM, (f"before and after measured (eager on {t.gpu_name}, compiled on {comp.gpu_name}); the target's figure is "
                        "scaled by the roofline ratio (decode is memory-bound once launch overhead is gone)")
    return LOW, "the host-bound verdict is measured; the gain is modelled (no compiled run to confirm it)"


def _launch_how() -> list[str]:
    return [
        "transformers: model.generate(..., cache_implementation='static') with "
        "model.forward = torch.compile(model.forward, mode='reduce-overhead', fullgraph=True)",
        "measure it: profkit run --mode eager,compiled",
        "or serve with vLLM (CUDA graphs by default; do not pass --enforce-eager) or TensorRT-LLM",
    ]


def _gpu_class_note(eager: TraceEvidence, comp: TraceEvidence) -> Evidence:
    if eager.gpu.key == comp.gpu.key:
        return Evidence(f"both measured on {eager.gpu_name}", f"{eager.name}, {comp.name}")
    faster = eager.gpu.bandwidth_gbps >= comp.gpu.bandwidth_gbps
    return Evidence(
        f"eager on {eager.gpu_name}, compiled on {comp.gpu_name}: different GPUs of one class; "
        f"{eager.gpu.name} has {eager.gpu.bandwidth_gbps / comp.gpu.bandwidth_gbps:.2f}x the bandwidth, so compiled there would be "
        f"{'at least as fast' if faster else 'at most as fast'} (the measured gain is {'a lower' if faster else 'an upper'} bound)",
        f"{eager.name}, {comp.name}")


def _compiled_config(p: _Projector, t: TraceEvidence) -> MeasuredConfig | None:
    found = [c for c in p.inputs.configs if c.ok and c.mode == "compiled" and c.precision == t.precision and c.batch_size == t.batch_size]
    return found[0] if found else None


def _launch_from_sweep(p: _Projector, precision: str | None) -> Recommendation | None:
    """Without a host-bound trace: eager TPOT far above the modelled GPU time suggests launch overhead (low confidence)."""
    curves = [c for c in _curves(p.inputs) if c.mode == "eager" and c.precision in SIXTEEN_BIT and not c.points[0].profiled
              and p.max_batch(c.precision) >= 1]
    if not curves:
        return None
    compiled = {(c.precision, c.batch_size) for c in p.inputs.configs if c.ok and c.mode == "compiled"}
    curve = sorted(curves, key=lambda c: ((c.precision, c.points[0].batch) not in compiled, c.precision != precision, c.precision))[0]
    pt = curve.points[0]
    eff, eff_src = p.efficiency(curve.precision, "eager")
    gpu_ms = _ideal_ms(p.shape, curve.gpu, curve.precision, pt.batch, pt.prompt_len + _half_new(pt))[0] / eff
    if gpu_ms >= IDLE_BOUND_FRACTION * pt.tpot_ms:
        return None
    before = p.decode(pt.tpot_ms, curve.gpu, curve.precision, "eager", pt.batch, pt.prompt_len + _half_new(pt), pt.context_end)
    comp = next((c for c in p.inputs.configs if c.ok and c.mode == "compiled" and c.precision == curve.precision and c.batch_size == pt.batch), None)
    after = (before.gpu_to_ms, before.gpu_to_ms + COMPILED_RESIDUAL_HOST_MS)
    measured_gain = pt.tpot_ms / comp.tpot_median_ms if comp else None
    ev = _curve_evidence(curve, p.config) + [Evidence(
        f"modelled GPU time per token {gpu_ms:.1f} ms ({eff_src}) against a measured TPOT of {pt.tpot_ms:.1f} ms at batch {pt.batch}: "
        "the GPU likely idles most of each token waiting on the host (no trace to confirm: profile one)", "model", False)]
    if comp is not None:
        ev.append(Evidence(f"un-profiled {comp.label} on {comp.gpu_name}: {comp.tpot_median_ms:.1f} ms per token"
                           + (f" ({comp.note})" if comp.note else ""), _short(comp.source)))
    low, high = before.target_ms / after[1], before.target_ms / after[0]
    return Recommendation(
        kind=LAUNCH_OVERHEAD,
        change="Likely launch overhead: try static KV cache + torch.compile (CUDA graphs), or a serving engine (vLLM, TensorRT-LLM)",
        why=f"TPOT {pt.tpot_ms:.1f} ms at batch {pt.batch} on {curve.gpu.name} is {pt.tpot_ms / gpu_ms:.0f}x the modelled GPU time per token; "
            "TPOT hardly grows with the batch, as when the host, not the GPU, sets the pace.",
        evidence=ev,
        expected_gain=Gain("decode tokens/s per sequence", low, high, p.target.name, MODELLED, measured_gain, measured_gain,
                           f"{curve.gpu.name} eager -> {comp.gpu_name} compiled" if comp else None,
                           _gain_text(measured_gain, measured_gain, f"{curve.gpu.name} eager vs {comp.gpu_name} compiled" if comp else "",
                                      low, high, p, False, f"batch {pt.batch}")),
        measured=comp is not None,
        confidence=LOW,
        confidence_reason="no trace shows the host-bound decode; profile one (profkit run) to confirm",
        how=_launch_how(),
        target=p.target_info(),
        flags=_scaled_flag(p) + ["unconfirmed"],
        details={"precision": curve.precision, "batch": pt.batch, "modelled_gpu_ms": gpu_ms},
    )


# ---- shared text ---------------------------------------------------------------------------------
def _batches_text(batches: list[int]) -> str:
    return f"batch {batches[0]}" if len(batches) == 1 or batches[0] == batches[-1] else f"batch {batches[0]}-{batches[-1]}"


def _gain_text(m_lo, m_hi, m_where: str, lo: float, hi: float, p: _Projector, on_target: bool, over: str) -> str:
    rng = lambda a, b: f"{a:.1f}x" if abs(a - b) < 0.05 else f"{a:.1f}-{b:.1f}x"  # noqa: E731
    if on_target:
        return f"{rng(lo, hi)} measured on {p.target.name} ({over})"
    text = f"{rng(lo, hi)} modelled on {p.target.name} at {p.context:,} tokens ({over})"
    if m_lo is not None:
        text += f"; {rng(m_lo, m_hi)} measured on {m_where}"
    return text


def _scaled_flag(p: _Projector) -> list[str]:
    return ["scaled_to_target"] if p.scaled_from else []
