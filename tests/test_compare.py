"""`profkit compare` on the sample traces, against the reference figures in traces/samples/README.md.

Reference (H200, medians of steady steps): decode wall bf16_b1 38.65 ms, rep1 37.01 ms, fp16 44.10 ms,
int8 133.17 ms, bf16_b16 36.52 ms; decode GPU busy 6.23 / 6.24 / 6.17 / 9.33 / 7.36 ms; int8 decode
has 256 D2H copies and 257 synchronizations per step against 0 and 1 for bf16.
"""

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from profkit.analyses.compare import compare_paths, compare_traces
from profkit.analyses.workload import describe_workload
from profkit.errors import ProfkitError, TraceError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "traces" / "samples"
BF16 = SAMPLES / "h200_llama3-8b_bf16_b1.pt.trace.json.gz"
REP1 = SAMPLES / "h200_llama3-8b_bf16_b1_rep1.pt.trace.json.gz"
FP16 = SAMPLES / "h200_llama3-8b_fp16_b1.pt.trace.json.gz"
INT8 = SAMPLES / "h200_llama3-8b_int8_b1.pt.trace.json.gz"
B16 = SAMPLES / "h200_llama3-8b_bf16_b16.pt.trace.json.gz"
COMPILED = SAMPLES / "h100_llama3-8b_bf16_b1_static_compiled.pt.trace.json.gz"


@pytest.fixture(scope="module")
def loaded():
    from profkit.analyses.compare import load_side

    return {name: load_side(path) for name, path in {"bf16": BF16, "rep1": REP1, "fp16": FP16, "int8": INT8, "b16": B16}.items()}


def _row(rows, key):
    return next(r for r in rows if r.key == key)


def _counter(phase, name):
    return next(c for c in phase.counters if c.name == name)


# ---- workload ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, expected",
    [
        (BF16, ("bf16", 1, 128, "eager")),
        (REP1, ("bf16", 1, 128, "eager")),
        (FP16, ("fp16", 1, 128, "eager")),
        (INT8, ("int8", 1, 128, "eager")),
        (B16, ("bf16", 16, 128, "eager")),
        (COMPILED, ("bf16", 1, 128, "compiled")),
    ],
)
def test_workload_is_read_from_the_trace_itself(path, expected):
    from profkit.trace import load_trace

    w = describe_workload(load_trace(path))
    assert w.key() == expected
    assert w.source == "trace"
    assert w.model_hint == "llama-3-8b"
    assert (w.model.vocab_size, w.model.hidden_size, w.model.num_layers, w.model.intermediate_size) == (128256, 4096, 32, 14336)


# ---- acceptance: the five pairs ----------------------------------------------------------------------------
def test_repeat_is_not_significant(loaded):
    c = compare_traces(loaded["bf16"], loaded["rep1"])
    decode = c.phases["decode"]
    assert decode.wall_ms.baseline == pytest.approx(38.65, abs=0.01)
    assert decode.wall_ms.candidate == pytest.approx(37.01, abs=0.01)
    assert decode.wall_ms.change == pytest.approx(-0.0425, abs=0.001)
    assert decode.gpu_busy_ms.baseline == pytest.approx(6.23, abs=0.01)
    assert decode.gpu_busy_ms.candidate == pytest.approx(6.24, abs=0.01)
    for phase in c.phases.values():
        for m in (phase.wall_ms, phase.gpu_busy_ms):
            assert not m.significant, m.reason
            assert abs(m.delta_ms) < m.threshold_ms
    # decode: 2 x 1.2533 * sqrt(2.362^2 / 5 + 0.315^2 / 5) = 2.67 ms
    assert decode.wall_ms.threshold_ms == pytest.approx(2.67, abs=0.02)
    # prefill is one step: its noise is borrowed from the decode spread (said in the reason and notes)
    assert c.phases["prefill"].wall_ms.spread_borrowed
    assert "borrowed" in c.phases["prefill"].wall_ms.reason
    assert c.setup_diff == [] and c.workload_differences == []
    assert c.verdict.startswith("No significant difference")
    assert not decode.regressions and not decode.improvements


