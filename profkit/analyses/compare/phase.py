"""One phase (prefill, decode, ...) compared: step wall and GPU busy time with their significance,
per-step counters, aligned categories and operations, and notes on how far to trust them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from profkit.analyses.compare.alignment import category_rows, op_rows, ranked, side_tables
from profkit.analyses.compare.model import CounterChange, MetricChange, PhaseComparison, Side
from profkit.analyses.compare.significance import metric_change
from profkit.analyses.workload import Workload

_COUNTERS = (
    ("kernels", "kernels"),
    ("sync_calls", "synchronizations"),
    ("d2h_copies", "device-to-host copies"),
    ("graph_launches", "CUDA graph launches"),
    ("launch_api_ms", "host ms in launch calls"),
    ("sync_wait_ms", "host ms blocked in syncs"),
    ("idle_fraction", "GPU idle fraction"),
)


def compare_phase(phase: str, base: Side, cand: Side, k_sigma: float, rel_floor: float) -> PhaseComparison:
    """`phase` of the two sides compared (the significance test: `k_sigma`, `rel_floor`)."""
    tokens = (_side_tokens(base, phase), _side_tokens(cand, phase))
    wall = metric_change(phase, "wall_ms", base, cand, k_sigma, rel_floor, tokens)
    busy = metric_change(phase, "gpu_busy_ms", base, cand, k_sigma, rel_floor, tokens)
    tb, cb, nb = side_tables(base, phase)
    tc, cc, nc = side_tables(cand, phase)
    walls = (wall.baseline, wall.candidate)
    ops = op_rows(tb, nb, tc, nc, walls, tokens)
    notes = _phase_notes(phase, base, cand, wall)
    return PhaseComparison(
        phase=phase,
        wall_ms=wall,
        gpu_busy_ms=busy,
        baseline_tokens_per_step=tokens[0],
        candidate_tokens_per_step=tokens[1],
        baseline_bound=base.analyses[0].phases[phase].verdict.bound,
        candidate_bound=cand.analyses[0].phases[phase].verdict.bound,
        counters=_counters(phase, base, cand),
        categories=category_rows(cb, nb, cc, nc, walls, tokens),
        ops=ops,
        regressions=ranked(ops, "delta_ms", busy.baseline, +1),
        improvements=ranked(ops, "delta_ms", busy.baseline, -1),
        host_regressions=ranked(ops, "delta_host_ms", wall.baseline, +1),
        host_improvements=ranked(ops, "delta_host_ms", wall.baseline, -1),
        baseline_sync_issuers=_sync_issuers(base, phase),
        candidate_sync_issuers=_sync_issuers(cand, phase),
        notes=notes,
    )


def _side_tokens(side: Side, phase: str) -> int | None:
    """Tokens per step of a side's phase: as a serving engine annotated its steps, else from the workload."""
    annotated = side.analyses[0].phases[phase].stats.tokens_per_step
    return int(round(annotated)) if annotated is not None else tokens_per_step(side.workload, phase)


def tokens_per_step(workload: Workload, phase: str) -> int | None:
    """Tokens a step of `phase` produces (prefill: the whole prompt of every sequence); None when unknown."""
    if workload.batch_size is None:
        return None
    if phase == "prefill":
        return workload.batch_size * workload.prompt_len if workload.prompt_len else None
    return workload.batch_size


def _phase_notes(phase: str, base: Side, cand: Side, wall: MetricChange) -> list[str]:
    """Borrowed noise, outlier steps left out, CUDA graph replays aligned by kernel name."""
    notes = []
    if wall.spread_borrowed:
        notes.append(
            f"{phase} has one step per trace: its noise is borrowed from the decode steps' relative spread; repeat runs (--baseline-rep) make it firmer"
        )
    for side_name, side in (("baseline", base), ("candidate", cand)):
        for analysis in side.analyses:
            for step in analysis.steps:
                if step.phase == phase and step.outlier:
                    notes.append(f"{side_name} {Path(analysis.metadata.path).name} {step.name} left out of the steady state: {step.outlier_reason}")
    if any(float(a.phases[phase].stats.graph_launches) for a in base.analyses + cand.analyses):
        notes.append("kernels replayed from CUDA graphs carry no launching op or shapes: they are aligned by kernel name")
    return notes


def _counters(phase: str, base: Side, cand: Side) -> list[CounterChange]:
    out = []
    for name, label in _COUNTERS:
        x = float(np.mean([getattr(a.phases[phase].stats, name) for a in base.analyses]))
        y = float(np.mean([getattr(a.phases[phase].stats, name) for a in cand.analyses]))
        out.append(CounterChange(name, label, x, y, y - x))
    return out


def _sync_issuers(side: Side, phase: str) -> list[str]:
    causes = side.analyses[0].phases[phase].causes
    return [f"{i.op_path}: {i.per_step:.0f} per step" for i in causes.sync_issuers] if causes else []
