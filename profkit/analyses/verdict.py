"""One verdict per phase, naming what dominates, with the numbers behind it in one sentence.

In order:
  host / sync    -- the GPU idles at least IDLE_BOUND_FRACTION of the step: the host does not feed it
                    (sync-bound when it also stops SYNC_BOUND_MIN_SYNCS times per step to wait for it)
  communication  -- collectives (NCCL/RCCL, custom all-reduce) take COMMUNICATION_BOUND_SHARE of GPU time
  compute/memory -- MFU or MBU reaches DEVICE_BOUND_MIN_UTILIZATION: the one nearer its limit names it
  overhead       -- neither is near its limit and work that is not the model's arithmetic (quantize,
                    elementwise, normalization, copies, MoE routing, ...) dominates the GPU time:
                    kernel-overhead-bound, naming the category and its share
  underutilized  -- neither is near its limit although GEMMs/attention dominate: small kernels that
                    cannot fill the GPU (batch too small, launch latency between them)
  gpu            -- busy, but memory vs compute cannot be told (bytes/FLOPs not knowable, or the GPU is
                    not in the catalog): says why, and what dominates the GPU time
A utilization that is only a lower bound (part of the work unmodelled) is conclusive when it is high
and says nothing when it is low.
"""

from __future__ import annotations

from dataclasses import dataclass

from profkit.analyses.bandwidth import PhaseBandwidth
from profkit.analyses.idle import Causes
from profkit.analyses.kernels import CATEGORY_LABELS, COMMUNICATION, MATH_CATEGORIES, KernelBreakdown
from profkit.analyses.steps import PhaseStats

HOST, SYNC, MEMORY, COMPUTE = "host", "sync", "memory", "compute"
COMMUNICATION_BOUND, OVERHEAD, UNDERUTILIZED, GPU = "communication", "overhead", "underutilized", "gpu"
BOUNDS = (HOST, SYNC, MEMORY, COMPUTE, COMMUNICATION_BOUND, OVERHEAD, UNDERUTILIZED, GPU)

# The GPU is starved when it idles at least this fraction of the step.
IDLE_BOUND_FRACTION = 0.5
# Starved with at least this many synchronizing calls per step (beyond the usual end-of-step
# sync) means the host keeps stopping to wait for the GPU: sync-bound rather than launch-bound.
SYNC_BOUND_MIN_SYNCS = 8
# Starved and at least this share of the idle time waits for the next launch: launch-bound; below it
# the host is busy with other work than launching (host-bound).
LAUNCH_WAIT_MIN_SHARE = 0.5
# Collectives taking at least this share of GPU time make the phase communication-bound.
COMMUNICATION_BOUND_SHARE = 0.3
# Memory- or compute-bound needs MBU or MFU at least this high: below it, neither is near its limit.
DEVICE_BOUND_MIN_UTILIZATION = 0.3
# Kernel-overhead-bound: non-arithmetic kernels take at least this share of GPU time together, or one
# non-arithmetic category at least SINGLE_CATEGORY_SHARE.
OVERHEAD_BOUND_SHARE = 0.5
SINGLE_CATEGORY_SHARE = 0.4


@dataclass
class Verdict:
    bound: str | None  # one of BOUNDS; None when the trace has no GPU activity
    sentence: str


def phase_verdict(
    stats: PhaseStats, causes: Causes | None, bw: PhaseBandwidth | None, kernels: KernelBreakdown | None = None, unknown_gpu: str = ""
) -> Verdict:
    """The phase's verdict. `kernels`: its kernel-category breakdown; `unknown_gpu`: why the GPU has no
    catalog figures ('' when it has them)."""
    if causes is None or stats.gpu_busy_ms == 0:
        return Verdict(None, f"{stats.phase}: no GPU activity in the trace; only host-side timing is available ({stats.wall_ms:.1f} ms per step).")
    idle = stats.idle_fraction
    if idle >= IDLE_BOUND_FRACTION and stats.sync_calls >= SYNC_BOUND_MIN_SYNCS:
        return Verdict(SYNC, _sync_sentence(stats, causes))
    if idle >= IDLE_BOUND_FRACTION:
        return Verdict(HOST, _host_sentence(stats, causes))
    return _device_verdict(stats, bw, kernels, unknown_gpu)


