"""Compare a baseline configuration with a candidate: what changed in the set-up, whether the
steady-state step got faster or slower beyond noise, where (kernel categories and operations,
aligned by what they do), and a verdict.

Modules, in the order the data flows:

- `inputs`: trace files and run folders expanded to trace entries; candidates and repeats paired
  with their baseline configuration.
- `sides`: a Side (one configuration's traces and analyses) from paths or loaded traces, checked.
- `setup`: set-up facts (workload, model, hardware, software) side by side; `same_setup`.
- `significance`: the noise model and the significance rule, with its `reason` text.
- `attribution`: which call launched each GPU activity and what it computes (its alignment key).
- `alignment`: categories and operations aligned across the sides; regressions and improvements.
- `phase`: one phase compared (metrics, counters, rows, notes).
- `verdict`: the sentences of `compose_verdict`.
- `comparison`: `compare_traces` (one pair) and `compare_paths` (the front ends' entry point).
- `model`: the dataclasses returned, and the significance defaults K_SIGMA and REL_FLOOR.
"""

from profkit.analyses.compare.alignment import ROW_MIN_CHANGE, ROW_MIN_FRACTION, TOP_N
from profkit.analyses.compare.comparison import compare_paths, compare_traces
from profkit.analyses.compare.inputs import expand_input
from profkit.analyses.compare.model import (
    K_SIGMA,
    REL_FLOOR,
    CompareReport,
    Comparison,
    CounterChange,
    DiffRow,
    MetricChange,
    PhaseComparison,
    SetupField,
    Side,
    SideInput,
    SideSummary,
)
from profkit.analyses.compare.setup import same_setup, setup_facts
from profkit.analyses.compare.sides import load_side
from profkit.analyses.compare.significance import MEDIAN_SE_FACTOR
from profkit.analyses.compare.verdict import SYNC_CHANGE_MIN, compose_verdict

__all__ = [
    "K_SIGMA",
    "MEDIAN_SE_FACTOR",
    "REL_FLOOR",
    "ROW_MIN_CHANGE",
    "ROW_MIN_FRACTION",
    "SYNC_CHANGE_MIN",
    "TOP_N",
    "CompareReport",
    "Comparison",
    "CounterChange",
    "DiffRow",
    "MetricChange",
    "PhaseComparison",
    "SetupField",
    "Side",
    "SideInput",
    "SideSummary",
    "compare_paths",
    "compare_traces",
    "compose_verdict",
    "expand_input",
    "load_side",
    "same_setup",
    "setup_facts",
]
