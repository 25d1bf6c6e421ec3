"""Every foreign trace (traces/external: vLLM and SGLang on MI300X, B200, A100 training with pre-trace
kernels, rank 3, GPU-only, CPU-only, CUPTI counters, MTIA, a cross-vendor pair) against the reference
figures its README holds, computed independently with gzip + json (traces/external/reference_figures.py).
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SAMPLES
from profkit.analyses import kernels as kernels_mod
from profkit.analyses.bandwidth import MAX_BANDWIDTH_GBPS
from profkit.analyses.steps import gpu_rows_launched_in
from profkit.analyses.summary import analyze_trace
from profkit.trace import load_trace

EXTERNAL = ROOT / "traces" / "external"
REL = 0.01  # the tolerance for wall, GPU busy, kernels launched and GEMM ms


def _reference_rows() -> list[dict]:
    """The README's reference table: one dict per (file, window)."""
    rows = []
    for line in (EXTERNAL / "README.md").read_text().splitlines():
        m = re.match(r"^\| `([^`]+)` \| ([^|]*) \| ([^|]+) \|((?: [\d.]+ \|){7})$", line)
        if m:
            nums = [float(x) for x in m.group(4).split("|") if x.strip()]
            rows.append(
                dict(
                    file=m.group(1),
                    gpu=m.group(2).strip(),
                    window=m.group(3).strip(),
                    wall=nums[0],
                    busy=nums[1],
                    kernels=int(nums[2]),
                    syncs=int(nums[3]),
                    graphs=int(nums[4]),
                    gemm_window=nums[5],
                    gemm_whole=nums[6],
                )
            )
    return rows


REFERENCE = _reference_rows()
_CACHE: dict = {}


def trace(name: str):
    if name not in _CACHE:
        _CACHE[name] = load_trace(EXTERNAL / name)
    return _CACHE[name]


def analysis(name: str):
    key = ("analysis", name)
    if key not in _CACHE:
        _CACHE[key] = analyze_trace(trace(name))
    return _CACHE[key]


def close(actual: float, expected: float, rel: float = REL) -> bool:
    return abs(actual - expected) <= max(rel * abs(expected), 0.0005)  # reference figures have 3 decimals


def gemm_ms(breakdown) -> float:
    return sum(c.total_ms for c in breakdown.categories if c.category in kernels_mod.GEMM_CATEGORIES)


def test_every_external_trace_names_its_source_repository_and_path():
    """The provenance table (what the MIT notices below it cover): one row per bundled file."""
    text = (EXTERNAL / "README.md").read_text()
    sources = dict(re.findall(r"^\| `([^`]+)` \| ((?:facebookresearch/HolisticTraceAnalysis|AMD-AGI/TraceLens|pytorch/kineto) `[^`]+`) \|", text, re.MULTILINE))
    assert set(sources) == {p.name for p in EXTERNAL.glob("*.json.gz")}
    assert "HolisticTraceAnalysis: MIT License" in text and "TraceLens: MIT License" in text and "Kineto (`kineto_resnet50_pt18.json.gz`): BSD License" in text


def test_the_reference_table_covers_every_external_trace():
    files = {p.name for p in EXTERNAL.glob("*.json.gz")}
    assert len(REFERENCE) >= 25 and {r["file"] for r in REFERENCE} == files


@pytest.mark.parametrize("ref", REFERENCE, ids=[f"{r['file']}:{r['window']}" for r in REFERENCE])
def test_window_figures_match_the_reference(ref):
    a = analysis(ref["file"])
    window = a.whole_trace if ref["window"] == "whole" else next(s for s in a.steps if s.name == ref["window"])
    assert close(window.wall_ms, ref["wall"]), window.wall_ms
    assert close(window.gpu_busy_ms, ref["busy"]), window.gpu_busy_ms
    assert close(window.kernels, ref["kernels"]), window.kernels
    assert window.sync_calls == ref["syncs"]
    assert window.graph_launches == ref["graphs"]
    t = trace(ref["file"])
    launched = kernels_mod.breakdown(t, gpu_rows_launched_in(t, [window]), "window", 1)
    assert close(gemm_ms(launched), ref["gemm_window"]), gemm_ms(launched)
    assert close(gemm_ms(a.whole_trace_categories), ref["gemm_whole"]), gemm_ms(a.whole_trace_categories)


# ---- nothing impossible, on every bundled trace ------------------------------------------------------
ALL_TRACES = sorted(EXTERNAL.glob("*.json.gz")) + sorted(SAMPLES.glob("*.pt.trace.json.gz"))


