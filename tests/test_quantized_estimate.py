"""The torchao precisions in `profkit estimate` (storage and roofline, by hand), measured figures set
beside the modelled ones, and `profkit recommend` citing a measured int8 weight-only run.

Llama 3 8B (see test_estimate.py): decoder linears 6,979,321,856 weights; lm_head 525,336,576
(128,256 rows); output rows of the decoder linears 1,376,256; embedding 525,336,576 and norms
266,240 parameters in bf16. With lm_head quantized too: 7,504,658,432 weights in 1,504,512 rows.
  int8wo (torchao 0.18 Int8Tensor: int8 + fp32 scale + int8 zero point per row):
      7,504,658,432 + 5 x 1,504,512 + 2 x (525,336,576 + 266,240)          = 8,563,386,624
  int4wo (tinygemm, group 128: half a byte + bf16 scale and zero per 128 weights; Llama's shapes need no padding):
      7,504,658,432 / 2 + 4 x 7,504,658,432 / 128 + 2 x (525,336,576 + 266,240) = 5,038,055,424
  fp8 (e4m3 + fp32 scale per row):
      7,504,658,432 + 4 x 1,504,512 + 2 x (525,336,576 + 266,240)          = 8,561,882,112
The tiny Llama in int4wo pads in_features 256/512 to 1024: 0.5 x 1024 x 4,864 rows = 2,490,368 bytes
of weights and 4 x (1024 / 128) x 4,864 = 155,648 of scales.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from profkit.analyses.estimate import estimate, weight_bytes_breakdown, weights_bytes, with_measured
from profkit.analyses.evidence import MeasuredConfig, load_inputs
from profkit.analyses.recommend import PRECISION, recommend
from profkit.hardware.catalog import get_gpu
from profkit.models import LLAMA_CONFIGS

LLAMA, TINY = LLAMA_CONFIGS["llama-3-8b"], LLAMA_CONFIGS["tiny"]
H200, A100 = get_gpu("h200"), get_gpu("a100-40gb-sxm")
SAMPLES = Path(__file__).resolve().parent.parent / "traces" / "samples"
RESULTS = SAMPLES / "h200_run_results.json"
INT8_B1 = SAMPLES / "h200_llama3-8b_int8_b1.pt.trace.json.gz"


@pytest.mark.parametrize("precision, expected", [("int8wo", 8_563_386_624), ("int4wo", 5_038_055_424), ("fp8", 8_561_882_112)])
def test_torchao_weights_by_hand(precision, expected):
    assert weights_bytes(LLAMA, precision) == expected


def test_int8_weight_only_is_the_int8wo_scheme():
    assert weights_bytes(LLAMA, "int8-weight-only") == weights_bytes(LLAMA, "int8wo")
    assert estimate(LLAMA, A100, "int8-weight-only").precision == "int8wo"


def test_int4wo_pads_like_tinygemm():
    w = weight_bytes_breakdown(TINY, "int4wo")
    assert (w.linear_bytes + w.lm_head_bytes, w.scale_bytes) == (2_490_368, 155_648)


def test_decode_roofline_orders_the_precisions():
    """Batch-1 decode on an H100 reads weights: int4wo < fp8 ~ int8wo < bf16; fp8 runs fp8 GEMMs."""
    h100 = get_gpu("h100-sxm")
    speed = {p: estimate(LLAMA, h100, p, context_len=2048).decode_tokens_per_s_ideal for p in ("bf16", "int8wo", "fp8", "int4wo")}
    assert speed["int4wo"] > speed["fp8"] > speed["int8wo"] > speed["bf16"]
    assert estimate(LLAMA, h100, "fp8").linear_peak_tflops == h100.peak_tflops["fp8"]


def test_measured_beside_modelled_from_a_real_run():
    """h200_run_results.json measured bf16 batch 1 at TPOT 54.17 ms (prompt 128, 48 new tokens).
    Modelled bytes of a decode step at the mean context 128 + 24 = 152 tokens:
      weights but the embedding 16,060,522,496 - 1,050,673,152 = 15,009,849,344
      + embedding row 8,192 + KV read 152 x 131,072 = 19,922,944 + KV written 131,072 -> 15,029,911,552 bytes
    MBU = 15,029,911,552 / 0.054171 s / 4.8e12 B/s = 5.78%."""
    inputs = load_inputs([RESULTS])
    est = with_measured(estimate(LLAMA, H200, "bf16", context_len=2048), LLAMA, H200, inputs.configs, inputs.model)
    (m,) = est.measured
    assert (m.label, m.gpu_name, m.on_estimate_gpu, m.context_len) == ("bf16 b1 eager", "NVIDIA H200", True, 152)
    assert m.tpot_ms == pytest.approx(54.171, abs=0.01) and m.tokens_per_s_per_sequence == pytest.approx(16.126, abs=0.01)
    assert m.mbu_wall == pytest.approx(15_029_911_552 / 0.054171151 / 4.8e12, rel=1e-4)
    assert m.roofline_tokens_per_s == pytest.approx(4.8e12 / 15_029_911_552, rel=1e-4)  # memory-bound at batch 1
    none = with_measured(estimate(LLAMA, H200, "int8wo"), LLAMA, H200, inputs.configs, inputs.model)
    assert none.measured == () and any("no run of int8wo at batch 1" in n for n in none.measured_notes)
    other = with_measured(estimate(TINY, H200, "bf16"), TINY, H200, inputs.configs, inputs.model)
    assert other.measured == () and any("measured llama-3-8b, not tiny" in n for n in other.measured_notes)


def test_an_impossible_measured_mbu_is_not_a_figure():
    fast = MeasuredConfig("bf16", 1, "eager", 128, 48, "ok", tpot_median_ms=0.5, gpu_name="NVIDIA H200", gpu=H200, source="x")
    (m,) = with_measured(estimate(LLAMA, H200, "bf16"), LLAMA, H200, [fast], LLAMA).measured
    assert m.mbu_wall is None  # 15 GB in 0.5 ms would be 30 TB/s: the byte model does not fit such a run


@pytest.mark.slow
def test_estimate_cli_marks_measured_and_modelled():
    proc = subprocess.run(
        [sys.executable, "-m", "profkit", "estimate", "--gpu", "h200", "--precision", "bf16", "--measured", str(RESULTS), "--json", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [m["label"] for m in doc["measured"]] == ["bf16 b1 eager"] and doc["measured"][0]["mbu_wall"] < 0.1
    text = subprocess.run(
        [sys.executable, "-m", "profkit", "estimate", "--gpu", "h200", "--precision", "bf16", "--measured", str(RESULTS)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", **__import__("os").environ},
        check=False,
    ).stdout
    assert "modelled" in text and "Measured decode" in text and "bf16 b1 eager on NVIDIA H200" in text


# ---- recommend: int8 weight-only advice, measured or modelled --------------------------------------
@pytest.fixture(scope="module")
def h200_inputs():
    return load_inputs([RESULTS, INT8_B1])


def with_int8wo(inputs, tpot_ms: float):
    """The H200 evidence plus an int8wo compiled batch-1 run. Its timing is made up for this test (no
    GPU was available to measure one): the test checks that advice cites such a run, not its speed."""
    wo = MeasuredConfig(
        "int8wo",
        1,
        "compiled",
        128,
        48,
        "ok",
        tpot_median_ms=tpot_ms,
        decode_tokens_per_s=1e3 / tpot_ms,
        gpu_name="NVIDIA H200",
        gpu=H200,
        source="made-up-int8wo-run/manifest.json",
    )
    return replace(inputs, configs=[*inputs.configs, wo])


def test_keep_8bit_advice_is_modelled_without_an_int8wo_run(h200_inputs):
    small = replace(get_gpu("l4"), key="gpu-12gb", name="12 GB GPU", memory_bytes=12_000_000_000)
    rec = next(r for r in recommend(h200_inputs, small) if r.kind == PRECISION)
    assert rec.change.startswith("Keep 8-bit") and rec.measured is False
    assert "modelled: no int8wo run" in rec.expected_gain.text and rec.details["int8wo_measured"] is None
    assert any("int8 weight-only kernels" in e.text and not e.measured for e in rec.evidence)


def test_keep_8bit_advice_cites_a_measured_int8wo_run(h200_inputs):
    small = replace(get_gpu("l4"), key="gpu-12gb", name="12 GB GPU", memory_bytes=12_000_000_000)
    rec = next(r for r in recommend(with_int8wo(h200_inputs, 10.0), small) if r.kind == PRECISION)
    assert rec.measured is True and rec.details["int8wo_measured"]["mode"] == "compiled"
    assert "int8 weight-only as measured (compiled, batch 1)" in rec.expected_gain.text
    (ev,) = [e for e in rec.evidence if "int8wo" in e.text]
    assert ev.measured and "100.0 tok/s at batch 1" in ev.text and "manifest.json" in ev.source  # the file it came from
    # measured where profiled: 100 tok/s against bitsandbytes int8's 7.72
    assert rec.expected_gain.measured_high == pytest.approx(100.0 / 7.72, rel=0.01)


def test_switch_to_16bit_advice_names_a_measured_int8wo_run(h200_inputs):
    rec = next(r for r in recommend(with_int8wo(h200_inputs, 10.0), A100) if r.kind == PRECISION)
    assert rec.change.startswith("Load the weights in")
    assert any("int8 weight-only (torchao int8wo, compiled) measured 100.0 tok/s" in e.text for e in rec.evidence)
