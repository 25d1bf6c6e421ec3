"""`profkit estimate` against numbers worked out by hand (2% tolerance), and the CLI around it.

Llama 3 8B, written out once:
  hidden h = 4096, intermediate I = 14336, L = 32 layers, 32 heads, 8 KV heads, head_dim 128, vocab V = 128256
  linear params per layer = 2*h*h (q, o) + 2*h*1024 (k, v) + 3*h*I = 33,554,432 + 8,388,608 + 176,160,768 = 218,103,808
  decoder linears = 32 * 218,103,808 = 6,979,321,856
  embedding = lm_head = V*h = 525,336,576;   norms = (2L+1)*h = 266,240
  total params = 8,030,261,248
  output rows per layer (q,k,v,o,gate,up,down) = 4096+1024+1024+4096+14336+14336+4096 = 43,008
A100 40GB SXM: totalGlobalMem 42,505,273,344 bytes, 1555 GB/s, 312 TFLOP/s bf16/fp16, 624 TOPS int8.
"""

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from profkit.analyses.estimate import (
    CUDA_CONTEXT_BYTES,
    EstimateConfig,
    decode_bytes_per_token,
    estimate,
    kv_bytes_per_token,
    weight_bytes_breakdown,
    weights_bytes,
)
from profkit.errors import ProfkitError
from profkit.hardware.catalog import get_gpu
from profkit.models import LLAMA_CONFIGS, LlamaShape

LLAMA = LLAMA_CONFIGS["llama-3-8b"]
A100 = get_gpu("a100-40gb-sxm")
REL = 0.02

A100_BYTES = 42_505_273_344
LINEAR_PARAMS = 32 * 218_103_808  # 6,979,321,856
TABLE_PARAMS = 128_256 * 4096  # embedding = lm_head = 525,336,576
NORM_PARAMS = 65 * 4096
ROWS = 32 * 43_008  # output rows of all decoder linears: 1,376,256

# Weights.
BF16_WEIGHTS = 2 * (LINEAR_PARAMS + 2 * TABLE_PARAMS + NORM_PARAMS)  # 16,060,522,496 (= measured on the H200)
# bitsandbytes int8: 1 B per linear weight + fp32 SCB per output row; embedding, lm_head, norms fp16.
INT8_WEIGHTS = LINEAR_PARAMS + 4 * ROWS + 2 * (2 * TABLE_PARAMS + NORM_PARAMS)  # 9,086,705,664
# nf4: 0.5 B per linear weight + fp32 absmax per 64 weights; embedding, lm_head, norms 16-bit.
NF4_WEIGHTS = LINEAR_PARAMS // 2 + 4 * (LINEAR_PARAMS // 64) + 2 * (2 * TABLE_PARAMS + NORM_PARAMS)  # 6,027,747,328
# int8 weight-only: linears and lm_head 1 B + bf16 scale per output row; embedding and norms bf16.
INT8WO_WEIGHTS = LINEAR_PARAMS + 2 * ROWS + TABLE_PARAMS + 2 * 128_256 + 2 * (TABLE_PARAMS + NORM_PARAMS)  # 8,558,873,088

# KV cache: 2 (K, V) * 32 layers * 8 KV heads * 128 head_dim * 2 bytes = 131,072 = 128 KiB per token.
KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2
CONTEXT = 8192
KV_PER_SEQ = KV_PER_TOKEN * CONTEXT  # 1 GiB at 8k
# Prefill activations of one 8k sequence: 8192 tokens * 2 B * (2*4096 + 3*14336) = 838,860,800; logits 128256*4 per sequence.
PREFILL_ACT = CONTEXT * 2 * (2 * 4096 + 3 * 14336)
LOGITS = 128_256 * 4


def max_batch_by_hand(weights: int) -> int:
    return (A100_BYTES - weights - CUDA_CONTEXT_BYTES - PREFILL_ACT) // (KV_PER_SEQ + LOGITS)