def _sync_sentence(stats: PhaseStats, causes: Causes) -> str:
    issuer = causes.sync_issuers[0].op_path.split(" -> ")[0] if causes.sync_issuers else "unknown ops"
    return (
        f"{stats.phase} is sync-bound: the GPU idles {stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step "
        f"(busy {stats.gpu_busy_ms:.2f} ms) because the host stops {stats.sync_calls:.0f} times per step to synchronize "
        f"({stats.d2h_copies:.0f} device-to-host copies, mostly from {issuer}); each sync drains the GPU queue, so the GPU can never "
        f"run ahead of the host, which launches {stats.kernels:.0f} kernels per step at {causes.host_ms_per_kernel * 1000:.0f} us of host time each."
    )


def _host_sentence(stats: PhaseStats, causes: Causes) -> str:
    graphs = f", {causes.graph_launches_per_step:.0f} CUDA/HIP graph replays" if causes.graph_launches_per_step else ""
    if causes.host_wait_share < LAUNCH_WAIT_MIN_SHARE:  # the GPU waits, but not for launches between its kernels
        return (
            f"{stats.phase} is host-bound: the GPU idles {stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step "
            f"(busy {stats.gpu_busy_ms:.2f} ms, {stats.kernels:.0f} kernels per step{graphs}), but only {causes.host_wait_share:.0%} of that "
            "idle time falls between a kernel and the launch of the next: the host spends the step on other work (CPU ops, Python, "
            "data loading) before or after its GPU work, not on launching kernels."
        )
    return (
        f"{stats.phase} is host/launch-bound: the GPU idles {stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step "
        f"(busy {stats.gpu_busy_ms:.2f} ms; {causes.host_wait_share:.0%} of idle time is waiting for the host to launch) "
        f"with {stats.kernels:.0f} kernels per step{graphs}, about {causes.host_ms_per_kernel * 1000:.0f} us of host time per kernel."
    )