def test_fp16_gemms_align_despite_different_kernel_names(loaded):
    c = compare_traces(loaded["bf16"], loaded["fp16"])
    assert [(f.name, f.baseline, f.candidate) for f in c.setup_diff] == [("precision", "bf16", "fp16")]
    decode = c.phases["decode"]
    for key in ("linear:4096->4096", "linear:4096->1024", "linear:4096->14336", "linear:14336->4096", "linear:4096->128256"):
        row = _row(decode.ops, key)
        assert row.match == "exact"  # same op and input shapes: aten::linear [[1,1,4096],[N,4096],[]]
        assert row.baseline_kernel.startswith("nvjet_sm90_tst_")
        assert row.candidate_kernel.startswith("nvjet_sm90_hsh_")
        assert row.candidate_ms == pytest.approx(row.baseline_ms, rel=0.05)
    assert not [r for r in decode.ops if r.match in ("baseline only", "candidate only") and r.category == "gemm"]
    gemm = _row(decode.categories, "gemm")
    assert gemm.baseline_ms == pytest.approx(4.44, abs=0.01)
    assert gemm.candidate_ms == pytest.approx(4.37, abs=0.01)
    assert abs(gemm.change) < 0.03
    assert not decode.gpu_busy_ms.significant  # 6.23 vs 6.17 ms
    # decode wall 38.65 -> 44.10 (+14.1%) is beyond the step noise (+/-3.16 ms) with GPU time unchanged: host-side
    assert decode.wall_ms.change == pytest.approx(0.141, abs=0.002)
    assert decode.wall_ms.significant
    assert decode.wall_ms.threshold_ms == pytest.approx(3.16, abs=0.02)
    assert "on the host" in c.verdict and "--baseline-rep" in c.verdict
    assert not c.phases["prefill"].wall_ms.significant


def test_int8_slower_from_syncs_and_quantization(loaded):
    c = compare_traces(loaded["bf16"], loaded["int8"])
    decode = c.phases["decode"]
    assert decode.wall_ms.candidate == pytest.approx(133.17, abs=0.02)
    assert decode.wall_ms.change == pytest.approx(133.17 / 38.65 - 1, abs=0.005)  # +244%
    assert decode.wall_ms.significant and decode.gpu_busy_ms.significant
    assert decode.gpu_busy_ms.candidate / decode.gpu_busy_ms.baseline == pytest.approx(1.50, abs=0.01)
    assert _counter(decode, "sync_calls").delta == 256
    assert _counter(decode, "d2h_copies").delta == 256
    assert _row(decode.categories, "int8_quant").candidate_ms == pytest.approx(2.88, abs=0.05)
    assert _row(decode.categories, "int8_gemm").candidate_ms == pytest.approx(4.04, abs=0.05)
    assert _row(decode.categories, "gemm").delta_ms == pytest.approx(-4.20, abs=0.05)
    # aten::linear (bf16) and MatMul8bitLt (int8) align on the linear's in/out features
    for key in ("linear:4096->4096", "linear:4096->1024", "linear:4096->14336", "linear:14336->4096"):
        row = _row(decode.ops, key)
        assert row.match == "semantic"
        assert row.baseline_calls == pytest.approx(row.candidate_calls)
        assert row.candidate_host_ms > 5 * row.baseline_host_ms
    assert _row(decode.ops, "linear:4096->128256").match == "exact"  # lm_head stays 16-bit
    assert decode.regressions and decode.regressions[0].key.startswith("linear:")
    assert decode.regressions[0].delta_share > 0
    assert decode.candidate_bound == "sync"
    for phrase in ("3.45x slower", "+256 device-to-host copies", "+256 synchronizations", "int8 quantize", "only 1.50x"):
        assert phrase in c.verdict


def test_batch_difference_is_stated_and_explained_per_token(loaded):
    c = compare_traces(loaded["bf16"], loaded["b16"])
    assert c.workload_differences == ["batch differs: 1 vs 16"]
    decode = c.phases["decode"]
    assert (decode.baseline_tokens_per_step, decode.candidate_tokens_per_step) == (1, 16)
    assert decode.wall_ms.candidate == pytest.approx(36.52, abs=0.01)  # outlier ProfilerStep#2 (178 ms) excluded, and said so
    assert any("ProfilerStep#2 left out" in n for n in decode.notes)
    assert not decode.wall_ms.significant  # the step costs the same
    assert decode.wall_ms.candidate_per_token_ms == pytest.approx(36.52 / 16, abs=0.01)
    assert decode.wall_ms.per_token_change == pytest.approx(36.52 / 16 / 38.65 - 1, abs=0.002)
    assert decode.gpu_busy_ms.significant and decode.gpu_busy_ms.change == pytest.approx(0.18, abs=0.01)
    prefill = c.phases["prefill"]
    assert (prefill.baseline_tokens_per_step, prefill.candidate_tokens_per_step) == (128, 2048)
    assert _row(decode.ops, "linear:4096->14336").match == "semantic"  # M = 1 vs 16 rows
    assert "batch 1 vs 16" in c.verdict and "per token" in c.verdict and "host-bound" in c.verdict


