"""How a measured decode step moves from the GPU it was profiled on to the target GPU and the
user's context length (`Projector`), and the text that says so.

  GPU time there  = the roofline time (`estimate`) / the kernel efficiency, the fraction of the
                    roofline the profiled kernels reached (roofline time / GPU busy time in a trace
                    of the same precision; `DEFAULT_KERNEL_EFFICIENCY` without one). Where a trace
                    measured the GPU busy time, that is used and scaled by the roofline ratio.
  host time       = unchanged: the same CPU and software are assumed.
  host/launch-bound step (the GPU idles >= half the step; it runs ahead of the host)
                  -> max(measured step, GPU time on the target)
  sync-bound step (host and GPU take turns) -> measured step + (GPU time on the target - there)
  GPU-bound step  -> measured step x GPU time on the target / there
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from profkit.analyses.estimate import estimate, kv_bytes_per_token
from profkit.analyses.evidence import RecommendInputs, TraceEvidence
from profkit.analyses.recommend.curves import Curve, CurvePoint, half_new
from profkit.analyses.recommend.model import DEFAULT_KERNEL_EFFICIENCY, Evidence, RecommendConfig
from profkit.analyses.verdict import HOST, IDLE_BOUND_FRACTION, MEMORY, SYNC
from profkit.hardware.catalog import GpuSpec, match_gpu
from profkit.models import LlamaShape


@lru_cache(maxsize=4096)
def ideal_ms(shape: LlamaShape, gpu: GpuSpec, precision: str, batch: int, context: int) -> tuple[float, float]:
    """(decode step ms, prefill ms of `batch` prompts of `context` tokens) at the roofline."""
    est = estimate(shape, gpu, precision, context_len=max(int(context), 1), batch_size=max(int(batch), 1))
    return est.decode_ms_ideal, est.prefill_ms_ideal


@dataclass(frozen=True)
class Projection:
    """A step time moved from the GPU it was measured on to the target at the user's context (ms)."""

    measured_ms: float
    gpu_from_ms: float
    gpu_to_ms: float
    bound: str
    target_ms: float
    on_target: bool  # measured on the target GPU at (at least) the user's context: target_ms = measured_ms


