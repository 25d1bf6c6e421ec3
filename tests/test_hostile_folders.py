"""Hostile traces folders: symlinks out (to a file and to a folder), symlink loops, a stray and a
broken results file, broken traces, a FIFO with a trace's name, a partial run, a name that is not
UTF-8 -- beside good traces.

For `runs`, `recommend`, `compare` and every dashboard page: the exit code, warnings of one line
each, no traceback, the good data still used, and nothing read from outside the folder (the files
outside carry markers that would show if they were read).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the CLI and every dashboard page over a folder of bad files

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "traces" / "samples"
INT8, FP16 = "h200_llama3-8b_int8_b1.pt.trace.json.gz", "h200_llama3-8b_fp16_b1.pt.trace.json.gz"
#: Written only into files outside the traces folder: must never appear in any output.
SECRET_DRIVER = "999.99.99-outside"
SECRET_GPU = "NVIDIA OUTSIDE-GPU"


def _trace_with_gpu(src: Path, dst: Path, gpu: str) -> None:
    doc = json.loads(gzip.decompress(src.read_bytes()))
    doc["deviceProperties"][0]["name"] = gpu
    dst.write_bytes(gzip.compress(json.dumps(doc).encode()))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    outside = base / "outside"
    outside.mkdir()
    results = json.loads((SAMPLES / "h200_run_results.json").read_text())
    results["env"]["driver"] = SECRET_DRIVER  # same GPU as the traces inside: joined if it were read
    (outside / "x_results.json").write_text(json.dumps(results))
    _trace_with_gpu(SAMPLES / FP16, outside / "elsewhere.pt.trace.json.gz", SECRET_GPU)
    (outside / "sub").mkdir()
    _trace_with_gpu(SAMPLES / FP16, outside / "sub" / "deep.pt.trace.json.gz", SECRET_GPU)

    root = base / "traces"
    root.mkdir()
    for name in (INT8, FP16, "h200_run_results.json"):
        shutil.copyfile(SAMPLES / name, root / name)
    (root / "x_results.json").symlink_to(outside / "x_results.json")  # a results file linked in from elsewhere
    (root / "linked.pt.trace.json.gz").symlink_to(outside / "elsewhere.pt.trace.json.gz")
    (root / "linked_dir").symlink_to(outside / "sub", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "self.pt.trace.json").symlink_to(root / "self.pt.trace.json")
    (root / "dangling.pt.trace.json.gz").symlink_to(base / "missing.pt.trace.json.gz")
    (root / "stray_results.json").write_text("{ not json at all")
    (root / "other_results.json").write_text(json.dumps({"runs": "not a list", "env": []}))
    (root / "cut.pt.trace.json.gz").write_bytes((SAMPLES / INT8).read_bytes()[:4000])
    (root / "notjson.pt.trace.json").write_text("this is not JSON")
    os.mkfifo(root / "fifo.pt.trace.json")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.pt.trace.json.gz"), "wb") as f:  # Latin-1 name: not UTF-8
        f.write((SAMPLES / FP16).read_bytes())
    partial = root / "run-going-on"
    partial.mkdir()
    (partial / "manifest.json").write_text(
        json.dumps(
            {
                "run_id": "run-going-on",
                "environment": {"device": "cuda", "gpu_name": "NVIDIA H200"},
                "model": {"name": "llama-3-8b"},
                "settings": {"precisions": ["bf16"], "batch_sizes": [1], "modes": ["eager"]},
                "configs": [],
            }
        )
    )
    return root


def cli(*args, cwd=ROOT):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "profkit", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600, check=False)


def assert_clean(result, code=0):
    out = result.stdout + result.stderr
    assert result.returncode == code, out
    assert "Traceback" not in out
    assert SECRET_DRIVER not in out and SECRET_GPU not in out and "OUTSIDE" not in out


def test_runs_lists_the_good_traces_and_says_once_what_it_skipped(hostile):
    r = cli("runs", hostile)
    assert_clean(r)
    assert "h200_llama3-8b_int8_b1" in r.stdout and "580.159.04" in r.stdout  # the results file inside is joined, not the one outside
    for name in (
        "x_results.json",
        "linked.pt.trace.json.gz",
        "linked_dir",
        "loop",
        "self.pt.trace.json",
        "fifo.pt.trace.json",
        "dangling.pt.trace.json.gz",
        "stray_results.json",
        "cut.pt.trace.json.gz",
    ):
        lines = [line for line in r.stdout.splitlines() if line.startswith((f"- {name}:", "- /")) and (f"/{name}:" in line or line.startswith(f"- {name}:"))]
        assert len(lines) == 1, (name, r.stdout)
    assert "run-going-on" in r.stdout and "partial" in r.stdout
    assert "caf\\xe9" in r.stdout  # listed, its name shown safely


def test_runs_json_has_the_joined_versions_and_the_skipped_files(hostile):
    r = cli("runs", hostile, "--json", "-")
    assert_clean(r)
    doc = json.loads(r.stdout)
    runs = {x["run_id"]: x for x in doc["runs"]}
    assert runs["h200_llama3-8b_int8_b1"]["driver_version"] == "580.159.04"
    assert runs["h200_llama3-8b_int8_b1"]["configs"][0]["decode_tokens_per_s"] == pytest.approx(7.72, abs=0.01)
    assert runs["cut"]["state"] == "unreadable" and runs["run-going-on"]["state"] == "partial"
    skipped = {Path(s["path"]).name for s in doc["skipped"]}
    assert {"x_results.json", "linked.pt.trace.json.gz", "linked_dir", "loop", "self.pt.trace.json", "fifo.pt.trace.json"} <= skipped


def test_runs_strict_refuses_the_folder_in_one_line(hostile):
    r = cli("runs", hostile, "--strict")
    assert_clean(r, code=2)
    assert len(r.stderr.strip().splitlines()) == 1 and "--strict" in r.stderr


def test_recommend_uses_the_good_evidence_and_notes_the_rest(hostile):
    r = cli("recommend", hostile)
    assert_clean(r)
    assert "Load the weights in fp16" in r.stdout  # int8 vs fp16 from the results file and the traces inside
    assert "skipped" in r.stdout and "cut.pt.trace.json.gz" in r.stdout
    strict = cli("recommend", hostile, "--strict")
    assert_clean(strict, code=2)
    assert len(strict.stderr.strip().splitlines()) == 1


def test_compare_a_folder_skips_its_bad_files(hostile, tmp_path):
    good = tmp_path / "baseline"
    good.mkdir()
    shutil.copyfile(SAMPLES / INT8, good / INT8)
    r = cli("compare", good / INT8, hostile)
    assert_clean(r)
    assert "skipped" in r.stdout and "cut.pt.trace.json.gz" in r.stdout
    strict = cli("compare", good / INT8, hostile, "--strict")
    assert_clean(strict, code=2)
    assert len(strict.stderr.strip().splitlines()) == 1


def test_every_dashboard_page_renders_on_the_hostile_folder(hostile, tmp_path):
    from streamlit.testing.v1 import AppTest

    from profkit.store.paths import TRACES_DIR_ENV

    app = ROOT / "profkit" / "dashboard" / "app.py"
    saved = {k: os.environ.get(k) for k in (TRACES_DIR_ENV, "PROFKIT_CACHE_DIR")}
    os.environ[TRACES_DIR_ENV] = str(hostile)
    os.environ["PROFKIT_CACHE_DIR"] = str(tmp_path / "cache")
    try:
        at = AppTest.from_file(str(app), default_timeout=300)
        at.run()
        seen = []
        for page in ("runs", "detail", "compare", "recommend"):
            at.switch_page(f"views/{page}.py").run()
            assert not at.exception, (page, at.exception)
            body = "\n".join(str(e.value) for kind in ("title", "markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind))
            assert at.title and SECRET_DRIVER not in body and SECRET_GPU not in body, page
            seen.append((page, body))
        runs_body = seen[0][1]
        assert "symlink to a file outside the traces folder" in runs_body and "cut.pt.trace.json.gz" in runs_body
        table = at.switch_page("views/runs.py").run().dataframe[0].value
        assert "h200_llama3-8b_int8_b1" in set(table["run"]) and SECRET_GPU not in set(table["GPU"].dropna())
        at.session_state["profkit.selected"] = "cut.pt.trace.json.gz"  # a broken trace degrades its own page, one line
        at.switch_page("views/detail.py").run()
        assert not at.exception and at.error and "cut.pt.trace.json.gz" in at.error[0].value
        at.switch_page("views/runs.py").run()
        at.session_state["profkit.selected"] = "linked.pt.trace.json.gz"  # a link out, named directly: refused
        at.switch_page("views/detail.py").run()
        assert not at.exception and at.error and "outside the traces directory" in at.error[0].value
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
