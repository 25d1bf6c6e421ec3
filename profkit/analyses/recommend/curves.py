"""Measured batch curves: decode time and throughput per batch of one (GPU, precision, mode), from
un-profiled sweeps where present, else from traces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from profkit.analyses.estimate import PRECISIONS
from profkit.analyses.evidence import MeasuredConfig, RecommendInputs, TraceEvidence
from profkit.analyses.recommend.model import Evidence
from profkit.hardware.catalog import GpuSpec


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

    def point(self, batch: int) -> CurvePoint:
        """The point at `batch`, one the caller knows the curve measured."""
        pt = self.at(batch)
        if pt is None:
            raise KeyError(f"the {self.precision} {self.mode} curve on {self.gpu.name} has no point at batch {batch}")
        return pt


def curves(inputs: RecommendInputs) -> list[Curve]:
    """One curve per (GPU, precision, mode): un-profiled sweeps where present, else traces."""
    groups: dict = {}
    for c in inputs.configs:
        if c.ok and c.gpu is not None and c.precision in PRECISIONS:
            groups.setdefault((c.gpu, c.precision, c.mode), {"configs": [], "traces": []})["configs"].append(c)
    for t in inputs.traces:
        if t.gpu is not None and t.precision in PRECISIONS and t.batch_size and "decode" in t.analysis.phases:
            groups.setdefault((t.gpu, t.precision, t.mode), {"configs": [], "traces": []})["traces"].append(t)
    found = []
    for (gpu, precision, mode), g in groups.items():
        points = [_point_from_config(c) for c in g["configs"]] or _points_from_traces(g["traces"])
        by_batch = {p.batch: p for p in sorted(points, key=lambda p: p.source)}
        found.append(Curve(precision, mode, gpu, tuple(by_batch[b] for b in sorted(by_batch))))
    return found


def _point_from_config(c: MeasuredConfig) -> CurvePoint:
    """A configuration that timed its decode (`c.ok`) as a point."""
    tpot = c.tpot_median_ms
    assert tpot is not None, "only configurations that are ok make points"
    tps = c.decode_tokens_per_s or c.batch_size * 1e3 / tpot
    return CurvePoint(c.batch_size, tpot, c.tpot_p90_ms, c.ttft_ms, tps, c.prompt_len or 1, c.context_len, short(c.source), False)


def _points_from_traces(traces: list[TraceEvidence]) -> list[CurvePoint]:
    by_batch: dict[int, list[TraceEvidence]] = {}
    for t in traces:
        assert t.batch_size is not None, "only traces with a known batch make points"
        by_batch.setdefault(t.batch_size, []).append(t)
    points = []
    for batch, group in by_batch.items():
        t = min(group, key=lambda t: t.path)
        dec = t.analysis.phases["decode"].stats
        pre = t.analysis.phases.get("prefill")
        ctx_end = (t.prompt_len or 0) + dec.steps + 1 if t.prompt_len else None
        points.append(
            CurvePoint(
                batch,
                dec.wall_ms,
                dec.wall_ms_p90,
                pre.stats.wall_ms if pre else None,
                batch * 1e3 / dec.wall_ms,
                t.prompt_len or 1,
                ctx_end,
                t.name,
                True,
                dec.gpu_busy_ms,
            )
        )
    return points


def short(path: str) -> str:
    """The file name of `path`, as evidence sources name it."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def primary_gpu(found: list[Curve]) -> GpuSpec | None:
    """The GPU with the most measured points (where the sweep ran)."""
    counts: dict = {}
    for c in found:
        counts[c.gpu] = counts.get(c.gpu, 0) + len(c.points)
    return max(counts, key=lambda g: (counts[g], g.key)) if counts else None


def main_curve(found: list[Curve], gpu: GpuSpec, precision: str) -> Curve | None:
    """The curve of `precision` on `gpu`, eager first (what a sweep measures), longest first."""
    matching = [c for c in found if c.gpu == gpu and c.precision == precision]
    return min(matching, key=lambda c: (c.mode != "eager", -len(c.points))) if matching else None


def interp(xs: list[int], ys: list[float], x: float) -> float:
    """Piecewise-linear in batch; beyond the last point, the last segment's slope (never decreasing)."""
    if len(xs) == 1 or x <= xs[0]:
        return ys[0]
    if x <= xs[-1]:
        return float(np.interp(x, xs, ys))
    slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0)
    return ys[-1] + slope * (x - xs[-1])


def half_new(pt: CurvePoint) -> int:
    """Average tokens generated before a decode step of the measured run (its mean context = prompt + this)."""
    return max(((pt.context_end or pt.prompt_len) - pt.prompt_len) // 2, 1)


def curve_evidence(curve: Curve) -> list[Evidence]:
    """The measured points of `curve` in one line: TPOT (p90), TTFT and tokens/s per batch."""
    how = "profiled" if curve.points[0].profiled else "un-profiled"
    rows = "; ".join(
        f"b{pt.batch}: TPOT {pt.tpot_ms:.1f} ms"
        + (f" (p90 {pt.tpot_p90_ms:.1f})" if pt.tpot_p90_ms else "")
        + (f", TTFT {pt.ttft_ms:.0f} ms" if pt.ttft_ms is not None else "")
        + f", {pt.tokens_per_s:,.1f} tok/s"
        for pt in curve.points
    )
    ctx = curve.points[0].context_end
    return [
        Evidence(
            f"{curve.precision} {curve.mode} on {curve.gpu.name} ({how}, prompt {curve.points[0].prompt_len}"
            + (f", context up to {ctx}" if ctx else "")
            + f"): {rows}",
            ", ".join(sorted({pt.source for pt in curve.points})),
        )
    ]