class Projector:
    """Shared model state for one `recommend` call: shape, target, efficiencies from the traces."""

    def __init__(self, inputs: RecommendInputs, target: GpuSpec, config: RecommendConfig):
        self.inputs, self.target, self.config = inputs, target, config
        self.shape = inputs.model
        self.context = config.context_len
        self.scaled_from: set[str] = set()

    def fresh(self, builder, *args):
        """Run one recommendation builder with its own record of the GPUs it scaled from."""
        self.scaled_from = set()
        return builder(self, *args)

    # -- efficiencies and bounds --
    def efficiency(self, precision: str, mode: str, phase: str = "decode") -> tuple[float, str]:
        """Fraction of the roofline the kernels reached (median over traces of this precision; same mode first)."""
        for same_mode in (True, False):
            values, names = [], []
            for t in self.inputs.traces:
                if t.precision != precision or (same_mode and t.mode != mode) or t.gpu is None or not t.batch_size:
                    continue
                rep = t.analysis.phases.get(phase)
                if rep is None or rep.stats.gpu_busy_ms <= 0:
                    continue
                ctx = (t.prompt_len or 1) + (1 if phase == "decode" else 0)
                decode_ms, prefill_ms = ideal_ms(self.shape, t.gpu, precision, t.batch_size, ctx)
                values.append((decode_ms if phase == "decode" else prefill_ms) / rep.stats.gpu_busy_ms)
                names.append(t.name)
            if values:
                return float(np.median(values)), f"{phase} kernels at {np.median(values):.0%} of the roofline in {', '.join(names)}"
        return DEFAULT_KERNEL_EFFICIENCY, f"assumed {DEFAULT_KERNEL_EFFICIENCY:.0%} of the roofline (no {precision} trace)"

    def modelled_busy_ms(self, gpu: GpuSpec, precision: str, mode: str, batch: int, context: int) -> tuple[float, str]:
        """GPU busy ms of one decode step on `gpu` (roofline time / kernel efficiency) and where the efficiency comes from."""
        eff, source = self.efficiency(precision, mode)
        return ideal_ms(self.shape, gpu, precision, batch, context)[0] / eff, source

    def decode_trace(self, precision: str, mode: str) -> TraceEvidence | None:
        found = [t for t in self.inputs.traces if t.precision == precision and t.mode == mode and "decode" in t.analysis.phases]
        return min(found, key=lambda t: (t.batch_size or 0, t.path)) if found else None

    def bound(self, precision: str, mode: str, gpu_ms: float, step_ms: float) -> str:
        """The decode bound from a trace of this precision and mode; else host when the modelled GPU time is under half the step."""
        t = self.decode_trace(precision, mode)
        if t is not None and t.analysis.phases["decode"].verdict.bound:
            return t.analysis.phases["decode"].verdict.bound
        return HOST if gpu_ms < IDLE_BOUND_FRACTION * step_ms else MEMORY

    # -- projections --
    def ratio(self, gpu_from: GpuSpec, precision: str, batch: int, ctx_from: int, phase: str = "decode") -> float:
        """Roofline time on the target at the user's context / on `gpu_from` at `ctx_from`."""
        i = 0 if phase == "decode" else 1
        to = ideal_ms(self.shape, self.target, precision, batch, self.context if phase == "decode" else ctx_from)[i]
        return to / ideal_ms(self.shape, gpu_from, precision, batch, ctx_from)[i]

    def decode(
        self, step_ms: float, gpu_from: GpuSpec, precision: str, mode: str, batch: int, ctx_from: int, ctx_end: int | None, busy_ms: float | None = None
    ) -> Projection:
        """Move one measured decode step (median or p90) to the target at the user's context."""
        if busy_ms is None:
            busy_ms, _ = self.modelled_busy_ms(gpu_from, precision, mode, batch, ctx_from)
        to_ms = busy_ms * self.ratio(gpu_from, precision, batch, ctx_from)
        bound = self.bound(precision, mode, busy_ms, step_ms)
        on_target = gpu_from.key == self.target.key and ctx_end is not None and self.context <= ctx_end
        if on_target:
            return Projection(step_ms, busy_ms, busy_ms, bound, step_ms, True)
        self.scaled_from.add(gpu_from.name)
        if bound == SYNC:
            ms = step_ms + (to_ms - busy_ms)
        elif bound == HOST:
            ms = max(step_ms, to_ms)
        else:
            ms = step_ms * to_ms / busy_ms
        return Projection(step_ms, busy_ms, to_ms, bound, ms, False)

    def decode_point(self, curve: Curve, pt: CurvePoint) -> Projection:
        """Move the median decode step of one measured point of `curve` to the target."""
        return self.decode(pt.tpot_ms, curve.gpu, curve.precision, curve.mode, pt.batch, pt.prompt_len + half_new(pt), pt.context_end, pt.busy_ms)

    def prefill(self, ttft_ms: float, gpu_from: GpuSpec, precision: str, mode: str, batch: int, prompt: int) -> float:
        """TTFT on the target: the measured TTFT + the change in prefill GPU time (no overlap assumed)."""
        if gpu_from.key == self.target.key:
            return ttft_ms
        eff, _ = self.efficiency(precision, mode, "prefill")
        here = ideal_ms(self.shape, gpu_from, precision, batch, prompt)[1]
        there = ideal_ms(self.shape, self.target, precision, batch, prompt)[1]
        return max(ttft_ms + (there - here) / eff, 0.0)

    # -- memory on the target --
    def max_batch(self, precision: str) -> int:
        """Largest batch whose KV cache fits on the target at the user's context (the memory model)."""
        return estimate(self.shape, self.target, precision, context_len=self.context, batch_size=1).max_batch

    def memory_evidence(self, precisions: tuple[str, ...]) -> Evidence:
        """Weights, headroom and the largest batch of each precision on the target at the user's context (modelled)."""
        parts = []
        for prec in precisions:
            est = estimate(self.shape, self.target, prec, context_len=self.context, batch_size=1)
            parts.append(f"{prec} weights {est.weights_bytes / 1e9:.2f} GB leave {est.headroom_bytes / 2**30:.1f} GiB -> max batch {est.max_batch}")
        kv = kv_bytes_per_token(self.shape)
        return Evidence(
            f"memory on {self.target.name} at {self.context:,} tokens (KV cache {kv / 1024:.0f} KiB/token, "
            f"{kv * self.context / 2**30:.2f} GiB per sequence): " + "; ".join(parts),
            "model",
            False,
        )

    # -- what the target was and how the numbers got there --
    def scaled_flags(self) -> list[str]:
        return ["scaled_to_target"] if self.scaled_from else []

    def target_info(self) -> dict:
        return {
            "gpu_key": self.target.key,
            "gpu_name": self.target.name,
            "context_len": self.context,
            "scaled_from": sorted(self.scaled_from),
            "scaling": self.scaling_text(),
        }

    def scaling_text(self) -> str:
        if not self.scaled_from:
            return f"measured on the target ({self.target.name}); no scaling"
        specs = (self._spec_named(name) for name in sorted(self.scaled_from))
        parts = [self._scaling_from(spec) for spec in specs if spec is not None]
        return (
            f"modelled for {self.target.name} at {self.context:,} tokens of context, "
            + "; ".join(parts)
            + "; GPU time scaled by the roofline ratio, host time kept (same CPU and software assumed)"
        )

    def _scaling_from(self, spec: GpuSpec) -> str:
        """Datasheet bandwidth and bf16 peak of `spec` against the target's (and the run's measured copy bandwidth)."""
        bw = self.target.bandwidth_gbps / spec.bandwidth_gbps
        tf = self.target.peak_tflops.get("bf16", 0) / spec.peak_tflops.get("bf16", 1)
        measured = self._measured_copy_gbps(spec)
        return (
            f"from {spec.name} with the catalog's datasheet numbers: bandwidth {spec.bandwidth_gbps:,.0f} -> "
            f"{self.target.bandwidth_gbps:,.0f} GB/s ({bw:.2f}x), bf16 peak {spec.peak_tflops.get('bf16', 0):,.0f} -> "
            f"{self.target.peak_tflops.get('bf16', 0):,.0f} TFLOP/s ({tf:.2f}x)"
            + (
                f" (measured copy bandwidth there {measured:,.0f} GB/s, {measured / spec.bandwidth_gbps:.0%} of the datasheet; "
                "the same fraction is assumed on the target)"
                if measured
                else ""
            )
        )

    def _measured_copy_gbps(self, spec: GpuSpec) -> float | None:
        """The run's measured device-to-device copy bandwidth (read + write) on `spec`'s GPU, if recorded."""
        for name, ceilings in self.inputs.ceilings.items():
            found = match_gpu(name)
            if found is not None and found.key == spec.key and ceilings.get("d2d_copy_GBps_read_plus_write"):
                return float(ceilings["d2d_copy_GBps_read_plus_write"])
        return None

    def _spec_named(self, name: str) -> GpuSpec | None:
        for c in self.inputs.configs:
            if c.gpu is not None and c.gpu.name == name:
                return c.gpu
        for t in self.inputs.traces:
            if t.gpu is not None and t.gpu.name == name:
                return t.gpu
        return None


def gain_text(m_lo, m_hi, m_where: str, lo: float, hi: float, p: Projector, on_target: bool, over: str) -> str:
    """The gain range on the target (measured there, or modelled at the user's context) and as measured where profiled."""
    rng = lambda a, b: f"{a:.1f}x" if abs(a - b) < 0.05 else f"{a:.1f}-{b:.1f}x"  # noqa: E731
    if on_target:
        return f"{rng(lo, hi)} measured on {p.target.name} ({over})"
    text = f"{rng(lo, hi)} modelled on {p.target.name} at {p.context:,} tokens ({over})"
    if m_lo is not None:
        text += f"; {rng(m_lo, m_hi)} measured on {m_where}"
    return text
