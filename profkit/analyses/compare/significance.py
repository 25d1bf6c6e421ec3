"""The noise model: whether a phase's per-step figure changed beyond noise, and the `reason` text.

A phase's figure is the median over its steady steps. The change is significant when

    |candidate - baseline| > max(K_SIGMA * noise, REL_FLOOR * baseline)

    noise^2 = se_b^2 + se_c^2 + run_to_run^2 * (1/r_b + 1/r_c)
    se      = 1.2533 * sigma / sqrt(n)   (standard error of a median of n steps; sigma itself for n = 1)

`sigma` is the robust step-to-step spread (1.4826 * MAD) of each side's steady steps, pooled over its
repeated traces. A phase with a single step per trace (prefill) has no spread of its own: it borrows
the relative spread of the same trace's decode steps (same host, same launch-bound loop). `run_to_run`
is the spread of the per-trace medians of repeated traces of one configuration (`r` traces per side);
without repeats it is unknown and left out, which the reason text says. The floor keeps changes too
small to matter (a few per cent) from being called significant on very stable figures such as
GPU busy time. The defaults K_SIGMA and REL_FLOOR live in `model` (CompareReport records them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from profkit.analyses.compare.model import MetricChange, Side
from profkit.analyses.summary import TraceAnalysis

MEDIAN_SE_FACTOR = 1.2533  # standard error of a median = 1.2533 * sigma / sqrt(n) (normal data)


@dataclass
class _SideNoise:
    median: float
    values: list[float]
    sigma: float  # pooled within-trace robust spread
    se: float  # standard error of the median
    n: int
    borrowed: bool
    trace_medians: list[float]


@dataclass
class _Threshold:
    """What |delta| must exceed: max(k_sigma * noise, floor)."""

    noise: float  # combined standard error of the two medians (incl. run-to-run when known)
    floor: float  # rel_floor * |baseline|
    threshold: float
    run_to_run: float | None


def metric_change(phase: str, metric: str, base: Side, cand: Side, k_sigma: float, rel_floor: float, tokens: tuple) -> MetricChange:
    """The per-step `metric` ("wall_ms" or "gpu_busy_ms") of `phase` on both sides, tested against the noise.
    `tokens`: tokens per step on each side (None when unknown), for the per-token figures."""
    a, b = _side_noise(base, phase, metric), _side_noise(cand, phase, metric)
    t = _threshold(a, b, k_sigma, rel_floor)
    delta = b.median - a.median
    significant = abs(delta) > t.threshold and delta != 0
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
        threshold_ms=t.threshold,
        noise_ms=t.noise,
        baseline_spread_ms=a.sigma,
        candidate_spread_ms=b.sigma,
        baseline_steps=a.n,
        candidate_steps=b.n,
        run_to_run_ms=t.run_to_run,
        spread_borrowed=a.borrowed or b.borrowed,
        baseline_per_token_ms=pa,
        candidate_per_token_ms=pb,
        per_token_change=(pb / pa - 1) if pa and pb else None,
        reason=_significance_reason(delta, change, significant, t, k_sigma, rel_floor, a, b),
        baseline_values=a.values,
        candidate_values=b.values,
    )


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


def _threshold(a: _SideNoise, b: _SideNoise, k_sigma: float, rel_floor: float) -> _Threshold:
    run_var = [float(np.var(s.trace_medians, ddof=1)) for s in (a, b) if len(s.trace_medians) > 1]
    run_to_run = math.sqrt(sum(run_var) / len(run_var)) if run_var else None
    noise2 = a.se**2 + b.se**2
    if run_to_run is not None:
        noise2 += run_to_run**2 * (1 / len(a.trace_medians) + 1 / len(b.trace_medians))
    noise = math.sqrt(noise2)
    floor = rel_floor * abs(a.median)
    return _Threshold(noise, floor, max(k_sigma * noise, floor), run_to_run)


def _significance_reason(delta, change, significant, t: _Threshold, k_sigma, rel_floor, a: _SideNoise, b: _SideNoise) -> str:
    if delta == 0:
        return "no change"
    pct = f"{change:+.1%}" if change is not None else f"{delta:+.3f} ms"
    verdict = "beyond" if significant else "within"
    if k_sigma * t.noise >= t.floor:
        basis = (
            f"{k_sigma:g} x noise {t.noise:.3f} ms: step spread {a.sigma:.3f}/{b.sigma:.3f} ms over {a.n}/{b.n} steps"
            + (" (single step: spread borrowed from the decode steps)" if a.borrowed or b.borrowed else "")
            + (f", run-to-run {t.run_to_run:.3f} ms from repeats" if t.run_to_run is not None else ", no repeats given (run-to-run noise unknown)")
        )
    else:
        basis = f"the {rel_floor:.0%} floor (noise {t.noise:.3f} ms is smaller)"
    return f"{pct} ({delta:+.3f} ms) is {verdict} the noise threshold +/-{t.threshold:.3f} ms = {basis}"
