"""Launch-overhead advice: when decode is host/launch-bound (the GPU idles while the host launches
kernels one at a time), static KV cache + CUDA graphs, or a serving engine. From a host-bound trace
(and a compiled one to confirm), else, with low confidence, from a sweep whose TPOT is far above the
modelled GPU time."""

from __future__ import annotations

from profkit.analyses.evidence import MeasuredConfig, TraceEvidence
from profkit.analyses.recommend.curves import Curve, curve_evidence, curves, half_new, short
from profkit.analyses.recommend.model import (
    COMPILED_RESIDUAL_HOST_MS,
    HIGH,
    LAUNCH_OVERHEAD,
    LOW,
    MEASURED,
    MEDIUM,
    MODELLED,
    SIXTEEN_BIT,
    Evidence,
    Gain,
    Recommendation,
)
from profkit.analyses.recommend.scaling import Projection, Projector, gain_text
from profkit.analyses.verdict import HOST, IDLE_BOUND_FRACTION


def launch_recommendation(p: Projector, precision: str | None) -> Recommendation | None:
    """Remove launch overhead, from a host-bound eager 16-bit trace (else from the sweep: `launch_from_sweep`)."""
    eager = _host_bound_eager_traces(p)
    if not eager:
        return launch_from_sweep(p, precision)
    compiled = [t for t in p.inputs.traces if t.mode == "compiled" and t.gpu is not None and "decode" in t.analysis.phases]
    compiled_precisions = {t.precision for t in compiled}
    t = min(eager, key=lambda t: (t.precision not in compiled_precisions, t.precision != precision, t.batch_size, t.path))
    assert t.gpu is not None and t.precision is not None and t.batch_size, "_host_bound_eager_traces keeps only these"
    s = t.analysis.phases["decode"].stats
    before = p.decode(s.wall_ms, t.gpu, t.precision, "eager", t.batch_size, (t.prompt_len or 1) + 1, None, s.gpu_busy_ms)
    comp = next((c for c in sorted(compiled, key=lambda c: c.path) if c.precision == t.precision and c.batch_size == t.batch_size), None)
    after, measured_gain, after_ev = _after_graphs(p, t, before, comp)
    ev = (
        _host_bound_evidence(t, eager)
        + after_ev
        + _compiled_config_evidence(_compiled_config(p, t.precision, t.batch_size))
        + [_graphs_on_target_evidence(p, t, before, after, comp)]
    )
    on_target = comp is not None and comp.gpu is not None and comp.gpu.key == p.target.key and t.gpu.key == p.target.key
    gain = _graphs_gain(p, before, after, measured_gain, t.gpu_name, comp.gpu_name if comp else None, on_target, t.batch_size)
    conf, reason = _launch_confidence(t, comp, on_target)
    return Recommendation(
        kind=LAUNCH_OVERHEAD,
        change="Remove launch overhead: static KV cache + torch.compile (CUDA graphs), or a serving engine (vLLM, TensorRT-LLM)",
        why=_host_bound_why(p, s, comp, gain.high),
        evidence=ev,
        expected_gain=gain,
        measured=comp is not None,
        confidence=conf,
        confidence_reason=reason,
        how=_launch_how(),
        target=p.target_info(),
        flags=p.scaled_flags(),
        details=_launch_details(t, comp, before, after),
    )


def _host_bound_eager_traces(p: Projector) -> list[TraceEvidence]:
    """Eager 16-bit traces whose decode is host-bound, of a precision that fits on the target."""
    return [
        t
        for t in p.inputs.traces
        if t.mode == "eager"
        and t.precision in SIXTEEN_BIT
        and t.gpu is not None
        and t.batch_size
        and "decode" in t.analysis.phases
        and t.analysis.phases["decode"].verdict.bound == HOST
        and p.max_batch(t.precision) >= 1
    ]


def _host_bound_evidence(t: TraceEvidence, eager: list[TraceEvidence]) -> list[Evidence]:
    """The chosen trace's verdict, and the other batches also measured host-bound."""
    ev = [Evidence(f"{t.name}: {t.analysis.phases['decode'].verdict.sentence}", t.name)]
    for o in sorted(eager, key=lambda o: (o.batch_size, o.path)):
        if o is not t and o.batch_size != t.batch_size:
            os_ = o.analysis.phases["decode"].stats
            ev.append(
                Evidence(
                    f"also host-bound at batch {o.batch_size} ({o.name}): {os_.wall_ms:.1f} ms per step, GPU busy "
                    f"{os_.gpu_busy_ms:.2f} ms: the fix applies at every batch until the GPU becomes the limit",
                    o.name,
                )
            )
    return ev


