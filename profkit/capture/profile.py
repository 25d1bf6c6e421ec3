"""The profiled run of one configuration: torch.profiler around one generation.

Schedule `wait=0, warmup=1, active=1+N, repeat=1`: step 0 is a whole warm-up generation (profiler
warm-up, not kept), then ProfilerStep#1 = prefill (annotated `prefill`) and ProfilerStep#2..#N+1 =
one decode token each (annotated `decode`). On GPU a `torch.cuda.synchronize()` ends every step, so
a step's wall time covers its GPU work. The run's metadata is embedded with
`prof.add_metadata_json(TRACE_METADATA_KEY, ...)`; Kineto writes it as a top-level key of the trace
JSON whose value is the object itself (not a string).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from profkit.capture.files import atomic_gzip, scratch_path
from profkit.capture.timing import GenerationTiming, run_generation
from profkit.store.layout import TRACE_METADATA_KEY

_BASE_TIME = re.compile(rb'"baseTimeNanoseconds"\s*:\s*(\d+)')
_HEAD_BYTES = 1 << 20
_TRACE_NAME = re.compile(rb'"traceName"\s*:\s*"(?:[^"\\]|\\.)*"')
_TAIL_BYTES = 64 << 10


@dataclass
class ProfiledRun:
    timing: GenerationTiming
    """Step wall times measured while profiling (same synchronizations as the un-profiled run)."""
    base_time_ns: int | None
    """The trace's baseTimeNanoseconds: event ts (µs) * 1000 + base_time_ns = Unix time in ns."""
    trace_bytes: int
    export_s: float


def profiler_activities(device: str) -> list:
    return [ProfilerActivity.CPU, ProfilerActivity.CUDA] if device == "cuda" else [ProfilerActivity.CPU]


def profile_generation(
    loop, input_ids: torch.Tensor, decode_tokens: int, warmup_decode_tokens: int, device: str, trace_path: Path, metadata: dict
) -> ProfiledRun:
    """Trace one generation into `trace_path` (.pt.trace.json.gz, written atomically)."""
    raw = scratch_path(trace_path.parent, trace_path.name)
    export_s = 0.0

    def export(prof) -> None:
        nonlocal export_s
        t0 = time.perf_counter()
        prof.export_chrome_trace(str(raw))
        export_s = time.perf_counter() - t0

    try:
        with profile(
            activities=profiler_activities(device),
            record_shapes=True,
            with_flops=True,
            schedule=schedule(wait=0, warmup=1, active=1 + decode_tokens, repeat=1),
            on_trace_ready=export,
        ) as prof:
            prof.add_metadata_json(TRACE_METADATA_KEY, json.dumps(metadata, default=str))
            run_generation(loop, input_ids, warmup_decode_tokens, device)  # ProfilerStep#0: warm-up, not kept
            prof.step()
            timing = run_generation(loop, input_ids, decode_tokens, device, step_end=prof.step)
        if raw.stat().st_size == 0:
            raise RuntimeError("torch.profiler exported an empty trace")
        base_time_ns = read_base_time_ns(raw)
        set_trace_name(raw, trace_path.name)
        t0 = time.perf_counter()
        atomic_gzip(raw, trace_path)
        export_s += time.perf_counter() - t0
    finally:
        raw.unlink(missing_ok=True)
    return ProfiledRun(timing, base_time_ns, trace_path.stat().st_size, export_s)


def read_base_time_ns(path: Path) -> int | None:
    """baseTimeNanoseconds from the head of an exported (uncompressed) trace, where Kineto puts it."""
    with open(path, "rb") as f:
        match = _BASE_TIME.search(f.read(_HEAD_BYTES))
    return int(match.group(1)) if match else None


def set_trace_name(path: Path, name: str) -> bool:
    """Kineto ends the export with `"traceName": "<the path it wrote to>"` -- here a scratch file's.
    Rewrite it in place to `name` (the trace's final file name); False when the tail has none."""
    size = path.stat().st_size
    start = max(0, size - _TAIL_BYTES)
    with open(path, "r+b") as f:
        f.seek(start)
        tail = f.read()
        found = list(_TRACE_NAME.finditer(tail))
        if not found:
            return False
        last = found[-1]
        f.seek(start)
        f.write(tail[: last.start()] + b'"traceName": ' + json.dumps(name).encode() + tail[last.end() :])
        f.truncate()
    return True


def overhead(profiled: GenerationTiming, unprofiled_step_ms: float) -> dict:
    """The manifest's `profiler_overhead`: median decode step, profiled vs un-profiled."""
    import statistics

    step_ms = statistics.median(profiled.decode_step_ms)
    return {
        "profiled_step_ms": step_ms,
        "unprofiled_step_ms": unprofiled_step_ms,
        "ratio": step_ms / unprofiled_step_ms if unprofiled_step_ms > 0 else None,
        "profiled_prefill_ms": profiled.prefill_ms,
    }
