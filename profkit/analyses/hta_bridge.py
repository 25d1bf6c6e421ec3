"""HolisticTraceAnalysis on demand: its deeper analyses, and the idle-time split as a cross-check.

HTA is imported only here (it costs seconds and ~0.5 GB per trace), with nanosecond rounding
disabled (`HTA_DISABLE_NS_ROUNDING=1`: by default HTA rounds timestamps to whole microseconds,
which corrupts sub-microsecond kernels) and the last ProfilerStep kept (HTA drops it by default).
HTA reads a directory, so the trace is linked into a private temporary one. HTA keys every trace by
the rank it records (`distributedInfo.rank`) and analyses rank 0 unless told otherwise, so the
trace's own rank is passed through: a rank-3 trace is analysed as rank 3.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from profkit.errors import TraceError


@dataclass
class HtaIdle:
    stream: int
    host_wait_ms: float
    kernel_wait_ms: float
    other_ms: float


@contextmanager
def _hta_analysis(path: Path):
    """(HTA TraceAnalysis, the trace's rank) for one trace file."""
    from profkit.trace import load_trace
    from profkit.trace.metadata import trace_rank

    trace = load_trace(path)
    if not trace.has_gpu_activity:
        raise TraceError(path, "HTA needs GPU kernels and this trace has none (CPU-only run?); its own analyses cannot run on it")
    rank = trace_rank(trace.metadata) or 0
    os.environ["HTA_DISABLE_NS_ROUNDING"] = "1"
    logging.getLogger("hta").setLevel(logging.ERROR)
    from hta.trace_analysis import TraceAnalysis

    with tempfile.TemporaryDirectory(prefix="profkit-hta-") as tmp:
        link = Path(tmp) / Path(path).name
        try:
            os.symlink(Path(path).resolve(), link)
        except OSError:
            import shutil

            shutil.copyfile(path, link)
        try:
            yield TraceAnalysis(trace_dir=tmp, include_last_profiler_step=True), rank
        except Exception as exc:  # noqa: BLE001 -- HTA fails in many shapes on traces it does not expect
            raise TraceError(path, f"HTA cannot analyze this trace ({type(exc).__name__}: {exc})") from None


def hta_idle_breakdown(path) -> list[HtaIdle]:
    """HTA's idle-time breakdown per stream (ms), with ns rounding off and every step kept."""
    with _hta_analysis(Path(path)) as (ta, rank):
        df, _ = ta.get_idle_time_breakdown(ranks=[rank], visualize=False)
    out: dict[int, dict[str, float]] = {}
    for _, row in df.iterrows():
        entry = out.setdefault(int(row["stream"]), {"host_wait": 0.0, "kernel_wait": 0.0, "other": 0.0})
        entry[row["idle_category"]] = float(row["idle_time"]) / 1e3  # HTA reports microseconds
    return [HtaIdle(s, v["host_wait"], v["kernel_wait"], v["other"]) for s, v in sorted(out.items())]


def hta_report(path) -> None:
    """Print HTA's temporal breakdown, idle split and queue-length summary for one trace."""
    from rich.console import Console

    console = Console()
    console.rule(f"[bold]HTA: {Path(path).name}")
    with _hta_analysis(Path(path)) as (ta, rank):
        console.print(f"[bold cyan]Temporal breakdown (us), rank {rank}")
        console.print(ta.get_temporal_breakdown(visualize=False).to_string())
        console.print(f"[bold cyan]Idle time breakdown (us), rank {rank}")
        console.print(ta.get_idle_time_breakdown(ranks=[rank], visualize=False)[0].to_string())
        console.print(f"[bold cyan]Queue length summary, rank {rank}")
        summary = ta.get_queue_length_summary(ranks=[rank])
        console.print(summary.to_string() if summary is not None else "n/a")
