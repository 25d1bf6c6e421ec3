"""`profkit analyze` as a user runs it: JSON schema, Markdown, directories, GPU overrides."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import SAMPLES, sample

pytestmark = pytest.mark.slow  # `profkit analyze` in a subprocess

STEP_KEYS = {"name", "phase", "wall_ms", "gpu_busy_ms", "idle_fraction", "kernels", "sync_calls", "d2h_copies"}
PHASE_KEYS = {"wall_ms", "gpu_busy_ms", "idle_fraction", "kernels", "sync_calls", "d2h_copies", "achieved_bandwidth_gbps", "mbu", "bound"}
META_KEYS = {"gpu_name", "sm_count", "memory_bytes", "cuda_driver_version", "cuda_runtime_version", "cupti_version", "manifest"}


def run_cli(*args):
    r = subprocess.run([sys.executable, "-m", "profkit", *map(str, args)], capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def int8_json():
    return json.loads(run_cli("analyze", sample("h200_llama3-8b_int8_b1"), "--json", "-").stdout)


def test_json_schema_has_the_documented_fields(int8_json):
    assert int8_json["schema"] == "profkit.analyze/1"
    t = int8_json["traces"][0]
    assert set(t["metadata"]) >= META_KEYS
    assert all(set(s) >= STEP_KEYS for s in t["steps"])
    for phase in ("prefill", "decode"):
        assert set(t["phases"][phase]) >= PHASE_KEYS
    assert {"category", "total_ms", "share"} <= set(t["kernel_categories"][0])
    assert sum(c["share"] for c in t["kernel_categories"]) == pytest.approx(1.0)


def test_json_numbers_are_the_analysis_numbers(int8_json):
    d = int8_json["traces"][0]["phases"]["decode"]
    assert d["wall_ms"] == pytest.approx(133.17, abs=0.01)
    assert d["gpu_busy_ms"] == pytest.approx(9.33, abs=0.01)
    assert (d["kernels"], d["sync_calls"], d["d2h_copies"], d["bound"]) == (2775, 257, 256, "sync")
    assert d["mbu"] == pytest.approx(d["achieved_bandwidth_gbps"] / 4800)
    assert d["achieved_bandwidth_gbps"] == pytest.approx(d["bytes_per_step"] / (d["gpu_busy_ms"] / 1e3) / 1e9, rel=0.001)


def test_json_to_file_and_terminal_report(tmp_path):
    out = tmp_path / "report.json"
    r = run_cli("analyze", sample("h200_llama3-8b_bf16_b1"), "--json", out)
    assert json.loads(out.read_text())["traces"][0]["phases"]["decode"]["bound"] == "host"
    for text in (
        "Steps",
        "Phases (steady state, per step)",
        "host/launch-bound",
        "Kernel time by category — decode",
        "Idle time per stream",
        "GEMM bandwidth — decode",
    ):
        assert text in r.stdout


def test_markdown_report():
    md = run_cli("analyze", sample("h200_llama3-8b_bf16_b16"), "--markdown").stdout
    assert md.startswith("## h200_llama3-8b_bf16_b16")
    assert "| ProfilerStep#2 | decode | 178.27 |" in md and "OUTLIER" in md
    assert "### Verdicts" in md and "compute-bound" in md


def test_directory_gives_one_table_across_traces():
    r = run_cli("analyze", SAMPLES)
    assert "Across traces" in r.stdout
    for name in ("h200_llama3-8b_int8_b1", "h100_llama3-8b_bf16_b1_static_compiled", "h200_llama3-8b_fp16_b1"):
        assert name in r.stdout
    across = r.stdout[r.stdout.index("Across traces") :]
    # configuration from the trace itself, and profiled decode tokens/s = batch / decode step time
    assert "bf16 b16 p128 eager" in across and "438.1" in across  # 16 / 36.52 ms
    assert "bf16 b1 p128 compiled" in across and "87.2" in across  # 1 / 11.47 ms


def test_gpu_override_and_measured_bandwidth():
    spec = json.loads(run_cli("analyze", sample("h200_llama3-8b_bf16_b1"), "--json", "-").stdout)["traces"][0]
    measured = json.loads(run_cli("analyze", sample("h200_llama3-8b_bf16_b1"), "--bandwidth-gbps", "4251.8", "--json", "-").stdout)["traces"][0]
    a100 = json.loads(run_cli("analyze", sample("h200_llama3-8b_bf16_b1"), "--gpu", "a100-40gb-sxm", "--json", "-").stdout)["traces"][0]
    bw = spec["phases"]["decode"]["achieved_bandwidth_gbps"]
    assert spec["phases"]["decode"]["mbu"] == pytest.approx(bw / 4800)
    assert measured["phases"]["decode"]["mbu"] == pytest.approx(bw / 4251.8)
    assert measured["metadata"]["peak_source"] == "measured"
    assert a100["metadata"]["gpu_spec_key"] == "a100-40gb-sxm" and a100["phases"]["decode"]["peak_bandwidth_gbps"] == 1555.0


def test_measured_ceilings_from_run_results():
    t = json.loads(run_cli("analyze", sample("h200_llama3-8b_bf16_b16"), "--ceilings", SAMPLES / "h200_run_results.json", "--json", "-").stdout)["traces"][0]
    # traces/samples/README.md: H200 copy 4.25 TB/s (read+write), bf16 matmul 791 TFLOP/s
    assert t["metadata"]["peak_source"] == "measured"
    assert t["metadata"]["peak_bandwidth_gbps"] == pytest.approx(4251.8, abs=0.1)
    prefill = t["phases"]["prefill"]
    assert prefill["peak_tflops"] == pytest.approx(791.1, abs=0.1)
    assert prefill["mfu"] == pytest.approx(prefill["achieved_tflops"] / 791.13, rel=1e-3)
    assert 0.6 < prefill["mfu"] < 0.8  # batch-16 prefill runs GEMMs at ~70% of what this H200 reaches


def test_ceilings_of_another_gpu_are_refused():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "profkit",
            "analyze",
            str(sample("h100_llama3-8b_bf16_b1_static_compiled")),
            "--ceilings",
            str(SAMPLES / "h200_run_results.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and "measured on NVIDIA H200" in r.stderr and "Traceback" not in r.stderr