@pytest.mark.parametrize(
    "precision, expected",
    [("bf16", BF16_WEIGHTS), ("fp16", BF16_WEIGHTS), ("int8", INT8_WEIGHTS), ("nf4", NF4_WEIGHTS), ("int8-weight-only", INT8WO_WEIGHTS)],
)
def test_weights_bytes_by_hand(precision, expected):
    assert weights_bytes(LLAMA, precision) == pytest.approx(expected, rel=REL)


def test_weights_match_measured_loads():
    # h200_run_results.json "loads": bf16 16,060,522,496 and int8 9,081,200,640 bytes of parameters.
    assert weights_bytes(LLAMA, "bf16") == 16_060_522_496
    # The measured int8 figure sums parameters only; SCB (32 * 43,008 rows * 4 B = 5,505,024) is a buffer.
    assert weights_bytes(LLAMA, "int8") == pytest.approx(9_081_200_640, rel=0.01)
    assert weights_bytes(LLAMA, "int8") - 9_081_200_640 == 4 * ROWS
    assert weight_bytes_breakdown(LLAMA, "int8").lm_head_bytes == 2 * TABLE_PARAMS  # lm_head stays fp16


def test_kv_bytes_per_token():
    assert kv_bytes_per_token(LLAMA) == KV_PER_TOKEN == 128 * 1024
    assert kv_bytes_per_token(LLAMA, kv_dtype_bytes=1) == 64 * 1024


@pytest.mark.parametrize(
    "precision, weights, expected_batch",
    [
        # bf16: (42,505,273,344 - 16,060,522,496 - 536,870,912 - 838,860,800) / (1,073,741,824 + 513,024) = 23.3
        ("bf16", BF16_WEIGHTS, 23),
        # int8: (42,505,273,344 - 9,086,705,664 - 536,870,912 - 838,860,800) / 1,074,254,848 = 29.8
        ("int8", INT8_WEIGHTS, 29),
    ],
)
def test_max_batch_at_8k_on_a100_40gb(precision, weights, expected_batch):
    est = estimate(LLAMA, A100, precision, CONTEXT, 1)
    assert max_batch_by_hand(weights) == expected_batch
    assert est.max_batch == pytest.approx(expected_batch, rel=REL)


def test_seed_statements_int8_on_a100_40gb():
    est = estimate(LLAMA, A100, "int8", CONTEXT, 1)
    # "about 8-9 GB of weights": 9,086,705,664 B = 8.46 GiB.
    assert 8 * 2**30 < est.weights_bytes < 9 * 2**30
    # "about 31 GB of headroom": 42,505,273,344 - 9,086,705,664 - 536,870,912 = 32,881,696,768 B = 30.62 GiB.
    assert est.headroom_bytes == pytest.approx(A100_BYTES - INT8_WEIGHTS - CUDA_CONTEXT_BYTES, rel=REL)
    assert est.headroom_bytes / 2**30 == pytest.approx(31, rel=REL)


@pytest.mark.parametrize(
    "precision, read_bytes, seed_tok_s",
    [
        # bf16 reads all weights but the embedding table: 16,060,522,496 - 1,050,673,152 = 15,009,849,344 B,
        # + one 8 KiB embedding row + one 128 KiB KV write; 1555e9 / 15.01e9 = 103.6 tok/s (seed: about 104).
        ("bf16", BF16_WEIGHTS - 2 * TABLE_PARAMS, 104),
        # int8: 9,086,705,664 - 1,050,673,152 = 8,036,032,512 B -> 193.5 tok/s (seed: about 190).
        ("int8", INT8_WEIGHTS - 2 * TABLE_PARAMS, 190),
    ],
)
def test_ideal_batch1_decode_on_a100_40gb(precision, read_bytes, seed_tok_s):
    est = estimate(LLAMA, A100, precision, CONTEXT, 1)
    by_hand = 1555e9 / (read_bytes + 2 * 4096 + KV_PER_TOKEN)
    assert est.decode_tokens_per_s_ideal_empty_cache == pytest.approx(by_hand, rel=REL)
    assert est.decode_tokens_per_s_ideal_empty_cache == pytest.approx(seed_tok_s, rel=REL)
    # With the 8k KV cache (1 GiB) read every step: bf16 1555e9 / 16.08e9 = 96.7, int8 / 9.11e9 = 170.7 tok/s.
    at_8k = 1555e9 / (read_bytes + 2 * 4096 + KV_PER_TOKEN + KV_PER_SEQ)
    assert est.decode_tokens_per_s_ideal == pytest.approx(at_8k, rel=REL)
    assert est.decode_bound == "memory"
    assert est.decode_tokens_per_s_ideal_aggregate == pytest.approx(est.decode_tokens_per_s_ideal)


