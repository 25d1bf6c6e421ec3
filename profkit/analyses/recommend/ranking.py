"""Ranking: score = log2(geometric mean of the expected-gain range on the target) x the confidence
weight (`CONFIDENCE_WEIGHT`): doublings of speed, discounted by how sure profkit is."""

from __future__ import annotations

import math

from profkit.analyses.recommend.model import CONFIDENCE_WEIGHT, Recommendation


def score(rec: Recommendation) -> float:
    """Doublings of speed the change is expected to bring on the target, times its confidence weight."""
    return math.log2(rec.expected_gain.mid) * CONFIDENCE_WEIGHT[rec.confidence]


def rank(recs: list[Recommendation]) -> list[Recommendation]:
    """`recs` best first, with `score` and `rank` (1 = best) set on each."""
    for r in recs:
        r.score = score(r)
    ranked = sorted(recs, key=lambda r: -r.score)
    for i, r in enumerate(ranked, 1):
        r.rank = i
    return ranked
