"""The idle-time split against HolisticTraceAnalysis on a real trace (ns precision, all steps)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import sample
from profkit.analyses.hta_bridge import hta_idle_breakdown
from profkit.analyses.idle import gap_histogram, idle_breakdown


@pytest.mark.slow
@pytest.mark.parametrize("name", ["h200_llama3-8b_bf16_b1", "h100_llama3-8b_bf16_b1_static_compiled"])
def test_idle_split_matches_hta(trace, name):
    t = trace(name)
    ours = {s.stream: s for s in idle_breakdown(t, np.flatnonzero(t.gpu_runtime_row >= 0))}
    theirs = {s.stream: s for s in hta_idle_breakdown(sample(name))}
    assert set(ours) == set(theirs)
    for stream, h in theirs.items():
        o = ours[stream]
        assert o.host_wait_ms == pytest.approx(h.host_wait_ms, abs=1e-3)
        assert o.kernel_wait_ms == pytest.approx(h.kernel_wait_ms, abs=1e-3)
        assert o.other_ms == pytest.approx(h.other_ms, abs=1e-3)
    assert sum(o.host_wait_ms for o in ours.values()) > 100  # a host-bound trace: real numbers, not zeros


def test_phase_idle_is_mostly_host_wait(analysis):
    c = analysis("h200_llama3-8b_bf16_b1").phases["decode"].causes
    assert c.host_wait_share > 0.95
    assert c.streams[0].idle_ms / 5 == pytest.approx(38.65 * 0.838, rel=0.05)
    assert c.kernels_per_step == 1463 and c.syncs_per_step == 1


def test_int8_sync_issuers_name_bitsandbytes(analysis):
    c = analysis("h200_llama3-8b_int8_b1").phases["decode"].causes
    top = c.sync_issuers[0]
    assert "bitsandbytes::int8_vectorwise_quant" in top.op_path and top.per_step == 224
    assert c.d2h_copies_per_step == 256


def test_gap_histogram_counts_every_gap():
    gaps = np.array([500, 1500, 3000, 40_000, 2_000_000, 20_000_000])
    h = gap_histogram(gaps)
    assert sum(h.values()) == len(gaps)
    assert h["<1"] == 1 and h["1-2"] == 1 and h["2-5"] == 1 and h["20-50"] == 1 and h["1000-10000"] == 1 and h[">=10000"] == 1