def test_decode_bytes_match_nsight_on_h100():
    # Nsight Compute, H100, one eager bf16 decode step at context 130: 15.09 GB read.
    assert decode_bytes_per_token(LLAMA, "bf16", 130) == pytest.approx(15.09e9, rel=REL)


def test_compute_bound_batch():
    # Empty cache, bf16: weights time 15,009,849,344 / 1555e9 = 9.653 ms; per sequence
    # 2 * (6,979,321,856 + 525,336,576) = 15.01 GFLOP / 312e12 = 48.1 us (less 0.09 us of per-sequence bytes)
    # -> 9.653 ms / 48.0 us = 201.0 -> batch 202.
    bf16 = estimate(LLAMA, A100, "bf16", CONTEXT, 1)
    weights_s = (BF16_WEIGHTS - 2 * TABLE_PARAMS) / 1555e9
    per_seq_s = 2 * (LINEAR_PARAMS + TABLE_PARAMS) / 312e12 - (2 * 4096 + KV_PER_TOKEN) / 1555e9
    assert bf16.decode_compute_bound_batch_empty_cache == pytest.approx(weights_s / per_seq_s, rel=REL)
    # At 8k the per-sequence KV read (1 GiB / 1555 GB/s = 690 us) outweighs its FLOPs
    # (15.0 + 4 * 32 * 4096 * 8192 = 4.3 GFLOP attention -> 62 us): decode never turns compute-bound.
    assert bf16.decode_compute_bound_batch is None
    # int8 GEMMs run at 624 TOPS, lm_head at 312: 13.96e9 / 624e12 + 1.05e9 / 312e12 = 25.7 us;
    # weights 8,036,032,512 / 1555e9 = 5.168 ms -> 201.5.
    int8 = estimate(LLAMA, A100, "int8", CONTEXT, 1)
    per_seq_s = 2 * LINEAR_PARAMS / 624e12 + 2 * TABLE_PARAMS / 312e12 - (2 * 4096 + KV_PER_TOKEN) / 1555e9
    assert int8.decode_compute_bound_batch_empty_cache == pytest.approx((INT8_WEIGHTS - 2 * TABLE_PARAMS) / 1555e9 / per_seq_s, rel=REL)
    # Above the crossover the estimate reports a compute-bound step.
    assert estimate(LLAMA, A100, "bf16", 1, 256).decode_bound == "compute"


def test_prefill_is_compute_bound():
    # 8192 tokens: 2 * 6,979,321,856 * 8192 linear + 2 * 32 * 4096 * 8192 * 8193 causal attention
    # + 2 * 525,336,576 lm_head (last position) = 1.3195e14 FLOP / 312e12 = 422.9 ms.
    est = estimate(LLAMA, A100, "bf16", CONTEXT, 1)
    flops = 2 * LINEAR_PARAMS * CONTEXT + 2 * 32 * 4096 * CONTEXT * (CONTEXT + 1) + 2 * TABLE_PARAMS
    assert est.prefill_flops == pytest.approx(flops, rel=1e-9)
    assert est.prefill_ms_ideal == pytest.approx(flops / 312e12 * 1e3, rel=REL)
    assert est.prefill_bound == "compute"


def test_totals_and_fit():
    est = estimate(LLAMA, A100, "bf16", CONTEXT, 4)
    total = BF16_WEIGHTS + CUDA_CONTEXT_BYTES + PREFILL_ACT + 4 * LOGITS + 4 * KV_PER_SEQ
    assert est.total_bytes == total
    assert est.fits and est.free_bytes == A100_BYTES - total
    too_big = estimate(LLAMA, A100, "bf16", CONTEXT, 40)
    assert not too_big.fits
    assert any("largest batch that fits is 23" in w for w in too_big.warnings)
    # 16.06 GB of bf16 weights on a 12 GB GPU: nothing fits.
    small = replace(get_gpu("l4"), memory_bytes=12 * 10**9)
    none_fit = estimate(LLAMA, small, "bf16", CONTEXT, 1)
    assert not none_fit.fits and none_fit.max_batch == 0 and none_fit.headroom_bytes < 0
    assert any("weights alone" in w for w in none_fit.warnings)