@pytest.mark.parametrize("path", ALL_TRACES, ids=[p.name for p in ALL_TRACES])
def test_no_physically_impossible_number(path):
    a = analysis(path.name) if path.parent == EXTERNAL else analyze_trace(load_trace(path))
    assert a.violations == []
    for s in [*a.steps, a.whole_trace]:
        assert s.wall_ms >= 0 and 0 <= s.gpu_busy_ms <= s.wall_ms + 1e-9 and 0 <= s.idle_fraction <= 1
        assert min(s.kernels, s.sync_calls, s.d2h_copies, s.graph_launches, s.launch_api_ms, s.sync_wait_ms) >= 0
    for r in a.phases.values():
        bw = r.bandwidth
        if bw is None:
            continue
        peak = bw.peak_bandwidth_gbps or MAX_BANDWIDTH_GBPS
        for value in (bw.achieved_bandwidth_gbps, bw.achieved_bandwidth_wall_gbps):
            assert value is None or 0 <= value <= peak
        assert bw.mbu is None or 0 <= bw.mbu <= 1
        assert bw.mfu is None or 0 <= bw.mfu <= 1
        assert all(c.total_ms >= 0 and 0 <= c.share <= 1 for c in r.kernels.categories)
    assert all(s.idle_ms >= 0 or abs(s.idle_ms) < 1e-3 for s in a.idle_streams)


def test_an_impossible_figure_is_flagged_and_withheld():
    from profkit.hardware.catalog import GpuSpec

    slow = GpuSpec("slow", "a 5 GB/s GPU", 1 << 30, 5.0, {"bf16": 1.0}, 1)
    a = analyze_trace(trace("tl_sglang_qwen3_8b_prefilldecode.json.gz"), slow)
    bw = a.phases["prefill"].bandwidth
    assert bw.achieved_bandwidth_gbps is None and bw.mbu is None and bw.mfu is None and bw.bytes_source.startswith("withheld")
    assert any("the byte model" in v and "GB/s" in v for v in a.violations) and any("MFU withheld" in v for v in a.violations)
    assert any(w.startswith("BUG (figure withheld)") for w in a.warnings)


def test_kv_bytes_come_from_what_attention_reads_not_the_pool():
    # B200 vLLM prefill: the paged pool is 2 x 4.3 GB per layer; before, 312 GB/step and 26,923 GB/s were reported.
    bw = analysis("tl_b200_eager.json.gz").phases["prefill"].bandwidth
    assert bw.bytes_per_step < 5e9 and bw.achieved_bandwidth_gbps < 8000
    assert bw.kv_read_bytes_per_step is None and "KV-cache reads of paged attention unknown" in bw.bytes_source
    assert bw.lower_bound and any("vllm::moe_forward" in u for u in bw.unmodelled)
    # SGLang prefill annotates sk: 15,360 context tokens x 36 layers x (8 KV heads x 128 x 2 B x K,V).
    sg = analysis("tl_sglang_qwen3_8b_prefilldecode.json.gz").phases["prefill"].bandwidth
    assert sg.kv_read_bytes_per_step == 15360 * 36 * 8 * 128 * 2 * 2


def test_kv_token_bytes_use_the_pool_dtype():
    from profkit.analyses.bandwidth import attention_io, kv_write_token_bytes

    # vLLM reshape_and_cache_flash(key[T,1,64], value[T,1,64], key_cache (fp8 as uint8), value_cache, slot_mapping[T])
    dims = [[888, 1, 64], [888, 1, 64], [4213816, 16, 1, 64], [4213816, 16, 1, 64], [888], [], [], []]
    types = ["c10::BFloat16", "c10::BFloat16", "unsigned char", "unsigned char", "long int", "", "float", "float"]
    assert kv_write_token_bytes(dims, types) == 128.0
    io = attention_io([[15360, 32, 128], [835874, 8, 128], [835874, 8, 128], [16]], ["c10::BFloat16"] * 3 + ["int"])
    assert io.packed and io.bytes == 15360 * 32 * 128 * 2 * 2 and io.kv_token_bytes is None  # pool size never counted
    dense = attention_io([[1, 32, 128, 128], [1, 8, 128, 128], [1, 8, 128, 128]], ["c10::BFloat16"] * 3)
    assert not dense.packed and dense.bytes == (32 + 8 + 8 + 32) * 128 * 128 * 2


