"""Traces without GPU activity (a CPU run): where the operators spent the time, and the bytes their
GEMMs moved.

There are no kernels in such a trace: the work happens inside CPU operators. Each operator is
categorised as the kernel it would launch (`kernels.categorize_ops`: `aten::_weight_int8pack_mm` is
an int8 GEMM, `aten::mm` a 16-bit one, an int8-to-bf16 `aten::copy_` an int8 dequantize, ...).

- Time per category = the operators' self time (their duration less the operators they call),
  summed over the steps. Only time inside operators counts: Python between them and the C++ kernels
  Inductor generates (which the profiler does not record) are in the wall time, not here.
- Bytes per step = the GEMM and attention operators' bytes from their recorded shapes and dtypes
  (`bandwidth.op_bytes`, weights at their stored width), each call counted once at its innermost
  operator (`aten::linear > aten::matmul > aten::mm` is one GEMM, `aten::mm`).
- Achieved bandwidth is over wall time (there is no "GPU busy" time); MBU needs the CPU's memory
  bandwidth, which profkit does not know, so it is left unknown.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from profkit.analyses import bandwidth
from profkit.analyses.kernels import ATTENTION, CATEGORIES, CATEGORY_LABELS, GEMM_CATEGORIES, CategoryRow, KernelBreakdown, TopKernel, categorize_ops, op_path
from profkit.analyses.steps import Step
from profkit.trace.model import Trace

_GEMM_IDXS = frozenset(CATEGORIES.index(c) for c in GEMM_CATEGORIES)
_ATTENTION = CATEGORIES.index(ATTENTION)
BYTES_SOURCE = "shapes of the CPU operators (no GPU in this trace: bandwidth over wall time; MBU unknown, profkit does not know the CPU's memory bandwidth)"


def rows_in_steps(trace: Trace, steps: list[Step]) -> np.ndarray:
    """CPU operators that start inside one of `steps`, in time order."""
    ts = trace.ops.ts_ns
    inside = np.zeros(len(ts), dtype=bool)
    for s in steps:
        inside |= (ts >= s.lo_ns) & (ts < s.hi_ns)
    return np.flatnonzero(inside)


def self_ns(trace: Trace) -> np.ndarray:
    """Each operator's duration less the durations of the operators it calls directly, >= 0."""
    if "op_self_ns" not in trace.memo:
        dur = trace.ops.dur_ns.astype(np.int64)
        parent = trace.op_parent_row
        has_parent = parent >= 0
        children = np.bincount(parent[has_parent], weights=dur[has_parent], minlength=len(dur)).astype(np.int64)
        trace.memo["op_self_ns"] = np.maximum(dur - children, 0)
    return trace.memo["op_self_ns"]


def breakdown(trace: Trace, steps: list[Step], phase: str, top_n: int = 15) -> KernelBreakdown:
    """Categories and top operators by self time over `steps` (`gpu_time_ms` is operator time here)."""
    rows = rows_in_steps(trace, steps)
    cats = categorize_ops(trace)[rows]
    own = self_ns(trace)[rows].astype(np.float64)
    total = float(own.sum())
    out = KernelBreakdown(phase=phase, steps=len(steps), gpu_time_ms=total / 1e6)
    n_steps = max(len(steps), 1)
    for i, c in enumerate(CATEGORIES):
        m = cats == i
        n = int(m.sum())
        if n == 0:
            continue
        t = float(own[m].sum())
        out.categories.append(CategoryRow(c, CATEGORY_LABELS[c], t / 1e6, n, t / n / 1e3, t / total if total else 0.0, t / 1e6 / n_steps))
    out.categories.sort(key=lambda r: -r.total_ms)
    out.top = _top_ops(trace, rows, cats, own, total, top_n)
    return out


