"""One run, one set of facts: the bundled samples show the same versions and speeds in `profkit runs
--json`, `profkit compare --json`, `profkit recommend` and the dashboard, and `recommend` on a folder
that mixes a CPU run of another model with the GPU traces gives the GPU traces' advice plus a note
of what it set aside."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # several CLI commands per test on copies of the samples

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "traces" / "samples"
INT8 = "h200_llama3-8b_int8_b1.pt.trace.json.gz"
BF16 = "h200_llama3-8b_bf16_b1.pt.trace.json.gz"


def cli(*args, timeout=600):
    r = subprocess.run(
        [sys.executable, "-m", "profkit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=timeout,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r


def test_versions_and_speeds_agree_in_runs_compare_and_the_dashboard(tmp_path):
    from streamlit.testing.v1 import AppTest

    from profkit.store.paths import TRACES_DIR_ENV

    runs = {r["run_id"]: r for r in json.loads(cli("runs", SAMPLES, "--json", "-").stdout)["runs"]}
    int8 = runs["h200_llama3-8b_int8_b1"]
    assert (int8["driver_version"], int8["torch"]) == ("580.159.04", "2.11.0+cu130")
    speed = int8["configs"][0]["decode_tokens_per_s"]
    assert speed == pytest.approx(7.72, abs=0.01)
    assert cli("runs", SAMPLES, "--driver", "580", "--json", "-").stdout.count('"run_id"') == 6

    setup = {f["field"]: f for f in json.loads(cli("compare", SAMPLES / BF16, SAMPLES / INT8, "--json", "-").stdout)["comparisons"][0]["setup"]}
    for field in ("driver_version", "torch", "transformers", "bitsandbytes"):
        assert setup[field]["baseline"] == setup[field]["candidate"] == int8[field]

    assert "7.7 vs 37.4 tok/s at batch 1" in cli("recommend", SAMPLES).stdout

    saved = {k: os.environ.get(k) for k in (TRACES_DIR_ENV, "PROFKIT_CACHE_DIR")}
    os.environ[TRACES_DIR_ENV] = str(SAMPLES)
    os.environ["PROFKIT_CACHE_DIR"] = str(tmp_path / "cache")
    try:
        at = AppTest.from_file(str(ROOT / "profkit" / "dashboard" / "app.py"), default_timeout=300)
        at.run()
        row = at.dataframe[0].value.set_index("run").loc["h200_llama3-8b_int8_b1"]
        assert (row["driver"], row["torch"]) == (int8["driver_version"], int8["torch"]) and row["decode tok/s"] == pytest.approx(speed)
        at.session_state["profkit.selected"] = INT8
        at.switch_page("views/detail.py").run()
        line = at.caption[0].value
        assert "NVIDIA driver 580.159.04" in line and "torch 2.11.0+cu130" in line and "transformers 5.17.0" in line
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_recommend_sets_aside_a_cpu_run_of_another_model(tmp_path):
    folder = tmp_path / "traces"
    shutil.copytree(SAMPLES, folder)
    gpu_only = json.loads(cli("recommend", folder, "--json", "-").stdout)
    cli(
        "run",
        "--random-weights",
        "--model-config",
        "tiny",
        "--precisions",
        "int8,bf16",
        "--batch-sizes",
        "1,4",
        "--prompt-len",
        "16",
        "--new-tokens",
        "6",
        "--profile-steps",
        "3",
        "--out",
        folder,
        "--run-id",
        "tiny-cpu",
        timeout=900,
    )
    mixed = cli("recommend", folder, "--json", "-")
    assert json.loads(mixed.stdout) == gpu_only  # the same advice, to the digit
    assert "set aside 4 timed configurations and 4 traces measured on the CPU (tiny-cpu)" in mixed.stderr
    text = cli("recommend", folder).stdout
    assert "llama-3-8b on NVIDIA A100 40GB SXM" in text and "set aside" in text
    assert "max batch 9987" not in text and "None-bound" not in text and "5.6-6.3x" in text
    cpu_only = cli("recommend", folder / "tiny-cpu").stdout
    assert "Nothing to recommend: no GPU run" in cpu_only and "int8-vs-16-bit" not in cpu_only