# ---- serving engines -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, phase, batch, tokens, context, graphs",
    [
        ("tl_sglang_qwen3_8b_prefilldecode.json.gz", "prefill", 15, 15360, 15360, 0),
        ("tl_sglang_qwen3_8b_decode.json.gz", "decode", 32, 32, 32785, 1),
        ("tl_vllm_decode_full_graph.json.gz", "decode", 32, 32, 55086, 1),
        ("tl_vllm_mixed_piecewise_graph.json.gz", "mixed", 46, 8192, 42919, 25),
        ("tl_b200_eager.json.gz", "prefill", 1, 888, None, 0),
    ],
)
def test_engine_steps_phases_batches_and_graph_replays(name, phase, batch, tokens, context, graphs):
    a = analysis(name)
    assert a.step_source.steps == "engine" and a.metadata.engine in ("vllm", "sglang")
    (step,) = a.steps
    assert (step.phase, step.batch_size, step.tokens, step.context_tokens, step.graph_launches) == (phase, batch, tokens, context, graphs)
    # the step holds the GPU work it launched, replays included: kernels as in the whole trace but the few before it
    assert step.kernels >= 0.99 * a.whole_trace.kernels - 5
    st = a.phases[phase].stats
    assert st.tokens_per_step == tokens and st.tokens_per_s == pytest.approx(tokens / st.wall_ms * 1e3)


@pytest.mark.parametrize("name", ["tl_sglang_qwen3_8b_decode.json.gz", "tl_vllm_decode_full_graph.json.gz", "tl_vllm_mixed_piecewise_graph.json.gz"])
def test_serving_decode_gpu_time_is_categorised(name):
    a = analysis(name)
    (report,) = a.phases.values()
    shares = {c.category: c.share for c in report.kernels.categories}
    assert shares.get("other", 0.0) <= 0.10, shares
    assert shares.get("attention", 0) > 0.02 and shares.get("kv_cache", 0) > 0
    assert sum(shares.get(c, 0) for c in kernels_mod.GEMM_CATEGORIES) > 0.5


def test_vendor_kernel_families_on_b200_moe():
    shares = {c.category: c.share for c in analysis("tl_b200_eager.json.gz").phases["prefill"].kernels.categories}
    assert shares["gemm_fp8_fp4"] > 0.4  # TRT-LLM MXFP4 bmm_* experts
    assert shares["communication"] > 0.15  # symmetric-memory all-reduce + NCCL all-gather
    assert shares["moe_routing"] > 0.03 and shares["kv_cache"] > 0 and shares["quantize"] > 0
    assert shares.get("other", 0.0) <= 0.10


def test_vllm_annotation_grammars():
    from profkit.analyses.engines import parse_annotation

    b = parse_annotation("execute_context_0(0)_generation_16(16)")
    assert (b.engine, b.phase, b.requests, b.tokens, b.context_tokens) == ("vllm", "decode", 16, 16, None)
    b = parse_annotation("execute_context_4(2048)_generation_12(12)")
    assert (b.phase, b.requests, b.tokens, b.prefill_tokens, b.decode_tokens) == ("mixed", 16, 2060, 2048, 12)
    b = parse_annotation("execute_16_context_0(sq0sk0sqsq0sqsk0)_generation_16(sq16sk8209sqsq16sqsk8209)")
    assert (b.phase, b.requests, b.tokens, b.context_tokens) == ("decode", 16, 16, 8209)
    b = parse_annotation("step[DECODE bs=32]")
    assert (b.engine, b.phase, b.requests, b.tokens) == ("sglang", "decode", 32, 32)
    b = parse_annotation("step[EXTEND bs=15 toks=15360]")
    assert (b.phase, b.requests, b.tokens) == ("prefill", 15, 15360)
    assert parse_annotation("step[TARGET_VERIFY bs=4]").phase == "decode"
    for other in ("execute_model", "ProfilerStep#3", "step", "capture_32_FULL"):
        assert parse_annotation(other) is None


# ---- pre-trace kernels, idle split, ranks -----------------------------------------------------------------
def test_pretrace_kernels_belong_to_no_step():
    a = analysis("hta_negqueue_rank0.json.gz")
    t = trace("hta_negqueue_rank0.json.gz")
    total_kernels = int((t.gpu.kind == 0).sum())
    assert [s.kernels for s in a.steps] == [1075] * 5
    assert a.pretrace.kernels == total_kernels - a.whole_trace.kernels == 705
    assert any("launched before recording began" in w for w in a.warnings)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hta_negqueue_rank0.json.gz", "tl_h100_qwen1.5_0.5b.json.gz", "hta_diff_control.json.gz", "kineto_resnet50_pt18.json.gz"])
