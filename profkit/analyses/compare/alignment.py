"""Categories and operations of a phase aligned across the two sides, per step, and the top
regressions and improvements among them.

Each side's GPU activities in its steady steps are summed per call key (see `attribution`): rows
whose calls have the same op and input shapes on both sides are 'exact' matches, the others
'semantic'. Kernels replayed from CUDA graphs (no launching operation) align by kernel name.
Everything is per step (averaged over steady steps and repeats) and, where batch or prompt differ,
per token too.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses.compare.attribution import activity_op_rows, containers, graph_launched, launching_op, op_roots, root_categories, root_key
from profkit.analyses.compare.model import DiffRow, Side
from profkit.analyses.kernels import CATEGORIES, CATEGORY_LABELS, categorize
from profkit.analyses.steps import Step, gpu_rows_launched_in
from profkit.analyses.summary import TraceAnalysis
from profkit.trace.model import Trace

TOP_N = 8
"""Top regressions and improvements listed per phase."""
ROW_MIN_FRACTION = 0.01
"""An op row is a regression/improvement only if its change is at least this fraction of the
baseline phase's GPU busy time (host rows: of its wall time) and at least ROW_MIN_CHANGE relative."""
ROW_MIN_CHANGE = 0.02


@dataclass
class _Agg:
    label: str
    kind: str  # "linear"/"bmm"/"attention"/"op"/"kernel"
    gpu_ns: float = 0.0
    host_ns: float = 0.0
    activities: int = 0
    calls: int = 0
    category_ns: Counter = field(default_factory=Counter)
    kernel_ns: Counter = field(default_factory=Counter)
    op_ns: Counter = field(default_factory=Counter)  # launching op path + dims -> ns
    signatures: Counter = field(default_factory=Counter)  # exact: root op + input shapes (or kernel name)

    def merge(self, other: _Agg) -> None:
        self.gpu_ns += other.gpu_ns
        self.host_ns += other.host_ns
        self.activities += other.activities
        self.calls += other.calls
        for mine, theirs in (
            (self.category_ns, other.category_ns),
            (self.kernel_ns, other.kernel_ns),
            (self.op_ns, other.op_ns),
            (self.signatures, other.signatures),
        ):
            mine.update(theirs)

    def copy(self) -> _Agg:
        new = _Agg(self.label, self.kind)
        new.merge(self)
        return new


@dataclass
class _Activities:
    """The GPU activities launched inside some steps; per activity: its category index, duration,
    kernel name id, launching op row (< 0: none) and whether a CUDA graph replay issued it."""

    category: np.ndarray
    dur_ns: np.ndarray
    name_id: np.ndarray
    op_row: np.ndarray
    graph: np.ndarray


# ---- one side: op and category tables ------------------------------------------------------------------
def steady_steps(analysis: TraceAnalysis, phase: str) -> list[Step]:
    """The phase's steps without outliers (all of them when every step is an outlier)."""
    steps = [s for s in analysis.steps if s.phase == phase]
    return [s for s in steps if not s.outlier] or steps


def side_tables(side: Side, phase: str) -> tuple[dict[str, _Agg], dict[str, list], int]:
    """Op and category tables of a side summed over its traces, and the number of steps summed."""
    table: dict[str, _Agg] = {}
    categories: dict[str, list] = {}
    n_steps = 0
    for trace, analysis in zip(side.traces, side.analyses):
        steps = steady_steps(analysis, phase)
        n_steps += len(steps)
        t, c = _phase_table(trace, steps)
        for key, agg in t.items():
            if key in table:
                table[key].merge(agg)
            else:
                table[key] = agg.copy()
        for cat, (ns, count) in c.items():
            acc = categories.setdefault(cat, [0.0, 0])
            acc[0] += ns
            acc[1] += count
    return table, categories, max(n_steps, 1)


def _phase_table(trace: Trace, steps: list[Step]) -> tuple[dict[str, _Agg], dict[str, list]]:
    """Op rows (key -> _Agg, summed over `steps`) and category totals (category -> [ns, count])."""
    acts = _activities_in(trace, steps)
    by_root, loose = _by_call(trace, acts)
    table: dict[str, _Agg] = {}
    _add_calls(table, trace, acts, by_root, _calls_in(trace, steps))
    _add_loose_kernels(table, trace, acts, loose)
    return table, _category_totals(acts)


def _activities_in(trace: Trace, steps: list[Step]) -> _Activities:
    """The GPU activities whose launch falls inside one of `steps`."""
    rows = gpu_rows_launched_in(trace, steps)
    return _Activities(categorize(trace)[rows], trace.gpu.dur_ns[rows], trace.gpu.name_id[rows], activity_op_rows(trace)[rows], graph_launched(trace)[rows])


