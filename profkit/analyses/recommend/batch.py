"""Batch-size advice: the batch with the most tokens/s on the target that fits in memory and meets
the latency targets, from the measured batch curve moved to the target, with the model's
extrapolation beyond the largest measured batch reported as headroom."""

from __future__ import annotations

import math
from dataclasses import dataclass

from profkit.analyses.estimate import PRECISIONS
from profkit.analyses.recommend.curves import Curve, CurvePoint, curve_evidence, curves, half_new, interp, main_curve, primary_gpu
from profkit.analyses.recommend.model import (
    BATCH,
    HIGH,
    LINEAR_SCALING_MIN,
    LOW,
    MAX_EXTRAPOLATION,
    MEASURED,
    MEDIUM,
    MODELLED,
    Evidence,
    Gain,
    Recommendation,
    RecommendConfig,
)
from profkit.analyses.recommend.scaling import Projector


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


def batch_point(p: Projector, curve: Curve, batch: int, max_batch: int) -> BatchPoint:
    """Batch `batch` on the target: measured points moved there, others interpolated along the curve first."""
    exact = curve.at(batch)
    xs = [pt.batch for pt in curve.points]

    def along(values):  # a per-point quantity at `batch`: exact, interpolated or extrapolated
        return values(exact) if exact else interp(xs, [values(pt) for pt in curve.points], batch)

    median = along(lambda pt: pt.tpot_ms)
    p90_ratio = along(lambda pt: (pt.tpot_p90_ms or pt.tpot_ms) / pt.tpot_ms)
    # The measured rate is a mean over steps; keep its ratio to batch / median TPOT.
    rate_ratio = along(lambda pt: pt.tokens_per_s * pt.tpot_ms / (pt.batch * 1e3))
    ref = exact or min(curve.points, key=lambda pt: abs(pt.batch - batch))
    proj = p.decode(median, curve.gpu, curve.precision, curve.mode, batch, ref.prompt_len + half_new(ref), ref.context_end, exact.busy_ms if exact else None)
    ttft = _ttft_on_target(p, curve, batch, exact, ref)
    tpot, tpot_p90 = proj.target_ms, proj.target_ms * p90_ratio
    return BatchPoint(
        batch,
        tpot,
        tpot_p90,
        ttft,
        batch * 1e3 / tpot * rate_ratio,
        proj.on_target and exact is not None,
        exact is not None,
        batch <= max_batch,
        _failed(p.config, batch, max_batch, tpot_p90, ttft),
    )


def _ttft_on_target(p: Projector, curve: Curve, batch: int, exact: CurvePoint | None, ref: CurvePoint) -> float | None:
    """TTFT at `batch` on the target: measured there (or interpolated between measured batches), then moved; None if never measured."""
    ttfts = [(pt.batch, pt.ttft_ms) for pt in curve.points if pt.ttft_ms is not None]
    if not ttfts:
        return None
    measured = exact.ttft_ms if exact and exact.ttft_ms is not None else interp([b for b, _ in ttfts], [t for _, t in ttfts], batch)
    return p.prefill(measured, curve.gpu, curve.precision, curve.mode, batch, ref.prompt_len)


def _failed(config: RecommendConfig, batch: int, max_batch: int, tpot_p90_ms: float, ttft_ms: float | None) -> tuple[str, ...]:
    """What rules the batch out: "memory", "tpot_slo", "ttft_slo"."""
    failed = []
    if batch > max_batch:
        failed.append("memory")
    if config.tpot_slo_ms is not None and tpot_p90_ms > config.tpot_slo_ms:
        failed.append("tpot_slo")
    if config.ttft_slo_ms is not None and ttft_ms is not None and ttft_ms > config.ttft_slo_ms:
        failed.append("ttft_slo")
    return tuple(failed)


def _candidates(curve: Curve, max_batch: int) -> list[int]:
    """Measured batches, powers of two and the memory limit, up to MAX_EXTRAPOLATION x the largest measured."""
    measured = [pt.batch for pt in curve.points]
    cap = max(measured) * MAX_EXTRAPOLATION
    powers = [2**k for k in range(int(math.log2(cap)) + 1)]
    return sorted({b for b in (*measured, *powers, max_batch, cap) if 1 <= b <= cap})


