"""Kernel categories, top kernels with their ops, and shape-based bandwidth on the real traces."""

from __future__ import annotations

import pytest

from profkit.analyses.bandwidth import op_bytes, op_flops
from profkit.analyses.kernels import CATEGORIES, categorize


def shares(phase_report) -> dict:
    return {c.category: c.share for c in phase_report.kernels.categories}


def per_step(phase_report) -> dict:
    return {c.category: c.per_step_ms for c in phase_report.kernels.categories}


def test_bf16_decode_is_mostly_gemm(analysis):
    s = shares(analysis("h200_llama3-8b_bf16_b1").phases["decode"])
    assert s["gemm"] == pytest.approx(0.710, abs=0.01)
    assert "int8_gemm" not in s and "int8_quant" not in s
    assert sum(s.values()) == pytest.approx(1.0)


def test_fp16_hsh_kernels_are_gemms_like_bf16_tst(analysis):
    bf16 = per_step(analysis("h200_llama3-8b_bf16_b1").phases["decode"])["gemm"]
    fp16 = per_step(analysis("h200_llama3-8b_fp16_b1").phases["decode"])["gemm"]
    assert fp16 == pytest.approx(bf16, rel=0.05)
    top = analysis("h200_llama3-8b_fp16_b1").phases["decode"].kernels.top[0]
    assert top.kernel.startswith("nvjet_sm90_hsh_") and top.category == "gemm" and top.op == "aten::mm"


def test_int8_decode_splits_int8_gemm_and_quantization(analysis):
    d = analysis("h200_llama3-8b_int8_b1").phases["decode"]
    ms = per_step(d)
    assert ms["int8_gemm"] == pytest.approx(4.04, rel=0.02)
    assert ms["int8_quant"] == pytest.approx(2.88, rel=0.02)
    assert ms["gemm"] == pytest.approx(0.239, rel=0.05)  # the fp16 lm_head
    top = d.kernels.top[0]
    assert "i16832gemm_s8" in top.kernel and top.op == "bitsandbytes::int8_linear_matmul"
    assert "MatMul8bitLt" in top.op_path


def test_compiled_triton_and_graph_kernels_are_categorised(trace, analysis):
    t = trace("h100_llama3-8b_bf16_b1_static_compiled")
    cats = categorize(t)
    names = t.names(t.gpu.name_id)
    by_name = {n: CATEGORIES[c] for n, c in zip(names, cats)}
    assert by_name["nvjet_sm90_tst_64x8_64x16_2x1_v_bz_TNT"] == "gemm"
    assert any(k.startswith("triton_red_fused") and "rsqrt" in k and v == "normalization" for k, v in by_name.items())
    assert any(k.startswith("triton_poi_fused") and "silu" in k and v == "elementwise" for k, v in by_name.items())
    assert any("sdpa" in k and v == "attention" for k, v in by_name.items())
    assert shares(analysis("h100_llama3-8b_bf16_b1_static_compiled").phases["decode"])["gemm"] > 0.8


def test_kv_cache_cat_is_recognised(analysis):
    d = analysis("h200_llama3-8b_bf16_b1").phases["decode"]
    assert per_step(d)["kv_cache"] > 0  # DynamicCache torch.cat along the sequence axis
    assert d.kernels.categories and all(c.count > 0 for c in d.kernels.categories)


def test_bf16_decode_bytes_match_nsight_compute(analysis):
    bw = analysis("h200_llama3-8b_bf16_b1").phases["decode"].bandwidth
    # Nsight Compute DRAM reads of one eager bf16 decode step (traces/samples/README.md): 15.09 GB, GEMMs 15.02 GB.
    assert bw.bytes_per_step / 1e9 == pytest.approx(15.09, rel=0.01)
    assert bw.gemm_bytes_per_step / 1e9 == pytest.approx(15.02, rel=0.01)
    lm_head = next(g for g in bw.gemms if g.input_dims == "[[1,4096],[4096,128256]]")
    assert lm_head.bytes_per_call / 1e9 == pytest.approx(1.05, rel=0.01)
    assert bw.achieved_bandwidth_gbps == pytest.approx(bw.bytes_per_step / (6.23e-3) / 1e9, rel=0.01)
    assert bw.mbu == pytest.approx(bw.achieved_bandwidth_gbps / 4800, rel=1e-9)
    assert bw.mbu_wall == pytest.approx(bw.bytes_per_step / 38.65e-3 / 1e9 / 4800, rel=0.01)


