"""`profkit recommend` on the bundled H200/H100 sample run and traces, with the numbers quoted.

Expected figures, from traces/samples (un-profiled sweep h200_run_results.json, decode tokens/s):
  batch 1:  int8 7.72, fp16 37.39, bf16 16.13        batch 64: int8 448.47, fp16 2356.5, bf16 1078.9
  fp16 TPOT p90 (ms): b1 30.5, b4 27.6, b16 26.6, b64 29.8;  bf16: 57.0, 58.3, 62.9, 70.3
  fp16 TTFT (ms):     b1 41.0, b4 35.5, b16 60.6, b64 237.0
Traces (decode medians): int8_b1 133.2 ms wall / 9.33 busy, 257 syncs, 256 D2H (sync-bound);
  fp16_b1 44.1 / 6.17, bf16_b1 38.7 / 6.23 (host-bound); H100 static+compiled 11.5 / 6.77.
A100 40GB at 8,192 tokens: 42,505,273,344 B - 16,060,522,496 B (16-bit weights) - 512 MiB context
  - 838,860,800 B prefill activations = 25,069,... B for KV (1 GiB/sequence) + logits -> max batch 23.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from profkit.analyses.evidence import MeasuredConfig, load_inputs
from profkit.analyses.recommend import (
    BATCH,
    LAUNCH_OVERHEAD,
    PRECISION,
    RecommendConfig,
    recommend,
)
from profkit.errors import ProfkitError
from profkit.hardware.catalog import get_gpu

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "traces" / "samples"
RESULTS = SAMPLES / "h200_run_results.json"
COMPILED_RESULTS = SAMPLES / "h100_compiled_results.json"
A100 = get_gpu("a100-40gb-sxm")
H200 = get_gpu("h200")
MEASURED_CONTEXT = 128 + 48  # prompt + new tokens of the sample sweep


def trace(name: str) -> Path:
    return SAMPLES / f"{name}.pt.trace.json.gz"


INT8_B1, FP16_B1, BF16_B1, BF16_B16 = (trace(f"h200_llama3-8b_{n}") for n in ("int8_b1", "fp16_b1", "bf16_b1", "bf16_b16"))
COMPILED = trace("h100_llama3-8b_bf16_b1_static_compiled")
ALL = [RESULTS, COMPILED_RESULTS, INT8_B1, FP16_B1, BF16_B1, BF16_B16, COMPILED]


@pytest.fixture(scope="module")
def all_inputs():
    return load_inputs(ALL)


def by_kind(recs, kind):
    found = [r for r in recs if r.kind == kind]
    assert len(found) == 1, [r.kind for r in recs]
    return found[0]


# ---- loading ------------------------------------------------------------------------------------
def test_run_results_adapter_reads_the_sweep():
    inputs = load_inputs([RESULTS])
    rate = {(c.precision, c.batch_size): c.decode_tokens_per_s for c in inputs.configs}
    assert rate[("int8", 1)] == pytest.approx(7.72, abs=0.01)
    assert rate[("fp16", 1)] == pytest.approx(37.39, abs=0.01)
    assert rate[("int8", 64)] == pytest.approx(448.47, abs=0.01)
    assert rate[("fp16", 64)] == pytest.approx(2356.5, abs=0.1)
    fp16_b1 = next(c for c in inputs.configs if (c.precision, c.batch_size) == ("fp16", 1))
    assert fp16_b1.tpot_median_ms == pytest.approx(25.96, abs=0.01)
    assert fp16_b1.tpot_p90_ms == pytest.approx(30.48, abs=0.01)
    assert fp16_b1.ttft_ms == pytest.approx(40.97, abs=0.01)
    assert fp16_b1.weights_bytes == 16_060_522_496
    assert fp16_b1.context_len == MEASURED_CONTEXT
    assert fp16_b1.gpu.key == "h200" and fp16_b1.mode == "eager"
    assert inputs.ceilings["NVIDIA H200"]["d2d_copy_GBps_read_plus_write"] == pytest.approx(4251.8, abs=0.1)


def test_compiled_scenario_is_a_compiled_config():
    (c,) = load_inputs([COMPILED_RESULTS]).configs
    assert (c.precision, c.batch_size, c.mode, c.gpu.key) == ("bf16", 1, "compiled", "h100-sxm")
    assert c.tpot_median_ms == pytest.approx(1e3 / 96.63, rel=1e-3)
    assert "approximated" in c.note


def test_trace_workload_comes_from_content_not_file_name(tmp_path):
    misleading = tmp_path / "llama3-8b_fp16_b64.pt.trace.json.gz"
    misleading.symlink_to(INT8_B1)
    (t,) = load_inputs([misleading]).traces
    assert (t.precision, t.batch_size, t.prompt_len, t.mode) == ("int8", 1, 128, "eager")
    assert t.int8_outlier_check_ms == pytest.approx(25.0, abs=1.0)


# ---- precision ---------------------------------------------------------------------------------
def test_precision_recommends_16bit_with_the_quoted_numbers(all_inputs):
    rec = by_kind(recommend(all_inputs, A100, RecommendConfig(tpot_slo_ms=60)), PRECISION)
    assert rec.details["recommended_precision"] == "fp16"
    assert "fp16" in rec.change and "int8" in rec.change
    assert "7.7 vs 37.4 tok/s at batch 1" in rec.why
    assert "448.5 vs 2,356.5 at batch 64" in rec.why
    tps = rec.details["tokens_per_s"]
    assert tps["int8"]["1"] == pytest.approx(7.72, abs=0.01) and tps["fp16"]["1"] == pytest.approx(37.39, abs=0.01)
    assert tps["int8"]["64"] == pytest.approx(448.47, abs=0.01) and tps["fp16"]["64"] == pytest.approx(2356.5, abs=0.1)
    # Measured on the H200: 4.8x (batch 1) to 5.6x (batch 16).
    g = rec.expected_gain
    assert g.measured_low == pytest.approx(37.39 / 7.72, rel=0.01)
    assert g.measured_high == pytest.approx(616.6 / 110.77, rel=0.01)
    assert g.measured_gpu == "NVIDIA H200"
    assert rec.measured is True and rec.confidence == "high"
    assert any("torch_dtype=torch.float16" in h for h in rec.how)


def test_precision_cause_is_sync_from_the_int8_trace(all_inputs):
    rec = by_kind(recommend(all_inputs, A100), PRECISION)
    cause = rec.details["int8_cause"]
    assert cause["bound"] == "sync"
    assert cause["syncs_per_token"] == 257 and cause["d2h_copies_per_token"] == 256
    assert cause["top_sync_issuer"].startswith("bitsandbytes::int8_vectorwise_quant")
    assert "sync-bound" in rec.why and "257 syncs and 256 device-to-host copies" in rec.why
    assert any("int8 9.33 ms vs fp16 6.17 ms" in e.text for e in rec.evidence)


def test_precision_memory_fit_and_scaling_on_the_a100(all_inputs):
    rec = by_kind(recommend(all_inputs, A100), PRECISION)
    assert rec.details["max_batch_on_target"] == {"fp16": 23, "int8": 29}
    assert any("fp16 weights 16.06 GB" in e.text and "max batch 23" in e.text and not e.measured for e in rec.evidence)
    # Profiled on the H200, deployed on the A100: the target's gain is modelled and says so.
    assert rec.expected_gain.basis == "modelled" and rec.expected_gain.gpu == A100.name
    assert "scaled_to_target" in rec.flags
    assert rec.target["gpu_key"] == "a100-40gb-sxm" and rec.target["context_len"] == 8192
    assert rec.target["scaled_from"] == ["NVIDIA H200"]
    assert "4,800 -> 1,555 GB/s" in rec.target["scaling"]
    assert 3.0 < rec.expected_gain.low <= rec.expected_gain.high < 8.0


def test_traces_alone_are_enough_for_the_precision_recommendation():
    inputs = load_inputs([INT8_B1, FP16_B1])
    assert not inputs.configs
    rec = by_kind(recommend(inputs, A100), PRECISION)
    assert rec.details["recommended_precision"] == "fp16"
    assert "7.5 vs 22.7 tok/s at batch 1" in rec.why  # 1000 / 133.2 ms and 1000 / 44.1 ms, under the profiler
    assert rec.details["int8_cause"]["bound"] == "sync"
    assert rec.confidence == "medium"  # one batch, profiled
    assert any("profiled" in e.text for e in rec.evidence)


def test_keeps_8bit_when_16bit_does_not_fit(all_inputs):
    small = replace(get_gpu("l4"), key="gpu-18gb", name="18 GB GPU", memory_bytes=18_000_000_000)
    rec = by_kind(recommend(all_inputs, small), PRECISION)
    assert rec.change.startswith("Keep 8-bit")
    assert "16bit_does_not_fit" in rec.flags
    assert rec.details["max_batch_on_target"]["fp16"] == 0 and rec.details["max_batch_on_target"]["int8"] >= 1
    assert rec.measured is False and rec.expected_gain.basis == "modelled"
    assert any("llm_int8_threshold=0.0" in h for h in rec.how) and any("Int8WeightOnlyConfig" in h for h in rec.how)
    # threshold 0 saves the outlier checks' ~25 of 133 ms: about 1.2x at the low end.
    assert rec.expected_gain.low == pytest.approx(133.2 / (133.2 - 25.0), rel=0.05)
    assert rec.expected_gain.high > 3


def test_bf16_and_fp16_measured_at_different_batches(tmp_path):
    """A subset of the real H200 sweep: int8 at batch 1 and 16, bf16 only at 1, fp16 only at 16. The
    advice compares int8 with the precision it recommends only where both were measured."""
    doc = json.loads(RESULTS.read_text())
    keep = {("int8", 1), ("int8", 16), ("bf16", 1), ("fp16", 16)}
    doc["runs"] = [r for r in doc["runs"] if (r["precision"], r["batch"]) in keep]
    subset = tmp_path / "subset_results.json"
    subset.write_text(json.dumps(doc))
    rec = recommend(load_inputs([subset]), get_gpu("a100-40gb-sxm"))
    precision = next(r for r in rec if r.kind == "precision")
    fast = precision.details["recommended_precision"]
    int8 = {int(b): v for b, v in precision.details["tokens_per_s"]["int8"].items()}
    chosen = {int(b): v for b, v in precision.details["tokens_per_s"][fast].items()}
    both = sorted(set(int8) & set(chosen))
    assert len(both) == 1
    ratio = chosen[both[0]] / int8[both[0]]
    assert precision.expected_gain.measured_low == pytest.approx(ratio, rel=1e-3) == precision.expected_gain.measured_high


def test_no_precision_recommendation_without_int8():
    inputs = load_inputs([RESULTS])
    inputs.configs = [c for c in inputs.configs if c.precision != "int8"]
    assert all(r.kind != PRECISION for r in recommend(inputs, A100))


# ---- batch -------------------------------------------------------------------------------------------
def test_batch_from_the_measured_curve_with_a_tpot_target(all_inputs):
    """On the profiled GPU at the measured context every fp16 batch meets 60 ms: batch 64, measured."""
    rec = by_kind(recommend(all_inputs, H200, RecommendConfig(context_len=MEASURED_CONTEXT, tpot_slo_ms=60)), BATCH)
    assert rec.details["precision"] == "fp16" and rec.details["batch"] == 64
    assert rec.measured is True and rec.expected_gain.basis == "measured" and rec.confidence == "high"
    assert rec.expected_gain.high == pytest.approx(2356.5 / 37.39, rel=0.01)
    # 616.6 -> 2356.5 tok/s for 16 -> 64 sequences: 96% of linear.
    assert "throughput_still_linear" in rec.flags
    lin = rec.details["linear_scaling"]
    assert (lin["from_batch"], lin["to_batch"]) == (16, 64) and lin["efficiency"] == pytest.approx(0.955, abs=0.01)
    assert "measure larger batches" in rec.why
    # Beyond 64 the model may allow more; it is reported as modelled headroom, never picked.
    assert "headroom_beyond_measured" in rec.flags and rec.details["headroom_batch"] > 64
    assert not any(e.measured for e in rec.evidence if "extrapolated" in e.text)


def test_batch_slo_picks_the_largest_measured_batch_within_it():
    """bf16 TPOT p90 57.0, 58.3, 62.9, 70.3 ms at batch 1, 4, 16, 64: a 60 ms target allows batch 4."""
    inputs = load_inputs([RESULTS])
    inputs.configs = [c for c in inputs.configs if c.precision == "bf16"]
    rec = by_kind(recommend(inputs, H200, RecommendConfig(context_len=MEASURED_CONTEXT, tpot_slo_ms=60)), BATCH)
    assert rec.details["batch"] == 4 and rec.details["limit"] == "tpot_slo"
    pts = {p["batch"]: p for p in rec.details["points"]}
    assert pts[16]["failed"] == ["tpot_slo"] and pts[16]["tpot_p90_ms"] == pytest.approx(62.9, abs=0.1)


def test_batch_ttft_target():
    """fp16 TTFT 41, 35.5, 60.6, 237 ms: a 100 ms TTFT target stops at batch 16."""
    inputs = load_inputs([RESULTS])
    rec = by_kind(recommend(inputs, H200, RecommendConfig(context_len=MEASURED_CONTEXT, ttft_slo_ms=100)), BATCH)
    assert (rec.details["precision"], rec.details["batch"], rec.details["limit"]) == ("fp16", 16, "ttft_slo")


def test_batch_on_the_a100_is_memory_limited_and_modelled(all_inputs):
    rec = by_kind(recommend(all_inputs, A100, RecommendConfig(tpot_slo_ms=60)), BATCH)
    assert rec.details["batch"] == 23 and rec.details["limit"] == "memory" and rec.details["max_batch_memory"] == 23
    assert rec.measured is False and rec.expected_gain.basis == "modelled" and rec.confidence == "medium"
    assert "modelled" in rec.change
    best = next(p for p in rec.details["points"] if p["batch"] == 23)
    assert best["tpot_p90_ms"] <= 60 and not best["measured"]
    # At 8,192 tokens the A100 reads 15 GB of weights + 23 GiB of KV per step: GPU-bound, slower than the host.
    assert best["tpot_ms"] > 26.5
    assert "throughput_still_linear" in rec.flags


def test_one_measured_batch_extrapolates_with_low_confidence():
    rec = by_kind(recommend(load_inputs([INT8_B1, FP16_B1]), A100), BATCH)
    assert rec.details["batch"] > 1 and "extrapolated" in rec.flags
    assert rec.confidence == "low" and rec.measured is False


# ---- launch overhead -----------------------------------------------------------------------------
def test_launch_overhead_from_the_eager_trace_alone():
    rec = by_kind(recommend(load_inputs([BF16_B1]), H200, RecommendConfig(context_len=MEASURED_CONTEXT)), LAUNCH_OVERHEAD)
    assert "CUDA graphs" in rec.change
    assert rec.measured is False and rec.confidence == "low"
    d = rec.details
    assert d["eager_wall_ms"] == pytest.approx(38.65, abs=0.05) and d["eager_gpu_busy_ms"] == pytest.approx(6.23, abs=0.01)
    # Bounded by GPU busy time: at best wall / busy on the same GPU and context.
    assert rec.expected_gain.high == pytest.approx(38.65 / 6.23, rel=0.02)
    assert rec.expected_gain.low < rec.expected_gain.high


def test_launch_overhead_measured_with_the_compiled_trace(all_inputs):
    rec = by_kind(recommend(all_inputs, A100), LAUNCH_OVERHEAD)
    d = rec.details
    assert d["eager_trace"] == BF16_B1.name and d["compiled_trace"] == COMPILED.name
    assert d["compiled_wall_ms"] == pytest.approx(11.5, abs=0.05)
    assert rec.measured is True and rec.confidence == "medium"
    assert rec.expected_gain.measured_low == pytest.approx(38.65 / 11.47, rel=0.01)  # 37-39 ms -> 11.5 ms
    # On the A100 (1,555 GB/s) the compiled step is GPU-bound: its busy time scaled from the H100 by bandwidth.
    assert rec.expected_gain.basis == "modelled"
    assert 1.5 < rec.expected_gain.low < rec.expected_gain.high < 3.0
    assert "NVIDIA H100 80GB SXM" in rec.target["scaled_from"]
    assert any("also host-bound at batch 16" in e.text for e in rec.evidence)


def test_launch_overhead_unconfirmed_from_the_sweep_alone():
    rec = by_kind(recommend(load_inputs([RESULTS, COMPILED_RESULTS]), A100), LAUNCH_OVERHEAD)
    assert "unconfirmed" in rec.flags and rec.confidence == "low"


# ---- ranking, run directories ----------------------------------------------------------------------
def test_ranked_by_gain_times_confidence(all_inputs):
    recs = recommend(all_inputs, A100, RecommendConfig(tpot_slo_ms=60))
    assert {r.kind for r in recs} == {PRECISION, BATCH, LAUNCH_OVERHEAD}
    assert [r.rank for r in recs] == [1, 2, 3]
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    for r in recs:
        assert r.confidence in ("high", "medium", "low") and r.confidence_reason
        assert r.expected_gain.low <= r.expected_gain.high and r.how and r.evidence


def _run_dir(tmp_path: Path) -> Path:
    """A `profkit run` folder holding the sample sweep's int8/fp16 timings and two of its traces."""
    results = json.loads(RESULTS.read_text())
    run = tmp_path / "run-h200"
    run.mkdir()
    configs = []
    for r in results["runs"]:
        if r["precision"] not in ("int8", "fp16"):
            continue
        name = f"llama-3-8b_{r['precision']}_b{r['batch']}_p128_eager"
        trace_file = None
        if r["batch"] == 1:
            trace_file = name + ".pt.trace.json.gz"
            shutil.copyfile(INT8_B1 if r["precision"] == "int8" else FP16_B1, run / trace_file)  # links out of the folder are not read
        configs.append(
            {
                "name": name,
                "precision": r["precision"],
                "batch_size": r["batch"],
                "prompt_len": 128,
                "new_tokens": 48,
                "mode": "eager",
                "status": "ok",
                "error": None,
                "trace_file": trace_file,
                "weights_bytes": None,
                "timing": {
                    "ttft_ms": r["ttft_s"] * 1e3,
                    "tpot_median_ms": r["tpot_median_s"] * 1e3,
                    "tpot_p90_ms": r["tpot_p90_s"] * 1e3,
                    "decode_tokens_per_s": r["decode_tok_per_s"],
                    "e2e_tokens_per_s": r["e2e_tok_per_s"],
                    "peak_gpu_mem_bytes": r["peak_mem"],
                    "peak_rss_bytes": None,
                },
            }
        )
    configs.append(
        {
            "name": "llama-3-8b_fp16_b256_p128_eager",
            "precision": "fp16",
            "batch_size": 256,
            "prompt_len": 128,
            "new_tokens": 48,
            "mode": "eager",
            "status": "oom",
            "error": "CUDA out of memory",
            "trace_file": None,
            "timing": None,
        }
    )
    manifest = {
        "run_id": "run-h200",
        "environment": {"gpu_name": "NVIDIA H200", "device": "cuda"},
        "model": {"name": "llama-3-8b", "shape": None},
        "settings": {},
        "configs": configs,
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_run_directory(tmp_path):
    inputs = load_inputs([_run_dir(tmp_path)])
    assert len(inputs.configs) == 9 and len(inputs.traces) == 2
    assert next(c for c in inputs.configs if c.batch_size == 256).status == "oom"
    rec = by_kind(recommend(inputs, A100), PRECISION)
    assert "7.7 vs 37.4 tok/s at batch 1" in rec.why and "448.5 vs 2,356.5 at batch 64" in rec.why
    assert rec.details["int8_cause"]["bound"] == "sync" and rec.confidence == "high"


def test_recommend_config_validates():
    with pytest.raises(ProfkitError, match="context_len must be"):
        RecommendConfig(context_len=0)
    with pytest.raises(ProfkitError, match="tpot_slo_ms must be"):
        RecommendConfig(tpot_slo_ms=-1)


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(ProfkitError, match="at least one"):
        load_inputs([])
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ProfkitError, match="neither a trace"):
        load_inputs([other])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProfkitError, match="inside"):
        load_inputs([empty])