# ---- the batch to run each precision at -------------------------------------------------------------
@dataclass(frozen=True)
class BatchChoice:
    """The batch to run one curve's precision at on the target, and what stops it growing."""

    curve: Curve
    points: tuple[BatchPoint, ...]
    best: BatchPoint | None  # the best batch within the measured range (None: none meets the targets)
    limit: str  # why not larger: "memory", "tpot_slo", "ttft_slo" or "measured_range" (the model allows more)
    headroom: BatchPoint | None  # the best batch beyond the measured range, when the model says it meets the targets
    max_batch: int


def choose_batch(p: Projector, curve: Curve) -> BatchChoice:
    """Best throughput among batches that fit and meet the targets. On the profiled GPU only measured
    batches are picked; on another GPU anything within the measured range (all of it is modelled there).
    Batches beyond the largest measured one are reported as headroom, never picked."""
    max_batch = p.max_batch(curve.precision)
    largest = curve.points[-1].batch
    same_gpu = curve.gpu.key == p.target.key
    points = tuple(batch_point(p, curve, b, max_batch) for b in _candidates(curve, max_batch))
    inside = [pt for pt in points if pt.batch <= largest and (pt.measured_on_profiled or not same_gpu)]
    ok = [pt for pt in inside if not pt.failed]
    best = max(ok, key=lambda pt: (pt.tokens_per_s, -pt.batch)) if ok else None
    beyond = [pt for pt in points if pt.batch > largest and not pt.failed]
    headroom = max(beyond, key=lambda pt: pt.tokens_per_s) if beyond and best and beyond[0].batch > best.batch else None
    eligible = inside + [pt for pt in points if pt.batch > largest]
    nxt = next((pt for pt in eligible if best is None or pt.batch > best.batch), None)
    limit = nxt.failed[0] if nxt is not None and nxt.failed else "measured_range"
    return BatchChoice(curve, points, best, limit, headroom, max_batch)


def batch_choices(p: Projector) -> dict[str, BatchChoice]:
    """The batch choice of each precision's eager curve on the GPU with the most measurements."""
    found = curves(p.inputs)
    gpu = primary_gpu(found)
    if gpu is None:
        return {}
    mains = (main_curve(found, gpu, prec) for prec in PRECISIONS)
    return {c.precision: choose_batch(p, c) for c in mains if c is not None and c.mode == "eager" and c.points}


# ---- the recommendation -----------------------------------------------------------------------------
def batch_recommendation(p: Projector, precision: str | None) -> Recommendation | None:
    """Run `precision` (else the precision with the most tokens/s) at its best batch on the target."""
    choices = batch_choices(p)
    if not choices:
        return None
    if precision not in choices:
        precision = max(choices, key=lambda k: b.tokens_per_s if (b := choices[k].best) else 0)
    choice = choices[precision]
    first = choice.curve.points[0].batch
    base = batch_point(p, choice.curve, first, max(choice.max_batch, first))
    linear = _linear_scaling(choice.curve)
    ev = _batch_evidence(p, choice.curve, linear)
    if choice.best is None:
        return _no_batch_meets_slo(p, choice, base, ev, linear)
    picked = _pick(choice, base)
    if picked is None:
        return None
    best, extrapolated = picked
    headroom = None if extrapolated else choice.headroom
    show_headroom = headroom is not None
    if headroom is not None:
        ev.append(_headroom_evidence(p, headroom))
    gain, basis = _batch_gain(p, choice.curve, best, base)
    conf, reason = _batch_confidence(best, basis, choice.curve, p, extrapolated)
    return Recommendation(
        kind=BATCH,
        change=f"Run {precision} at batch {best.batch}" + ("" if best.measured else " (modelled for this GPU and context: measure it)"),
        why=_batch_why(p, choice, best, base, extrapolated, linear),
        evidence=ev,
        expected_gain=gain,
        measured=best.measured_on_profiled,
        confidence=conf,
        confidence_reason=reason,
        how=_batch_how(p, choice, best),
        target=p.target_info(),
        flags=_batch_flags(p, linear, extrapolated, show_headroom),
        details=_batch_details(p, choices, choice, best, linear),
    )


def _pick(choice: BatchChoice, base: BatchPoint) -> tuple[BatchPoint, bool] | None:
    """(batch to recommend, extrapolated?): the best batch in the measured range; when that is the first batch (one
    measured batch, or none larger meets the targets), the model's headroom beyond it; None without either."""
    assert choice.best is not None, "called once a batch meets the targets"
    if choice.best.batch != base.batch:
        return choice.best, False
    headroom = choice.headroom
    return (headroom, True) if headroom is not None else None


