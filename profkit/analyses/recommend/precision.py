"""Precision advice: load the weights in 16-bit instead of bitsandbytes int8 when 16-bit was faster
at every batch measured for both, or keep 8-bit on a faster 8-bit path when 16-bit does not fit."""

from __future__ import annotations

from profkit.analyses.estimate import estimate
from profkit.analyses.evidence import TraceEvidence
from profkit.analyses.idle import Issuer
from profkit.analyses.recommend.curves import Curve, CurvePoint, curves, main_curve, primary_gpu
from profkit.analyses.recommend.model import (
    EIGHT_BIT,
    HIGH,
    LOW,
    MEASURED,
    MEDIUM,
    MODELLED,
    PRECISION,
    SIXTEEN_BIT,
    Evidence,
    Gain,
    Recommendation,
)
from profkit.analyses.recommend.scaling import Projector, gain_text
from profkit.analyses.summary import PhaseReport


def precision_recommendation(p: Projector) -> Recommendation | None:
    """Switch from int8 to the faster 16-bit precision (keep 8-bit when 16-bit does not fit); None when int8 wins anywhere."""
    int8, sixteen = _int8_and_16bit_curves(p)
    if int8 is None or not sixteen:
        return None
    common = sorted({pt.batch for pt in int8.points} & {pt.batch for c in sixteen for pt in c.points})
    fast = _faster_16bit(int8, sixteen, common) if common else None
    if fast is None:
        return None  # int8 wins somewhere (or no batch to compare): nothing to recommend on precision
    common = [b for b in common if fast.at(b)]  # the batches measured for int8 and for the precision recommended
    other = next((c for c in sixteen if c is not fast), None)
    if p.max_batch(fast.precision) >= 1:
        return _switch_to_16bit(p, int8, fast, other, common)
    return _keep_8bit(p, int8, fast, common)


def _int8_and_16bit_curves(p: Projector) -> tuple[Curve | None, list[Curve]]:
    """The int8 curve and the 16-bit ones, on the GPU that measured int8 the most."""
    found = curves(p.inputs)
    gpu = primary_gpu([c for c in found if c.precision in EIGHT_BIT]) if found else None
    if gpu is None:
        return None, []
    return main_curve(found, gpu, "int8"), [c for c in (main_curve(found, gpu, d) for d in SIXTEEN_BIT) if c is not None]


def _faster_16bit(int8: Curve, sixteen: list[Curve], common: list[int]) -> Curve | None:
    """The 16-bit curve fastest at most `common` batches (bf16 on a tie); None unless 16-bit beats int8 at all of them."""
    best16 = {b: max((c for c in sixteen if c.at(b)), key=lambda c: c.point(b).tokens_per_s) for b in common}
    if not all(best16[b].point(b).tokens_per_s > int8.point(b).tokens_per_s for b in common):
        return None
    counts = {c.precision: sum(1 for b in common if best16[b] is c) for c in sixteen}
    return max(sixteen, key=lambda c: (counts[c.precision], c.precision == "bf16"))


# ---- switch to 16-bit ------------------------------------------------------------------------------
def _switch_to_16bit(p: Projector, int8: Curve, fast: Curve, other: Curve | None, common: list[int]) -> Recommendation:
    gain = _switch_gain(p, int8, fast, common)
    ev = [*_precision_evidence(p, int8, fast, other, common), p.memory_evidence((fast.precision, "int8"))]
    wo = _measured_int8wo(p, int8, common[0])
    if wo is not None:
        ev.append(_int8wo_evidence(int8, int8.point(common[0]), *wo))
    if other is not None:
        ev.append(_bf16_fp16_note(p, fast, other))
    conf, reason = _precision_confidence(p, int8, common)
    return Recommendation(
        kind=PRECISION,
        change=f"Load the weights in {fast.precision}{' (or ' + other.precision + ')' if other else ''} instead of bitsandbytes int8",
        why=_switch_why(p, int8, fast, common),
        evidence=ev,
        expected_gain=gain,
        measured=True,
        confidence=conf,
        confidence_reason=reason,
        how=_switch_how(p, fast, common),
        target=p.target_info(),
        flags=p.scaled_flags(),
        details={
            "recommended_precision": fast.precision,
            "measured_on": int8.gpu.name,
            "tokens_per_s": {c.precision: {str(pt.batch): round(pt.tokens_per_s, 2) for pt in c.points} for c in (int8, fast, other) if c},
            **_memory_and_cause(p, fast),
        },
    )


