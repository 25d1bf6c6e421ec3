"""What a recommendation is: the user's config, the ranked result with its evidence and expected
gain, and the constants the recommendation families share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from profkit.analyses.estimate import DEFAULT_CONTEXT_LEN
from profkit.errors import ProfkitError, option

#: The user's GPU when none is named: the issue's question is about an A100 40GB.
DEFAULT_TARGET_GPU = "a100-40gb-sxm"

PRECISION, BATCH, LAUNCH_OVERHEAD = "precision", "batch", "launch_overhead"
KINDS = (PRECISION, BATCH, LAUNCH_OVERHEAD)
HIGH, MEDIUM, LOW = "high", "medium", "low"
#: Weight of each confidence level in the ranking score.
CONFIDENCE_WEIGHT = {HIGH: 1.0, MEDIUM: 0.7, LOW: 0.4}
MEASURED, MODELLED = "measured", "modelled"

SIXTEEN_BIT = ("bf16", "fp16")
EIGHT_BIT = ("int8",)
#: Fraction of the bandwidth roofline decode kernels reach while they run, when no trace of the
#: precision measured it: profkit's H200 reference traces ran eager bf16/fp16 decode kernels at
#: 43-51% of the roofline (GPU busy time against bytes / datasheet bandwidth).
DEFAULT_KERNEL_EFFICIENCY = 0.5
#: Throughput that grows by at least this fraction of the batch growth counts as still linear.
LINEAR_SCALING_MIN = 0.9
#: The batch curve is extrapolated at most this factor beyond the largest measured batch.
MAX_EXTRAPOLATION = 4
#: Host time per token left after static cache + CUDA graphs (graph replay, sampling, the generate
#: loop) when no compiled run measured it: profkit's H100 reference (bf16 batch 1, static cache +
#: torch.compile) took 11.47 ms per token with the GPU busy 6.77 ms.
COMPILED_RESIDUAL_HOST_MS = 4.7


@dataclass(frozen=True)
class RecommendConfig:
    """What the user deploys and the latency they need. Defaults live here (the CLI reads them)."""

    context_len: int = DEFAULT_CONTEXT_LEN
    """Tokens per sequence in the KV cache (prompt + generated) on the target: sets the memory limit
    on the batch and the KV bytes each decode step reads."""
    tpot_slo_ms: float | None = None
    """Latency target for the time per output token, checked against the p90 (median where no p90
    was measured), in ms; None = no target."""
    ttft_slo_ms: float | None = None
    """Latency target for the time to first token at the measured prompt length, in ms; None = no target."""

    def __post_init__(self):
        if not isinstance(self.context_len, int) or self.context_len < 1:
            raise ProfkitError(f"{option('context_len')} must be a whole number >= 1, got {self.context_len!r}")
        for name, value in (("tpot_slo_ms", self.tpot_slo_ms), ("ttft_slo_ms", self.ttft_slo_ms)):
            if value is not None and not value > 0:
                raise ProfkitError(f"{option(name)} must be a positive number of milliseconds, got {value}")


@dataclass(frozen=True)
class Evidence:
    """One fact behind a recommendation and where it comes from."""

    text: str
    source: str  # file(s) the numbers come from; "model" for catalog/roofline figures
    measured: bool = True


@dataclass(frozen=True)
class Gain:
    """Expected gain of a change, as a factor (2.0 = twice as fast) on the target GPU."""

    metric: str  # what gets faster: "decode tokens/s per sequence", "decode tokens/s (aggregate)"
    low: float
    high: float
    gpu: str  # the GPU low/high apply to (the target)
    basis: str  # MEASURED when low/high were measured on that GPU at that context, else MODELLED
    measured_low: float | None = None  # the same gain as measured where it was profiled
    measured_high: float | None = None
    measured_gpu: str | None = None
    text: str = ""

    @property
    def mid(self) -> float:
        return math.sqrt(max(self.low, 1e-9) * max(self.high, 1e-9))

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "unit": "x",
            "low": round(self.low, 3),
            "high": round(self.high, 3),
            "gpu": self.gpu,
            "basis": self.basis,
            "measured_range": None
            if self.measured_low is None
            else {"low": round(self.measured_low, 3), "high": round(self.measured_high or self.measured_low, 3), "gpu": self.measured_gpu},
            "text": self.text,
        }


@dataclass
class Recommendation:
    """One ranked recommendation."""

    kind: str  # one of KINDS
    change: str  # what to change, one sentence
    why: str  # the measured numbers in one or two sentences
    evidence: list[Evidence]
    expected_gain: Gain
    measured: bool  # the gain rests on a measured before and after (expected_gain.measured_*), not only the model
    confidence: str  # HIGH, MEDIUM or LOW
    confidence_reason: str
    how: list[str]  # flags, options and code
    target: dict  # gpu_key, gpu_name, context_len, scaled_from, scaling
    flags: list[str] = field(default_factory=list)  # e.g. "throughput_still_linear", "headroom_beyond_measured", "scaled_to_target"
    details: dict = field(default_factory=dict)  # kind-specific numbers
    score: float = 0.0
    rank: int = 0

    def to_dict(self) -> dict:
        """Plain JSON-ready data (docs/recommend-json.md)."""
        return {
            "rank": self.rank,
            "kind": self.kind,
            "change": self.change,
            "why": self.why,
            "evidence": [{"text": e.text, "source": e.source, "measured": e.measured} for e in self.evidence],
            "expected_gain": self.expected_gain.to_dict(),
            "measured": self.measured,
            "confidence": self.confidence,
            "confidence_reason": self.confidence_reason,
            "how": list(self.how),
            "target": dict(self.target),
            "flags": list(self.flags),
            "score": round(self.score, 3),
            "details": self.details,
        }


@dataclass
class Recommendations:
    """Ranked recommendations (best first, iterable like a list) and what they are for: the model,
    the target GPU and latency targets, where the evidence came from, what was set aside, and why
    there is nothing to recommend when there is nothing."""

    items: list[Recommendation]
    model: str
    target_gpu: str
    config: RecommendConfig
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)  # evidence left out (the CPU, other models) and why
    nothing: str = ""  # why there is nothing to recommend ("" when there is something)
    measured_context_lens: list[int] = field(default_factory=list)  # the context lengths the measurements ran at

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Recommendation:
        return self.items[index]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "target_gpu": self.target_gpu,
            "context_len": self.config.context_len,
            "tpot_slo_ms": self.config.tpot_slo_ms,
            "ttft_slo_ms": self.config.ttft_slo_ms,
            "recommendations": [r.to_dict() for r in self.items],
            "sources": list(self.sources),
            "notes": list(self.notes),
            "set_aside": list(self.set_aside),
            "nothing": self.nothing,
        }

    def to_frame(self):
        """One row per recommendation: rank, kind, change, expected gain (low, high, metric, basis),
        measured or modelled, confidence."""
        from profkit.frames import records_frame

        columns = ("rank", "kind", "change", "gain_low", "gain_high", "gain_metric", "gain_basis", "measured", "confidence", "why")
        return records_frame(
            (
                {
                    "rank": r.rank,
                    "kind": r.kind,
                    "change": r.change,
                    "gain_low": r.expected_gain.low,
                    "gain_high": r.expected_gain.high,
                    "gain_metric": r.expected_gain.metric,
                    "gain_basis": r.expected_gain.basis,
                    "measured": r.measured,
                    "confidence": r.confidence,
                    "why": r.why,
                }
                for r in self.items
            ),
            columns,
        )
