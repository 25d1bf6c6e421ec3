"""`profkit runs` and the run store's listing: run folders from their manifest.json, loose traces from
their header (and events when they carry no manifest) joined with the results file beside them,
partial runs, per-rank traces, filters, and the CLI."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from profkit.errors import ProfkitError
from profkit.store import RunFilter, filter_runs, list_runs, read_trace_header

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "traces" / "samples"


def _manifest(run_id, created, gpu, driver, torch, configs):
    return {
        "run_id": run_id,
        "created": created,
        "host": "box",
        "model": {"name": "llama-3-8b"},
        "settings": {},
        "environment": {
            "gpu_name": gpu,
            "gpu_count": 1,
            "driver_version": driver,
            "cuda_runtime": "12.4",
            "torch": torch,
            "transformers": "4.46.0",
            "bitsandbytes": "0.45.0",
            "device": "cuda",
        },
        "configs": [
            {
                "name": f"llama-3-8b_{p}_b{b}_p128_eager",
                "precision": p,
                "batch_size": b,
                "prompt_len": 128,
                "mode": "eager",
                "status": s,
                "error": None,
                "trace_file": f"llama-3-8b_{p}_b{b}_p128_eager.pt.trace.json.gz",
                "timing": {"tpot_median_ms": 30.0, "ttft_ms": 40.0, "decode_tokens_per_s": 33.3},
            }
            for p, b, s in configs
        ],
    }


@pytest.fixture()
def traces_dir(tmp_path):
    """Two run folders (A100 driver 550, H100 driver 560), a broken one, and a loose trace with an embedded manifest."""
    runs = {
        "run-a100": _manifest(
            "run-a100",
            "2026-01-10T09:00:00+00:00",
            "NVIDIA A100-SXM4-40GB",
            "550.54.15",
            "2.4.1",
            [("bf16", 1, "ok"), ("bf16", 16, "ok"), ("int8", 1, "failed")],
        ),
        "run-h100": _manifest("run-h100", "2026-02-10T09:00:00+00:00", "NVIDIA H100 80GB HBM3", "560.35.03", "2.5.0", [("bf16", 1, "ok"), ("fp16", 1, "ok")]),
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
    header = {
        "schemaVersion": 1,
        "deviceProperties": [{"name": "NVIDIA L4", "totalGlobalMem": 23580639232, "numSms": 58}],
        "profkit_manifest": json.dumps(entry),
        "cuda_runtime_version": 12040,
    }
    text = json.dumps(header)[:-1] + ', "traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1.0, "dur": 2.0}]}'
    (tmp_path / "loose.pt.trace.json.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "results.json").write_text(json.dumps({"not": "a trace"}))
    return tmp_path


def discover_runs(root, inspect_traces=True):
    return list_runs(root, inspect_traces=inspect_traces).runs


def test_discover_reads_manifests_and_headers_only(traces_dir):
    runs = discover_runs(traces_dir)
    assert [r.run_id for r in runs] == ["loose-run", "run-h100", "run-a100", "broken"]  # newest first; undated last
    loose, _h100, a100, broken = runs
    assert (a100.kind, a100.source, a100.gpu_name, a100.driver_version, a100.cuda_runtime, a100.torch) == (
        "run",
        "manifest.json",
        "NVIDIA A100-SXM4-40GB",
        "550.54.15",
        "12.4",
        "2.4.1",
    )
    assert a100.precisions == ["bf16", "int8"] and a100.batch_sizes == [1, 16]
    assert [c.status for c in a100.configs] == ["ok", "ok", "failed"]
    assert a100.configs[0].tpot_median_ms == 30.0
    assert (loose.kind, loose.source, loose.gpu_name, loose.torch, loose.precisions, loose.batch_sizes) == (
        "trace",
        "embedded manifest",
        "NVIDIA L4",
        "2.6.0",
        ["nf4"],
        [4],
    )
    assert broken.state == "unreadable" and "not valid JSON" in broken.warnings[0] and "manifest.json" in broken.warnings[0]


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
        "h200_llama3-8b_bf16_b1",
        "h200_llama3-8b_bf16_b1_rep1",
        "h200_llama3-8b_bf16_b16",
        "h200_llama3-8b_fp16_b1",
        "h200_llama3-8b_int8_b1",
        "h100_llama3-8b_bf16_b1_static_compiled",
    }  # the *_results.json files are not traces
    int8 = runs["h200_llama3-8b_int8_b1"]
    assert (int8.gpu_name, int8.cuda_runtime, int8.precisions, int8.batch_sizes, int8.modes) == ("NVIDIA H200", "13.0", ["int8"], [1], ["eager"])
    assert int8.created and int8.created.startswith("2026-")
    assert runs["h200_llama3-8b_bf16_b16"].batch_sizes == [16]
    assert runs["h100_llama3-8b_bf16_b1_static_compiled"].modes == ["compiled"]
    assert runs["h100_llama3-8b_bf16_b1_static_compiled"].gpu_name == "NVIDIA H100 80GB HBM3"
    quick = {r.run_id: r for r in discover_runs(SAMPLES, inspect_traces=False)}
    assert quick["h200_llama3-8b_int8_b1"].precisions == [] and quick["h200_llama3-8b_int8_b1"].gpu_name == "NVIDIA H200"


def test_samples_take_versions_and_speeds_from_the_results_file_of_their_gpu():
    """The bundled traces embed no manifest: driver, torch and the un-profiled speeds come from
    h200_run_results.json / h100_compiled_results.json, matched by GPU name, then by precision, batch and mode."""
    runs = {r.run_id: r for r in discover_runs(SAMPLES)}
    for r in runs.values():
        assert (r.driver_version, r.torch, r.transformers, r.bitsandbytes) == ("580.159.04", "2.11.0+cu130", "5.17.0", "0.50.2")
    int8 = runs["h200_llama3-8b_int8_b1"]
    assert int8.timings_from == "h200_run_results.json" and int8.source.endswith("+ h200_run_results.json")
    (c,) = int8.configs
    assert c.decode_tokens_per_s == pytest.approx(7.72, abs=0.01) and c.tpot_median_ms == pytest.approx(118.36, abs=0.01)
    assert c.ttft_ms == pytest.approx(627.7, abs=0.1) and c.timings_from == "h200_run_results.json"
    (b16,) = runs["h200_llama3-8b_bf16_b16"].configs
    assert b16.decode_tokens_per_s == pytest.approx(246.63, abs=0.01)
    (compiled,) = runs["h100_llama3-8b_bf16_b1_static_compiled"].configs
    assert compiled.decode_tokens_per_s == pytest.approx(96.63, abs=0.01) and "approximated" in compiled.note
    assert [r.run_id for r in filter_runs(list(runs.values()), RunFilter(driver="580"))] == list(runs)


@pytest.mark.slow
def test_amd_traces_show_hip_versions_and_ranks_come_from_distributed_info(tmp_path):
    import shutil

    external = ROOT / "traces" / "external"
    for name in ("tl_sglang_qwen3_8b_prefilldecode.json.gz", "tl_torch_compile_triton.json.gz"):
        shutil.copyfile(external / name, tmp_path / name)
    runs = {r.run_id: r for r in discover_runs(tmp_path, inspect_traces=False)}
    sglang = runs["tl_sglang_qwen3_8b_prefilldecode"]
    assert (sglang.gpu_name, sglang.hip_runtime, sglang.hip_driver, sglang.roctracer) == ("AMD Instinct MI300X", "7.2.53211", "7.2.53211", "4.1")
    assert sglang.cuda_runtime is None and (sglang.rank, sglang.world_size) == (0, 1)
    assert runs["tl_torch_compile_triton"].hip_runtime == "7.2.26015"
    table = _cli("runs", tmp_path, "--quick")
    assert table.returncode == 0 and "7.2.53211" in table.stdout and "HIP" in table.stdout


def _rank_trace(path: Path, rank: int, world: int, gpu: str = "NVIDIA H100 80GB HBM3") -> None:
    header = {
        "schemaVersion": 1,
        "deviceProperties": [{"name": gpu, "totalGlobalMem": 85017493504}],
        "distributedInfo": {"backend": "nccl", "rank": rank, "world_size": world},
        "baseTimeNanoseconds": 1767189312000000000,
    }
    text = json.dumps(header)[:-1] + ', "traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1.0, "dur": 2.0}]}'
    path.write_bytes(gzip.compress(text.encode()))


@pytest.mark.slow
def test_per_rank_traces_of_one_job_are_listed_per_rank(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    for rank in (2, 0, 3, 1):
        _rank_trace(job / f"trainer_rank{rank}.pt.trace.json.gz", rank, 4)
    _rank_trace(tmp_path / "other.pt.trace.json.gz", 0, 8, gpu="NVIDIA B200")  # another job: not grouped with them
    runs = discover_runs(tmp_path, inspect_traces=False)
    members = [r for r in runs if r.job == "job"]
    assert [(r.rank, r.world_size) for r in members] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert [r.run_id for r in members] == [f"job/trainer_rank{i}" for i in range(4)]
    assert next(r for r in runs if r.run_id == "other").job is None
    table = _cli("runs", tmp_path, "--quick", env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "0 of 4" in table.stdout and "3 of 4" in table.stdout
    lines = [line for line in table.stdout.splitlines() if "job/trainer_rank" in line]
    assert [line.replace("│", " ").split()[0] for line in lines] == [f"job/trainer_rank{i}" for i in range(4)]


def _partial_run(root: Path, configs_done: int) -> Path:
    run = root / "sweep"
    run.mkdir()
    settings = {"precisions": ["int8", "bf16"], "batch_sizes": [1, 4], "modes": ["eager"]}
    done: list[dict[str, Any]] = [
        {
            "name": f"tiny_int8_b{b}_p16_eager",
            "precision": "int8",
            "batch_size": b,
            "prompt_len": 16,
            "mode": "eager",
            "status": "ok",
            "error": None,
            "trace_file": f"tiny_int8_b{b}_p16_eager.pt.trace.json.gz",
            "timing": {"tpot_median_ms": 5.0, "decode_tokens_per_s": 200.0},
        }
        for b in (1, 4)
    ][:configs_done]
    manifest = {
        "run_id": "sweep",
        "created": "2026-11-29T10:00:00+00:00",
        "environment": {"device": "cpu", "gpu_name": None},
        "model": {"name": "tiny"},
        "settings": settings,
        "configs": done,
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    for entry in done:
        (run / entry["trace_file"]).write_bytes(b"listing does not parse it")
    return run


@pytest.mark.slow
def test_partial_runs_are_listed_with_their_state(tmp_path):
    run = _partial_run(tmp_path, 1)
    # The configuration being measured: its trace is written, the manifest not updated yet.
    embedded = {"run_id": "sweep", "config": {"name": "tiny_int8_b4_p16_eager", "precision": "int8", "batch_size": 4, "prompt_len": 16, "mode": "eager"}}
    text = json.dumps({"profkit_manifest": embedded})[:-1] + ', "traceEvents": []}'
    (run / "tiny_int8_b4_p16_eager.pt.trace.json.gz").write_bytes(gzip.compress(text.encode()))
    (listed,) = discover_runs(tmp_path)
    assert listed.state == "partial" and "1 of 4 configurations recorded" in listed.state_note and "--resume" in listed.state_note
    assert [(c.name, c.status, c.batch_size) for c in listed.configs] == [("tiny_int8_b1_p16_eager", "ok", 1), ("tiny_int8_b4_p16_eager", "unrecorded", 4)]
    result = _cli("runs", tmp_path)
    assert result.returncode == 0 and "partial" in result.stdout and "traceEvents" not in result.stdout + result.stderr


@pytest.mark.slow
def test_a_run_with_no_finished_configuration_yet_is_listed(tmp_path):
    _partial_run(tmp_path, 0)
    (listed,) = discover_runs(tmp_path)
    assert listed.state == "partial" and "no configuration finished yet" in listed.state_note and listed.configs == []
    doc = json.loads(_cli("runs", tmp_path, "--json", "-").stdout)
    assert doc["runs"][0]["state"] == "partial" and doc["runs"][0]["run_id"] == "sweep"
    assert _cli("runs", tmp_path, "--strict").returncode == 0  # a run going on is not a bad file


def test_trace_header_is_read_without_the_events():
    header = read_trace_header(SAMPLES / "h200_llama3-8b_bf16_b1.pt.trace.json.gz")
    assert header["deviceProperties"][0]["name"] == "NVIDIA H200"
    assert header["cuda_runtime_version"] == 13000 and "traceEvents" not in header
    assert read_trace_header(SAMPLES / "h200_run_results.json") is None


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(ProfkitError, match="no such folder"):
        discover_runs(tmp_path / "nope")


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "profkit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.mark.slow
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


@pytest.mark.slow
def test_cli_missing_folder_exit_2(tmp_path):
    result = _cli("runs", tmp_path / "nope")
    assert result.returncode == 2
    assert result.stderr.startswith("profkit: error: ") and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_symlinks_out_of_the_folder_are_never_followed_and_said_once(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.pt.trace.json"
    secret.write_text('{"traceEvents": []}')
    root = tmp_path / "traces"
    root.mkdir()
    (root / "link.pt.trace.json").symlink_to(secret)
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    listing = list_runs(root, inspect_traces=False)
    assert listing.runs == []
    assert sorted((s.path.name, s.reason.split(";")[0]) for s in listing.skipped) == [
        ("link.pt.trace.json", "symlink to a file outside the traces folder"),
        ("linkdir", "symlink to a folder outside the traces folder"),
    ]
    result = _cli("runs", root)
    assert result.returncode == 0 and result.stdout.count("link.pt.trace.json") == 1 and result.stdout.count("linkdir") == 1