def _switch_gain(p: Projector, int8: Curve, fast: Curve, common: list[int]) -> Gain:
    """tokens/s of `fast` over int8: on the target at the batches that fit there, and as measured where profiled."""
    measured = [fast.point(b).tokens_per_s / int8.point(b).tokens_per_s for b in common]
    fit = [b for b in common if b <= p.max_batch(fast.precision)] or [1]
    fit = [b for b in fit if int8.at(b) and fast.at(b)] or common[:1]
    modelled, on_target = _projected_ratio(p, int8, fast, fit)
    return Gain(
        "decode tokens/s",
        min(modelled),
        max(modelled),
        p.target.name,
        MEASURED if on_target else MODELLED,
        min(measured),
        max(measured),
        int8.gpu.name,
        gain_text(min(measured), max(measured), int8.gpu.name, min(modelled), max(modelled), p, on_target, _batches_text(fit)),
    )


def _projected_ratio(p: Projector, slow: Curve, fast: Curve, batches: list[int]) -> tuple[list[float], bool]:
    """tokens/s ratio fast/slow on the target at the user's context over `batches`; whether all were measured there."""
    ratios, on_target = [], True
    for b in batches:
        s, f = slow.point(b), fast.point(b)
        ps, pf = p.decode_point(slow, s), p.decode_point(fast, f)
        ratios.append((f.tokens_per_s * f.tpot_ms / pf.target_ms) / (s.tokens_per_s * s.tpot_ms / ps.target_ms))
        on_target = on_target and ps.on_target and pf.on_target
    return ratios, on_target


def _batches_text(batches: list[int]) -> str:
    return f"batch {batches[0]}" if len(batches) == 1 or batches[0] == batches[-1] else f"batch {batches[0]}-{batches[-1]}"


def _switch_why(p: Projector, int8: Curve, fast: Curve, common: list[int]) -> str:
    lo, hi = common[0], common[-1]
    a_lo, f_lo, a_hi, f_hi = int8.point(lo), fast.point(lo), int8.point(hi), fast.point(hi)
    return _with_int8_cause(
        p,
        (
            f"bitsandbytes int8 is slower than {fast.precision} at every measured batch on {int8.gpu.name}: "
            f"{a_lo.tokens_per_s:.1f} vs {f_lo.tokens_per_s:.1f} tok/s at batch {lo}"
            + (f", {a_hi.tokens_per_s:,.1f} vs {f_hi.tokens_per_s:,.1f} at batch {hi}" if hi != lo else "")
            + f"; 16-bit weights fit on {p.target.name} with room for the KV cache at {p.context:,} tokens "
            f"(max batch {p.max_batch(fast.precision)})."
        ),
    )


def _switch_how(p: Projector, fast: Curve, common: list[int]) -> list[str]:
    dtype = {"bf16": "torch.bfloat16", "fp16": "torch.float16"}[fast.precision]
    return [
        f"transformers: AutoModelForCausalLM.from_pretrained(name, torch_dtype={dtype}) -- drop load_in_8bit=True / "
        "quantization_config=BitsAndBytesConfig(load_in_8bit=True)",
        f"vLLM: vllm serve <model> --dtype {'bfloat16' if fast.precision == 'bf16' else 'float16'} --max-model-len {p.context}",
        f"confirm on the target: profkit run --precisions {fast.precision},int8 --batch-sizes {','.join(map(str, common))}",
    ]


def _bf16_fp16_note(p: Projector, fast: Curve, other: Curve) -> Evidence:
    a, b = p.decode_trace(fast.precision, "eager"), p.decode_trace(other.precision, "eager")
    common = sorted({pt.batch for pt in fast.points} & {pt.batch for pt in other.points})
    spread = ", ".join(f"b{x}: {fast.point(x).tokens_per_s:,.1f} vs {other.point(x).tokens_per_s:,.1f}" for x in common)
    text = f"{fast.precision} vs {other.precision} tok/s ({spread})"
    sources = {fast.points[0].source, other.points[0].source}
    if a is not None and b is not None:
        sources |= {a.name, b.name}
        ga, gb = a.analysis.phases["decode"].stats.gpu_busy_ms, b.analysis.phases["decode"].stats.gpu_busy_ms
        wa, wb = a.analysis.phases["decode"].stats.wall_ms, b.analysis.phases["decode"].stats.wall_ms
        text += (
            f"; in the traces their GPU time per token is the same within {abs(ga - gb) / max(ga, gb):.0%} ({ga:.2f} vs {gb:.2f} ms; "
            f"wall {wa:.1f} vs {wb:.1f} ms), so the gap is on the host, not in the dtype: re-measure before choosing between "
            "them (bf16 is Llama 3's native dtype)"
        )
    return Evidence(text, ", ".join(sorted(sources)))


