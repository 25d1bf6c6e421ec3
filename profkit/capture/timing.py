"""Un-profiled timing of one configuration (the gpt-fast discipline).

A warm-up generation runs first and is not timed (allocator, cuBLAS handles, compilation and CUDA
graph capture all happen there). Then one timed generation: every phase is bracketed by a device
synchronize, so each wall time covers the GPU work it launched. TTFT = prefill including the first
token; TPOT = one decode step; tokens/s count every sequence of the batch.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field

import torch

from profkit.capture.annotate import DECODE, PREFILL, phase_range


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@dataclass
class GenerationTiming:
    """Wall times of one generation, device-synchronized, in milliseconds."""

    batch_size: int
    prefill_ms: float
    decode_step_ms: list[float] = field(default_factory=list)
    t_start_unix_s: float = 0.0
    t_end_unix_s: float = 0.0

    @property
    def new_tokens(self) -> int:
        return 1 + len(self.decode_step_ms)


def run_generation(loop, input_ids: torch.Tensor, decode_tokens: int, device: str, step_end=None) -> GenerationTiming:
    """Prefill + `decode_tokens` decode steps, each timed between device synchronizations.

    `step_end()` is called after each step's timer stops (the profiler's `prof.step()`)."""
    kineto = step_end is not None
    timing = GenerationTiming(batch_size=input_ids.shape[0], prefill_ms=0.0, t_start_unix_s=time.time())
    synchronize(device)
    t0 = time.perf_counter()
    with phase_range(PREFILL, kineto):
        token = loop.prefill(input_ids)
    synchronize(device)
    timing.prefill_ms = (time.perf_counter() - t0) * 1e3
    _call(step_end)
    for _ in range(decode_tokens):
        t0 = time.perf_counter()
        with phase_range(DECODE, kineto):
            token = loop.decode(token)
        synchronize(device)
        timing.decode_step_ms.append((time.perf_counter() - t0) * 1e3)
        _call(step_end)
    timing.t_end_unix_s = time.time()
    return timing


def _call(callback) -> None:
    if callback is not None:
        callback()


def warm_up(loop, input_ids: torch.Tensor, decode_tokens: int, device: str) -> float:
    """One untimed generation; returns its wall seconds (compile time, in compiled mode)."""
    t0 = time.perf_counter()
    run_generation(loop, input_ids, decode_tokens, device)
    return time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class TimingSummary:
    """The manifest's per-configuration `timing` block."""

    ttft_ms: float
    tpot_median_ms: float
    tpot_p90_ms: float
    decode_tokens_per_s: float
    e2e_tokens_per_s: float
    peak_gpu_mem_bytes: int | None
    peak_rss_bytes: int | None
    warmup_s: float | None = None
    decode_step_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(t: GenerationTiming, peak_gpu_mem_bytes: int | None, peak_rss_bytes: int | None, warmup_s: float | None) -> TimingSummary:
    decode_s = sum(t.decode_step_ms) / 1e3
    total_s = t.prefill_ms / 1e3 + decode_s
    return TimingSummary(
        ttft_ms=t.prefill_ms,
        tpot_median_ms=statistics.median(t.decode_step_ms),
        tpot_p90_ms=percentile(t.decode_step_ms, 90),
        decode_tokens_per_s=t.batch_size * len(t.decode_step_ms) / decode_s,
        e2e_tokens_per_s=t.batch_size * t.new_tokens / total_s,
        peak_gpu_mem_bytes=peak_gpu_mem_bytes,
        peak_rss_bytes=peak_rss_bytes,
        warmup_s=warmup_s,
        decode_step_ms=list(t.decode_step_ms),
    )


def reset_peak_gpu_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_memory_bytes(device: str) -> int | None:
    """Peak bytes allocated by torch's caching allocator since the last reset (None on CPU)."""
    return torch.cuda.max_memory_allocated() if device == "cuda" else None