def test_measured_config_label():
    c = MeasuredConfig("fp16", 4, "eager", 128, 48, "ok", tpot_median_ms=25.0)
    assert c.ok and c.label == "fp16 b4 eager" and c.context_len == 176


# ---- CLI --------------------------------------------------------------------------------------------------
def _cli(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "profkit", "recommend", *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env, check=False)


@pytest.mark.slow
def test_cli_json_schema():
    r = _cli(*ALL, "--tpot-slo-ms", "60", "--json", "-")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, list) and {d["kind"] for d in data} == {"precision", "batch", "launch_overhead"}
    for d in data:
        assert {"kind", "change", "evidence", "expected_gain", "measured", "confidence"} <= set(d)
        assert {"rank", "why", "how", "confidence_reason", "target", "flags", "score", "details"} <= set(d)
        assert isinstance(d["measured"], bool) and d["confidence"] in ("high", "medium", "low")
        g = d["expected_gain"]
        assert {"metric", "unit", "low", "high", "gpu", "basis", "measured_range", "text"} <= set(g)
        assert g["basis"] in ("measured", "modelled") and g["low"] <= g["high"]
        assert all({"text", "source", "measured"} <= set(e) for e in d["evidence"])
    assert [d["rank"] for d in data] == [1, 2, 3]