def _category_totals(acts: _Activities) -> dict[str, list]:
    categories = {}
    for i, c in enumerate(CATEGORIES):
        m = acts.category == i
        if m.any():
            categories[c] = [float(acts.dur_ns[m].sum()), int(m.sum())]
    return categories


def _by_call(trace: Trace, acts: _Activities) -> tuple[dict[int, list], list[int]]:
    """Activity indexes by the call (root op row) that launched them, and those with no launching call
    (CUDA graph replays, lost links)."""
    roots_all = op_roots(trace)
    by_root: dict[int, list] = defaultdict(list)
    loose: list[int] = []
    for i, (op_row, g) in enumerate(zip(acts.op_row.tolist(), acts.graph.tolist())):
        if op_row < 0 or g:
            loose.append(i)
        else:
            by_root[int(roots_all[op_row])].append(i)
    return by_root, loose


def _calls_in(trace: Trace, steps: list[Step]) -> set[int]:
    """Calls issued inside the steps (host time), including those with no GPU work; containers are
    left out (their children are calls of their own), so no host time counts twice."""
    roots_all = op_roots(trace)
    top = (roots_all == np.arange(len(roots_all))) & ~containers(trace)
    calls = set()
    for s in steps:
        lo, hi = np.searchsorted(trace.ops.ts_ns, [s.lo_ns, s.hi_ns])
        calls.update((np.flatnonzero(top[lo:hi]) + lo).tolist())
    return calls


def _add_calls(table: dict[str, _Agg], trace: Trace, acts: _Activities, by_root: dict[int, list], calls: set[int]) -> None:
    """Add each call (host time, signature) and the activities it launched to its key's row."""
    ops = trace.ops
    root_category = root_categories(trace)
    for root in calls | set(by_root):
        agg = _row_for(table, *root_key(trace, root, root_category.get(root, "host")))
        agg.calls += 1
        agg.host_ns += float(ops.dur_ns[root])
        agg.signatures[f"{trace.name(int(ops.name_id[root]))} {trace.name(int(ops.dims_id[root]))}".strip()] += 1
        for i in by_root.get(root, []):
            _add_activity(agg, trace, acts, i, launching_op(trace, int(acts.op_row[i])))


def _add_loose_kernels(table: dict[str, _Agg], trace: Trace, acts: _Activities, loose: list[int]) -> None:
    """Activities with no launching call get a row per (category, kernel name)."""
    for i in loose:
        cat = CATEGORIES[acts.category[i]]
        kname = trace.name(int(acts.name_id[i]))
        agg = _row_for(table, f"kernel:{cat}:{kname}", _short_kernel(kname), "kernel")
        agg.signatures[kname] += 1
        _add_activity(agg, trace, acts, i, "(CUDA graph replay)" if acts.graph[i] else "(no launching op)")


def _row_for(table: dict[str, _Agg], key: str, label: str, kind: str) -> _Agg:
    agg = table.get(key)
    if agg is None:
        agg = table[key] = _Agg(label, kind)
    return agg


def _add_activity(agg: _Agg, trace: Trace, acts: _Activities, i: int, launched_by: str) -> None:
    d = int(acts.dur_ns[i])
    agg.gpu_ns += d
    agg.activities += 1
    agg.category_ns[CATEGORIES[acts.category[i]]] += d
    agg.kernel_ns[trace.name(int(acts.name_id[i]))] += d
    agg.op_ns[launched_by] += d


def _short_kernel(name: str, limit: int = 80) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


# ---- both sides: aligned rows --------------------------------------------------------------------------
def category_rows(cb: dict, nb: int, cc: dict, nc: int, wall: tuple, tokens: tuple) -> list[DiffRow]:
    """One row per kernel category present on either side, largest first. `cb`/`cc`: category totals
    over `nb`/`nc` steps; `wall`: each side's step wall ms; `tokens`: tokens per step."""
    rows = []
    for cat in CATEGORIES:
        if cat not in cb and cat not in cc:
            continue
        b_ns, b_n = cb.get(cat, [0.0, 0])
        c_ns, c_n = cc.get(cat, [0.0, 0])
        rows.append(_row(cat, CATEGORY_LABELS[cat], cat, "category", b_ns / nb / 1e6, c_ns / nc / 1e6, b_n / nb, c_n / nc, wall, tokens))
    rows.sort(key=lambda r: -max(r.baseline_ms, r.candidate_ms))
    return rows


def op_rows(tb: dict[str, _Agg], nb: int, tc: dict[str, _Agg], nc: int, wall: tuple, tokens: tuple) -> list[DiffRow]:
    """One row per operation key on either side (op tables `tb`/`tc` over `nb`/`nc` steps), largest
    GPU or host time first. Kernels with no launching op whose names the other side does not share
    (graph replays on two vendors' GPUs) are pooled per category, so they still line up."""
    tb, tc = _pool_unshared_kernels(tb, tc)
    rows = [_op_row(key, tb.get(key), tc.get(key), nb, nc, wall, tokens) for key in list(tb) + [k for k in tc if k not in tb]]
    rows.sort(key=lambda r: -max(r.baseline_ms, r.candidate_ms, r.baseline_host_ms, r.candidate_host_ms))
    return rows