@pytest.mark.parametrize("path", [BF16, INT8])
def test_a_trace_against_itself_has_no_differences(path):
    c = compare_paths(path, [path]).comparisons[0]
    assert c.identical and c.kind == "comparison"
    assert c.verdict == "Both sides are the same trace: no differences."
    for phase in c.phases.values():
        assert phase.wall_ms.delta_ms == 0 and phase.gpu_busy_ms.delta_ms == 0
        assert not phase.wall_ms.significant and not phase.gpu_busy_ms.significant
        assert all(x.delta == 0 for x in phase.counters)
        assert all(r.delta_ms == 0 and r.delta_host_ms == 0 for r in phase.categories + phase.ops)
        assert all(r.match in ("exact", "kernel name") for r in phase.ops)
        assert not (phase.regressions or phase.improvements or phase.host_regressions or phase.host_improvements)


# ---- repeats, noise and run folders --------------------------------------------------------------------------
@pytest.mark.slow
def test_candidate_with_the_baseline_setup_is_used_as_a_repeat():
    report = compare_paths(BF16, [FP16, REP1])
    kinds = [(c.kind, c.candidate.label) for c in report.comparisons]
    assert kinds == [("repeat", "h200_llama3-8b_bf16_b1_rep1"), ("comparison", "h200_llama3-8b_fp16_b1")]
    fp16 = report.comparisons[1]
    assert fp16.baseline.repeats == 1
    wall = fp16.phases["decode"].wall_ms
    assert wall.run_to_run_ms == pytest.approx(1.16, abs=0.01)  # std of the medians 38.65 and 37.01
    assert wall.baseline == pytest.approx(37.33, abs=0.01)  # median of the 10 pooled steps
    assert "run-to-run" in wall.reason
    same = compare_paths(BF16, [FP16], baseline_reps=[REP1]).comparisons[0]
    assert same.phases["decode"].wall_ms.threshold_ms == pytest.approx(wall.threshold_ms)


def test_repeat_must_be_the_same_configuration():
    with pytest.raises(ProfkitError, match="batch differs: 1 vs 16"):
        compare_paths(BF16, [FP16], baseline_reps=[B16])


