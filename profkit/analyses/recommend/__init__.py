"""Ranked recommendations -- what to change, why, the expected gain, how sure, and how -- from
measurements (sweeps and traces, `profkit.analyses.evidence`) and the hardware model
(`profkit.analyses.estimate`, `profkit.hardware.catalog`). Every figure says whether it was
measured or modelled.

Pure: `recommend(inputs, target, config)` returns data; nothing here reads files or prints.

One concern per module:

- `model`: the config, the recommendation and its gain and evidence, shared constants;
- `curves`: measured batch curves from sweeps and traces;
- `scaling`: how a measured step moves from the profiled GPU to the target (`Projector`);
- `precision`, `batch`, `launch`: one recommendation family each;
- `ranking`: score and order.
"""

from __future__ import annotations

from profkit.analyses.evidence import RecommendInputs
from profkit.analyses.recommend.batch import batch_recommendation
from profkit.analyses.recommend.launch import launch_recommendation
from profkit.analyses.recommend.model import (
    BATCH,
    DEFAULT_TARGET_GPU,
    LAUNCH_OVERHEAD,
    PRECISION,
    Gain,
    Recommendation,
    Recommendations,
    RecommendConfig,
)
from profkit.analyses.recommend.precision import precision_recommendation
from profkit.analyses.recommend.ranking import rank
from profkit.analyses.recommend.scaling import Projector
from profkit.hardware.catalog import GpuSpec

__all__ = [
    "BATCH",
    "DEFAULT_TARGET_GPU",
    "LAUNCH_OVERHEAD",
    "PRECISION",
    "Gain",
    "RecommendConfig",
    "Recommendation",
    "Recommendations",
    "recommend",
    "recommendations",
]


def recommend(inputs: RecommendInputs, target: GpuSpec, config: RecommendConfig | None = None) -> list[Recommendation]:
    """Ranked recommendations for running `inputs.model` on `target`, best first."""
    config = config or RecommendConfig()
    p = Projector(inputs, target, config)
    precision_rec = p.fresh(precision_recommendation)
    chosen = precision_rec.details.get("recommended_precision") if precision_rec else None
    recs = [precision_rec, p.fresh(batch_recommendation, chosen), p.fresh(launch_recommendation, chosen)]
    return rank([r for r in recs if r is not None])


def recommendations(inputs: RecommendInputs, target: GpuSpec, config: RecommendConfig | None = None) -> Recommendations:
    """`recommend` with what the recommendations are for: model, target, where the evidence came
    from, what was set aside, and why there is nothing to recommend when there is nothing."""
    from profkit.analyses.recommend.grouping import nothing_reason

    config = config or RecommendConfig()
    items = recommend(inputs, target, config)
    return Recommendations(
        items=items,
        model=inputs.model.name,
        target_gpu=target.name,
        config=config,
        sources=list(inputs.sources),
        notes=list(inputs.notes),
        set_aside=list(inputs.set_aside),
        nothing="" if items else nothing_reason(inputs),
        measured_context_lens=sorted({c.context_len for c in inputs.configs if c.context_len}),
    )
