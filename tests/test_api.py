"""The public API (`import profkit`): the same results as the command line, as data and DataFrames,
with errors that name the library's arguments, not command-line flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import profkit
from conftest import ROOT, SAMPLES, sample

BF16 = sample("h200_llama3-8b_bf16_b1")
INT8 = sample("h200_llama3-8b_int8_b1")


def cli_json(*args: str) -> object:
    env = {**os.environ, "COLUMNS": "120"}
    r = subprocess.run([sys.executable, "-m", "profkit", *args, "--json", "-"], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(r.stdout)


def as_json(value) -> object:
    """What the CLI's JSON writer makes of a value (tuples become lists, non-JSON values strings)."""
    return json.loads(json.dumps(value, default=str))


@pytest.mark.slow
def test_import_profkit_is_cheap_and_lists_the_front_door():
    code = "import sys, profkit; print(sorted(m for m in ('pandas', 'torch', 'hta', 'streamlit', 'profkit.api') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert {"load_trace", "analyze", "compare", "recommend", "estimate", "runs", "GPU_CATALOG", "get_gpu"} <= set(dir(profkit))


@pytest.mark.slow
def test_analyze_is_the_cli_report_and_a_frame_of_steps():
    a = profkit.analyze(INT8)
    assert as_json(a.to_dict()) == cli_json("analyze", str(INT8))["traces"][0]
    steps = a.to_frame()
    assert list(steps.phase) == ["prefill"] + ["decode"] * 5
    decode = a.phases_frame().set_index("phase").loc["decode"]
    assert decode.wall_ms == pytest.approx(133.2, rel=0.01) and decode.sync_calls == 257 and decode.bound == "sync"
    cats = a.categories_frame("decode").set_index("category")
    assert cats.loc["int8_gemm", "per_step_ms"] == pytest.approx(cats.loc["int8_gemm", "total_ms"] / 5)
    assert cats.share.sum() == pytest.approx(1.0)


def test_analyze_takes_a_loaded_trace_and_measured_bandwidth():
    trace = profkit.load_trace(BF16)
    a = profkit.analyze(trace, bandwidth_gbps=4250.0)
    assert a.metadata.peak_bandwidth_gbps == 4250.0 and a.metadata.peak_source == "measured"
    bw = a.phases["decode"].bandwidth
    assert bw.mbu == pytest.approx(bw.achieved_bandwidth_gbps / 4250.0)


@pytest.mark.slow
def test_compare_is_the_cli_document():
    report = profkit.compare(BF16, INT8)
    assert as_json(report.to_dict()) == cli_json("compare", str(BF16), str(INT8))
    wall = report.to_frame().set_index(["phase", "metric"]).loc[("decode", "wall_ms")]
    assert wall.candidate_ms / wall.baseline_ms == pytest.approx(133.17 / 38.65, rel=0.01) and wall.significant


@pytest.mark.slow
def test_runs_filter_and_frame_match_the_cli():
    listing = profkit.runs(SAMPLES, driver="580")
    assert as_json(listing.to_dict()) == cli_json("runs", str(SAMPLES), "--driver", "580")
    frame = listing.to_frame()
    int8 = frame[frame.precision == "int8"].iloc[0]
    assert int8.driver_version == "580.159.04" and int8.decode_tokens_per_s == pytest.approx(7.72, rel=0.01)


@pytest.mark.slow
def test_recommend_and_estimate_as_data():
    advice = profkit.recommend(SAMPLES, tpot_slo_ms=60)
    assert [r.to_dict() for r in advice] == as_json(cli_json("recommend", str(SAMPLES), "--tpot-slo-ms", "60"))
    frame = advice.to_frame()
    assert frame.kind.iloc[0] == "precision" and frame.gain_low.iloc[0] == pytest.approx(5.6, abs=0.1)
    est = profkit.estimate(precision="int8")
    assert est.to_dict() == as_json(cli_json("estimate", "--precision", "int8"))
    assert est.to_frame().loc[0, "weights_bytes"] / 2**30 == pytest.approx(8.46, abs=0.01)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: profkit.analyze(BF16, bandwidth_gbps=-1), "bandwidth_gbps must be a positive"),
        (lambda: profkit.load_trace(BF16, use_cache=False, max_bytes=1000), "raise max_bytes"),
        (lambda: profkit.compare(BF16, BF16, k_sigma=0), "k_sigma must be a positive"),
        (lambda: profkit.recommend(SAMPLES, context_len=0), "context_len must be"),
        (lambda: profkit.estimate(bandwidth_gbps=0), "bandwidth_gbps must be a positive"),
        (lambda: profkit.runs(SAMPLES, gpux="h"), "unknown filter gpux"),
    ],
)
def test_library_errors_name_arguments_not_flags(call, words):
    with pytest.raises(profkit.ProfkitError) as err:
        call()
    assert words in str(err.value) and "--" not in str(err.value)


@pytest.mark.slow
def test_the_cli_names_its_flags_for_the_same_errors(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "profkit", "analyze", str(BF16), "--bandwidth-gbps", "-1"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert r.returncode == 2 and r.stderr.strip() == "profkit: error: --bandwidth-gbps must be a positive number of GB/s, got -1.0"


@pytest.mark.slow
def test_the_example_script_runs_on_the_samples():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "api_tour.py")], capture_output=True, text=True, check=True).stdout
    assert "int8 decode: 133.2 ms per token, GPU busy 9.33 ms, 257 syncs per token -> sync-bound" in out
    assert "bf16 -> int8 decode wall: 38.7 -> 133.2 ms (+245%, significant: True)" in out
    assert "1. Load the weights in fp16 (or bf16) instead of bitsandbytes int8 (5.6-6.3x, measured)" in out
    assert "weights 8.46 GiB, headroom 30.6 GiB, max batch 29 at 8k tokens" in out