def _precision_confidence(p: Projector, int8: Curve, common: list[int]) -> tuple[str, str]:
    sweep = not int8.points[0].profiled
    traced = p.decode_trace("int8", "eager") is not None
    if sweep and len(common) >= 2 and traced:
        return HIGH, (
            f"measured un-profiled at {len(common)} batch sizes and explained by the int8 trace; "
            "the cause (host syncs) does not depend on the GPU, so it carries over to the target"
        )
    if sweep and len(common) >= 2:
        return MEDIUM, f"measured at {len(common)} batch sizes, but no int8 trace explains the cause"
    return MEDIUM, (
        f"measured at batch {', '.join(map(str, common))} only"
        + (" and under the profiler" if not sweep else "")
        + "; run an un-profiled sweep (profkit run) to confirm"
    )


# ---- keep 8-bit --------------------------------------------------------------------------------------
def _keep_8bit(p: Projector, int8: Curve, fast: Curve, common: list[int]) -> Recommendation:
    a = int8.at(1) or int8.points[0]
    now_tps = a.batch * 1e3 / p.decode_point(int8, a).target_ms
    lows, wo_hi, paths_ev = _faster_8bit_paths(p, a.batch, now_tps)
    wo = _measured_int8wo(p, int8, a.batch)
    if wo is not None:  # int8 weight-only was run: its measured speed replaces the roofline's
        ratios, on_target = _projected_ratio(p, int8, wo[0], [a.batch])
        wo_hi, wo_basis = ratios[0], (MEASURED if on_target else MODELLED)
        lows[0] = wo_hi
        paths_ev[-1] = _int8wo_evidence(int8, a, *wo)
    gain = Gain(
        "decode tokens/s per sequence",
        min(lows),
        max([*lows, wo_hi]),
        p.target.name,
        MODELLED if wo is None else wo_basis,
        measured_high=(wo[1].tokens_per_s / a.tokens_per_s) if wo else None,
        measured_gpu=int8.gpu.name if wo else None,
        text=(
            f"{min(lows):.1f}-{wo_hi:.1f}x on {p.target.name} at {p.context:,} tokens: threshold 0 at the low end (modelled), "
            + (
                f"int8 weight-only as measured ({wo[0].mode}, batch {a.batch}) at the high end"
                if wo
                else "int8 weight-only kernels with CUDA graphs at the high end (modelled: no int8wo run in the evidence)"
            )
        ),
    )
    return Recommendation(
        kind=PRECISION,
        change="Keep 8-bit weights (16-bit does not fit) but switch to a faster 8-bit path: llm_int8_threshold=0, or int8 weight-only kernels",
        why=_keep_why(p, int8, fast, a),
        evidence=_precision_evidence(p, int8, fast, None, common) + paths_ev + [p.memory_evidence((fast.precision, "int8"))],
        expected_gain=gain,
        measured=wo is not None,
        confidence=LOW if p.decode_trace("int8", "eager") is None else MEDIUM,
        confidence_reason=(
            "the slowness of bitsandbytes int8 is measured; "
            + (
                "int8 weight-only is measured (profkit run --precisions int8wo), threshold 0 modelled from the trace's op times"
                if wo
                else "the faster paths' gains are modelled (threshold 0 from the trace's op times, weight-only from the roofline)"
            )
        ),
        how=[
            "BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=0.0) -- no outlier decomposition: check output quality",
            "profkit run --precisions int8 --int8-threshold 0 to measure it",
            "torchao: quantize_(model, Int8WeightOnlyConfig()); model.forward = torch.compile(model.forward, mode='reduce-overhead') with a static KV cache",
            "vLLM / TensorRT-LLM with int8 weight-only (W8A16) quantization",
        ],
        target=p.target_info(),
        flags=[*p.scaled_flags(), "16bit_does_not_fit"],
        details={"recommended_precision": "int8", "int8wo_measured": _int8wo_details(*wo) if wo else None, **_memory_and_cause(p, fast)},
    )


def _measured_int8wo(p: Projector, int8: Curve, batch: int) -> tuple[Curve, CurvePoint] | None:
    """The fastest measured int8 weight-only run (`profkit run --precisions int8wo`) at `batch` on int8's GPU."""
    found = [(c, pt) for c in curves(p.inputs) if c.precision == "int8wo" and c.gpu == int8.gpu and (pt := c.at(batch)) is not None]
    return max(found, key=lambda f: f[1].tokens_per_s) if found else None