def test_idle_split_agrees_with_hta_on_traces_with_pretrace_kernels_and_other_ranks(name):
    """negqueue: 5 ProfilerSteps and 705 pre-trace kernels (HTA drops them); Qwen on H100: one step and
    ~430 pre-trace kernels (HTA keeps them); diff_control: rank 3; the PyTorch 1.8 ResNet-50: 744
    pre-trace kernels, old category names. HTA reads diff_control's launch times
    at whole microseconds (its integer-µs kernel timestamps make it skip ns precision), so gaps within a
    microsecond of a launch may be split differently there: its categories agree within 2% (or 50 µs),
    totals within 1%."""
    from profkit.analyses.hta_bridge import hta_idle_breakdown

    ours = {s.stream: s for s in analysis(name).idle_streams}
    theirs = {s.stream: s for s in hta_idle_breakdown(EXTERNAL / name)}
    assert set(ours) == set(theirs)
    split_rel, split_abs = (0.02, 0.05) if name == "hta_diff_control.json.gz" else (REL, 0.02)
    for stream, h in theirs.items():
        o = ours[stream]
        assert o.idle_ms == pytest.approx(h.host_wait_ms + h.kernel_wait_ms + h.other_ms, rel=REL, abs=0.02), stream
        for attr in ("host_wait_ms", "kernel_wait_ms", "other_ms"):
            assert getattr(o, attr) == pytest.approx(getattr(h, attr), rel=split_rel, abs=split_abs), (stream, attr)
    assert sum(o.idle_ms for o in ours.values()) > 1.0


def test_rank_is_read_and_versions_of_both_platforms_are_shown():
    assert analysis("hta_diff_control.json.gz").metadata.rank == 3
    m = analysis("tl_sglang_qwen3_8b_prefilldecode.json.gz").metadata
    assert (m.platform, m.hip_runtime_version, m.hip_driver_version, m.roctracer_version) == ("ROCm", 70253211, 70253211, 4.1)
    assert analysis("tl_b200_eager.json.gz").metadata.platform == "CUDA"
    from profkit.report.analyze_render import render_md

    md = render_md(analysis("tl_sglang_qwen3_8b_prefilldecode.json.gz"))
    assert "| HIP driver / runtime / roctracer | 7.2.53211 / 7.2.53211 / 4.1 |" in md
    assert "CUDA driver" not in md


# ---- GPUs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, key, how",
    [
        ("tl_b200_eager.json.gz", "b200", "name"),
        ("hta_diff_control.json.gz", "a100-40gb-sxm", "name"),  # NVIDIA A100-PG509-200, 40 GB
        ("hta_negqueue_rank0.json.gz", "a100-80gb-sxm", "name"),
        ("tl_mi300_bert_small.json.gz", "mi300x", "name"),  # MI300X VF
        ("tl_vllm_decode_full_graph.json.gz", "mi300x", "SM count and memory"),  # empty device name
        ("hta_mi250_minitoy_train.json.gz", "mi210", "SM count and memory"),  # "AMD Radeon Graphics": MI210/MI250 GCD
        ("tl_mi210_gpu_only.json.gz", "mi210", "name"),
        ("hta_mtia_inference.json.gz", None, ""),
    ],
)
def test_gpu_is_found_in_the_catalog(name, key, how):
    m = analysis(name).metadata
    assert (m.gpu_spec_key, m.gpu_match) == (key, how)


def test_unknown_gpu_is_named_with_the_way_out():
    t = copy.copy(trace("tl_torch_compile_triton.json.gz"))
    t.metadata = copy.deepcopy(t.metadata)
    t.metadata["deviceProperties"][0].update(name="Some Future GPU", numSms=999)
    t.memo = {}
    a = analyze_trace(t)
    assert a.metadata.gpu_spec_key is None
    assert any("'Some Future GPU'" in w and "not in the catalog" in w and "--bandwidth-gbps" in w for w in a.warnings)
    v = a.phases["step"].verdict
    assert v.bound == "gpu" and "not in the catalog" in v.sentence and "recorded shapes" not in v.sentence
    assert a.phases["step"].bandwidth.bytes_per_step > 0  # shapes exist: only the GPU is unknown


