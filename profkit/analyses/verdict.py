"""One verdict per phase: host/launch-bound, sync-bound, memory-bound or compute-bound, with the
numbers behind it in one sentence."""

from __future__ import annotations

from dataclasses import dataclass

from profkit.analyses.bandwidth import PhaseBandwidth
from profkit.analyses.idle import Causes
from profkit.analyses.steps import PhaseStats

HOST, SYNC, MEMORY, COMPUTE = "host", "sync", "memory", "compute"
BOUNDS = (HOST, SYNC, MEMORY, COMPUTE)

# The GPU is starved when it idles at least this fraction of the step.
IDLE_BOUND_FRACTION = 0.5
# Starved with at least this many synchronizing calls per step (beyond the usual end-of-step
# sync) means the host keeps stopping to wait for the GPU: sync-bound rather than launch-bound.
SYNC_BOUND_MIN_SYNCS = 8


@dataclass
class Verdict:
    bound: str | None  # one of BOUNDS; None when the trace has no GPU activity
    sentence: str


def phase_verdict(stats: PhaseStats, causes: Causes | None, bw: PhaseBandwidth | None) -> Verdict:
    if causes is None or stats.gpu_busy_ms == 0:
        return Verdict(None, f"{stats.phase}: no GPU activity in the trace; only host-side timing is available ({stats.wall_ms:.1f} ms per step).")
    idle = stats.idle_fraction
    if idle >= IDLE_BOUND_FRACTION and stats.sync_calls >= SYNC_BOUND_MIN_SYNCS:
        return Verdict(SYNC, _sync_sentence(stats, causes))
    if idle >= IDLE_BOUND_FRACTION:
        return Verdict(HOST, _host_sentence(stats, causes))
    return _device_verdict(stats, bw)


def _sync_sentence(stats: PhaseStats, causes: Causes) -> str:
    issuer = causes.sync_issuers[0].op_path.split(" -> ")[0] if causes.sync_issuers else "unknown ops"
    return (
        f"{stats.phase} is sync-bound: the GPU idles {stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step "
        f"(busy {stats.gpu_busy_ms:.2f} ms) because the host stops {stats.sync_calls:.0f} times per step to synchronize "
        f"({stats.d2h_copies:.0f} device-to-host copies, mostly from {issuer}); each sync drains the GPU queue, so the GPU can never "
        f"run ahead of the host, which launches {stats.kernels:.0f} kernels per step at {causes.host_ms_per_kernel * 1000:.0f} us of host time each."
    )


def _host_sentence(stats: PhaseStats, causes: Causes) -> str:
    graphs = f", {causes.graph_launches_per_step:.0f} CUDA graph replays" if causes.graph_launches_per_step else ""
    return (
        f"{stats.phase} is host/launch-bound: the GPU idles {stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step "
        f"(busy {stats.gpu_busy_ms:.2f} ms; {causes.host_wait_share:.0%} of idle time is waiting for the host to launch) "
        f"with {stats.kernels:.0f} kernels per step{graphs}, about {causes.host_ms_per_kernel * 1000:.0f} us of host time per kernel."
    )


def _device_verdict(stats: PhaseStats, bw: PhaseBandwidth | None) -> Verdict:
    mbu = bw.mbu if bw else None
    mfu = bw.mfu if bw else None
    busy = f"the GPU is busy {1 - stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step"
    if mfu is not None and (mbu is None or mfu > mbu):
        return Verdict(COMPUTE, f"{stats.phase} is compute-bound: {busy}, running GEMMs at {bw.achieved_tflops:.0f} TFLOP/s ({mfu:.0%} of the {bw.compute_dtype} peak) while moving {bw.achieved_bandwidth_gbps or 0:.0f} GB/s ({(mbu or 0):.0%} of DRAM bandwidth).")
    if mbu is not None:
        tf = f" against {mfu:.0%} of the {bw.compute_dtype} tensor peak" if mfu is not None else ""
        return Verdict(MEMORY, f"{stats.phase} is memory-bound: {busy}, reading {bw.bytes_per_step / 1e9:.2f} GB per step at {bw.achieved_bandwidth_gbps:.0f} GB/s ({mbu:.0%} of the GPU's {bw.peak_bandwidth_gbps:.0f} GB/s){tf}.")
    return Verdict(MEMORY, f"{stats.phase} is GPU-bound ({busy}); without recorded shapes profkit cannot tell memory from compute, so it assumes memory-bound (LLM decode at small batch usually is).")