def _batch_evidence(p: Projector, curve: Curve, linear: dict | None) -> list[Evidence]:
    ev = curve_evidence(curve)
    if linear:
        ev.append(Evidence(linear["text"], curve.points[-1].source))
    ev.append(p.memory_evidence((curve.precision,)))
    return ev


def _headroom_evidence(p: Projector, h: BatchPoint) -> Evidence:
    return Evidence(
        f"extrapolated with the model (not measured): batch {h.batch}, TPOT {h.tpot_ms:.1f} ms (p90 {h.tpot_p90_ms:.1f}), "
        f"{h.tokens_per_s:,.0f} tok/s on {p.target.name} at {p.context:,} tokens",
        "model",
        False,
    )


def _batch_flags(p: Projector, linear: dict | None, extrapolated: bool, headroom: bool) -> list[str]:
    named = (("throughput_still_linear", linear), ("extrapolated", extrapolated), ("headroom_beyond_measured", headroom))
    return p.scaled_flags() + [flag for flag, on in named if on]


def _batch_why(p: Projector, choice: BatchChoice, best: BatchPoint, base: BatchPoint, extrapolated: bool, linear: dict | None) -> str:
    curve = choice.curve
    why = (
        f"{curve.precision} batch {best.batch} on {p.target.name} at {p.context:,} tokens: TPOT {best.tpot_ms:.1f} ms "
        f"(p90 {best.tpot_p90_ms:.1f}){_slo_text(p.config)}, {best.tokens_per_s:,.0f} tok/s vs {base.tokens_per_s:,.1f} at batch {base.batch} "
        f"({_where_from(curve, best, extrapolated)}); larger batches are limited by {_limit_text(p, choice)}."
    )
    if linear:
        why += f" Throughput still scales linearly at batch {curve.points[-1].batch}: measure larger batches."
    if choice.headroom is not None and not extrapolated:
        h = choice.headroom
        why += (
            f" The model says batch {h.batch} would also meet the targets (TPOT p90 {h.tpot_p90_ms:.1f} ms, "
            f"{h.tokens_per_s:,.0f} tok/s; extrapolated, not measured)."
        )
    return why


def _where_from(curve: Curve, best: BatchPoint, extrapolated: bool) -> str:
    """Where the figures of the recommended batch come from."""
    if extrapolated:
        return "extrapolated with the model beyond the measured batches, not measured"
    if best.measured:
        return "measured"
    if best.measured_on_profiled:
        return f"measured on {curve.gpu.name}, modelled here"
    return "interpolated between measured batches and modelled"


def _limit_text(p: Projector, choice: BatchChoice) -> str:
    return {
        "memory": f"memory (the KV cache of more than {choice.max_batch} sequences of {p.context:,} tokens does not fit)",
        "tpot_slo": "the TPOT target",
        "ttft_slo": "the TTFT target",
        "measured_range": f"the measured range (largest measured batch {choice.curve.points[-1].batch})",
    }[choice.limit]


def _batch_how(p: Projector, choice: BatchChoice, best: BatchPoint) -> list[str]:
    return [
        f"transformers: generate on {best.batch} prompts at once (tokenizer.padding_side='left', padding=True)",
        f"vLLM: vllm serve <model> --max-num-seqs {best.batch} --max-model-len {p.context}",
        f"measure around it: profkit run --precisions {choice.curve.precision} --batch-sizes {_measure_list(best.batch, choice)}",
    ]


def _batch_details(p: Projector, choices: dict[str, BatchChoice], choice: BatchChoice, best: BatchPoint, linear: dict | None) -> dict:
    return {
        "precision": choice.curve.precision,
        "batch": best.batch,
        "limit": choice.limit,
        "headroom_batch": choice.headroom.batch if choice.headroom else None,
        "max_batch_memory": choice.max_batch,
        "measured_on": choice.curve.gpu.name,
        "tpot_slo_ms": p.config.tpot_slo_ms,
        "ttft_slo_ms": p.config.ttft_slo_ms,
        "linear_scaling": linear,
        "points": [_point_dict(pt) for pt in choice.points],
        "per_precision": {
            k: {"batch": v.best.batch if v.best else None, "tokens_per_s": round(v.best.tokens_per_s, 1) if v.best else None, "limit": v.limit}
            for k, v in choices.items()
        },
    }