def _after_graphs(p: Projector, t: TraceEvidence, before: Projection, comp: TraceEvidence | None):
    """(ms per token on the target after CUDA graphs as (best, worst), the measured gain or None, evidence).

    Best: the GPU busy time alone; worst: plus the residual host time a compiled run still shows."""
    s = t.analysis.phases["decode"].stats
    if comp is None:
        busy = before.gpu_to_ms
        return (
            (busy, busy + COMPILED_RESIDUAL_HOST_MS),
            None,
            [
                Evidence(
                    f"no compiled trace given: after CUDA graphs a token takes at least the GPU busy time ({s.gpu_busy_ms:.2f} ms here), "
                    f"plus up to {COMPILED_RESIDUAL_HOST_MS} ms of residual host time (profkit's H100 reference)",
                    "model",
                    False,
                )
            ],
        )
    assert comp.gpu is not None and comp.precision is not None and t.batch_size, "a compiled trace of the eager one's precision and batch, on a GPU"
    cs = comp.analysis.phases["decode"].stats
    busy = cs.gpu_busy_ms * p.ratio(comp.gpu, comp.precision, t.batch_size, (comp.prompt_len or 1) + 1)
    residual = max(cs.wall_ms - cs.gpu_busy_ms, 0.0)
    p.scaled_from.add(comp.gpu.name)
    gain = s.wall_ms / cs.wall_ms
    ev = [
        Evidence(
            f"{comp.name}: static KV cache + torch.compile (CUDA graphs) on {comp.gpu_name}: {cs.wall_ms:.1f} ms per token "
            f"(GPU busy {cs.gpu_busy_ms:.2f} ms, idle {cs.idle_fraction:.0%}, {cs.kernels:.0f} kernels, "
            f"{cs.graph_launches:.0f} graph launch per token) against {s.wall_ms:.1f} ms eager: {gain:.1f}x measured",
            comp.name,
        ),
        _gpu_class_note(t, comp),
    ]
    return (busy, busy + residual), gain, ev


def _graphs_on_target_evidence(p: Projector, t: TraceEvidence, before: Projection, after: tuple[float, float], comp: TraceEvidence | None) -> Evidence:
    s = t.analysis.phases["decode"].stats
    return Evidence(
        f"on {p.target.name} at {p.context:,} tokens: eager {before.target_ms:.1f} ms per token "
        f"(host {s.wall_ms:.1f} ms vs GPU {before.gpu_to_ms:.1f} ms modelled); with CUDA graphs "
        f"{after[0]:.1f}-{after[1]:.1f} ms (GPU busy {'of the compiled kernels ' if comp else ''}scaled by the roofline ratio"
        f"{', plus the measured residual host time' if comp else ''})",
        "model",
        False,
    )


def _host_bound_why(p: Projector, s, comp: TraceEvidence | None, high: float) -> str:
    return (
        f"decode is host/launch-bound: the GPU idles {s.idle_fraction:.0%} of each {s.wall_ms:.1f} ms token "
        f"(busy {s.gpu_busy_ms:.2f} ms) while the host launches {s.kernels:.0f} kernels, one at a time."
        + (f" Static cache + CUDA graphs measured {comp.analysis.phases['decode'].stats.wall_ms:.1f} ms per token ({comp.gpu_name})." if comp else "")
        + f" The gain is bounded by GPU busy time: at best {high:.1f}x on {p.target.name}."
    )


def _launch_details(t: TraceEvidence, comp: TraceEvidence | None, before: Projection, after: tuple[float, float]) -> dict:
    s = t.analysis.phases["decode"].stats
    return {
        "eager_trace": t.name,
        "compiled_trace": comp.name if comp else None,
        "eager_wall_ms": s.wall_ms,
        "eager_gpu_busy_ms": s.gpu_busy_ms,
        "compiled_wall_ms": comp.analysis.phases["decode"].stats.wall_ms if comp else None,
        "compiled_gpu_busy_ms": comp.analysis.phases["decode"].stats.gpu_busy_ms if comp else None,
        "target_eager_ms": before.target_ms,
        "target_after_ms": list(after),
    }


def _launch_confidence(t: TraceEvidence, comp: TraceEvidence | None, on_target: bool) -> tuple[str, str]:
    if comp is not None and on_target:
        return HIGH, "eager and compiled both measured on the target GPU"
    if comp is not None:
        return MEDIUM, (
            f"before and after measured (eager on {t.gpu_name}, compiled on {comp.gpu_name}); the target's figure is "
            "scaled by the roofline ratio (decode is memory-bound once launch overhead is gone)"
        )
    return LOW, "the host-bound verdict is measured; the gain is modelled (no compiled run to confirm it)"


def _gpu_class_note(eager: TraceEvidence, comp: TraceEvidence) -> Evidence:
    assert eager.gpu is not None and comp.gpu is not None, "both traces ran on a GPU"
    if eager.gpu.key == comp.gpu.key:
        return Evidence(f"both measured on {eager.gpu_name}", f"{eager.name}, {comp.name}")
    faster = eager.gpu.bandwidth_gbps >= comp.gpu.bandwidth_gbps
    return Evidence(
        f"eager on {eager.gpu_name}, compiled on {comp.gpu_name}: different GPUs of one class; "
        f"{eager.gpu.name} has {eager.gpu.bandwidth_gbps / comp.gpu.bandwidth_gbps:.2f}x the bandwidth, so compiled there would be "
        f"{'at least as fast' if faster else 'at most as fast'} (the measured gain is {'a lower' if faster else 'an upper'} bound)",
        f"{eager.name}, {comp.name}",
    )