@pytest.mark.slow
def test_bandwidth_gbps_judges_an_unlisted_gpu(tmp_path):
    import gzip
    import json

    doc = json.loads(gzip.decompress((EXTERNAL / "tl_torch_compile_triton.json.gz").read_bytes()))
    doc["deviceProperties"][0].update(name="Some Future GPU", numSms=999)
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    r = subprocess.run(
        [sys.executable, "-m", "profkit", "analyze", path, "--bandwidth-gbps", "2000", "--json", "-"], capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stderr
    phase = json.loads(r.stdout)["traces"][0]["phases"]["step"]
    assert phase["peak_bandwidth_gbps"] == 2000 and phase["mbu"] == pytest.approx(phase["achieved_bandwidth_gbps"] / 2000)
    r = subprocess.run([sys.executable, "-m", "profkit", "analyze", path, "--gpu", "nope"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2 and "unknown GPU 'nope'" in r.stderr


# ---- verdicts -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, phase, bound",
    [
        ("tl_sglang_qwen3_8b_prefilldecode.json.gz", "prefill", "compute"),
        ("hta_diff_control.json.gz", "step", "communication"),
        ("tl_sglang_qwen3_8b_decode.json.gz", "decode", "host"),
        ("tl_vllm_decode_full_graph.json.gz", "decode", "gpu"),  # graph replays: bytes unknown, said so
        ("tl_mi210_gpu_only.json.gz", "step", "overhead"),
        ("hta_negqueue_rank0.json.gz", "step", "sync"),
        ("tl_h100_qwen1.5_0.5b.json.gz", "prefill", "overhead"),
    ],
)
def test_verdicts_name_what_dominates(name, phase, bound):
    v = analysis(name).phases[phase].verdict
    assert v.bound == bound, v.sentence
    if bound == "gpu":
        assert "lower bounds only" in v.sentence and "no launching op" in v.sentence


def test_kernel_overhead_bound_names_the_category_and_share():
    """A bitsandbytes int8 batch-16 prefill: 10% MFU, 3% MBU, 65% of GPU time quantize/dequantize."""
    from profkit.analyses.bandwidth import PhaseBandwidth
    from profkit.analyses.idle import Causes
    from profkit.analyses.kernels import CategoryRow, KernelBreakdown
    from profkit.analyses.steps import PhaseStats
    from profkit.analyses.verdict import phase_verdict

    stats = PhaseStats("prefill", 1, 1, [], 60.0, 60.0, 55.0, 55.0, 0.08, 3000, 250, 200, 0, 5.0, 2.0, 0.0, 0.0)
    causes = Causes("prefill", [], 0.5, 3000, 3000, 5.0, 0.02, 55.0, 60.0, 250, 200, 2.0)
    bw = PhaseBandwidth("prefill", 8e9, "shapes", 8e9, 0.0, 145.0, 133.0, 0.03, 0.03, 5.4e13, 99.0, 0.10, 4800.0, 989.4, "fp16")
    kb = KernelBreakdown(
        "prefill",
        1,
        55.0,
        [
            CategoryRow("int8_quant", "int8 quantize/dequantize + outliers", 35.75, 1000, 35.75, 0.65, 35.75),
            CategoryRow("int8_gemm", "int8 GEMM", 16.5, 224, 73.7, 0.30, 16.5),
            CategoryRow("elementwise", "rotary/elementwise/activation", 2.75, 500, 5.5, 0.05, 2.75),
        ],
    )
    v = phase_verdict(stats, causes, bw, kb)
    assert v.bound == "overhead"
    for text in ("kernel-overhead-bound", "65%", "int8 quantize/dequantize + outliers", "MBU 3%", "MFU 10%"):
        assert text in v.sentence, v.sentence
    assert "compute-bound" not in v.sentence and "memory-bound" not in v.sentence


# ---- degraded reports ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["hta_cpu_only.json.gz", "hta_mtia_inference.json.gz", "hta_cupti_profiler.json.gz"])
def test_traces_without_gpu_kernels_get_a_degraded_report(name):
    a = analysis(name)
    assert not a.has_gpu_activity and all(r.verdict.bound is None for r in a.phases.values())
    assert any("GPU sections are empty" in w for w in a.warnings)
    r = subprocess.run([sys.executable, "-m", "profkit", "analyze", EXTERNAL / name, "--markdown"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "### Steps" in r.stdout


@pytest.mark.slow
def test_every_external_trace_analyses_from_the_cli_without_a_traceback():
    r = subprocess.run(
        [sys.executable, "-m", "profkit", "analyze", *sorted(EXTERNAL.glob("*.json.gz")), "--json", "-"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    import json

    assert len(json.loads(r.stdout)["traces"]) == len(list(EXTERNAL.glob("*.json.gz")))


# ---- zero-length steps ------------------------------------------------------------------------------------
def _synthetic(tmp_path: Path, step_durs: list[float]) -> Path:
    import json

    events = []
    t = 0.0
    for i, dur in enumerate(step_durs):
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{i}", "ts": t, "dur": dur, "pid": 1, "tid": 1})
        events.append({"ph": "X", "cat": "cuda_runtime", "name": "hipLaunchKernel", "ts": t + 1, "dur": 2, "pid": 1, "tid": 1, "args": {"correlation": i + 1}})
        events.append(
            {
                "ph": "X",
                "cat": "kernel",
                "name": "Cijk_Alik_Bljk_BBS_BH_MT64x64x64",
                "ts": t + 5,
                "dur": 3,
                "pid": 0,
                "tid": 7,
                "args": {"correlation": i + 1, "stream": "0x7"},
            }
        )
        t += max(dur, 10) + 5
    path = tmp_path / "steps.json"
    path.write_text(json.dumps({"traceEvents": events}))
    return path


def test_zero_length_steps_are_reported_with_a_warning(tmp_path):
    from profkit.trace.loader import parse_trace

    a = analyze_trace(parse_trace(_synthetic(tmp_path, [10.0, 0.0, 10.0])))
    zero = next(s for s in a.steps if s.name == "ProfilerStep#1")
    assert zero.outlier and "zero-length" in zero.outlier_reason
    assert any("zero-length step" in w for w in a.warnings)
    assert a.phases["step"].stats.steady_steps == 2 and a.phases["step"].stats.wall_ms == pytest.approx(0.01)
    everything_zero = analyze_trace(parse_trace(_synthetic(tmp_path, [0.0, 0.0])))
    assert everything_zero.step_source.steps == "window" and everything_zero.steps[0].wall_ms > 0
    assert any("every ProfilerStep step has zero length" in w for w in everything_zero.warnings)
    assert everything_zero.steps[0].kernels == 2


# ---- cross-vendor compare -----------------------------------------------------------------------------------
def test_same_model_on_h100_and_mi300x_compares_category_by_category():
    from profkit.analyses.compare import compare_traces

    c = compare_traces(EXTERNAL / "tl_h100_qwen1.5_0.5b.json.gz", EXTERNAL / "tl_mi300_qwen1.5_0.5b.json.gz")
    p = c.phases["prefill"]
    ref = {r["file"]: r["gemm_window"] for r in REFERENCE if r["window"] == "ProfilerStep#6"}
    gemm_b = sum(r.baseline_ms for r in p.categories if r.category in kernels_mod.GEMM_CATEGORIES)
    gemm_c = sum(r.candidate_ms for r in p.categories if r.category in kernels_mod.GEMM_CATEGORIES)
    assert close(gemm_b, ref["tl_h100_qwen1.5_0.5b.json.gz"]) and close(gemm_c, ref["tl_mi300_qwen1.5_0.5b.json.gz"])
    assert gemm_c / gemm_b - 1 == pytest.approx(0.31, abs=0.02)  # the GEMM kernels really went +31%
    assert not any(r.category == "other" for r in p.categories)
    rows = {r.label: r for r in p.ops}
    for label in ("linear 1024\u21922816", "linear 1024\u21921024", "linear 2816\u21921024"):
        assert rows[label].match == "exact" and rows[label].baseline_ms > 0 and rows[label].candidate_ms > 0
    attention = next(r for r in p.ops if r.key.startswith("attention:"))
    assert attention.match == "exact" and "flash" in attention.baseline_kernel and attention.candidate_kernel == "attn_fwd"
    setup = {f.name: (f.baseline, f.candidate) for f in c.setup}
    assert setup["hip_runtime"] == (None, "6.4.43483") and setup["cuda_runtime"][0] == "12.4"


def test_pooled_kernels_align_across_vendors():
    from profkit.analyses.compare.alignment import _Agg, _pool_unshared_kernels

    def agg(ns):
        a = _Agg("k", "kernel")
        a.gpu_ns = ns
        return a

    tb = {"kernel:gemm:nvjet_tst_x": agg(5.0), "kernel:attention:flash": agg(2.0), "kernel:elementwise:same": agg(1.0)}
    tc = {"kernel:gemm:Cijk_Alik": agg(7.0), "kernel:elementwise:same": agg(1.5)}
    pb, pc = _pool_unshared_kernels(tb, tc)
    assert pb["kernels:gemm"].gpu_ns == 5.0 and pc["kernels:gemm"].gpu_ns == 7.0
    assert "kernel:elementwise:same" in pb and "kernel:elementwise:same" in pc and "kernels:attention" not in pc


def test_vocabulary_covers_cuda_and_hip():
    from profkit.analyses.vocabulary import is_blocking, is_graph_launch, is_launch, runtime_name
    from profkit.trace.metadata import hip_version_text

    for name in (
        "cudaLaunchKernel",
        "cudaLaunchKernelExC",
        "cuLaunchKernelEx",
        "hipLaunchKernel",
        "hipExtModuleLaunchKernel",
        "hipModuleLaunchKernel",
        "cudaLaunchKernel_v7000",
    ):
        assert is_launch(name), name
    assert is_graph_launch("hipGraphLaunch") and is_graph_launch("cudaGraphLaunch")
    for name in ("hipDeviceSynchronize", "hipStreamSynchronize", "hipMemcpy", "hipMemcpyWithStream", "cudaEventSynchronize", "cudaMemcpy"):
        assert is_blocking(name), name
    assert not is_blocking("hipMemcpyAsync") and not is_launch("hipGetDevicePropertiesR0600")
    assert runtime_name("cudaMemcpyAsync_ptsz") == "cudaMemcpyAsync"
    assert hip_version_text(60443483) == "6.4.43483" and hip_version_text(None) is None
    sync_counts = [analysis("tl_mi300_bert_small.json.gz").steps[0].sync_calls, analysis("tl_torch_compile_triton.json.gz").whole_trace.sync_calls]
    assert sync_counts == [2, 2]
    assert np.isfinite(analysis("tl_mi300_bert_small.json.gz").steps[0].launch_api_ms)


@pytest.mark.parametrize(
    "name, batch, prompt",
    [("tl_sglang_qwen3_8b_prefilldecode.json.gz", 15, 1024), ("tl_b200_eager.json.gz", 1, 888), ("tl_vllm_decode_full_graph.json.gz", 32, None)],
)
def test_serving_workload_comes_from_the_engine_annotations(name, batch, prompt):
    from profkit.analyses.workload import describe_workload

    w = describe_workload(trace(name))
    assert (w.batch_size, w.prompt_len) == (batch, prompt)
    assert "serving engine" in w.evidence["batch_size"]


@pytest.mark.slow
def test_hta_option_runs_on_a_rank_3_trace():
    r = subprocess.run(
        [sys.executable, "-m", "profkit", "analyze", EXTERNAL / "hta_diff_control.json.gz", "--hta", "--markdown"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "Idle time breakdown (us), rank 3" in r.stdout and "Queue length summary, rank 3" in r.stdout
    assert "HTA cannot analyze" not in r.stdout + r.stderr


def test_the_table_across_traces_shows_each_traces_main_phase():
    """`profkit analyze DIR`'s table across traces: a training trace shows its step phase (not n/a
    everywhere because it has no decode), a serving engine's decode its own tokens per step, and a
    CPU-only trace n/a (not zero) for every GPU figure. Expected values from the reference table."""
    import statistics

    from profkit.report.analyze_render import overview_section

    names = ["hta_negqueue_rank0.json.gz", "hta_cpu_only.json.gz", "tl_vllm_decode_full_graph.json.gz"]
    s = overview_section([analysis(n) for n in names])
    rows = {r[0]: dict(zip(s.columns, r, strict=True)) for r in s.rows}
    steps = [r for r in REFERENCE if r["file"] == names[0]]
    train = rows[names[0]]
    assert train["phase"] == "step"
    assert float(train["ms/step"]) == pytest.approx(statistics.median(r["wall"] for r in steps), abs=0.006)
    assert float(train["busy ms"]) == pytest.approx(statistics.median(r["busy"] for r in steps), abs=0.006)
    assert train["kernels"] == f"{steps[0]['kernels']:,}" and train["decode tok/s"] == "n/a"
    cpu = rows[names[1]]
    assert cpu["phase"] == "step" and all(cpu[c] == "n/a" for c in ("busy ms", "idle", "kernels", "MBU"))
    vllm = rows[names[2]]
    (ref,) = [r for r in REFERENCE if r["file"] == names[2]]
    assert vllm["phase"] == "decode" and vllm["GPU"].startswith("unnamed (mi300x")
    assert float(vllm["decode tok/s"].replace(",", "")) == pytest.approx(32 / (ref["wall"] / 1e3), rel=0.001)  # 32 tokens per step (vLLM's annotation)


def _categories_of(name: str, kernel_words: tuple[str, ...]) -> set[str]:
    """Categories of the kernels of traces/external/`name` whose names contain any of `kernel_words`."""
    t = trace(name)
    cats = kernels_mod.categorize(t)
    rows = kernels_mod.kernel_rows(t)
    return {kernels_mod.CATEGORIES[cats[i]] for i in rows if any(w in t.name(t.gpu.name_id[i]) for w in kernel_words)}


def test_convolutions_are_their_own_category_and_fbgemm_permutes_are_no_gemms():
    # cuDNN's cutlass fprop (implicit GEMM) and its layout transforms, launched by aten::cudnn_convolution
    assert _categories_of("tl_h100_falconsai_conv.json.gz", ("fprop", "nchwToNhwc")) == {kernels_mod.CONVOLUTION}
    # by name alone (no launching op recorded): xmma fprop implicit GEMM and scudnn
    assert _categories_of("hta_alexnet_conv.json.gz", ("xmma_fprop", "scudnn")) == {kernels_mod.CONVOLUTION}
    # MIOpen's implicit-GEMM convolutions on MI210 (igemm_fwd/bwd/wrw) are no int8 or any other GEMM
    assert _categories_of("tl_mi210_gpu_only.json.gz", ("igemm_",)) == {kernels_mod.CONVOLUTION}
    # FBGEMM's sparse-feature kernels sit in the fbgemm_gpu namespace but do no matrix multiply
    assert not _categories_of("hta_diff_control.json.gz", ("fbgemm_gpu::permute", "fbgemm_gpu::_block_bucketize")) & set(kernels_mod.GEMM_CATEGORIES)
    # their bytes are outside the model: MBU says it is a lower bound, and why
    bw = analysis("tl_h100_falconsai_conv.json.gz").phases["step"].bandwidth
    assert bw.lower_bound and "4 convolution kernels per step" in bw.bytes_source


def test_a_trace_without_base_time_is_dated_by_its_absolute_timestamps():
    """PyTorch before 2.0 wrote Unix microseconds and no baseTimeNanoseconds: the run's date comes from
    them, not from the file's mtime. The AlexNet trace's original name holds its Unix time, 1695835535."""
    import datetime as dt

    from profkit.store.header import trace_header

    created = dt.datetime.fromisoformat(trace_header(EXTERNAL / "hta_alexnet_conv.json.gz").created)
    assert abs(created.timestamp() - 1695835535) < 600


def test_an_idle_gpu_not_waiting_for_launches_is_host_bound_not_launch_bound():
    """One Triton kernel in a 13 s window: the GPU idles all the step, but almost none of it between a
    kernel and the next launch, so the verdict says the host is busy elsewhere, not launching."""
    r = analysis("hta_triton_example.json.gz").phases["step"]
    assert r.verdict.bound == "host" and r.verdict.sentence.startswith("step is host-bound:")
    assert "not on launching kernels" in r.verdict.sentence
    launch_bound = analysis("tl_h100_bert_small.json.gz").phases["prefill"].verdict.sentence
    assert launch_bound.startswith("prefill is host/launch-bound:")


def test_a_pytorch_1_8_trace_has_its_steps_ops_and_categories():
    """Kineto of PyTorch 1.8: ProfilerStep#N recorded as an op, runtime calls with a lower-case
    "external id". Steps come from ProfilerStep (the reference rows are per step), kernels are linked
    to the ops that launched them, and cuDNN's convolutions and batch norm get their categories."""
    a = analysis("kineto_resnet50_pt18.json.gz")
    assert a.step_source.steps == "ProfilerStep" and [s.name for s in a.steps][:2] == ["ProfilerStep#5", "ProfilerStep#6"]
    t = trace("kineto_resnet50_pt18.json.gz")
    runtime_rows = t.gpu_runtime_row[kernels_mod.kernel_rows(t)]
    names_an_op = np.zeros(len(runtime_rows), bool)
    names_an_op[runtime_rows >= 0] = t.runtime.external_id[runtime_rows[runtime_rows >= 0]] > 0
    linked = t.gpu_op_row[kernels_mod.kernel_rows(t)] >= 0
    assert names_an_op.sum() == 8610 and (linked == names_an_op).all()  # every launch call that names an op (8,610 of 8,712) links
    assert _categories_of("kineto_resnet50_pt18.json.gz", ("bn_fw_tr", "bn_bw")) == {kernels_mod.NORMALIZATION}
    shares = {c.category: c.share for c in a.phases["step"].kernels.categories}
    assert shares[kernels_mod.CONVOLUTION] > 0.5 and shares.get(kernels_mod.OTHER, 0.0) < 0.01
