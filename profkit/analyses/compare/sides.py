"""A comparison side (one configuration's trace(s) and their analyses) from whatever the caller holds
(paths, Trace, TraceAnalysis, (Trace, TraceAnalysis) pairs), checked to be comparable."""

from __future__ import annotations

from pathlib import Path

from profkit.analyses.compare.model import Side, SideInput
from profkit.analyses.compare.setup import workload_differences
from profkit.analyses.summary import TraceAnalysis, analyze_trace
from profkit.analyses.workload import describe_workload
from profkit.errors import ProfkitError, TraceError
from profkit.trace.model import Trace


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
        return x[0], x[1] if x[1] is not None else trace_analysis(x[0])
    if isinstance(x, Trace):
        return x, trace_analysis(x)
    if isinstance(x, TraceAnalysis):
        return load_trace(x.metadata.path), x
    if isinstance(x, (str, Path)):
        trace = load_trace(x)
        return trace, trace_analysis(trace)
    raise ProfkitError(f"cannot compare a {type(x).__name__}: give a trace path, a Trace or a TraceAnalysis")


def trace_analysis(trace: Trace) -> TraceAnalysis:
    """`analyze_trace(trace)`, computed once per Trace object."""
    if "analysis" not in trace.memo:
        trace.memo["analysis"] = analyze_trace(trace)
    return trace.memo["analysis"]


def _check_side(side: Side) -> None:
    for trace, analysis in zip(side.traces, side.analyses):
        _check_comparable_trace(trace, analysis)
    _check_repeats(side)


def _check_comparable_trace(trace: Trace, analysis: TraceAnalysis) -> None:
    """A trace needs GPU activity and steps to have a steady state to compare."""
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


def _check_repeats(side: Side) -> None:
    """The traces after the first must repeat its configuration."""
    for trace, analysis in zip(side.traces[1:], side.analyses[1:]):
        diffs = workload_differences(side.workload, describe_workload(trace, analysis))
        if diffs:
            raise ProfkitError(
                f"{trace.path} is given as a repeat of {side.traces[0].path} but is not the same configuration "
                f"({'; '.join(diffs)}); give it as a candidate instead"
            )


def check_comparable(base: Side, cand: Side) -> None:
    """The two sides must be runs of the same model with at least one phase in common."""
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


def resolved_path(path: str) -> str:
    """The path made absolute with links resolved (the path itself when that fails)."""
    try:
        return str(Path(path).resolve())
    except OSError:
        return path
