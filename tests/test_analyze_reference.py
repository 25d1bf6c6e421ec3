"""profkit analyze against the independently computed reference figures (traces/samples/README.md)."""

from __future__ import annotations

import pytest

# trace, prefill wall, prefill busy, decode wall, decode busy, decode idle, kernels, syncs, D2H
REFERENCE = [
    ("h200_llama3-8b_bf16_b1", 41.8, 8.28, 38.7, 6.23, 0.838, 1463, 1, 0),
    ("h200_llama3-8b_bf16_b1_rep1", 38.4, 8.28, 37.0, 6.24, 0.832, 1463, 1, 0),
    ("h200_llama3-8b_bf16_b16", 59.8, 56.25, 36.5, 7.36, 0.798, 1463, 1, 0),
    ("h200_llama3-8b_fp16_b1", 43.9, 8.25, 44.1, 6.17, 0.860, 1463, 1, 0),
    ("h200_llama3-8b_int8_b1", 153.1, 21.73, 133.2, 9.33, 0.930, 2775, 257, 256),
    ("h100_llama3-8b_bf16_b1_static_compiled", None, None, 11.5, 6.76, 0.411, 766, 2, 2),
]
REL = 0.01  # the tolerance: within 1%


def close(actual: float, expected: float, rel: float = REL) -> bool:
    # Reference figures are rounded to the digits shown; allow half a unit of the last digit too.
    digits = len(str(expected).split(".")[1]) if "." in str(expected) else 0
    return abs(actual - expected) <= max(rel * abs(expected), 0.5 * 10**-digits)


@pytest.mark.parametrize("name,pw,pb,dw,db,idle,kernels,syncs,d2h", REFERENCE, ids=[r[0] for r in REFERENCE])
def test_decode_steady_state_matches_reference(analysis, name, pw, pb, dw, db, idle, kernels, syncs, d2h):
    d = analysis(name).phases["decode"].stats
    assert close(d.wall_ms, dw), d.wall_ms
    assert close(d.gpu_busy_ms, db), d.gpu_busy_ms
    assert close(d.idle_fraction, idle), d.idle_fraction
    assert d.kernels == kernels
    assert d.sync_calls == syncs
    assert d.d2h_copies == d2h


@pytest.mark.parametrize("name,pw,pb", [(r[0], r[1], r[2]) for r in REFERENCE if r[1] is not None])
def test_prefill_matches_reference(analysis, name, pw, pb):
    p = analysis(name).phases["prefill"].stats
    assert p.steps == 1
    assert close(p.wall_ms, pw), p.wall_ms
    assert close(p.gpu_busy_ms, pb), p.gpu_busy_ms


def test_bf16_b16_host_stall_step_is_flagged_and_excluded(analysis):
    a = analysis("h200_llama3-8b_bf16_b16")
    step2 = next(s for s in a.steps if s.name == "ProfilerStep#2")
    assert step2.outlier and close(step2.wall_ms, 178.27)
    assert "ProfilerStep#2" in a.phases["decode"].stats.outlier_steps
    assert a.phases["decode"].stats.steady_steps == 4
    assert not any(s.outlier for s in a.steps if s.name != "ProfilerStep#2")


def test_every_step_is_measured_with_its_phase(analysis):
    a = analysis("h200_llama3-8b_int8_b1")
    assert [s.name for s in a.steps] == [f"ProfilerStep#{i}" for i in range(1, 7)]
    assert [s.phase for s in a.steps] == ["prefill"] + ["decode"] * 5
    assert a.step_source.phases == "annotation"
    assert all(close(s.wall_ms, w) for s, w in zip(a.steps, [153.13, 131.00, 132.11, 133.17, 138.86, 146.88]))


def test_compiled_trace_phases_inferred_and_graph_replays_recognised(analysis):
    a = analysis("h100_llama3-8b_bf16_b1_static_compiled")
    assert a.step_source.phases == "inferred"
    assert [s.phase for s in a.steps][:2] == ["prefill", "decode"]
    decode = a.phases["decode"]
    # ProfilerStep#2 records the CUDA graph (48 ms): an outlier; steady decode is #3 onward.
    assert decode.stats.outlier_steps == ["ProfilerStep#2"]
    assert decode.stats.graph_launches == 1
    assert decode.causes.graph_launches_per_step == 1
    assert decode.causes.kernels_per_graph_launch > 700


@pytest.mark.parametrize(
    "name,bound",
    [
        ("h200_llama3-8b_bf16_b1", "host"),
        ("h200_llama3-8b_fp16_b1", "host"),
        ("h200_llama3-8b_bf16_b16", "host"),
        ("h200_llama3-8b_int8_b1", "sync"),
        ("h100_llama3-8b_bf16_b1_static_compiled", "memory"),
    ],
)
def test_decode_verdicts(analysis, name, bound):
    assert analysis(name).phases["decode"].verdict.bound == bound


def test_int8_verdict_sentence_carries_the_numbers(analysis):
    v = analysis("h200_llama3-8b_int8_b1").phases["decode"].verdict.sentence
    for text in ("sync-bound", "93%", "133.2 ms", "257 times", "256 device-to-host", "bitsandbytes::int8_vectorwise_quant", "2775 kernels"):
        assert text in v, (text, v)


def test_bf16_b16_prefill_is_compute_bound(analysis):
    p = analysis("h200_llama3-8b_bf16_b16").phases["prefill"]
    assert p.verdict.bound == "compute"
    # 2 * 8.0e9 params * 2048 tokens ~ 3.3e13 FLOP in 56 ms: ~0.55 of the H200's 989 TFLOP/s bf16 peak
    assert 0.45 < p.bandwidth.mfu < 0.65


def test_metadata_fields(analysis):
    m = analysis("h200_llama3-8b_int8_b1").metadata
    assert m.gpu_name == "NVIDIA H200" and m.sm_count == 132 and m.memory_bytes == 150109880320
    assert (m.cuda_driver_version, m.cuda_runtime_version, m.cupti_version) == (13000, 13000, 130001)
    assert m.gpu_spec_key == "h200" and m.peak_bandwidth_gbps == 4800.0
    assert analysis("h100_llama3-8b_bf16_b1_static_compiled").metadata.gpu_spec_key == "h100-sxm"
