"""The comparison itself: `compare_traces` for one baseline and one candidate configuration, and
`compare_paths`, the front ends' entry point, for trace files and run folders (pairing configurations
and pooling repeats)."""

from __future__ import annotations

from collections.abc import Iterable

from profkit.analyses.compare.inputs import _Entry, expand_input, expand_inputs, pair_entries
from profkit.analyses.compare.model import K_SIGMA, REL_FLOOR, CompareReport, Comparison, Side, SideInput, SideSummary
from profkit.analyses.compare.phase import compare_phase
from profkit.analyses.compare.setup import same_setup, setup_fields, workload_differences
from profkit.analyses.compare.sides import check_comparable, load_side, resolved_path, trace_analysis
from profkit.analyses.compare.verdict import compose_verdict
from profkit.analyses.summary import TraceAnalysis
from profkit.analyses.workload import describe_workload
from profkit.errors import ProfkitError, option
from profkit.trace.model import Trace

_REPEAT_NOTE = (
    "the candidate has the baseline's exact set-up: this comparison is the run-to-run noise floor; it is pooled into the baseline for the other candidates"
)


def compare_traces(baseline: SideInput | list, candidate: SideInput | list, k_sigma: float = K_SIGMA, rel_floor: float = REL_FLOOR) -> Comparison:
    """Compare two configurations. Each side: a trace path, Trace, TraceAnalysis, (Trace, TraceAnalysis),
    a Side, or a list of those for repeated traces of one configuration (they pool into the noise)."""
    base, cand = load_side(baseline), load_side(candidate)
    check_comparable(base, cand)
    identical = sorted(map(resolved_path, base.paths)) == sorted(map(resolved_path, cand.paths))
    setup = setup_fields(base, cand)
    workload_diffs = workload_differences(base.workload, cand.workload)
    common, notes = _common_phases(base, cand)
    phases = {p: compare_phase(p, base, cand, k_sigma, rel_floor) for p in common}
    comparison = Comparison(
        baseline=SideSummary(base.label, base.paths, len(base.traces) - 1, base.workload),
        candidate=SideSummary(cand.label, cand.paths, len(cand.traces) - 1, cand.workload),
        setup=setup,
        workload_differences=workload_diffs,
        phases=phases,
        verdict="",
        identical=identical,
        notes=notes,
    )
    comparison.verdict = compose_verdict(comparison)
    return comparison


def _common_phases(base: Side, cand: Side) -> tuple[list[str], list[str]]:
    """The phases every trace on both sides has (in the baseline's order), and notes on the others."""
    common = [p for p in base.analyses[0].phases if all(p in a.phases for a in base.analyses + cand.analyses)]
    notes = []
    for side_name, side in (("baseline", base), ("candidate", cand)):
        extra = sorted({p for a in side.analyses for p in a.phases} - set(common))
        if extra:
            notes.append(f"phase(s) {', '.join(extra)} only in the {side_name}: not compared")
    return common, notes


def compare_paths(baseline, candidates: Iterable, baseline_reps: Iterable = (), k_sigma: float | None = None, rel_floor: float | None = None) -> CompareReport:
    """The front ends' entry point: compare a baseline (trace file or run folder) with candidates.

    Run folder vs run folder: configurations pair by (precision, batch, prompt length, mode).
    `baseline_reps`: repeated traces of the baseline configuration(s), pooled into its noise.
    A candidate with exactly the baseline's set-up is treated as a repeat: it is compared with the
    baseline on its own (the noise floor) and pooled into the baseline for the other candidates.
    `k_sigma`, `rel_floor`: the significance test (None: K_SIGMA, REL_FLOOR).
    """
    k_sigma, rel_floor = _significance_test(k_sigma, rel_floor)
    base_entries, notes = expand_input(baseline)
    rep_entries, rep_notes = expand_inputs(baseline_reps)
    cand_entries, cand_notes = expand_inputs(candidates)
    notes += rep_notes + cand_notes
    if not cand_entries:
        raise ProfkitError("give at least one candidate to compare with the baseline")
    traces = _LoadedTraces()
    pairing = pair_entries(base_entries, rep_entries, cand_entries, traces.workload_key)
    notes += pairing.notes
    comparisons = []
    for i, base_entry in enumerate(base_entries):
        if i in pairing.candidates:
            comparisons += _compare_configuration(base_entry, pairing.reps[i], pairing.candidates[i], traces, k_sigma, rel_floor)
    if not comparisons:
        raise ProfkitError("nothing to compare: no candidate configuration matches a baseline configuration (" + "; ".join(pairing.unpaired) + ")")
    return CompareReport(comparisons, pairing.unpaired, notes, k_sigma, rel_floor)


def _significance_test(k_sigma: float | None, rel_floor: float | None) -> tuple[float, float]:
    """(k_sigma, rel_floor) with the defaults filled in, checked."""
    k_sigma = K_SIGMA if k_sigma is None else k_sigma
    rel_floor = REL_FLOOR if rel_floor is None else rel_floor
    if not k_sigma > 0:
        raise ProfkitError(f"{option('k_sigma')} must be a positive number, got {k_sigma}")
    if not 0 <= rel_floor < 1:
        raise ProfkitError(f"{option('rel_floor')} must be a fraction in [0, 1), got {rel_floor}")
    return k_sigma, rel_floor


class _LoadedTraces:
    """Each trace file loaded and analysed once (by resolved path), whichever inputs name it."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[Trace, TraceAnalysis]] = {}

    def __call__(self, entry: _Entry) -> tuple[Trace, TraceAnalysis]:
        from profkit.trace import load_trace

        key = resolved_path(str(entry.path))
        if key not in self._loaded:
            trace = load_trace(entry.path)
            if trace.manifest is None and entry.manifest:
                # A trace of a run folder that does not embed its manifest (older capture, or copied in):
                # the folder's manifest.json says how it was taken. In memory only; the file is untouched.
                trace.metadata["profkit_manifest"] = entry.manifest
            self._loaded[key] = (trace, trace_analysis(trace))
        return self._loaded[key]

    def workload_key(self, entry: _Entry) -> tuple:
        """(precision, batch, prompt length, mode): from the run manifest, else read from the trace."""
        return entry.key if entry.key is not None else describe_workload(*self(entry)).key()


def _compare_configuration(
    base_entry: _Entry, reps: list[_Entry], candidates: list[_Entry], load: _LoadedTraces, k_sigma: float, rel_floor: float
) -> list[Comparison]:
    """One baseline configuration against its candidates: those with its exact set-up first, as repeats
    (the noise floor), then the others against the baseline pooled with its repeats."""
    base_pair = load(base_entry)
    explicit = [load(e) for e in reps]
    repeats: list[tuple[Trace, TraceAnalysis]] = []
    others: list[tuple[Trace, TraceAnalysis]] = []
    for e in candidates:
        cand_pair = load(e)
        same_file = resolved_path(str(e.path)) == resolved_path(str(base_entry.path))
        (repeats if not same_file and same_setup(base_pair, cand_pair) else others).append(cand_pair)
    comparisons = []
    for rep in repeats:
        comp = compare_traces([base_pair, *explicit], rep, k_sigma, rel_floor)
        comp.kind = "repeat"
        comp.notes.append(_REPEAT_NOTE)
        comparisons.append(comp)
    pooled = [base_pair, *explicit, *repeats]
    comparisons += [compare_traces(pooled, cand_pair, k_sigma, rel_floor) for cand_pair in others]
    return comparisons