def _batch_gain(p: Projector, curve: Curve, best: BatchPoint, base: BatchPoint) -> tuple[Gain, str]:
    """Aggregate tokens/s at `best` over `base` on the target (median- and p90-paced), and as measured where profiled."""
    measured_b = max((pt.batch for pt in curve.points if pt.batch <= best.batch), default=base.batch)
    measured_gain = curve.point(measured_b).tokens_per_s / curve.points[0].tokens_per_s if measured_b != base.batch else None
    gain_median = best.tokens_per_s / base.tokens_per_s
    gain_p90 = gain_median * best.tpot_ms / best.tpot_p90_ms  # paced by the p90 token instead of the median
    basis = MEASURED if best.measured and base.measured else MODELLED
    text = (
        f"batch {best.batch} vs batch {base.batch}: {gain_median:.1f}x {basis} on {p.target.name} at {p.context:,} tokens "
        f"({gain_p90:.1f}x if every token took the p90 time)"
    )
    if basis == MODELLED and measured_gain:
        text += f"; {measured_gain:.1f}x measured on {curve.gpu.name} (batch {measured_b} vs {base.batch})"
    return Gain(
        "decode tokens/s (aggregate)",
        min(gain_p90, gain_median),
        max(gain_p90, gain_median),
        p.target.name,
        basis,
        measured_gain,
        measured_gain,
        curve.gpu.name,
        text,
    ), basis


def _no_batch_meets_slo(p: Projector, choice: BatchChoice, base: BatchPoint, ev: list[Evidence], linear: dict | None) -> Recommendation:
    curve = choice.curve
    gain = Gain("decode tokens/s (aggregate)", 1.0, 1.0, p.target.name, MODELLED, text="none: no batch meets the latency target")
    return Recommendation(
        kind=BATCH,
        change=(
            f"No {curve.precision} batch meets the latency target{_slo_text(p.config)} on {p.target.name}: "
            "fix the per-token time first (see the other recommendations) or relax the target"
        ),
        why=f"batch {base.batch}: TPOT p90 {base.tpot_p90_ms:.1f} ms, TTFT {base.ttft_ms or float('nan'):.0f} ms on {p.target.name} at {p.context:,} tokens.",
        evidence=ev,
        expected_gain=gain,
        measured=False,
        confidence=LOW,
        confidence_reason="nothing to gain by batching until the per-token time comes down",
        how=[],
        target=p.target_info(),
        flags=[*_batch_flags(p, linear, False, False), "no_batch_meets_slo"],
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
        "from_batch": a.batch,
        "to_batch": b.batch,
        "throughput_ratio": b.tokens_per_s / a.tokens_per_s,
        "efficiency": efficiency,
        "text": (
            f"throughput still scales linearly at the largest measured batch: batch {a.batch} -> {b.batch} gives "
            f"{b.tokens_per_s / a.tokens_per_s:.2f}x tokens/s for {b.batch / a.batch:.0f}x sequences ({efficiency:.0%} of linear; "
            f"TPOT {a.tpot_ms:.1f} -> {b.tpot_ms:.1f} ms): the GPU is not yet the limit on {curve.gpu.name}, measure larger batches"
        ),
    }


def _slo_text(config: RecommendConfig) -> str:
    parts = []
    if config.tpot_slo_ms is not None:
        parts.append(f"TPOT p90 <= {config.tpot_slo_ms:g} ms")
    if config.ttft_slo_ms is not None:
        parts.append(f"TTFT <= {config.ttft_slo_ms:g} ms")
    return f" (target: {', '.join(parts)})" if parts else ""


def _batch_confidence(best: BatchPoint, basis: str, curve: Curve, p: Projector, extrapolated: bool) -> tuple[str, str]:
    if extrapolated:
        return LOW, (
            f"batch {best.batch} lies beyond the measured batches ({', '.join(str(pt.batch) for pt in curve.points)}): "
            "the model's extrapolation, to be measured"
        )
    if basis == MEASURED:
        return HIGH, f"measured on {p.target.name} at this batch, at {curve.points[0].context_end or 'the measured'} tokens"
    first = f"batch {best.batch} was measured" if best.measured_on_profiled else f"batch {best.batch} lies between measured batches"
    return MEDIUM, (
        f"{first} on {curve.gpu.name} at {curve.points[0].context_end or curve.points[0].prompt_len} tokens; "
        f"{p.target.name} at {p.context:,} tokens is modelled (GPU time by the roofline, memory by the KV-cache model)"
    )


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
