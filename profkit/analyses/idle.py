"""Idle gaps on each CUDA stream and their causes.

The split follows HolisticTraceAnalysis' idle-time breakdown (`get_idle_time_breakdown`), at
nanosecond precision instead of HTA's default whole-microsecond rounding:
  host wait   -- the next activity's launch call started after the previous activity ended: the
                 GPU waited for the CPU to enqueue work
  kernel wait -- otherwise, a gap shorter than `consecutive_kernel_delay_ns`: back-to-back launch
                 latency on the GPU
  other       -- every other gap (e.g. waiting on another stream or event)
HTA applies its default `consecutive_kernel_delay=30` to microsecond timestamps, i.e. 30 us; the
same threshold is the default here so the two agree.

Causes profkit then attributes per phase: launch-bound (host launch/dispatch time against GPU
time), synchronization-bound (syncs and device-to-host copies per step and the ops issuing them),
and CUDA/HIP graph replays.

The whole-trace split covers the activities HTA covers (`hta_scope_rows`): with two or more
ProfilerSteps, those launched by a recorded runtime call no later than the last step's end (HTA drops
kernels launched before recording began, which have no launch record, and any launched after the
last step); with fewer steps, every activity, pre-trace ones included. A gap before an activity with
no launch record cannot be host wait (its launch time is unknown): it is kernel wait or other.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from profkit.analyses.kernels import op_path
from profkit.analyses.steps import Step, gpu_rows_launched_in, profiler_step_windows
from profkit.analyses.vocabulary import graph_launched, runtime_flags
from profkit.trace.model import COPY_DTOH, KERNEL, Trace

HTA_CONSECUTIVE_KERNEL_DELAY_NS = 30_000


@dataclass
class StreamIdle:
    """Idle time between GPU activities on one stream, in milliseconds."""

    stream: int
    activities: int
    idle_ms: float
    host_wait_ms: float
    kernel_wait_ms: float
    other_ms: float

    @property
    def host_wait_ratio(self) -> float:
        return self.host_wait_ms / self.idle_ms if self.idle_ms else 0.0


@dataclass
class Issuer:
    """An operator that issues synchronizations or device-to-host copies."""

    op_path: str
    per_step: float


@dataclass
class Causes:
    """Why the GPU idles during a phase (per-step medians over steady steps)."""

    phase: str
    streams: list[StreamIdle]
    host_wait_share: float  # of all idle time on the phase's streams
    kernels_per_step: float
    launch_calls_per_step: float
    launch_api_ms_per_step: float  # host time inside launch API calls
    host_ms_per_kernel: float  # wall time per launched kernel: the host's dispatch cost when launch-bound
    gpu_busy_ms_per_step: float
    wall_ms_per_step: float
    syncs_per_step: float
    d2h_copies_per_step: float
    sync_wait_ms_per_step: float
    sync_issuers: list[Issuer] = field(default_factory=list)
    graph_launches_per_step: float = 0.0
    kernels_per_graph_launch: float = 0.0
    gap_histogram_us: dict = field(default_factory=dict)  # bucket label -> gap count


def idle_breakdown(
    trace: Trace, rows: np.ndarray | None = None, group: np.ndarray | None = None, consecutive_kernel_delay_ns: int = HTA_CONSECUTIVE_KERNEL_DELAY_NS
) -> list[StreamIdle]:
    """HTA-style idle split per stream over GPU activities `rows` (all when None).

    `group` (same length as rows) keeps gaps inside one group, e.g. one step: a gap whose two
    activities belong to different groups is not counted.
    """
    gaps = _gaps(trace, rows, group, consecutive_kernel_delay_ns)
    result = []
    for stream in sorted(gaps):
        g = gaps[stream]
        result.append(
            StreamIdle(
                stream=int(stream),
                activities=g["n"],
                idle_ms=float(g["gap"].sum()) / 1e6,
                host_wait_ms=float(g["gap"][g["host"]].sum()) / 1e6,
                kernel_wait_ms=float(g["gap"][g["kernel"]].sum()) / 1e6,
                other_ms=float(g["gap"][~g["host"] & ~g["kernel"]].sum()) / 1e6,
            )
        )
    return result


def hta_scope_rows(trace: Trace) -> np.ndarray:
    """The GPU activities HolisticTraceAnalysis' idle-time breakdown covers (HTA 0.5, every step kept):
    with two or more ProfilerSteps, those whose launching runtime call started no later than the last
    step's end; with fewer, all of them."""
    windows = profiler_step_windows(trace)
    if len({name for name, _, _ in windows}) < 2:
        return np.arange(len(trace.gpu))
    last_end = max(hi for _, _, hi in windows)
    return np.flatnonzero((trace.gpu_runtime_row >= 0) & (trace.gpu_launch_ts_ns <= last_end))


def gap_lengths_ns(trace: Trace, rows: np.ndarray | None = None, group: np.ndarray | None = None) -> np.ndarray:
    """All positive idle gaps (ns) between consecutive activities on each stream."""
    gaps = _gaps(trace, rows, group, HTA_CONSECUTIVE_KERNEL_DELAY_NS)
    return np.concatenate([g["gap"] for g in gaps.values()]) if gaps else np.empty(0, np.int64)