def _top_ops(trace: Trace, rows: np.ndarray, cats: np.ndarray, own: np.ndarray, total: float, top_n: int) -> list[TopKernel]:
    names = trace.ops.name_id[rows]
    if len(names) == 0:
        return []
    unique, inverse = np.unique(names, return_inverse=True)
    sums = np.bincount(inverse, weights=own)
    counts = np.bincount(inverse)
    top = []
    for g in np.argsort(-sums)[:top_n]:
        members = rows[inverse == g]
        first = int(members[0])
        dims_ids, dims_counts = np.unique(trace.ops.dims_id[members], return_counts=True)
        name = trace.name(int(unique[g]))
        top.append(
            TopKernel(
                kernel=name,
                category=CATEGORIES[cats[inverse == g][0]],
                op=name,
                op_path=op_path(trace, first),
                input_dims=trace.name(int(dims_ids[np.argmax(dims_counts)])),
                total_ms=float(sums[g]) / 1e6,
                count=int(counts[g]),
                mean_us=float(sums[g]) / counts[g] / 1e3,
                share=float(sums[g]) / total if total else 0.0,
            )
        )
    return top


def innermost_compute_rows(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """The GEMM and attention operators among `rows` that call no operator of their own kind."""
    cats = categorize_ops(trace)
    family = np.full(len(cats), -1, dtype=np.int8)
    family[np.isin(cats, list(_GEMM_IDXS))] = 0
    family[cats == _ATTENTION] = 1
    outer = np.zeros(len(cats), dtype=bool)
    parent = trace.op_parent_row
    for row in np.flatnonzero(family >= 0).tolist():
        p = int(parent[row])
        while p >= 0:  # every caller of the same kind is an outer view of this call
            if family[p] == family[row]:
                outer[p] = True
            p = int(parent[p])
    return rows[(family[rows] >= 0) & ~outer[rows]]


def phase_bandwidth(trace: Trace, phase: str, steps: list[Step]) -> bandwidth.PhaseBandwidth:
    """Bytes and FLOPs per step of a phase's GEMM and attention operators, GB/s over wall time."""
    rows = innermost_compute_rows(trace, rows_in_steps(trace, steps))
    cats = categorize_ops(trace)
    calls: dict[int, dict] = {}
    for row in rows.tolist():
        key = (int(trace.ops.dims_id[row]), int(trace.ops.types_id[row]))
        dims, types = trace.json_list(key[0]), trace.json_list(key[1])
        name = trace.name(int(trace.ops.name_id[row]))
        calls[row] = {
            "op": name,
            "dims": dims,
            "types": types,
            "key": key,
            "cat": int(cats[row]),
            "dur_ns": int(trace.ops.dur_ns[row]),
            "kernels": Counter({int(trace.ops.name_id[row]): int(trace.ops.dur_ns[row])}),
            "n": 1,
            "bytes": bandwidth.op_bytes(name, dims, types),
            "flops": float(trace.ops.flops[row]) or bandwidth.op_flops(name, dims),
        }
    n_steps = max(len(steps), 1)
    gemm_calls = {r: c for r, c in calls.items() if c["cat"] in _GEMM_IDXS}
    gemm_bytes = sum(c["bytes"] for c in gemm_calls.values()) / n_steps
    attention_bytes = sum(c["bytes"] for r, c in calls.items() if c["cat"] == _ATTENTION) / n_steps
    total = gemm_bytes + attention_bytes
    wall_s = float(np.median([s.wall_ms for s in steps])) / 1e3 if steps else 0.0
    flops = sum(c["flops"] for c in calls.values()) / n_steps
    dtypes = Counter(d for d in (bandwidth.op_gemm_dtype(c["types"]) for c in gemm_calls.values()) if d)
    return bandwidth.PhaseBandwidth(
        phase=phase,
        bytes_per_step=total or None,
        bytes_source=BYTES_SOURCE if total else "unavailable: no GEMM or attention operator with recorded shapes in these steps",
        gemm_bytes_per_step=gemm_bytes if total else None,
        attention_bytes_per_step=attention_bytes if total else None,
        achieved_bandwidth_gbps=None,
        achieved_bandwidth_wall_gbps=total / wall_s / 1e9 if total and wall_s else None,
        mbu=None,
        mbu_wall=None,
        flops_per_step=flops or None,
        achieved_tflops=None,
        mfu=None,
        peak_bandwidth_gbps=None,
        peak_tflops=None,
        compute_dtype=dtypes.most_common(1)[0][0] if dtypes else None,
        gemms=bandwidth._gemm_rows(trace, gemm_calls, None),
    )
