"""Which call launched each GPU activity, and what that call computes (its alignment key).

Kernels are grouped by the top-level CPU operation whose call launched them (the operation the
model's Python code called). Operations are keyed by what they compute, not by kernel names (cuBLAS
picks different kernels per GPU, dtype and version): a call that runs a GEMM is 'linear K->N' from its
primary GEMM's shapes (aten::linear, aten::mm, bitsandbytes int8 matmul all align), attention by its
op, other operations by name and kernel category. Kernels replayed from CUDA graphs have no launching
operation. Everything here is per trace and memoised in `trace.memo`.
"""

from __future__ import annotations

import numpy as np

from profkit.analyses.kernels import CATEGORIES, CATEGORY_LABELS, categorize
from profkit.analyses.vocabulary import graph_launched as _graph_launched
from profkit.trace.model import Trace

_GEMM_CORE_OPS = {
    # op name -> (index of A, index of B, B is [N, K])
    "aten::mm": (0, 1, False),
    "aten::addmm": (1, 2, False),
    "aten::_scaled_mm": (0, 1, False),
    "aten::_int_mm": (0, 1, False),
    "bitsandbytes::int8_linear_matmul": (0, 1, True),
    "aten::bmm": (0, 1, False),
    "aten::baddbmm": (1, 2, False),
}
_ATTENTION_WORDS = ("attention", "attn", "flash", "sdpa")
_CONTAINER_OPS = ("Torch-Compiled Region", "CompiledFunction", "CUDAGraphNode", "## Call CompiledFxGraph")
_LOOK_BACK_NS = 10**9  # how far back a lost launch looks for the call that holds it


def containers(trace: Trace) -> np.ndarray:
    """For each CPU op, whether it only wraps other calls (a torch.compile region, a CUDA graph node)."""
    if "op_containers" not in trace.memo:
        flag = trace.ids_where(lambda s: s.startswith(_CONTAINER_OPS))
        trace.memo["op_containers"] = flag[trace.ops.name_id] if len(trace.strings) else np.zeros(len(trace.ops), bool)
    return trace.memo["op_containers"]


def op_roots(trace: Trace) -> np.ndarray:
    """For each CPU op, the call it belongs to: its outermost caller below any container op
    (itself when top-level or called straight from a container)."""
    if "op_roots" not in trace.memo:
        parent = trace.op_parent_row
        container = containers(trace)
        root = np.arange(len(parent), dtype=np.int64)
        for row in np.flatnonzero(parent >= 0).tolist():  # parents precede children
            if not container[parent[row]]:
                root[row] = root[parent[row]]
        trace.memo["op_roots"] = root
    return trace.memo["op_roots"]


def root_key(trace: Trace, root: int, category: str) -> tuple[str, str, str]:
    """(key, label, kind) of a top-level op call."""
    gemm = _primary_gemms(trace).get(root)
    if gemm is not None:
        kind, k, n = gemm
        return f"{kind}:{k}->{n}", f"{kind} {k}\u2192{n}", kind
    name = trace.name(int(trace.ops.name_id[root]))
    if any(w in name.lower() for w in _ATTENTION_WORDS):
        return f"attention:{name}", f"attention ({name})", "attention"
    suffix = "" if category in ("elementwise", "host") else f" [{CATEGORY_LABELS.get(category, category)}]"
    return f"op:{name}:{category}", f"{name}{suffix}", "op"


def _primary_gemms(trace: Trace) -> dict[int, tuple[str, int, int]]:
    """Root op row -> (kind, K, N) of the largest GEMM (by K*N) it runs."""
    if "primary_gemms" in trace.memo:
        return trace.memo["primary_gemms"]
    roots = op_roots(trace)
    ids = {trace.string_id(n): n for n in _GEMM_CORE_OPS}
    ids.pop(-1, None)
    best: dict[int, tuple[int, str, int, int]] = {}
    parsed: dict[int, list] = {}
    if ids:
        ops = trace.ops
        rows = np.flatnonzero(np.isin(ops.name_id, list(ids)))
        for row in rows.tolist():
            name = ids[int(ops.name_id[row])]
            dims_id = int(ops.dims_id[row])
            if dims_id not in parsed:
                parsed[dims_id] = trace.json_list(dims_id)
            kn = _gemm_kn(name, parsed[dims_id])
            if kn is None:
                continue
            k, n = kn
            root = int(roots[row])
            if root not in best or k * n > best[root][0]:
                best[root] = (k * n, "bmm" if "bmm" in name else "linear", k, n)
    result = {r: (kind, k, n) for r, (_, kind, k, n) in best.items()}
    trace.memo["primary_gemms"] = result
    return result


