"""The verdict of a comparison: a few sentences with numbers saying what changed in the set-up, by
how much each phase got faster or slower, whether that is beyond noise, and why."""

from __future__ import annotations

import math

from profkit.analyses.compare.model import Comparison, CounterChange, MetricChange, PhaseComparison
from profkit.analyses.kernels import GEMM_CATEGORIES

SYNC_CHANGE_MIN = 8
"""Sync / device-to-host copy count changes per step at least this large are named in the verdict."""

_NAMING_FIELDS = ("precision", "mode", "batch_size", "gpu_name", "driver_version", "cuda_runtime", "torch", "transformers", "bitsandbytes", "prompt_len")
_LABELLED_NAMING_FIELDS = ("driver_version", "cuda_runtime", "torch", "transformers", "bitsandbytes", "prompt_len")


def compose_verdict(c: Comparison) -> str:
    """A few sentences with numbers: what changed, by how much, whether beyond noise, and why."""
    if c.identical:
        return "Both sides are the same trace: no differences."
    sentences = _setup_sentences(c)
    if not any(p.wall_ms.significant or p.gpu_busy_ms.significant for p in c.phases.values()):
        parts = [
            f"{p.phase} wall {_pct(p.wall_ms.change)} (noise threshold +/-{p.wall_ms.threshold_ms:.2f} ms), GPU busy {_pct(p.gpu_busy_ms.change)}"
            for p in c.phases.values()
        ]
        sentences.append("No significant difference: " + "; ".join(parts) + ".")
        return " ".join(sentences)
    names = _side_names(c)
    for name in ("decode", "prefill", *[p for p in c.phases if p not in ("decode", "prefill")]):
        if name in c.phases:
            sentences.append(_phase_sentence(c, c.phases[name], names))
    return " ".join(s for s in sentences if s)


def _setup_sentences(c: Comparison) -> list[str]:
    """What differs in the workload (and whether to compare per token), then in the rest of the set-up."""
    sentences = []
    setup = [f"{f.label} {_fmt(f.baseline, f.name)} vs {_fmt(f.candidate, f.name)}" for f in c.setup_diff if f.kind != "workload"]
    if c.workload_differences:
        per_token = any(p.baseline_tokens_per_step != p.candidate_tokens_per_step for p in c.phases.values())
        fields = [f"{f.label} {f.baseline} vs {f.candidate}" for f in c.setup_diff if f.kind == "workload"]
        sentences.append(
            "Workload differs ("
            + "; ".join(fields)
            + ")"
            + (": a step does not produce the same number of tokens on both sides, so compare per token." if per_token else ".")
        )
    if setup:
        sentences.append("Set-up differs: " + "; ".join(setup) + ".")
    return sentences


def _side_names(c: Comparison) -> tuple[str, str]:
    """What to call the two sides in prose: the values of the first set-up field that differs."""
    by_name = {f.name: f for f in c.setup_diff}
    for name in _NAMING_FIELDS:
        f = by_name.get(name)
        if f is not None:
            if name == "batch_size":
                return f"batch {f.baseline}", f"batch {f.candidate}"
            if name in _LABELLED_NAMING_FIELDS:
                return f"{f.label} {f.baseline}", f"{f.label} {f.candidate}"
            return str(f.baseline), str(f.candidate)
    return "the baseline", "the candidate"


def _phase_sentence(c: Comparison, p: PhaseComparison, names: tuple[str, str]) -> str:
    w, g = p.wall_ms, p.gpu_busy_ms
    cand_name = names[1]
    if not w.significant and not g.significant:
        return f"{p.phase.capitalize()}: no significant change (wall {_pct(w.change)}, GPU busy {_pct(g.change)})."
    if p.baseline_tokens_per_step != p.candidate_tokens_per_step and w.baseline_per_token_ms and w.candidate_per_token_ms:
        text = _per_token_sentence(p)
    elif w.significant:
        text = _wall_sentence(c, p, names)
    else:
        text = _gpu_only_sentence(p, cand_name)
    return text[0].upper() + text[1:] + "." if not text.startswith(cand_name) else text + "."


def _gpu_only_sentence(p: PhaseComparison, cand_name: str) -> str:
    """GPU time changed beyond noise, wall time did not."""
    w, g = p.wall_ms, p.gpu_busy_ms
    direction = "less" if g.delta_ms < 0 else "more"
    bound = p.baseline_bound or "host"
    return (
        f"in {p.phase}, GPU time {_pct(g.change)} with {cand_name} ({g.baseline:.2f} -> {g.candidate:.2f} ms per step{_category_drivers(p)}), "
        f"but wall time is unchanged within noise ({w.baseline:.1f} -> {w.candidate:.1f} ms, {_pct(w.change)}): the step is {bound_words(bound)} "
        f"(GPU idle {_counter(p, 'idle_fraction').baseline:.0%}), so {direction} GPU work does not show"
    )


