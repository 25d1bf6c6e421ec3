"""A `CompareReport` as plain JSON-ready data: the `profkit compare --json` document (schema
`profkit.compare/1`, docs/compare-json.md), and the rows of its DataFrame."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from profkit.analyses.compare.model import CompareReport, Comparison, PhaseComparison

SCHEMA = "profkit.compare/1"
SIGNIFICANCE_RULE = (
    "significant when |candidate - baseline| > max(k_sigma * noise, rel_floor * baseline); noise^2 = se_b^2 + se_c^2 "
    "+ run_to_run^2 * (1/r_b + 1/r_c), se = 1.2533 * robust step spread / sqrt(steps) (the spread itself for one step, "
    "then borrowed from the decode steps' relative spread), run_to_run = spread of per-trace medians of repeats"
)


def report_to_dict(report: CompareReport) -> dict:
    return {
        "schema": SCHEMA,
        "significance": {"k_sigma": report.k_sigma, "rel_floor": report.rel_floor, "rule": SIGNIFICANCE_RULE},
        "comparisons": [comparison_to_dict(c) for c in report.comparisons],
        "unpaired": list(report.unpaired),
        "notes": list(report.notes),
    }


def comparison_to_dict(c: Comparison) -> dict:
    return {
        "kind": c.kind,
        "identical": c.identical,
        "baseline": _side(c.baseline),
        "candidate": _side(c.candidate),
        "setup": [{"field": f.name, "label": f.label, "kind": f.kind, "baseline": f.baseline, "candidate": f.candidate, "differs": f.differs} for f in c.setup],
        "setup_diff": [{"field": f.name, "label": f.label, "kind": f.kind, "baseline": f.baseline, "candidate": f.candidate} for f in c.setup_diff],
        "workload_differences": list(c.workload_differences),
        "phases": {name: _phase(p) for name, p in c.phases.items()},
        "verdict": c.verdict,
        "notes": list(c.notes),
    }


def _side(s) -> dict:
    w = s.workload
    return {
        "label": s.label,
        "paths": list(s.paths),
        "repeats": s.repeats,
        "workload": {
            "precision": w.precision,
            "batch_size": w.batch_size,
            "prompt_len": w.prompt_len,
            "mode": w.mode,
            "model_hint": w.model_hint,
            "source": w.source,
            "model": asdict(w.model),
            "evidence": dict(w.evidence),
        },
    }


def _phase(p: PhaseComparison) -> dict:
    return {
        "wall_ms": asdict(p.wall_ms),
        "gpu_busy_ms": asdict(p.gpu_busy_ms),
        "tokens_per_step": {"baseline": p.baseline_tokens_per_step, "candidate": p.candidate_tokens_per_step},
        "bound": {"baseline": p.baseline_bound, "candidate": p.candidate_bound},
        "counters": [asdict(x) for x in p.counters],
        "categories": [asdict(r) for r in p.categories],
        "ops": [asdict(r) for r in p.ops],
        "regressions": [asdict(r) for r in p.regressions],
        "improvements": [asdict(r) for r in p.improvements],
        "host_regressions": [asdict(r) for r in p.host_regressions],
        "host_improvements": [asdict(r) for r in p.host_improvements],
        "sync_issuers": {"baseline": list(p.baseline_sync_issuers), "candidate": list(p.candidate_sync_issuers)},
        "notes": list(p.notes),
    }


def change_records(report: CompareReport) -> list[dict]:
    """One record per comparison, phase and metric (wall, GPU busy): both medians, the change and
    whether it is beyond noise."""
    rows = []
    for c in report.comparisons:
        for name, p in c.phases.items():
            for m in (p.wall_ms, p.gpu_busy_ms):
                rows.append(
                    {
                        "baseline": c.baseline.label,
                        "candidate": c.candidate.label,
                        "kind": c.kind,
                        "phase": name,
                        "metric": m.metric,
                        "baseline_ms": m.baseline,
                        "candidate_ms": m.candidate,
                        "delta_ms": m.delta_ms,
                        "change": m.change,
                        "significant": m.significant,
                        "threshold_ms": m.threshold_ms,
                        "noise_ms": m.noise_ms,
                        "baseline_per_token_ms": m.baseline_per_token_ms,
                        "candidate_per_token_ms": m.candidate_per_token_ms,
                        "baseline_bound": p.baseline_bound,
                        "candidate_bound": p.candidate_bound,
                    }
                )
    return rows