def _gemm_kn(op: str, dims: list) -> tuple[int, int] | None:
    ia, ib, nk = _GEMM_CORE_OPS[op]
    if len(dims) <= max(ia, ib):
        return None
    a, b = dims[ia], dims[ib]
    if not (_is_shape(a) and _is_shape(b) and len(a) >= 2 and len(b) >= 2):
        return None
    k = a[-1]
    n = b[-2] if nk else b[-1]
    return int(k), int(n)


def _is_shape(v) -> bool:
    return isinstance(v, list) and all(isinstance(d, int) for d in v)


def graph_launched(trace: Trace) -> np.ndarray:
    """For each GPU activity, whether a CUDA/HIP graph launch (replay) issued it."""
    return _graph_launched(trace)


def root_categories(trace: Trace) -> dict[int, str]:
    """Root op row -> the kernel category with most GPU time among everything calls with the same op
    name and input shapes launched (over the whole trace), so a call keeps one key whichever step it
    falls in, even when the profiler lost the link to its kernels."""
    if "root_categories" in trace.memo:
        return trace.memo["root_categories"]
    roots_all = op_roots(trace)
    op_rows = activity_op_rows(trace)
    ok = op_rows >= 0
    result: dict[int, str] = {}
    if ok.any():
        best = _top_category_by_signature(trace, roots_all[op_rows[ok]], categorize(trace)[ok], trace.gpu.dur_ns[ok])
        top = np.flatnonzero(roots_all == np.arange(len(roots_all)))
        top_sig = _signatures(trace, top)
        result = {int(r): CATEGORIES[best[int(sg)][1]] for r, sg in zip(top.tolist(), top_sig.tolist()) if int(sg) in best}
    trace.memo["root_categories"] = result
    return result


def _top_category_by_signature(trace: Trace, roots: np.ndarray, categories: np.ndarray, dur_ns: np.ndarray) -> dict[int, tuple[float, int]]:
    """Call signature -> (GPU ns, category index) of the category with most GPU time, over activities
    launched by the calls `roots` (one per activity, with its category index and duration)."""
    n = len(CATEGORIES)
    combined, inverse = np.unique(_signatures(trace, roots) * n + categories.astype(np.int64), return_inverse=True)
    ns = np.bincount(inverse.reshape(-1), weights=dur_ns.astype(np.float64))
    best: dict[int, tuple[float, int]] = {}
    for code, t in zip(combined.tolist(), ns.tolist()):
        sig, cat = divmod(code, n)
        if sig not in best or t > best[sig][0]:
            best[sig] = (t, cat)
    return best


def _signatures(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """One integer per op row for its (name, input shapes)."""
    ops = trace.ops
    return ops.name_id[rows].astype(np.int64) * (len(trace.strings) + 1) + ops.dims_id[rows].astype(np.int64) + 1


def activity_op_rows(trace: Trace) -> np.ndarray:
    """For each GPU activity, the CPU op that launched it: by External id, else (the profiler lost
    the link) the top-level op whose time span holds the launching runtime call on the same thread.
    NO_ID for CUDA-graph replays and activities with no launch call."""
    if "activity_op_rows" in trace.memo:
        return trace.memo["activity_op_rows"]
    graph = graph_launched(trace)
    rows = trace.gpu_op_row.copy()
    rows[graph] = -1
    lost = np.flatnonzero((rows < 0) & ~graph & (trace.gpu_runtime_row >= 0))
    if len(lost):
        top = np.flatnonzero(trace.op_parent_row < 0)
        starts = trace.ops.ts_ns[top]
        for g in lost.tolist():
            row = _enclosing_call(trace, top, starts, int(trace.gpu_runtime_row[g]))
            if row is not None:
                rows[g] = row
    trace.memo["activity_op_rows"] = rows
    return rows


def _enclosing_call(trace: Trace, top: np.ndarray, starts: np.ndarray, runtime_row: int) -> int | None:
    """The top-level op (row) on the runtime call's thread whose span holds it, looking back at most
    _LOOK_BACK_NS; `top` are the top-level op rows and `starts` their start times."""
    ops, rt = trace.ops, trace.runtime
    t = int(rt.ts_ns[runtime_row])
    i = int(np.searchsorted(starts, t, side="right")) - 1
    while i >= 0 and starts[i] <= t:
        row = int(top[i])
        if ops.tid[row] == rt.tid[runtime_row] and ops.ts_ns[row] + ops.dur_ns[row] > t:
            return row
        i -= 1
        if t - starts[max(i, 0)] > _LOOK_BACK_NS:  # look back at most a second
            break
    return None


def launching_op(trace: Trace, op_row: int) -> str:
    """'op path [input shapes]' of the op that launched an activity (memoised per row)."""
    memo = trace.memo.setdefault("launching_op_text", {})
    text = memo.get(op_row)
    if text is None:
        from profkit.analyses.kernels import op_path

        text = memo[op_row] = f"{op_path(trace, op_row)} {trace.name(int(trace.ops.dims_id[op_row]))}".strip()
    return text