def _gaps(trace: Trace, rows, group, delay_ns) -> dict:
    gpu = trace.gpu
    if rows is None:
        rows = np.arange(len(gpu))
    if group is None:
        group = np.zeros(len(rows), dtype=np.int64)
    launch = trace.gpu_launch_ts_ns
    has_launch = trace.gpu_runtime_row >= 0
    out = {}
    streams = gpu.stream[rows]
    for stream in np.unique(streams):
        sel = rows[streams == stream]
        grp = group[streams == stream]
        order = np.argsort(gpu.ts_ns[sel], kind="stable")
        sel, grp = sel[order], grp[order]
        ts = gpu.ts_ns[sel]
        prev_end = (ts + gpu.dur_ns[sel])[:-1]
        gap = ts[1:] - prev_end
        keep = grp[1:] == grp[:-1]
        host = has_launch[sel[1:]] & (launch[sel[1:]] > prev_end)
        kernel = ~host & (gap < delay_ns)
        out[int(stream)] = {"n": len(sel), "gap": gap[keep], "host": host[keep], "kernel": kernel[keep]}
    return out


GAP_BUCKETS_US = (1, 2, 5, 10, 20, 50, 100, 1000, 10000)


def gap_histogram(gaps_ns: np.ndarray) -> dict:
    """Counts of gaps per bucket of microseconds ("<1", "1-2", ..., ">=10000")."""
    us = gaps_ns / 1e3
    edges = (0.0, *GAP_BUCKETS_US, np.inf)
    labels = ["<1"] + [f"{a}-{b}" for a, b in itertools.pairwise(GAP_BUCKETS_US)] + [f">={GAP_BUCKETS_US[-1]}"]
    counts, _ = np.histogram(np.clip(us, 0, None), bins=edges)
    return dict(zip(labels, (int(c) for c in counts)))


def phase_causes(trace: Trace, phase: str, steps: list[Step], rows: np.ndarray, group: np.ndarray) -> Causes:
    """Idle split and its causes over the (steady) steps of one phase."""
    streams = idle_breakdown(trace, rows, group)
    idle = sum(s.idle_ms for s in streams)
    host = sum(s.host_wait_ms for s in streams)
    med = lambda attr: float(np.median([getattr(s, attr) for s in steps]))  # noqa: E731
    kernels = med("kernels")
    graph_launches = med("graph_launches")
    kernel_rows = rows[trace.gpu.kind[rows] == KERNEL]
    return Causes(
        phase=phase,
        streams=streams,
        host_wait_share=host / idle if idle else 0.0,
        kernels_per_step=kernels,
        launch_calls_per_step=med("launch_calls"),
        launch_api_ms_per_step=med("launch_api_ms"),
        host_ms_per_kernel=med("wall_ms") / kernels if kernels else 0.0,
        gpu_busy_ms_per_step=med("gpu_busy_ms"),
        wall_ms_per_step=med("wall_ms"),
        syncs_per_step=med("sync_calls"),
        d2h_copies_per_step=med("d2h_copies"),
        sync_wait_ms_per_step=med("sync_wait_ms"),
        sync_issuers=_sync_issuers(trace, steps),
        graph_launches_per_step=graph_launches,
        kernels_per_graph_launch=_kernels_per_graph_launch(trace, kernel_rows),
        gap_histogram_us=gap_histogram(gap_lengths_ns(trace, rows, group)),
    )


def _sync_issuers(trace: Trace, steps: list[Step], top_n: int = 5) -> list[Issuer]:
    """Which op paths issue the synchronizing calls and D2H copies, per step."""
    rt = trace.runtime
    is_sync = runtime_flags(trace)["blocking"]
    counts: Counter = Counter()
    for s in steps:
        lo, hi = np.searchsorted(rt.ts_ns, [s.lo_ns, s.hi_ns])
        for r in np.flatnonzero(is_sync[lo:hi]) + lo:
            op_row = int(trace.runtime_op_row[r])
            path = op_path(trace, op_row) if op_row >= 0 else "(no op: profiler step / user code)"
            counts[f"{path} -> {trace.name(int(rt.name_id[r]))}"] += 1
        launched = gpu_rows_launched_in(trace, [s])
        for g in launched[trace.gpu.copy_kind[launched] == COPY_DTOH]:
            op_row = int(trace.gpu_op_row[g])
            counts[f"{op_path(trace, op_row) if op_row >= 0 else '(no op)'} -> D2H copy"] += 1
    n = max(len(steps), 1)
    return [Issuer(path, c / n) for path, c in counts.most_common(top_n)]


def _kernels_per_graph_launch(trace: Trace, kernel_rows: np.ndarray) -> float:
    replayed = kernel_rows[graph_launched(trace)[kernel_rows]]
    launches = np.unique(trace.gpu_runtime_row[replayed])
    return float(len(replayed)) / len(launches) if len(launches) else 0.0