def _int8wo_evidence(int8: Curve, a: CurvePoint, wo: Curve, pt: CurvePoint) -> Evidence:
    how = "profiled" if pt.profiled else "un-profiled"
    return Evidence(
        f"int8 weight-only (torchao int8wo, {wo.mode}) measured {pt.tokens_per_s:,.1f} tok/s at batch {pt.batch} "
        f"(TPOT {pt.tpot_ms:.1f} ms, {how}) vs bitsandbytes int8 {a.tokens_per_s:,.1f} tok/s on {int8.gpu.name}: "
        f"{pt.tokens_per_s / a.tokens_per_s:.1f}x (measured)",
        ", ".join(sorted({pt.source, a.source})),
    )


def _int8wo_details(wo: Curve, pt: CurvePoint) -> dict:
    return {"mode": wo.mode, "batch": pt.batch, "tokens_per_s": pt.tokens_per_s, "tpot_ms": pt.tpot_ms, "gpu": wo.gpu.name, "source": pt.source}


def _faster_8bit_paths(p: Projector, batch: int, now_tps: float) -> tuple[list[float], float, list[Evidence]]:
    """(low-end gains, high-end gain, evidence) of llm_int8_threshold=0 (from the trace) and int8 weight-only kernels
    (from the roofline) over bitsandbytes int8 running `now_tps` tokens/s at `batch` on the target."""
    est_wo = estimate(p.shape, p.target, "int8-weight-only", context_len=p.context, batch_size=batch)
    wo_lo, wo_hi = (x * batch / now_tps for x in est_wo.decode_tokens_per_s_engine_range)
    t = p.decode_trace("int8", "eager")
    lows, ev = [wo_lo], []
    if t is not None and t.int8_outlier_check_ms:
        wall = t.analysis.phases["decode"].stats.wall_ms
        thr = wall / (wall - t.int8_outlier_check_ms)
        lows.append(thr)
        ev.append(
            Evidence(
                f"llm_int8_threshold=0 skips the outlier checks: {t.int8_outlier_check_ms:.1f} of {wall:.1f} ms of host time "
                f"per token in {t.name} -> about {thr:.2f}x (modelled from the trace's op times; int8 stays host-bound)",
                t.name,
                False,
            )
        )
    ev.append(
        Evidence(
            f"int8 weight-only kernels (torchao/gpt-fast + torch.compile, vLLM/TensorRT-LLM W8A16) read "
            f"{est_wo.decode_bytes_per_step / 1e9:.2f} GB per token: {est_wo.decode_tokens_per_s_engine_range[0]:.0f}-"
            f"{est_wo.decode_tokens_per_s_engine_range[1]:.0f} tok/s per sequence on {p.target.name} at the engine efficiency "
            f"range, against about {now_tps / batch:.1f} tok/s for bitsandbytes int8 (modelled)",
            "model",
            False,
        )
    )
    return lows, wo_hi, ev


def _keep_why(p: Projector, int8: Curve, fast: Curve, a: CurvePoint) -> str:
    est16 = estimate(p.shape, p.target, fast.precision, context_len=p.context, batch_size=1)
    return _with_int8_cause(
        p,
        (
            f"bitsandbytes int8 is slower than {fast.precision} at every measured batch ({a.tokens_per_s:.1f} vs "
            f"{fast.point(a.batch).tokens_per_s:.1f} tok/s at batch {a.batch} on {int8.gpu.name}), but {fast.precision} weights "
            f"({est16.weights_bytes / 1e9:.2f} GB) leave no room for one {p.context:,}-token sequence on {p.target.name}: "
            "keep 8-bit and use a faster 8-bit path."
        ),
    )


# ---- shared: the measured comparison and the int8 trace's cause -------------------------------------
def _precision_evidence(p: Projector, int8: Curve, fast: Curve, other: Curve | None, common: list[int]) -> list[Evidence]:
    how = "profiled (the profiler adds host overhead)" if int8.points[0].profiled else "un-profiled"
    ev = []
    for b in common:
        a, f = int8.point(b), fast.point(b)
        extra = f", {other.precision} {o.tokens_per_s:,.1f}" if other and (o := other.at(b)) else ""
        ev.append(
            Evidence(
                f"batch {b}: int8 {a.tokens_per_s:,.1f} tok/s vs {fast.precision} {f.tokens_per_s:,.1f}{extra} "
                f"({f.tokens_per_s / a.tokens_per_s:.1f}x); TPOT {a.tpot_ms:.1f} vs {f.tpot_ms:.1f} ms ({how}, {int8.gpu.name})",
                ", ".join(sorted({a.source, f.source})),
            )
        )
    ev += _int8_cause_evidence(p, fast.precision)
    return ev