def test_int8_decode_bytes_close_to_nsight_compute(analysis):
    bw = analysis("h200_llama3-8b_int8_b1").phases["decode"].bandwidth
    # ncu: 8.59 GB, of which int8 GEMMs 6.98 GB, fp16 lm_head 1.05 GB, outlier-column indexing 0.37 GB.
    # The shape model counts GEMMs + attention (8.05 GB): the gather's partial reads are not modelled.
    int8 = sum(g.bytes_per_call * g.calls for g in bw.gemms if g.op == "bitsandbytes::int8_linear_matmul") / 5
    assert int8 / 1e9 == pytest.approx(6.98, rel=0.02)
    assert bw.bytes_per_step / 1e9 == pytest.approx(8.59 - 0.37, rel=0.03)


def test_compiled_decode_bytes_fall_back_to_prefill_weight_shapes(analysis):
    bw = analysis("h100_llama3-8b_bf16_b1_static_compiled").phases["decode"].bandwidth
    assert bw.bytes_source.startswith("modelled")
    assert bw.bytes_per_step / 1e9 == pytest.approx(15.0, rel=0.01)  # README: 15.0 GB of weights per token
    assert bw.peak_bandwidth_gbps == 3352.0


def test_op_bytes_and_flops_from_shapes():
    assert op_bytes("aten::mm", [[1, 4096], [4096, 14336]], ["c10::BFloat16"] * 2) == (4096 + 4096 * 14336 + 14336) * 2
    # bitsandbytes int8 weights are [out, in]; output is int32
    assert op_bytes("bitsandbytes::int8_linear_matmul", [[1, 4096], [1024, 4096]], ["signed char"] * 2) == 4096 + 1024 * 4096 + 1024 * 4
    assert op_bytes("aten::addmm", [[4096], [2, 8], [8, 4096]], ["float"] * 3) == (4096 + 16 + 8 * 4096 + 2 * 4096) * 4
    assert op_flops("aten::mm", [[16, 4096], [4096, 1024]]) == 2 * 16 * 4096 * 1024
    assert op_flops("bitsandbytes::int8_linear_matmul", [[1, 4096], [1024, 4096]]) == 2 * 4096 * 1024


def test_batched_gemms_count_their_batch_once():
    """bmm [B,M,K] x [B,K,N] is 2*B*M*N*K FLOPs (the batch was counted twice: a TimeSformer trace on an
    H100 then showed 359% MFU, withheld), and broadcasting matmuls batch as torch does."""
    bf16 = ["c10::BFloat16"] * 3
    assert op_flops("aten::bmm", [[96, 3137, 64], [96, 64, 3137]]) == 2 * 96 * 3137 * 3137 * 64
    assert op_flops("aten::baddbmm", [[4, 8, 8], [4, 8, 16], [4, 16, 8]]) == 2 * 4 * 8 * 8 * 16
    assert op_flops("aten::matmul", [[1, 16, 4096], [4096, 1024]]) == 2 * 16 * 4096 * 1024  # a weight: rows fold
    assert op_flops("aten::matmul", [[16, 32], [8, 32, 64]]) == 2 * 8 * 16 * 32 * 64  # A broadcast over B's batch
    assert op_bytes("aten::bmm", [[96, 3137, 64], [96, 64, 3137]], bf16) == (2 * 96 * 3137 * 64 + 96 * 3137 * 3137) * 2
    assert op_bytes("aten::matmul", [[16, 32], [8, 32, 64]], bf16) == (16 * 32 + 8 * 32 * 64 + 8 * 16 * 64) * 2


def test_gemm_rows_report_achieved_bandwidth(analysis):
    bw = analysis("h200_llama3-8b_bf16_b1").phases["decode"].bandwidth
    up = next(g for g in bw.gemms if g.input_dims == "[[1,4096],[4096,14336]]")
    assert up.calls == 2 * 32 * 5  # gate and up projections, 32 layers, 5 steps
    assert up.achieved_gbps == pytest.approx(up.bytes_per_call / (up.mean_us * 1e-6) / 1e9, rel=1e-9)
    assert 0.5 < up.fraction_of_peak < 1.0