def _per_token_sentence(p: PhaseComparison) -> str:
    w, g = p.wall_ms, p.gpu_busy_ms
    assert w.baseline_per_token_ms and w.candidate_per_token_ms, "called when both sides have per-token times"
    ratio = w.candidate_per_token_ms / w.baseline_per_token_ms
    text = (
        f"{p.phase} per token: {w.baseline_per_token_ms:.3g} -> {w.candidate_per_token_ms:.3g} ms ({_times(ratio)}), "
        f"because a step carries {p.baseline_tokens_per_step} vs {p.candidate_tokens_per_step} tokens while the step's wall time goes "
        f"{w.baseline:.1f} -> {w.candidate:.1f} ms ({_pct(w.change)}, {_sig(w)}) and its GPU busy time {g.baseline:.2f} -> {g.candidate:.2f} ms "
        f"({_pct(g.change)}, {_sig(g)})"
    )
    idle = _counter(p, "idle_fraction")
    if p.candidate_bound in ("host", "sync"):
        text += (
            f"; the step is {p.candidate_bound}-bound (GPU idle {idle.baseline:.0%} -> {idle.candidate:.0%}), so extra tokens per step cost little wall time "
            "until the GPU, not the host, becomes the limit"
        )
    elif p.baseline_bound in ("host", "sync"):
        text += (
            f"; the larger step turns it from {p.baseline_bound}-bound (GPU idle {idle.baseline:.0%}) "
            f"into {p.candidate_bound}-bound (GPU idle {idle.candidate:.0%}): "
            "the GPU is now the limit, so the per-token gain shrinks from here"
        )
    return text


def _wall_sentence(c: Comparison, p: PhaseComparison, names: tuple[str, str]) -> str:
    """Wall time changed beyond noise: by how much, then syncs, then where it comes from (GPU or host)."""
    w = p.wall_ms
    base_name, cand_name = names
    ratio = w.candidate / w.baseline if w.baseline else float("nan")
    parts = [
        f"in {p.phase}, {cand_name} is {_times(ratio)} than {base_name}: wall {w.baseline:.1f} -> {w.candidate:.1f} ms per step "
        f"({_pct(w.change)}, beyond the +/-{w.threshold_ms:.2f} ms noise)"
    ]
    parts += _sync_clause(p)
    parts += _gpu_clauses(p, ratio, names) if p.gpu_busy_ms.significant else _host_clauses(c, p)
    return "; ".join(parts)


def _sync_clause(p: PhaseComparison) -> list[str]:
    """The change in synchronizations and device-to-host copies per step, when large, and who issues them."""
    syncs, d2h = _counter(p, "sync_calls"), _counter(p, "d2h_copies")
    if abs(d2h.delta) >= SYNC_CHANGE_MIN or abs(syncs.delta) >= SYNC_CHANGE_MIN:
        issuers = p.candidate_sync_issuers if syncs.delta > 0 else p.baseline_sync_issuers
        source = f" from {_issuer_text(issuers[0])}" if issuers else ""
        return [f"{d2h.delta:+.0f} device-to-host copies and {syncs.delta:+.0f} synchronizations per step{source}{_linear_host(p)}"]
    return []


def _gpu_clauses(p: PhaseComparison, ratio: float, names: tuple[str, str]) -> list[str]:
    """GPU busy time changed too: whether it explains the wall-time change or the host does."""
    g = p.gpu_busy_ms
    gr = g.candidate / g.baseline if g.baseline else float("nan")
    busy = f"GPU busy {g.baseline:.2f} -> {g.candidate:.2f} ms"
    if (ratio > 1) != (gr > 1):
        return [f"{busy} ({_times(gr)}{_category_drivers(p)}), so the wall-time change comes from the host: {_host_shift(p)}"]
    only = abs(math.log(ratio)) > 1.5 * abs(math.log(gr))
    parts = [f"{busy}, only {_times(gr)}{_category_drivers(p)}" if only else f"{busy} ({_times(gr)}{_category_drivers(p)})"]
    who, bound = (names[1], p.candidate_bound) if ratio > 1 else (names[0], p.baseline_bound)
    if bound in ("host", "sync"):
        if only:
            parts.append(f"the wall time moves more than the GPU time because the {who} step is {bound}-bound ({_host_shift(p)})")
        else:
            parts.append(f"host work changes too: the {who} step is {bound}-bound ({_host_shift(p)})")
    elif bound:
        parts.append(f"the {who} step is {bound}-bound, so its wall time follows its GPU time")
    return parts


def _host_clauses(c: Comparison, p: PhaseComparison) -> list[str]:
    """GPU busy time is unchanged: the difference is on the host (and may be run-to-run noise)."""
    parts = [
        f"GPU busy is unchanged within noise ({_pct(p.gpu_busy_ms.change)}{_category_drivers(p, min_share=0.02)}), so the difference is on the "
        f"host{_host_detail(p)}"
    ]
    if c.baseline.repeats == 0 and c.candidate.repeats == 0:
        parts.append("with one trace per configuration, run-to-run host variation cannot be ruled out: confirm with a repeated run (--baseline-rep)")
    return parts


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
        gemm = [r for r in p.categories if r.category in GEMM_CATEGORIES]
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


_BOUND_WORDS = {"host": "host/launch-bound", "overhead": "kernel-overhead-bound", "underutilized": "GPU-busy but underutilized", "gpu": "GPU-bound"}


def bound_words(bound: str) -> str:
    """A verdict's bound in words: 'memory' -> 'memory-bound', 'overhead' -> 'kernel-overhead-bound'."""
    return _BOUND_WORDS.get(bound, f"{bound}-bound")


def _fmt(v, name: str = "") -> str:
    if v is None:
        return "unknown"
    if name.endswith("_bytes") and isinstance(v, (int, float)):
        return f"{v / 1e9:.1f} GB"
    return str(v)
