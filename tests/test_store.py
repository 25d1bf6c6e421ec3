"""The run store's parts: the walker's path policy, the manifest schema with its writer and reader,
results files, trace headers (CUDA and HIP versions), and `describe_trace` / `collect`."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from profkit.errors import ProfkitError
from profkit.store import (
    collect,
    cuda_version_text,
    describe_trace,
    display,
    hip_version_text,
    manifest_from_dict,
    read_manifest,
    read_results,
    walk,
    write_manifest,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "traces" / "samples"
INT8 = SAMPLES / "h200_llama3-8b_int8_b1.pt.trace.json.gz"


# ---- the walker ------------------------------------------------------------------------------------
def test_walk_lists_each_file_once_and_says_what_it_skipped(tmp_path):
    root = tmp_path / "traces"
    (root / "run").mkdir(parents=True)
    (root / "run" / "manifest.json").write_text("{}")
    (root / "run" / "a.pt.trace.json.gz").write_bytes(b"x")
    (root / "notes.txt").write_text("ignored")
    (root / ".hidden.json").write_text("{}")
    (root / ".a.pt.trace.json.gz.1234.tmp").write_text("scratch")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text("{}")
    (root / "out.json").symlink_to(outside / "secret.json")
    (root / "outdir").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "self.json").symlink_to(root / "self.json")
    (root / "gone.json").symlink_to(tmp_path / "missing.json")
    (root / "again.pt.trace.json.gz").symlink_to(root / "run" / "a.pt.trace.json.gz")  # inside: listed once
    os.mkfifo(root / "fifo.pt.trace.json")
    found = walk(root)
    assert [f.rel for f in found.files] == ["again.pt.trace.json.gz", "run/manifest.json"]
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert reasons["out.json"].startswith("symlink to a file outside the traces folder")
    assert reasons["outdir"].startswith("symlink to a folder outside the traces folder")
    assert reasons["loop"].startswith("symlink to a folder already walked")
    assert reasons["self.json"].startswith("symlink loop")
    assert reasons["gone.json"].startswith("broken symlink")
    assert reasons["fifo.pt.trace.json"].startswith("not a regular file")
    assert len(found.skipped) == 6


def test_walk_keeps_names_that_are_not_utf8_and_displays_them(tmp_path):
    name = b"bad\xff.json"
    with open(os.path.join(os.fsencode(tmp_path), name), "w") as f:
        f.write("{}")
    (found,) = walk(tmp_path).files
    assert found.path.read_text() == "{}"  # still openable
    assert display(found.rel) == "bad\\xff.json"


def test_walk_of_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ProfkitError, match="no such folder"):
        walk(tmp_path / "nope")


def _skipped_reasons_of_a_walk_over_a_locked_folder(root) -> list[str]:
    """Walk `root` holding a folder with mode 000, as this user, or as `nobody` when this is root
    (root reads every folder: the walk then runs in a `setpriv` child without root's rights)."""
    locked = root / "locked"
    locked.mkdir()
    (root / "a.json").write_text("{}")
    locked.chmod(0)
    try:
        if os.geteuid() != 0:
            return [s.reason for s in walk(root).skipped]
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux) to drop root's rights")
        root.chmod(0o777)
        code = "import json, sys; from profkit.store.walk import walk; print(json.dumps([s.reason for s in walk(sys.argv[1]).skipped]))"
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code, str(root)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    finally:
        locked.chmod(0o755)


