"""Sweeps that stop early or resume keep what they measured: the manifest lists every configuration
from the start, NVML samples are appended (a resumed run keeps the earlier ones), and Ctrl-C says
what was kept and exits 130. The tiny Llama on the CPU, real runs; interrupts are injected."""

from __future__ import annotations

import json
import sys

import pytest

from profkit.capture.config import MANIFEST_FILE, NVML_SAMPLES_FILE, RunConfig
from profkit.capture.nvml import SAMPLE_COLUMNS
from profkit.capture.sweep import run_sweep

pytestmark = pytest.mark.slow  # sweeps of the tiny model under the profiler

SMALL = dict(model_config="tiny", prompt_len=8, new_tokens=3, profile_steps=2)


def names(*batches: int) -> list[str]:
    return [f"tiny_bf16_b{b}_p8_eager" for b in batches]


def interrupt_at(monkeypatch, name: str) -> None:
    """Ctrl-C while configuration `name` is being measured."""
    from profkit.capture import sweep as sweep_module

    real = sweep_module._measure

    def measure(run, spec, loaded, entry):
        if spec.name == name:
            raise KeyboardInterrupt
        return real(run, spec, loaded, entry)

    monkeypatch.setattr(sweep_module, "_measure", measure)


def samples(run_dir) -> list[str]:
    return (run_dir / NVML_SAMPLES_FILE).read_text().splitlines()


def test_resume_keeps_the_earlier_nvml_samples(tmp_path):
    """On a CPU the sampler writes rows of process RSS with empty GPU columns; a resumed run appends."""
    cfg = RunConfig(precisions=("bf16",), batch_sizes=(1,), out_dir=str(tmp_path), run_id="n", **SMALL)
    first = run_sweep(cfg)
    before = samples(first.run_dir)
    assert before[0] == ",".join(SAMPLE_COLUMNS) and len(before) > 2
    second = run_sweep(RunConfig(**{**cfg.__dict__, "batch_sizes": (2,), "resume": True}))
    after = samples(second.run_dir)
    assert after[: len(before)] == before and len(after) > len(before)  # kept, then appended
    assert after.count(after[0]) == 1  # one header
    times = [float(line.split(",")[0]) for line in after[1:]]
    assert times == sorted(times)
    for c in second.manifest["configs"]:  # every configuration's window has its samples in the file
        assert any(c["t_start_unix_s"] <= t <= c["t_end_unix_s"] for t in times), c["name"]


def test_a_folder_without_a_finished_trace_is_a_run_folder(tmp_path, monkeypatch):
    from profkit.capture.sweep import SweepInterrupted
    from profkit.store import list_runs

    b1, b2 = names(1, 2)
    interrupt_at(monkeypatch, b1)
    with pytest.raises(SweepInterrupted) as stop:
        run_sweep(RunConfig(precisions=("bf16",), batch_sizes=(1, 2), out_dir=str(tmp_path), run_id="p", **SMALL))
    assert stop.value.kept == []
    run_dir = tmp_path / "p"
    manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
    assert [(c["name"], c["status"]) for c in manifest["configs"]] == [(b1, "interrupted"), (b2, "pending")]
    assert samples(run_dir)[0] == ",".join(SAMPLE_COLUMNS)
    (listed,) = list_runs(tmp_path).runs
    assert listed.run_id == "p" and [(c.name, c.status) for c in listed.configs] == [(b1, "interrupted"), (b2, "pending")]
    monkeypatch.undo()
    resumed = run_sweep(RunConfig(precisions=("bf16",), batch_sizes=(1, 2), out_dir=str(tmp_path), run_id="p", resume=True, **SMALL))
    assert resumed.ran == [b1, b2] and [c["status"] for c in resumed.manifest["configs"]] == ["ok", "ok"]


def test_ctrl_c_says_what_was_kept_and_exits_130(tmp_path, monkeypatch, capsys):
    from profkit.cli import main

    b1, b2, _b3 = names(1, 2, 3)
    interrupt_at(monkeypatch, b2)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "profkit",
            "run",
            "--model-config",
            "tiny",
            "--precisions",
            "bf16",
            "--batch-sizes",
            "1,2,3",
            "--prompt-len",
            "8",
            "--new-tokens",
            "3",
            "--out",
            str(tmp_path),
            "--run-id",
            "c",
        ],
    )
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 130
    err = capsys.readouterr().err
    assert f"profkit: interrupted; kept 1 finished configurations in {tmp_path / 'c'}: {b1}" in err.replace("\n", "")
    manifest = json.loads((tmp_path / "c" / MANIFEST_FILE).read_text())
    assert [c["status"] for c in manifest["configs"]] == ["ok", "interrupted", "pending"]
