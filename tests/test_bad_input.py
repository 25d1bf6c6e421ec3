"""Bad input: one line naming the file and the problem, exit code 2, never a traceback; and
degraded-but-honest reports for CPU-only traces and traces without ProfilerStep."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from conftest import DATA, sample

BAD = DATA / "bad"
CASES = {
    "empty.json": "file is empty",
    "truncated.json.gz": "truncated or corrupt gzip",
    "invalid.json": "invalid JSON",
    "no_trace_events.json": "no 'traceEvents'",
    "not_object.json": "not an object",
    "missing_fields.json": "has no 'ts' field",
    "not_json.json.gz": "invalid JSON",
}


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "profkit", *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name,problem", sorted(CASES.items()))
def test_bad_file_one_line_exit_2(name, problem):
    r = run_cli("analyze", BAD / name)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert name in lines[0] and problem in lines[0]
    assert "Traceback" not in r.stderr + r.stdout


def test_missing_path(tmp_path):
    r = run_cli("analyze", tmp_path / "nope.json.gz")
    assert r.returncode == 2
    assert r.stderr.strip() == f"profkit: error: {tmp_path / 'nope.json.gz'}: no such file or directory"


def test_empty_directory(tmp_path):
    r = run_cli("analyze", tmp_path)
    assert r.returncode == 2 and "holds no .json or .json.gz trace files" in r.stderr and "Traceback" not in r.stderr


def _events_of(name):
    with gzip.open(sample(name)) as f:
        return json.load(f)


def _write(doc, path):
    with gzip.open(path, "wt") as f:
        json.dump(doc, f)
    return path


@pytest.fixture(scope="module")
def cpu_only(tmp_path_factory):
    """A real trace with every GPU-side event removed: what a CPU-only run records."""
    doc = _events_of("h200_llama3-8b_bf16_b1")
    keep = {"cpu_op", "user_annotation"}
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") in keep]
    doc.pop("deviceProperties", None)
    return _write(doc, tmp_path_factory.mktemp("cpu") / "cpu_only.json.gz")


def test_cpu_only_trace_gives_a_degraded_report(cpu_only):
    r = run_cli("analyze", cpu_only, "--json", "-")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["traces"][0]
    assert t["has_gpu_activity"] is False
    assert any("no GPU activity" in w for w in t["warnings"])
    assert t["phases"]["decode"]["gpu_busy_ms"] == 0 and t["phases"]["decode"]["bound"] is None
    assert t["cpu_ops"] and t["cpu_ops"][0]["total_ms"] > 0  # the CPU op summary is still there
    assert "no GPU activity" in r.stderr and "Traceback" not in r.stderr


def test_cpu_only_terminal_report(cpu_only):
    r = run_cli("analyze", cpu_only)
    assert r.returncode == 0 and "no GPU activity" in r.stdout and "Top-level CPU ops" in r.stdout


def test_hta_on_cpu_only_trace_is_one_line(cpu_only):
    r = run_cli("analyze", cpu_only, "--hta")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("profkit: error:")


def test_trace_without_profilerstep_falls_back_to_annotations(tmp_path):
    doc = _events_of("h200_llama3-8b_int8_b1")
    doc["traceEvents"] = [e for e in doc["traceEvents"] if not str(e.get("name", "")).startswith("ProfilerStep")]
    r = run_cli("analyze", _write(doc, tmp_path / "nostep.json.gz"), "--json", "-")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["traces"][0]
    assert t["step_source"]["steps"] == "annotation"
    assert any("no ProfilerStep" in w for w in t["warnings"])
    d = t["phases"]["decode"]
    # The end-of-step cudaDeviceSynchronize lies outside the `decode` range: 256 syncs, not 257.
    assert d["steps"] == 5 and d["sync_calls"] == 256 and d["d2h_copies"] == 256 and d["bound"] == "sync"


def test_trace_without_any_annotation_is_one_window(tmp_path):
    doc = _events_of("h200_llama3-8b_fp16_b1")
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") != "user_annotation"]
    r = run_cli("analyze", _write(doc, tmp_path / "noann.json.gz"), "--json", "-")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["traces"][0]
    assert t["step_source"]["steps"] == "window" and len(t["steps"]) == 1
    assert any("whole trace" in w for w in t["warnings"])
    assert t["steps"][0]["kernels"] == 1399 + 5 * 1463