def _pool_unshared_kernels(tb: dict[str, _Agg], tc: dict[str, _Agg]) -> tuple[dict[str, _Agg], dict[str, _Agg]]:
    """Kernel-name rows found on one side only, merged into one row per category on each side."""

    def pooled(table: dict[str, _Agg], other: dict[str, _Agg]) -> dict[str, _Agg]:
        out: dict[str, _Agg] = {}
        for key, agg in table.items():
            if agg.kind == "kernel" and key not in other:
                category = key.split(":", 2)[1]
                pooled_key = f"kernels:{category}"
                if pooled_key not in out:
                    out[pooled_key] = _Agg(f"{CATEGORY_LABELS.get(category, category)} kernels with no launching op", "kernels")
                out[pooled_key].merge(agg)
            else:
                out[key] = agg
        return out

    return pooled(tb, tc), pooled(tc, tb)


def _op_row(key: str, a: _Agg | None, b: _Agg | None, nb: int, nc: int, wall: tuple, tokens: tuple) -> DiffRow:
    cat_ns = (a.category_ns if a else Counter()) + (b.category_ns if b else Counter())
    category = cat_ns.most_common(1)[0][0] if cat_ns else "host"
    named = a or b
    assert named is not None, "a row is on one side at least"
    row = _row(
        key,
        named.label,
        category,
        _match(a, b),
        a.gpu_ns / nb / 1e6 if a else 0.0,
        b.gpu_ns / nc / 1e6 if b else 0.0,
        a.activities / nb if a else 0.0,
        b.activities / nc if b else 0.0,
        wall,
        tokens,
    )
    row.baseline_host_ms = a.host_ns / nb / 1e6 if a else 0.0
    row.candidate_host_ms = b.host_ns / nc / 1e6 if b else 0.0
    row.delta_host_ms = row.candidate_host_ms - row.baseline_host_ms
    row.baseline_calls = a.calls / nb if a else 0.0
    row.candidate_calls = b.calls / nc if b else 0.0
    row.baseline_op = _most(a.op_ns) if a else ""
    row.candidate_op = _most(b.op_ns) if b else ""
    row.baseline_kernel = _most(a.kernel_ns) if a else ""
    row.candidate_kernel = _most(b.kernel_ns) if b else ""
    return row


def _match(a: _Agg | None, b: _Agg | None) -> str:
    if a is None or b is None:
        return "baseline only" if b is None else "candidate only"
    if a.kind == "kernel":
        return "kernel name"
    if a.kind == "kernels":
        return "category"
    return "exact" if set(a.signatures) == set(b.signatures) else "semantic"


def _most(counter: Counter) -> str:
    """The key with the largest total ('' when empty)."""
    return counter.most_common(1)[0][0] if counter else ""


def _row(key, label, category, match, b_ms, c_ms, b_count, c_count, wall, tokens) -> DiffRow:
    (wb, wc), (tb, tc) = wall, tokens
    delta = c_ms - b_ms
    return DiffRow(
        key=key,
        label=label,
        category=category,
        match=match,
        baseline_ms=b_ms,
        candidate_ms=c_ms,
        delta_ms=delta,
        change=(c_ms / b_ms - 1) if b_ms else None,
        baseline_count=b_count,
        candidate_count=c_count,
        baseline_share=b_ms / wb if wb else 0.0,
        candidate_share=c_ms / wc if wc else 0.0,
        delta_share=delta / wb if wb else 0.0,
        baseline_per_token_ms=b_ms / tb if tb else None,
        candidate_per_token_ms=c_ms / tc if tc else None,
    )


def ranked(rows: list[DiffRow], attr: str, base_attr_total: float, sign: int) -> list[DiffRow]:
    """The TOP_N rows whose `attr` ("delta_ms" or "delta_host_ms") moved most in the direction `sign`
    (+1: regressions, -1: improvements), keeping only changes that matter (ROW_MIN_FRACTION of
    `base_attr_total`, ROW_MIN_CHANGE relative)."""

    def change(r):
        before = getattr(r, "baseline_host_ms" if attr == "delta_host_ms" else "baseline_ms")
        return abs(getattr(r, attr)) / before if before else math.inf

    keep = [r for r in rows if sign * getattr(r, attr) > 0 and abs(getattr(r, attr)) >= ROW_MIN_FRACTION * base_attr_total and change(r) >= ROW_MIN_CHANGE]
    keep.sort(key=lambda r: -sign * getattr(r, attr))
    return keep[:TOP_N]