def _int8_cause_evidence(p: Projector, sixteen: str) -> list[Evidence]:
    t = p.decode_trace("int8", "eager")
    if t is None:
        return [Evidence("no int8 trace given: profile int8 (profkit run --precisions int8) to see where its time goes", "", False)]
    rep = t.analysis.phases["decode"]
    ev = [Evidence(f"{t.name}: {rep.verdict.sentence}", t.name)]
    top = _top_sync_issuer(rep)
    if top is not None:
        ev.append(
            Evidence(
                f"top sync issuer: {top.op_path} ({top.per_step:.0f} per token); "
                f"{rep.stats.sync_calls:.0f} syncs and {rep.stats.d2h_copies:.0f} device-to-host copies per token",
                t.name,
            )
        )
    if t.int8_outlier_check_ms:
        ev.append(
            Evidence(
                f"bitsandbytes' outlier checks (|x| >= threshold, .any(), argwhere in int8_vectorwise_quant) take "
                f"{t.int8_outlier_check_ms:.1f} ms of host time per token ({t.int8_outlier_check_ms / rep.stats.wall_ms:.0%})",
                t.name,
            )
        )
    ref = p.decode_trace(sixteen, "eager")
    if ref is not None:
        ev.append(_busy_vs_wall_evidence(t, ref, sixteen))
    return ev


def _busy_vs_wall_evidence(t: TraceEvidence, ref: TraceEvidence, sixteen: str) -> Evidence:
    """int8's GPU busy and wall time per token against the 16-bit trace's: where int8 loses its time."""
    s, r = t.analysis.phases["decode"].stats, ref.analysis.phases["decode"].stats
    return Evidence(
        f"GPU busy per token int8 {s.gpu_busy_ms:.2f} ms vs {sixteen} {r.gpu_busy_ms:.2f} ms "
        f"({s.gpu_busy_ms / r.gpu_busy_ms:.1f}x) but wall {s.wall_ms:.1f} vs {r.wall_ms:.1f} ms "
        f"({s.wall_ms / r.wall_ms:.1f}x): int8 loses its time on the host, not on the GPU",
        f"{t.name}, {ref.name}",
    )


def _with_int8_cause(p: Projector, why: str) -> str:
    """`why`, followed by the int8 trace's explanation when there is one."""
    t = p.decode_trace("int8", "eager")
    if t is None:
        return why
    rep = t.analysis.phases["decode"]
    top = _top_sync_issuer(rep)
    issuer = top.op_path.split(" > ")[0] if top is not None else "its int8 linears"
    return (
        f"{why} The int8 trace says why: decode is {rep.verdict.bound}-bound -- {rep.stats.sync_calls:.0f} syncs and "
        f"{rep.stats.d2h_copies:.0f} device-to-host copies per token from {issuer} (the outlier checks), "
        f"the GPU idle {rep.stats.idle_fraction:.0%} of each {rep.stats.wall_ms:.1f} ms token."
    )


def _memory_and_cause(p: Projector, fast: Curve) -> dict:
    """The details both precision recommendations carry: max batch on the target and the int8 trace's cause."""
    return {"max_batch_on_target": {prec: p.max_batch(prec) for prec in (fast.precision, "int8")}, "int8_cause": _int8_cause_details(p)}


def _int8_cause_details(p: Projector) -> dict | None:
    t = p.decode_trace("int8", "eager")
    if t is None:
        return None
    rep = t.analysis.phases["decode"]
    top = _top_sync_issuer(rep)
    return {
        "trace": t.name,
        "bound": rep.verdict.bound,
        "syncs_per_token": rep.stats.sync_calls,
        "d2h_copies_per_token": rep.stats.d2h_copies,
        "top_sync_issuer": top.op_path if top is not None else None,
        "outlier_check_host_ms_per_token": t.int8_outlier_check_ms,
        "wall_ms": rep.stats.wall_ms,
        "gpu_busy_ms": rep.stats.gpu_busy_ms,
    }


def _top_sync_issuer(rep: PhaseReport) -> Issuer | None:
    """The op that issued the most syncs per decode step in a trace's phase report, or None."""
    return rep.causes.sync_issuers[0] if rep.causes and rep.causes.sync_issuers else None
