"""The data a comparison returns: the two sides, set-up facts side by side, per-phase metric changes
with their significance, aligned category and operation rows, and the report. Times are in ms per
step unless a name says otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from profkit.analyses.summary import TraceAnalysis
from profkit.analyses.workload import Workload
from profkit.trace.model import Trace

K_SIGMA = 2.0
"""A change is significant beyond K_SIGMA times the combined noise of the two medians (about 95%)."""
REL_FLOOR = 0.03
"""... and beyond this fraction of the baseline: smaller changes are never called significant."""

SideInput = Union[str, Path, Trace, TraceAnalysis, "tuple[Trace, TraceAnalysis]", "Side"]

_TRACE_SUFFIXES = (".pt.trace.json.gz", ".pt.trace.json", ".json.gz", ".json")


@dataclass
class Side:
    """One configuration: its trace(s) (the first, plus repeats of the same set-up) and analyses."""

    traces: list[Trace]
    analyses: list[TraceAnalysis]
    workload: Workload

    @property
    def paths(self) -> list[str]:
        return [t.path for t in self.traces]

    @property
    def label(self) -> str:
        repeats = len(self.traces) - 1
        return _trace_label(self.traces[0]) + (f" (+{repeats} repeat{'s' if repeats > 1 else ''})" if repeats else "")


def _trace_label(trace: Trace) -> str:
    """'run_id/config name' from the trace's run manifest, else its file name without the trace suffix."""
    manifest = trace.manifest or {}
    config = c if isinstance(c := manifest.get("config"), dict) else {}
    if manifest.get("run_id") and config.get("name"):
        return f"{manifest['run_id']}/{config['name']}"
    name = Path(trace.path).name
    for suffix in _TRACE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class SideSummary:
    label: str
    paths: list[str]
    repeats: int  # traces beyond the first
    workload: Workload


@dataclass
class SetupField:
    """One set-up fact side by side. `differs`: both known and unequal."""

    name: str
    label: str
    kind: str  # "workload", "model", "hardware" or "software"
    baseline: Any
    candidate: Any
    differs: bool


@dataclass
class MetricChange:
    """Median of a per-step metric (ms) on both sides, the change and whether it is beyond noise."""

    metric: str  # "wall_ms" or "gpu_busy_ms"
    baseline: float
    candidate: float
    delta_ms: float
    change: float | None  # candidate / baseline - 1
    significant: bool
    threshold_ms: float  # |delta| must exceed this
    noise_ms: float  # combined standard error of the two medians (incl. run-to-run when known)
    baseline_spread_ms: float  # robust step-to-step sigma
    candidate_spread_ms: float
    baseline_steps: int
    candidate_steps: int
    run_to_run_ms: float | None  # spread of per-trace medians of repeats; None without repeats
    spread_borrowed: bool  # single-step phase: spread borrowed from the decode steps
    baseline_per_token_ms: float | None
    candidate_per_token_ms: float | None
    per_token_change: float | None
    reason: str
    baseline_values: list[float] = field(default_factory=list)
    candidate_values: list[float] = field(default_factory=list)


@dataclass
class CounterChange:
    """A per-step count or host time (median over steady steps; mean over repeats)."""

    name: str
    label: str
    baseline: float
    candidate: float
    delta: float


@dataclass
class DiffRow:
    """One category or operation, per step, on both sides. Times in ms per step."""

    key: str
    label: str
    category: str  # dominant kernel category (category rows: the category itself; "host" when no GPU work)
    match: str  # "category", "exact", "semantic", "kernel name", "baseline only", "candidate only"
    baseline_ms: float  # GPU time (sum of activity durations) per step
    candidate_ms: float
    delta_ms: float
    change: float | None
    baseline_count: float  # GPU activities per step (op rows: also calls_per_step)
    candidate_count: float
    baseline_share: float  # of the side's step wall time
    candidate_share: float
    delta_share: float  # delta_ms / baseline step wall time
    baseline_per_token_ms: float | None = None
    candidate_per_token_ms: float | None = None
    baseline_host_ms: float = 0.0  # host time of the calls (inclusive, on the calling thread) per step
    candidate_host_ms: float = 0.0
    delta_host_ms: float = 0.0
    baseline_calls: float = 0.0  # op calls per step
    candidate_calls: float = 0.0
    baseline_op: str = ""  # most time-consuming launching op path and its input shapes
    candidate_op: str = ""
    baseline_kernel: str = ""  # longest-running kernel name
    candidate_kernel: str = ""


@dataclass
class PhaseComparison:
    phase: str
    wall_ms: MetricChange
    gpu_busy_ms: MetricChange
    baseline_tokens_per_step: int | None
    candidate_tokens_per_step: int | None
    baseline_bound: str | None  # host / sync / memory / compute, from each side's verdict
    candidate_bound: str | None
    counters: list[CounterChange]
    categories: list[DiffRow]
    ops: list[DiffRow]
    regressions: list[DiffRow]  # op rows by GPU time, largest increase first
    improvements: list[DiffRow]
    host_regressions: list[DiffRow]  # op rows by host time
    host_improvements: list[DiffRow]
    baseline_sync_issuers: list[str] = field(default_factory=list)  # "op path -> call: N per step"
    candidate_sync_issuers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    baseline: SideSummary
    candidate: SideSummary
    setup: list[SetupField]
    workload_differences: list[str]  # e.g. "batch differs: 1 vs 16"
    phases: dict[str, PhaseComparison]
    verdict: str
    identical: bool  # the same trace file(s) on both sides
    kind: str = "comparison"  # or "repeat": the candidate repeats the baseline's set-up
    notes: list[str] = field(default_factory=list)

    @property
    def setup_diff(self) -> list[SetupField]:
        return [f for f in self.setup if f.differs]


@dataclass
class CompareReport:
    """Everything `profkit compare` shows: one Comparison per (baseline, candidate) pair."""

    comparisons: list[Comparison]
    unpaired: list[str] = field(default_factory=list)  # configurations with no partner
    notes: list[str] = field(default_factory=list)
    k_sigma: float = K_SIGMA  # the significance test used
    rel_floor: float = REL_FLOOR

    def to_dict(self) -> dict:
        """Plain JSON-ready data: the `profkit compare --json` document (docs/compare-json.md)."""
        from profkit.analyses.compare.document import report_to_dict

        return report_to_dict(self)

    def to_frame(self):
        """The step-time changes as a pandas DataFrame: one row per comparison, phase and metric (wall,
        GPU busy) with both medians, the change, and whether it is beyond noise."""
        from profkit.analyses.compare.document import change_records
        from profkit.frames import records_frame

        return records_frame(change_records(self))