def test_an_unreadable_folder_is_skipped():
    root = Path(tempfile.mkdtemp(prefix="profkit-locked-"))  # under /tmp: `nobody` can reach it, unlike pytest's 0700 temp root
    try:
        reasons = _skipped_reasons_of_a_walk_over_a_locked_folder(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert reasons and "cannot list" in reasons[0]


# ---- manifests --------------------------------------------------------------------------------------
def _capture_manifest() -> dict:
    """A manifest as `profkit run` builds it (capture's own constructors), with the keys the capture
    side adds: environment.torchao and a configuration's quantization."""
    from profkit.capture.config import ConfigSpec
    from profkit.capture.manifest import config_entry, new_manifest

    env = {
        "device": "cuda",
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "gpu_count": 1,
        "driver_version": "580.159.04",
        "cuda_runtime": "13.0",
        "cudnn": 91002,
        "torch": "2.11.0",
        "transformers": "5.17.0",
        "bitsandbytes": "0.50.2",
        "torchao": "0.14.0",
        "python": "3.12.3",
        "platform": "Linux",
        "cpu_count": 16,
        "torch_threads": 16,
        "gpu_total_mem_bytes": 85017493504,
        "gpu_sm_count": 132,
        "gpu_compute_capability": "9.0",
        "numa_nodes": 2,
    }
    manifest = new_manifest(
        "r1",
        "box",
        env,
        {"name": "llama-3-8b", "shape": None, "source": "random", "path": None},
        {"precisions": ["int8"], "batch_sizes": [1, 4], "modes": ["eager"]},
        {"file": "nvml_samples.csv", "available": True, "interval_s": 0.05, "columns": ["t_unix_s"], "note": ""},
    )
    entry = config_entry(ConfigSpec("llama-3-8b", "int8", 1, 128, "eager", 64))
    entry.update(
        trace_file="x.pt.trace.json.gz",
        weights_bytes=9081200640,
        t_start_unix_s=1.0,
        t_end_unix_s=2.0,
        timing={
            "ttft_ms": 41.0,
            "tpot_median_ms": 26.0,
            "tpot_p90_ms": 30.5,
            "decode_tokens_per_s": 37.4,
            "e2e_tokens_per_s": 36.9,
            "peak_gpu_mem_bytes": 16146507776,
            "peak_rss_bytes": None,
            "warmup_s": 0.5,
            "decode_step_ms": [26.0, 25.9],
            "window_unix_s": [1.0, 1.5],
        },
        quantization={"scheme": "llm.int8", "library": "bitsandbytes", "threshold": 6.0},
    )
    manifest["configs"].append(entry)
    return manifest


def test_manifest_writer_and_reader_carry_every_key_capture_writes(tmp_path):
    data = _capture_manifest()
    path = write_manifest(tmp_path, data)
    assert json.loads(path.read_text()) == data  # written as given: the copy in each trace stays identical
    m = read_manifest(tmp_path)
    assert m.problems == []
    assert (m.run_id, m.environment.driver_version, m.environment.torchao, m.environment.cudnn) == ("r1", "580.159.04", "0.14.0", 91002)
    assert m.environment.extra == {"numa_nodes": 2}  # a key the schema does not name is kept
    (c,) = m.configs
    assert (c.precision, c.batch_size, c.timing.tpot_median_ms, c.timing.decode_step_ms) == ("int8", 1, 26.0, [26.0, 25.9])
    assert c.quantization == {"scheme": "llm.int8", "library": "bitsandbytes", "threshold": 6.0}
    assert m.planned() == 2
    assert m.to_dict() == dict(data)


def test_manifest_writer_refuses_a_value_of_the_wrong_type(tmp_path):
    data = _capture_manifest()
    data["configs"][0]["batch_size"] = "4"
    with pytest.raises(ValueError, match=r"configs\[0\]\.batch_size"):
        write_manifest(tmp_path, data)
    assert not (tmp_path / "manifest.json").exists()


def test_manifest_reader_drops_wrong_values_and_says_which(tmp_path):
    data = _capture_manifest()
    data["environment"]["gpu_count"] = "one"
    data["configs"][0]["timing"]["tpot_median_ms"] = [1]
    m = manifest_from_dict(data)
    assert m.environment.gpu_count is None and m.configs[0].timing.tpot_median_ms is None
    assert any("environment.gpu_count" in p for p in m.problems) and any("timing.tpot_median_ms" in p for p in m.problems)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ProfkitError, match="not a JSON object"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{ cut")
    with pytest.raises(ProfkitError, match="not valid JSON"):
        read_manifest(tmp_path)


# ---- results files, headers -------------------------------------------------------------------------
def test_results_file_reads_versions_sweep_and_ceilings():
    res = read_results(SAMPLES / "h200_run_results.json")
    assert (res.kind, res.gpu_name, res.driver_version, res.cuda_driver, res.torch) == ("results", "NVIDIA H200", "580.159.04", "13.0", "2.11.0+cu130")
    assert len(res.configs) == 12 and res.ceilings["bf16_matmul_TFLOPs"] == pytest.approx(791.1, abs=0.1)
    int8 = next(c for c in res.configs if (c.precision, c.batch_size) == ("int8", 1))
    assert int8.decode_tokens_per_s == pytest.approx(7.72, abs=0.01) and int8.window_unix_s is not None
    with pytest.raises(ProfkitError, match="not a results file"):
        read_results(SAMPLES / "h200_llama3-8b_int8_b1.pt.trace.json.gz")  # gzip-compressed: a trace


def test_version_texts():
    assert cuda_version_text(13000) == "13.0" and cuda_version_text(12090) == "12.9" and cuda_version_text(None) is None
    assert hip_version_text(70253211) == "7.2.53211" and hip_version_text(60443483) == "6.4.43483" and hip_version_text("x") is None


def test_a_named_trace_is_joined_with_the_results_file_beside_it(tmp_path):
    shutil.copyfile(INT8, tmp_path / INT8.name)
    shutil.copyfile(SAMPLES / "h200_run_results.json", tmp_path / "h200_run_results.json")
    run, config = describe_trace(tmp_path / INT8.name)
    assert run.driver_version == "580.159.04" and config.decode_tokens_per_s == pytest.approx(7.72, abs=0.01)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(INT8, alone / INT8.name)
    run, config = describe_trace(alone / INT8.name)
    assert run.driver_version is None and config.decode_tokens_per_s is None  # nothing beside it says


def test_collect_names_errors_for_named_paths_and_skips_bad_files_in_folders(tmp_path):
    with pytest.raises(ProfkitError, match="no such file or directory"):
        collect([tmp_path / "nope"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(ProfkitError, match="neither a trace"):
        collect([bad])
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copyfile(INT8, folder / INT8.name)
    (folder / "cut.pt.trace.json.gz").write_bytes(gzip.compress(b'{"traceEvents": [')[:20])
    (folder / "stray_results.json").write_text("{ not json")
    got = collect([folder])
    assert [Path(r.path).name for r in got.runs] == [INT8.name]
    assert any("cut.pt.trace.json.gz" in n for n in got.notes) and any("stray_results.json" in n for n in got.notes)
    with pytest.raises(ProfkitError, match="strict: fix or remove it"):
        collect([folder], strict=True)