@pytest.mark.slow
def test_cli_json_file_terminal_and_markdown(tmp_path):
    out = tmp_path / "recs.json"
    r = _cli(INT8_B1, FP16_B1, "--json", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())[0]["kind"] == "precision"
    r = _cli(RESULTS, INT8_B1, "--markdown", "--target-gpu", "a100-40gb-sxm", "--context-len", "4096")
    assert r.returncode == 0, r.stderr
    assert "## Recommendations" in r.stdout and "context 4,096 tokens (given" in r.stdout
    assert "7.7 vs 37.4 tok/s" in r.stdout
    r = _cli(RESULTS, INT8_B1)
    assert r.returncode == 0, r.stderr
    assert "Recommendations" in r.stdout and "Load the weights in fp16" in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (["no/such/run"], "no such file or directory"),
        ([ROOT / "tests" / "data" / "bad" / "invalid.json"], "invalid JSON"),
        ([RESULTS, "--target-gpu", "z9000"], "unknown GPU"),
        ([RESULTS, "--context-len", "0"], "--context-len"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, message):
    r = _cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profkit: error:") and message in lines[0], r.stderr


@pytest.mark.slow
def test_foreign_traces_keep_one_llm_on_the_gpu_and_say_what_was_set_aside():
    """traces/external: training, vision and kernel-test traces have no prefill or decode step and are
    set aside as not LLM inference; vLLM on a GPU that records no name is GPU evidence (not "measured on
    the CPU"); the model measured in decode (SGLang's Qwen3-8B) is the one advice is about."""
    external = ROOT / "traces" / "external"
    inputs = load_inputs([external])
    kept = {Path(t.path).name for t in inputs.traces}
    assert kept == {"tl_sglang_qwen3_8b_decode.json.gz", "tl_sglang_qwen3_8b_prefilldecode.json.gz"}
    aside = "\n".join(inputs.set_aside)
    assert "with no prefill or decode step" in aside and "not LLM inference" in aside
    assert "set aside 2 traces of an unnamed model (tl_vllm_decode_full_graph.json.gz, tl_vllm_mixed_piecewise_graph.json.gz)" in aside
    assert "measured on the CPU" not in aside  # the CPU-only trace has no decode step either: set aside as other work
