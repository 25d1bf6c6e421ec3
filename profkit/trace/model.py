"""The trace model: a Kineto trace read once into compact numpy columns.

Times are integer nanoseconds relative to the trace's first event (`t0_ns`); the Kineto file stores
float microseconds with three decimals, so nanoseconds keep every digit it has. Names are interned
in `strings` and referenced by integer ids.

Tables (all columns are numpy arrays of equal length within a table, rows sorted by `ts_ns`):
  gpu      -- kernels, memcpys and memsets (`kind`: KERNEL/MEMCPY/MEMSET)
  runtime  -- CUDA runtime and driver API calls on the host (cudaLaunchKernel, cudaStreamSynchronize, ...)
  ops      -- CPU operators (`cpu_op`: aten::mm, bitsandbytes::int8_linear_matmul, ...) with recorded
              input shapes/dtypes as interned JSON text and FLOPs when the profiler counted them
  annotations -- host-side user annotations (ProfilerStep#N, prefill, decode, record_function ranges)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import orjson

# gpu.kind values
KERNEL, MEMCPY, MEMSET = 0, 1, 2
# gpu.copy_kind values (memcpy direction); -1 for kernels and memsets
COPY_DTOH, COPY_HTOD, COPY_DTOD, COPY_OTHER = 0, 1, 2, 3

NO_ID = -1  # missing correlation / external id / string


@dataclass
class Table:
    """A set of equal-length numpy columns."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        first = next(iter(self.columns.values()), None)
        return 0 if first is None else len(first)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def end_ns(self) -> np.ndarray:
        return self.columns["ts_ns"] + self.columns["dur_ns"]


@dataclass
class Trace:
    """One Kineto trace, parsed. Build it with `profkit.trace.load_trace`."""

    path: str
    metadata: dict  # top-level keys of the trace file except traceEvents
    strings: list[str]
    gpu: Table
    runtime: Table
    ops: Table
    annotations: Table
    t0_ns: int  # absolute Kineto timestamp (ns) that all ts_ns are relative to
    event_count: int  # entries in traceEvents, kept or not
    json_bytes: int = 0  # size of the trace's JSON (decompressed)
    warnings: list[str] = field(default_factory=list)  # what reading dropped, ignored or repaired, and why
    extent_ns: tuple = (0, 0)  # first start, last end of any complete event (all categories, e.g. Kineto's "Trace" span)
    _ids: dict = field(default_factory=dict, repr=False)
    memo: dict = field(default_factory=dict, repr=False)  # per-trace results that analyses reuse

    # ---- names ---------------------------------------------------------------------------
    def name(self, string_id: int) -> str:
        return self.strings[string_id] if string_id >= 0 else ""

    def names(self, string_ids: np.ndarray) -> list[str]:
        s = self.strings
        return [s[i] if i >= 0 else "" for i in string_ids]

    def string_id(self, text: str) -> int:
        """Id of an interned string, or NO_ID when the trace never uses it."""
        if not self._ids:
            self._ids.update({s: i for i, s in enumerate(self.strings)})
        return self._ids.get(text, NO_ID)

    def json_list(self, string_id: int) -> list:
        """An interned JSON list (recorded `Input Dims` / `Input type`) parsed, memoised; [] when absent."""
        parsed = self.memo.setdefault("json_lists", {})
        value = parsed.get(string_id)
        if value is None:
            try:
                value = orjson.loads(self.strings[string_id]) if string_id >= 0 else []
            except orjson.JSONDecodeError:
                value = []
            if not isinstance(value, list):
                value = []
            parsed[string_id] = value
        return value

    def ids_where(self, predicate) -> np.ndarray:
        """Boolean lookup table over string ids: `mask[table.name_id]` selects rows by name."""
        return np.fromiter((bool(predicate(s)) for s in self.strings), dtype=bool, count=len(self.strings))

    # ---- device facts ----------------------------------------------------------------------
    @property
    def device_properties(self) -> list[dict]:
        return list(self.metadata.get("deviceProperties") or [])

    @property
    def manifest(self) -> dict | None:
        """The profkit run manifest embedded in the trace (`profkit_manifest`), if any."""
        value = self.metadata.get("profkit_manifest")
        return value if isinstance(value, dict) else None

    @property
    def has_gpu_activity(self) -> bool:
        return len(self.gpu) > 0

    # ---- links -------------------------------------------------------------------------------
    @cached_property
    def gpu_runtime_row(self) -> np.ndarray:
        """For each GPU activity, the row of its launching runtime call (NO_ID when unmatched)."""
        return _match(self.gpu.correlation, self.runtime.correlation)

    @cached_property
    def gpu_op_row(self) -> np.ndarray:
        """For each GPU activity, the row of the CPU op that launched it (via External id)."""
        return _match(self.gpu.external_id, self.ops.external_id)

    @cached_property
    def runtime_op_row(self) -> np.ndarray:
        """For each runtime call, the row of the innermost CPU op it was issued from."""
        return _match(self.runtime.external_id, self.ops.external_id)

    @cached_property
    def op_parent_row(self) -> np.ndarray:
        """For each CPU op, the row of the op it runs inside (its caller), NO_ID for top-level ops."""
        ops = self.ops
        parent = np.full(len(ops), NO_ID, dtype=np.int64)
        ends = ops.end_ns
        stacks: dict[int, list[int]] = {}
        for row, (tid, end) in enumerate(zip(ops.tid.tolist(), ends.tolist())):
            stack = stacks.setdefault(tid, [])
            while stack and ends[stack[-1]] < end:
                stack.pop()
            if stack:
                parent[row] = stack[-1]
            stack.append(row)
        return parent

    def op_ancestry_flag(self, predicate) -> np.ndarray:
        """For each CPU op, whether it or any op it runs inside has a name matching `predicate`."""
        by_name = self.ids_where(predicate)
        own = by_name[self.ops.name_id] if len(self.strings) else np.zeros(len(self.ops), bool)
        flag = own.copy()
        parent = self.op_parent_row
        for row in np.flatnonzero(parent >= 0).tolist():  # parents precede children in time order
            if flag[parent[row]]:
                flag[row] = True
        return flag

    @cached_property
    def gpu_launch_ts_ns(self) -> np.ndarray:
        """Host time each GPU activity was launched (its runtime call's start); the GPU start when unmatched."""
        rows = self.gpu_runtime_row
        launch = self.gpu.ts_ns.copy()
        ok = rows >= 0
        launch[ok] = self.runtime.ts_ns[rows[ok]]
        return launch


def _match(keys: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Row in `reference` whose value equals each key (first match), NO_ID when absent or key < 0."""
    out = np.full(len(keys), NO_ID, dtype=np.int64)
    if len(keys) == 0 or len(reference) == 0:
        return out
    order = np.argsort(reference, kind="stable")
    sorted_ref = reference[order]
    pos = np.searchsorted(sorted_ref, keys)
    pos_clipped = np.minimum(pos, len(sorted_ref) - 1)
    hit = (sorted_ref[pos_clipped] == keys) & (keys >= 0)
    out[hit] = order[pos_clipped[hit]]
    return out