def test_tied_embedding_read_whole():
    tied = LlamaShape("tied", 256, 512, 2, 8, 2, 1024, tie_word_embeddings=True)
    w = weight_bytes_breakdown(tied, "int8-weight-only")
    assert w.lm_head_bytes == 0 and w.embedding_bytes == 2 * 1024 * 256
    # The tied table is read whole as lm_head on every step.
    assert decode_bytes_per_token(tied, "int8-weight-only", 0) >= w.total_bytes


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"precision": "fp4"}, "unknown precision 'fp4'"),
        ({"context_len": 0}, "context_len"),
        ({"batch_size": 0}, "batch_size"),
        ({"kv_dtype_bytes": 3}, "kv_dtype_bytes"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ProfkitError, match=match):
        EstimateConfig(**kwargs)


def test_a100_has_no_fp8_path_but_estimates_all_precisions():
    for precision in ("bf16", "fp16", "int8", "nf4", "int8-weight-only"):
        assert estimate(LLAMA, A100, precision, 2048, 2).decode_tokens_per_s_ideal > 0


# --- CLI -------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "profkit", "estimate", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_cli_json_stdout():
    proc = run_cli("--precision", "int8", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("weights_bytes", "kv_bytes_per_token", "total_bytes", "headroom_bytes", "max_batch", "decode_tokens_per_s_ideal"):
        assert key in data
    assert data["weights_bytes"] == INT8_WEIGHTS
    assert data["kv_bytes_per_token"] == KV_PER_TOKEN
    assert data["max_batch"] == max_batch_by_hand(INT8_WEIGHTS)
    assert data["gpu_key"] == "a100-40gb-sxm" and data["context_len"] == 8192 and data["batch_size"] == 1
    assert any("upper bounds" in note for note in data["notes"])


@pytest.mark.slow
def test_cli_json_file_and_markdown(tmp_path):
    out = tmp_path / "est.json"
    proc = run_cli("--precision", "bf16", "--json", str(out), "--markdown")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["weights_bytes"] == BF16_WEIGHTS
    assert proc.stdout.startswith("## Estimate: llama-3-8b on NVIDIA A100 40GB SXM, bf16")
    assert "| max batch at 8,192 tokens | 23 |" in proc.stdout
    assert "60%-80%" in proc.stdout


@pytest.mark.slow
def test_cli_terminal_and_hf_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CONFIGS["tiny"].to_hf_dict()))
    proc = run_cli("--model", str(tmp_path), "--gpu", "H100", "--context-len", "1024", "--batch-size", "4")
    assert proc.returncode == 0, proc.stderr
    assert "NVIDIA H100 80GB SXM" in proc.stdout and "upper bounds" in proc.stdout


@pytest.mark.slow
def test_cli_gpu_given_by_numbers():
    proc = run_cli("--bandwidth-gbps", "1000", "--memory-gb", "24", "--peak-tflops", "100", "--precision", "bf16", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["gpu_key"] == "custom" and data["memory_bytes"] == 24_000_000_000
    assert data["decode_tokens_per_s_ideal"] == pytest.approx(1e12 / (BF16_WEIGHTS - 2 * TABLE_PARAMS + 2 * 4096 + KV_PER_TOKEN + KV_PER_SEQ), rel=REL)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, words",
    [
        (["--precision", "fp4"], "unknown precision"),
        (["--precision", "fp8"], "no fp8 tensor-core peak"),
        (["--gpu", "rtx4090"], "unknown GPU"),
        (["--batch-size", "0"], "batch_size"),
        (["--bandwidth-gbps", "-5"], "--bandwidth-gbps"),
        (["--model", "no-such-model"], "unknown model"),
    ],
)
def test_cli_bad_option_is_one_line_exit_2(args, words):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