# ---- without a trace: from the sweep ------------------------------------------------------------------
def launch_from_sweep(p: Projector, precision: str | None) -> Recommendation | None:
    """Without a host-bound trace: eager TPOT far above the modelled GPU time suggests launch overhead (low confidence)."""
    curve = _sweep_curve(p, precision)
    if curve is None:
        return None
    pt = curve.points[0]
    gpu_ms, eff_src = p.modelled_busy_ms(curve.gpu, curve.precision, "eager", pt.batch, pt.prompt_len + half_new(pt))
    if gpu_ms >= IDLE_BOUND_FRACTION * pt.tpot_ms:
        return None
    before = p.decode_point(curve, pt)
    comp = _compiled_config(p, curve.precision, pt.batch)
    after = (before.gpu_to_ms, before.gpu_to_ms + COMPILED_RESIDUAL_HOST_MS)
    measured_gain = pt.tpot_ms / comp.tpot_median_ms if comp and comp.tpot_median_ms else None  # comp.ok: a positive TPOT
    ev = [
        *curve_evidence(curve),
        Evidence(
            f"modelled GPU time per token {gpu_ms:.1f} ms ({eff_src}) against a measured TPOT of {pt.tpot_ms:.1f} ms at batch {pt.batch}: "
            "the GPU likely idles most of each token waiting on the host (no trace to confirm: profile one)",
            "model",
            False,
        ),
    ]
    return Recommendation(
        kind=LAUNCH_OVERHEAD,
        change="Likely launch overhead: try static KV cache + torch.compile (CUDA graphs), or a serving engine (vLLM, TensorRT-LLM)",
        why=f"TPOT {pt.tpot_ms:.1f} ms at batch {pt.batch} on {curve.gpu.name} is {pt.tpot_ms / gpu_ms:.0f}x the modelled GPU time per token; "
        "TPOT hardly grows with the batch, as when the host, not the GPU, sets the pace.",
        evidence=ev + _compiled_config_evidence(comp),
        expected_gain=_graphs_gain(p, before, after, measured_gain, curve.gpu.name, comp.gpu_name if comp else None, False, pt.batch),
        measured=comp is not None,
        confidence=LOW,
        confidence_reason="no trace shows the host-bound decode; profile one (profkit run) to confirm",
        how=_launch_how(),
        target=p.target_info(),
        flags=[*p.scaled_flags(), "unconfirmed"],
        details={"precision": curve.precision, "batch": pt.batch, "modelled_gpu_ms": gpu_ms},
    )


def _sweep_curve(p: Projector, precision: str | None) -> Curve | None:
    """The un-profiled eager 16-bit curve to judge: one with a compiled run to compare first, then `precision`."""
    found = [c for c in curves(p.inputs) if c.mode == "eager" and c.precision in SIXTEEN_BIT and not c.points[0].profiled and p.max_batch(c.precision) >= 1]
    if not found:
        return None
    compiled = {(c.precision, c.batch_size) for c in p.inputs.configs if c.ok and c.mode == "compiled"}
    return min(found, key=lambda c: ((c.precision, c.points[0].batch) not in compiled, c.precision != precision, c.precision))


# ---- shared ----------------------------------------------------------------------------------------------
def _compiled_config(p: Projector, precision: str, batch: int) -> MeasuredConfig | None:
    """The first un-profiled compiled run of `precision` at `batch`."""
    return next((c for c in p.inputs.configs if c.ok and c.mode == "compiled" and c.precision == precision and c.batch_size == batch), None)


def _compiled_config_evidence(c: MeasuredConfig | None) -> list[Evidence]:
    if c is None:
        return []
    return [Evidence(f"un-profiled {c.label} on {c.gpu_name}: {c.tpot_median_ms:.1f} ms per token" + (f" ({c.note})" if c.note else ""), short(c.source))]


def _graphs_gain(
    p: Projector,
    before: Projection,
    after: tuple[float, float],
    measured_gain: float | None,
    eager_gpu: str | None,
    compiled_gpu: str | None,
    on_target: bool,
    batch: int,
) -> Gain:
    """Tokens/s per sequence with CUDA graphs over eager on the target (`after`: best and worst ms per token), and as measured."""
    low, high = before.target_ms / after[1], before.target_ms / after[0]
    measured_gpu = f"{eager_gpu} eager -> {compiled_gpu} compiled" if compiled_gpu is not None else None
    where = f"{eager_gpu} eager vs {compiled_gpu} compiled" if compiled_gpu is not None else ""
    return Gain(
        "decode tokens/s per sequence",
        low,
        high,
        p.target.name,
        MEASURED if on_target else MODELLED,
        measured_gain,
        measured_gain,
        measured_gpu,
        gain_text(measured_gain, measured_gain, where, low, high, p, on_target, f"batch {batch}"),
    )


def _launch_how() -> list[str]:
    return [
        "transformers: model.generate(..., cache_implementation='static') with "
        "model.forward = torch.compile(model.forward, mode='reduce-overhead', fullgraph=True)",
        "measure it: profkit run --mode eager,compiled",
        "or serve with vLLM (CUDA graphs by default; do not pass --enforce-eager) or TensorRT-LLM",
    ]
