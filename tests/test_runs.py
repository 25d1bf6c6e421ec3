"""`profkit runs`: run folders from their manifest.json, loose traces from their header (and events
when they carry no manifest), filters, and the CLI."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profkit.analyses.runs import RunFilter, discover_runs, filter_runs, read_trace_header
from profkit.errors import ProfkitError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "traces" / "samples"



def _manifest(run_id, created, gpu, driver, torch, configs):
    return {
        "run_id": run_id,
        "created": created,
        "host": "box",
        "model": {"name": "llama-3-8b"},
        "settings": {},
        "environment": {"gpu_name": gpu, "gpu_count": 1, "driver_version": driver, "cuda_runtime": "12.4", "torch": torch,
                        "transformers": "4.46.0", "bitsandbytes": "0.45.0", "device": "cuda"},
        "configs": [
            {"name": f"llama-3-8b_{p}_b{b}_p128_eager", "precision": p, "batch_size": b, "prompt_len": 128, "mode": "eager",
             "status": s, "error": None, "trace_file": f"llama-3-8b_{p}_b{b}_p128_eager.pt.trace.json.gz",
             "timing": {"tpot_median_ms": 30.0, "ttft_ms": 40.0, "decode_tokens_per_s": 33.3}}
            for p, b, s in configs
        ],
    }


@pytest.fixture()
def traces_dir(tmp_path):
    """Two run folders (A100 driver 550, H100 driver 560), a broken one, and a loose trace with an embedded manifest."""
    runs = {
        "run-a100": _manifest("run-a100", "2026-01-10T09:00:00+00:00", "NVIDIA A100-SXM4-40GB", "550.54.15", "2.4.1",
                              [("bf16", 1, "ok"), ("bf16", 16, "ok"), ("int8", 1, "failed")]),
        "run-h100": _manifest("run-h100", "2026-02-10T09:00:00+00:00", "NVIDIA H100 80GB HBM3", "560.35.03", "2.5.0",
                              [("bf16", 1, "ok"), ("fp16", 1, "ok")]),
    }
    for name, manifest in runs.items():
        d = tmp_path / name
        d.mkdir()
        (d / "manifest.json").write_text(json.dumps(manifest))
        for c in manifest["configs"]:
            (d / c["trace_file"]).write_bytes(b"not a trace: listing must not parse it")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ truncated")
    embedded = _manifest("loose-run", "2026-03-01T09:00:00+00:00", "NVIDIA L4", "570.1", "2.6.0", [("nf4", 4, "ok")])
    entry = {**{k: v for k, v in embedded.items() if k != "configs"}, "config": embedded["configs"][0]}
    header = {"schemaVersion": 1, "deviceProperties": [{"name": "NVIDIA L4", "totalGlobalMem": 23580639232, "numSms": 58}],
              "profkit_manifest": json.dumps(entry), "cuda_runtime_version": 12040}
    text = json.dumps(header)[:-1] + ', "traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1.0, "dur": 2.0}]}'
    (tmp_path / "loose.pt.trace.json.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "results.json").write_text(json.dumps({"not": "a trace"}))
    return tmp_path


def test_discover_reads_manifests_and_headers_only(traces_dir):
    runs = discover_runs(traces_dir)
    assert [r.run_id for r in runs] == ["loose-run", "run-h100", "run-a100", "broken"]  # newest first; undated last
    loose, h100, a100, broken = runs
    assert (a100.kind, a100.source, a100.gpu_name, a100.driver_version, a100.cuda_runtime, a100.torch) == (
        "run", "manifest.json", "NVIDIA A100-SXM4-40GB", "550.54.15", "12.4", "2.4.1")
    assert a100.precisions == ["bf16", "int8"] and a100.batch_sizes == [1, 16]
    assert [c.status for c in a100.configs] == ["ok", "ok", "failed"]
    assert a100.configs[0].tpot_median_ms == 30.0
    assert (loose.kind, loose.source, loose.gpu_name, loose.torch, loose.precisions, loose.batch_sizes) == (
        "trace", "embedded manifest", "NVIDIA L4", "2.6.0", ["nf4"], [4])
    assert broken.warnings and "unreadable" in broken.warnings[0]


def test_filters(traces_dir):
    runs = discover_runs(traces_dir)
    assert [r.run_id for r in filter_runs(runs, RunFilter(gpu="h100"))] == ["run-h100"]
    assert [r.run_id for r in filter_runs(runs, RunFilter(driver="550"))] == ["run-a100"]
    assert [r.run_id for r in filter_runs(runs, RunFilter(torch="2.5"))] == ["run-h100"]
    assert [r.run_id for r in filter_runs(runs, RunFilter(date="2026-01"))] == ["run-a100"]
    assert [r.run_id for r in filter_runs(runs, RunFilter(run_id="loose"))] == ["loose-run"]
    narrowed = filter_runs(runs, RunFilter(precision="bf16", batch_size=16))
    assert [r.run_id for r in narrowed] == ["run-a100"]
    assert [(c.precision, c.batch_size) for c in narrowed[0].configs] == [("bf16", 16)]
    assert len(runs[2].configs) == 3  # the original is untouched
    assert filter_runs(runs, RunFilter(gpu="a100", precision="fp16")) == []


def test_samples_are_listed_with_what_their_events_show():
    runs = {r.run_id: r for r in discover_runs(SAMPLES)}
    assert set(runs) == {
        "h200_llama3-8b_bf16_b1", "h200_llama3-8b_bf16_b1_rep1", "h200_llama3-8b_bf16_b16", "h200_llama3-8b_fp16_b1",
        "h200_llama3-8b_int8_b1", "h100_llama3-8b_bf16_b1_static_compiled",
    }  # the *_results.json files are not traces
    int8 = runs["h200_llama3-8b_int8_b1"]
    assert (int8.gpu_name, int8.cuda_runtime, int8.precisions, int8.batch_sizes, int8.modes) == ("NVIDIA H200", "13.0", ["int8"], [1], ["eager"])
    assert int8.created and int8.created.startswith("2026-")
    assert runs["h200_llama3-8b_bf16_b16"].batch_sizes == [16]
    assert runs["h100_llama3-8b_bf16_b1_static_compiled"].modes == ["compiled"]
    assert runs["h100_llama3-8b_bf16_b1_static_compiled"].gpu_name == "NVIDIA H100 80GB HBM3"
    quick = {r.run_id: r for r in discover_runs(SAMPLES, inspect_traces=False)}
    assert quick["h200_llama3-8b_int8_b1"].precisions == [] and quick["h200_llama3-8b_int8_b1"].gpu_name == "NVIDIA H200"


def test_trace_header_is_read_without_the_events():
    header = read_trace_header(SAMPLES / "h200_llama3-8b_bf16_b1.pt.trace.json.gz")
    assert header["deviceProperties"][0]["name"] == "NVIDIA H200"
    assert header["cuda_runtime_version"] == 13000 and "traceEvents" not in header
    assert read_trace_header(SAMPLES / "h200_run_results.json") is None


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ProfkitError, match="no such folder"):
        discover_runs(tmp_path / "nope")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "profkit", *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=120)


def test_cli_json_and_filters(traces_dir):
    result = _cli("runs", traces_dir, "--gpu", "a100", "--precision", "bf16", "--json", "-")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "profkit.runs/1" and doc["total_runs"] == 4
    assert doc["filter"] == {"gpu": "a100", "precision": "bf16"}
    assert [r["run_id"] for r in doc["runs"]] == ["run-a100"]
    assert doc["runs"][0]["batch_sizes"] == [1, 16] and doc["runs"][0]["driver_version"] == "550.54.15"
    table = _cli("runs", traces_dir, "--driver", "560")
    assert table.returncode == 0 and "run-h100" in table.stdout and "run-a100" not in table.stdout


def test_cli_missing_folder_exit_2(tmp_path):
    result = _cli("runs", tmp_path / "nope")
    assert result.returncode == 2
    assert result.stderr.startswith("profkit: error: ") and len(result.stderr.strip().splitlines()) == 1


def test_discover_runs_never_follows_symlinks_out_of_the_folder(tmp_path):
    from profkit.analyses.runs import discover_runs

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.pt.trace.json"
    secret.write_text('{"traceEvents": []}')
    root = tmp_path / "traces"
    root.mkdir()
    (root / "link.pt.trace.json").symlink_to(secret)
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    assert discover_runs(root, inspect_traces=False) == []
    from profkit.analyses.runs import links_leaving

    found = links_leaving(root)
    assert root / "link.pt.trace.json" in found and all(not p.resolve().is_relative_to(root.resolve()) for p in found)