def _device_verdict(stats: PhaseStats, bw: PhaseBandwidth | None, kernels: KernelBreakdown | None, unknown_gpu: str) -> Verdict:
    busy = f"the GPU is busy {1 - stats.idle_fraction:.0%} of each {stats.wall_ms:.1f} ms step"
    shares = {c.category: c.share for c in kernels.categories} if kernels else {}
    per_step = {c.category: c.per_step_ms for c in kernels.categories} if kernels else {}
    comm = shares.get(COMMUNICATION, 0.0)
    if comm >= COMMUNICATION_BOUND_SHARE:
        return Verdict(
            COMMUNICATION_BOUND,
            f"{stats.phase} is communication-bound: {busy}, and {comm:.0%} of its GPU time ({per_step[COMMUNICATION]:.2f} ms per step) is collectives "
            f"(NCCL/RCCL, all-reduce/all-gather){_utilization_clause(bw)}.",
        )
    mbu = bw.mbu if bw else None
    mfu = bw.mfu if bw else None
    if bw is not None and mfu is not None and mfu >= DEVICE_BOUND_MIN_UTILIZATION and (mbu is None or mfu > mbu):
        return Verdict(
            COMPUTE,
            f"{stats.phase} is compute-bound: {busy}, running GEMMs at {bw.achieved_tflops:.0f} TFLOP/s ({mfu:.0%} of the {bw.compute_dtype} peak) while "
            f"moving {bw.achieved_bandwidth_gbps or 0:.0f} GB/s ({(mbu or 0):.0%} of DRAM bandwidth).",
        )
    if bw is not None and mbu is not None and mbu >= DEVICE_BOUND_MIN_UTILIZATION:
        assert bw.bytes_per_step is not None, "an MBU is measured from modelled bytes"
        tf = f" against {mfu:.0%} of the {bw.compute_dtype} tensor peak" if mfu is not None else ""
        return Verdict(
            MEMORY,
            f"{stats.phase} is memory-bound: {busy}, reading {bw.bytes_per_step / 1e9:.2f} GB per step at {bw.achieved_bandwidth_gbps:.0f} GB/s ({mbu:.0%} of "
            f"the GPU's {bw.peak_bandwidth_gbps:.0f} GB/s){tf}.",
        )
    overhead = _overhead(shares)
    known_low = (mbu is not None or mfu is not None) and not (bw and bw.lower_bound)
    if overhead is not None:
        category, share, total = overhead
        low = (
            f"neither compute nor bandwidth is near its limit ({_pcts(bw)})"
            if known_low
            else f"memory vs compute cannot be told ({_why_unknown(bw, unknown_gpu)})"
        )
        return Verdict(
            OVERHEAD,
            f"{stats.phase} is kernel-overhead-bound: {busy}, but {share:.0%} of its GPU time ({per_step[category]:.2f} ms per step) is "
            f"{CATEGORY_LABELS[category]} kernels ({total:.0%} outside GEMMs and attention) while {low}.",
        )
    top = _top_category(shares)
    if known_low:
        return Verdict(
            UNDERUTILIZED,
            f"{stats.phase} is GPU-busy but underutilized: {busy}, yet neither compute nor bandwidth is near its limit ({_pcts(bw)}); "
            f"{top}, running well below the GPU's peaks (small or badly shaped kernels, low occupancy; a larger batch or fused kernels raise it).",
        )
    return Verdict(GPU, f"{stats.phase} is GPU-bound ({busy}; {top}); memory vs compute cannot be told: {_why_unknown(bw, unknown_gpu)}.")


def _overhead(shares: dict) -> tuple[str, float, float] | None:
    """(largest non-arithmetic category, its share, all non-arithmetic share) when they dominate."""
    other = {c: s for c, s in shares.items() if c not in MATH_CATEGORIES}
    if not other:
        return None
    category, share = max(other.items(), key=lambda kv: kv[1])
    total = sum(other.values())
    if share >= SINGLE_CATEGORY_SHARE or total >= OVERHEAD_BOUND_SHARE:
        return category, share, total
    return None


def _top_category(shares: dict) -> str:
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])[:2]
    if not ranked:
        return "no kernel categories"
    return ", ".join(f"{CATEGORY_LABELS[c]} {s:.0%}" for c, s in ranked) + " of GPU time"


def _pcts(bw: PhaseBandwidth | None) -> str:
    parts = []
    if bw and bw.mbu is not None:
        parts.append(f"MBU {bw.mbu:.0%}")
    if bw and bw.mfu is not None:
        parts.append(f"MFU {bw.mfu:.0%} of the {bw.compute_dtype} peak")
    return ", ".join(parts)


def _utilization_clause(bw: PhaseBandwidth | None) -> str:
    pcts = _pcts(bw)
    return f"; the rest runs at {pcts}" if pcts else ""


def _why_unknown(bw: PhaseBandwidth | None, unknown_gpu: str) -> str:
    if unknown_gpu:
        return unknown_gpu
    if bw is None:
        return "no GPU figures"
    if bw.bytes_per_step is None:
        return f"bytes {bw.bytes_source}"
    if bw.lower_bound:
        left_out = "; ".join(bw.unmodelled) or bw.bytes_source
        return f"MBU {_pct(bw.mbu)} and MFU {_pct(bw.mfu)} are lower bounds only ({left_out})"
    return "no FLOPs or bytes modelled for this phase"


def _pct(value) -> str:
    return f"{value:.0%}" if value is not None else "n/a"