def _run_dir(path: Path, run_id: str, driver: str, configs: list[tuple]) -> Path:
    path.mkdir()
    entries = []
    for precision, batch, trace, status in configs:
        name = f"llama-3-8b_{precision}_b{batch}_p128_eager"
        if trace is not None:
            shutil.copyfile(trace, path / f"{name}.pt.trace.json.gz")  # a link out of the run folder would not be read
        entries.append(
            {
                "name": name,
                "precision": precision,
                "batch_size": batch,
                "prompt_len": 128,
                "new_tokens": 64,
                "mode": "eager",
                "status": status,
                "error": None if status == "ok" else "CUDA out of memory",
                "trace_file": f"{name}.pt.trace.json.gz" if trace is not None else None,
            }
        )
    manifest = {
        "run_id": run_id,
        "created": "2026-11-26T10:00:00+00:00",
        "host": "box",
        "model": {"name": "llama-3-8b"},
        "settings": {},
        "environment": {
            "gpu_name": "NVIDIA H200",
            "gpu_count": 1,
            "driver_version": driver,
            "cuda_runtime": "13.0",
            "torch": "2.11.0",
            "transformers": "5.17.0",
            "bitsandbytes": "0.50.2",
            "device": "cuda",
        },
        "configs": entries,
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.mark.slow
def test_run_folders_pair_configurations(tmp_path):
    a = _run_dir(tmp_path / "a", "drv580", "580.159.04", [("bf16", 1, BF16, "ok"), ("int8", 1, INT8, "ok")])
    b = _run_dir(tmp_path / "b", "drv590", "590.10", [("bf16", 1, REP1, "ok"), ("int8", 1, None, "oom")])
    report = compare_paths(a, [b])
    assert len(report.comparisons) == 1
    c = report.comparisons[0]
    assert c.baseline.label == "drv580/llama-3-8b_bf16_b1_p128_eager"
    assert [(f.name, f.baseline, f.candidate) for f in c.setup_diff] == [("driver_version", "580.159.04", "590.10")]
    assert c.kind == "comparison"  # the driver differs: not a repeat
    assert not c.phases["decode"].wall_ms.significant
    assert "NVIDIA driver 580.159.04 vs 590.10" in c.verdict
    assert any("int8" in u and "no candidate" in u for u in report.unpaired)
    assert any("CUDA out of memory" in n for n in report.notes)


# ---- bad input ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_traces(tmp_path_factory):
    """CPU-only, step-less and other-model variants of the bf16 sample."""
    out = tmp_path_factory.mktemp("bad-traces")
    doc = orjson.loads(gzip.decompress(BF16.read_bytes()))
    events = doc["traceEvents"]
    cpu = {**doc, "traceEvents": [e for e in events if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset")]}
    (out / "cpu_only.pt.trace.json").write_bytes(orjson.dumps(cpu))
    steps = {**doc, "traceEvents": [e for e in events if e.get("cat") != "user_annotation"]}
    (out / "no_steps.pt.trace.json").write_bytes(orjson.dumps(steps))
    other = orjson.dumps(doc).replace(b"128256", b"32000")  # a 32k-vocabulary model
    (out / "other_model.pt.trace.json").write_bytes(other)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, error, message",
    [
        ("cpu_only", TraceError, "no GPU activity"),
        ("no_steps", TraceError, "no steady state"),
        ("other_model", ProfkitError, "different models: .* vocab size 128256 vs 32000"),
    ],
)
def test_incomparable_traces_raise_a_clear_error(bad_traces, name, error, message):
    with pytest.raises(error, match=message):
        compare_paths(BF16, [bad_traces / f"{name}.pt.trace.json"])


def _cli(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "profkit", *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    "candidate, message",
    [
        ("cpu_only", "no GPU activity"),
        ("no_steps", "no steps"),
        ("other_model", "cannot compare traces of different models"),
        ("missing", "no such file or folder"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(bad_traces, candidate, message):
    result = _cli("compare", BF16, bad_traces / f"{candidate}.pt.trace.json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profkit: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


# ---- front ends ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_json_to_stdout():
    result = _cli("compare", BF16, INT8, "--json", "-")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "profkit.compare/1"
    c = doc["comparisons"][0]
    assert c["setup_diff"] == [{"field": "precision", "label": "precision", "kind": "workload", "baseline": "bf16", "candidate": "int8"}]
    for phase in ("prefill", "decode"):
        for metric in ("wall_ms", "gpu_busy_ms"):
            m = c["phases"][phase][metric]
            assert {"baseline", "candidate", "change", "significant"} <= set(m)
            assert m["change"] == pytest.approx(m["candidate"] / m["baseline"] - 1)
    decode = c["phases"]["decode"]
    assert decode["wall_ms"]["significant"] is True
    assert {r["key"] for r in decode["categories"]} >= {"gemm", "int8_gemm", "int8_quant"}
    assert any(r["key"] == "linear:4096->14336" and r["match"] == "semantic" for r in decode["ops"])
    assert decode["regressions"][0]["delta_share"] > 0
    assert "synchronizations" in c["verdict"]


@pytest.mark.slow
def test_cli_markdown_and_terminal(tmp_path):
    md = _cli("compare", BF16, FP16, "--markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("## Compare: h200_llama3-8b_fp16_b1 vs baseline h200_llama3-8b_bf16_b1")
    assert "| precision **(differs)** | bf16 | fp16 |" in md.stdout
    assert "linear 4096→14336 | exact |" in md.stdout
    out = tmp_path / "c.json"
    term = _cli("compare", BF16, REP1, "--json", out)
    assert term.returncode == 0, term.stderr
    assert "Verdict:" in term.stdout and "No significant difference" in term.stdout
    assert json.loads(out.read_text())["comparisons"][0]["kind"] == "repeat"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_terminal_keeps_labels_and_numbers_whole_at_any_width(loaded, width):
    """Piped `profkit compare` at $COLUMNS 60/80/120: no line is wider than the console; every set-up
    label and every per-step figure is printed unbroken on one line (a table too narrow for its
    numbers is stacked row by row instead of cutting or folding them)."""
    from rich.console import Console

    from profkit.analyses.compare import CompareReport, compare_traces
    from profkit.report.compare_render import _terminal_sections, render_terminal

    report = CompareReport([compare_traces(loaded["int8"], loaded["b16"]), compare_traces(loaded["int8"], COMPILED)])
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    render_terminal(report, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    for word in ("threshold", "significant", "tokens/step"):
        assert word in lines or any(f" {word} " in f" {line} " for line in lines), word
    text = "\n".join(lines)

    def whole(cell: str) -> bool:
        return re.search(r"(?<!\S)" + re.escape(cell) + r"(?!\S)", text) is not None

    for c in report.comparisons:
        for f in c.setup:
            assert any(line.startswith(f.label + " ") for line in lines), f.label
    for p in (p for c in report.comparisons for p in c.phases.values()):
        for m in (p.wall_ms, p.gpu_busy_ms):
            for figure in (f"{m.baseline:.2f}", f"{m.candidate:.2f}", f"+/-{m.threshold_ms:.2f}"):
                assert whole(figure), figure
        for _title, head, rows in _terminal_sections(p):
            for col in head:
                assert col.startswith("kernels") or whole(col), col
            for row in rows:
                for col, cell in zip(head[1:], row[1:]):
                    assert col.startswith("kernels") or whole(cell), (col, cell)
