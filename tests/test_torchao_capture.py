"""`profkit run --precisions int8wo` end to end on the CPU: real torchao layers in the tiny Llama,
eager and compiled, then `profkit analyze` and `profkit recommend` on the run folder.

The tiny Llama written out (profkit.models.LLAMA_CONFIGS["tiny"]): hidden 256, 2 layers, 8 heads,
2 KV heads (head_dim 32, so k/v project to 64), intermediate 512, vocabulary 1024, untied lm_head.
Its linears (in_features, out_features), per layer: q 256x256, k 256x64, v 256x64, o 256x256,
gate 256x512, up 256x512, down 512x256; plus lm_head 256x1024. torchao quantizes all 15.

  int8 weights:     2 x (65,536 + 16,384 + 16,384 + 65,536 + 131,072 + 131,072 + 131,072) + 262,144
                    = 2 x 557,056 + 262,144 = 1,376,256 bytes (1 byte each)
  rows (out features): 2 x (256 + 64 + 64 + 256 + 512 + 512 + 256) + 1024 = 4,864
  torchao 0.18 keeps per row an fp32 scale and an int8 zero point: 5 bytes -> 24,320 bytes
  embedding 1024 x 256 bf16 = 524,288; norms (2 x 2 + 1) x 256 bf16 = 2,560
  weights_bytes = 1,927,424; decode_weight_bytes (all but the embedding) = 1,403,136

Compiled on a CPU, Inductor lowers torchao's dequantize + mm + scale into `aten::_weight_int8pack_mm`
(activation [M, K] bf16, weight [N, K] int8, scales [N] bf16). One decode step at batch 1 (M = 1)
reads the int8 weights, the scales as bf16 and the activations, and writes the outputs:
  1,376,256 + 2 x 4,864 (scales) + 2 x sum(in) + 2 x sum(out) bytes.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from profkit.capture.config import MANIFEST_FILE, RunConfig, check_precisions_runnable
from profkit.capture.sweep import run_sweep
from profkit.errors import ProfkitError

torchao = pytest.importorskip("torchao")

REPO = Path(__file__).resolve().parents[1]
PROMPT_LEN, NEW_TOKENS, PROFILE_STEPS = 16, 6, 3
LINEARS = [(256, 256), (256, 64), (256, 64), (256, 256), (256, 512), (256, 512), (512, 256)] * 2 + [(256, 1024)]
INT8_WEIGHT_BYTES = 1_376_256
ROWS = 4_864
WEIGHTS_BYTES = INT8_WEIGHT_BYTES + 5 * ROWS + 524_288 + 2_560  # 1,927,424
EMBEDDING_BYTES = 524_288


def read_trace(path: Path) -> dict:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def decode_steps(trace: dict) -> list[dict]:
    steps = [e for e in trace["traceEvents"] if e.get("cat") == "user_annotation" and e["name"].startswith("ProfilerStep#")]
    return sorted(steps, key=lambda e: e["ts"])[1:]  # ProfilerStep#1 is the prefill


def ops_in(trace: dict, steps: list[dict], name: str) -> list[dict]:
    return [e for e in trace["traceEvents"] if e.get("cat") == "cpu_op" and e["name"] == name and any(s["ts"] <= e["ts"] <= s["ts"] + s["dur"] for s in steps)]


def profkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "profkit", *args], capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One sweep (int8wo eager and compiled, batch 1), analysed and recommended on once."""
    out = tmp_path_factory.mktemp("traces")
    cfg = RunConfig(
        model_config="tiny",
        precisions=("int8wo",),
        modes=("eager", "compiled"),
        batch_sizes=(1,),
        prompt_len=PROMPT_LEN,
        new_tokens=NEW_TOKENS,
        profile_steps=PROFILE_STEPS,
        out_dir=str(out),
        run_id="ao",
    )
    result = run_sweep(cfg)
    manifest = json.loads((result.run_dir / MANIFEST_FILE).read_text())
    analyzed = profkit("analyze", str(result.run_dir), "--json", "-")
    assert analyzed.returncode == 0, analyzed.stderr
    recommended = profkit("recommend", str(result.run_dir), "--json", "-")
    by_mode = {c["mode"]: c for c in manifest["configs"]}
    traces = {Path(t["path"]).name: t for t in json.loads(analyzed.stdout)["traces"]}
    return result.run_dir, by_mode, traces, recommended


pytestmark = pytest.mark.slow


def test_int8wo_runs_in_both_modes_with_torchao_recorded(run):
    run_dir, by_mode, _, _ = run
    manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
    assert manifest["environment"]["torchao"] == torchao.__version__
    for mode, c in by_mode.items():
        assert c["status"] == "ok", c["error"]
        q = c["quantization"]
        assert (q["library"], q["version"], q["config"]) == ("torchao", torchao.__version__, "Int8WeightOnlyConfig")
        assert q["args"]["granularity"] == {"class": "PerRow", "dim": -1} and q["args"]["set_inductor_config"] is False
        assert ("inductor_settings" in q) == (mode == "compiled")
        assert c["weights_bytes"] == WEIGHTS_BYTES == 1_927_424
        assert c["decode_weight_bytes"] == WEIGHTS_BYTES - EMBEDDING_BYTES
    assert by_mode["compiled"]["compile_mode"] == "default"


def test_torchao_layers_are_real():
    from profkit.capture.model import load_model

    loaded = load_model("tiny", False, "int8wo", "cpu", 6.0, seed=0)
    linears = [m for m in loaded.model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == len(LINEARS) and loaded.model.lm_head in linears  # lm_head too, as torchao does it
    for m in linears:
        w = m.weight
        assert type(w).__name__ == "Int8Tensor" and w.qdata.dtype == torch.int8
        assert tuple(w.qdata.shape) == (m.out_features, m.in_features) and w.scale.dtype == torch.float32
    assert loaded.model.get_input_embeddings().weight.dtype == torch.bfloat16


def test_compiled_trace_runs_the_int8_gemm_op_in_every_linear(run):
    run_dir, by_mode, _, _ = run
    trace = read_trace(run_dir / by_mode["compiled"]["trace_file"])
    steps = decode_steps(trace)
    calls = ops_in(trace, steps, "aten::_weight_int8pack_mm")
    assert len(calls) == len(LINEARS) * PROFILE_STEPS
    shapes = sorted(tuple(c["args"]["Input Dims"][1]) for c in calls[: len(LINEARS)])
    assert shapes == sorted((n, k) for k, n in LINEARS)  # the weight operand is the int8 [N, K] matrix
    assert all(c["args"]["Input type"][:2] == ["c10::BFloat16", "signed char"] for c in calls)
    assert trace["traceName"] == by_mode["compiled"]["trace_file"]


def test_eager_trace_dequantizes_then_runs_16bit_mm(run):
    """torchao 0.18 eager: int8 -> bf16 copy of each weight, then a bf16 aten::mm (no int8 GEMM op)."""
    run_dir, by_mode, _, _ = run
    trace = read_trace(run_dir / by_mode["eager"]["trace_file"])
    steps = decode_steps(trace)
    copies = [e for e in ops_in(trace, steps, "aten::copy_") if "signed char" in e["args"]["Input type"][:2]]
    assert len(copies) == len(LINEARS) * PROFILE_STEPS
    assert not ops_in(trace, steps, "aten::_weight_int8pack_mm")


def test_analyze_sees_int8_gemms_with_int8_weight_bytes(run):
    _, by_mode, traces, _ = run
    decode = traces[by_mode["compiled"]["trace_file"]]["phases"]["decode"]
    categories = {c["category"]: c for c in decode["kernel_categories"]}
    assert categories["int8_gemm"]["count"] == len(LINEARS) * decode["steady_steps"]  # outlier steps excluded
    assert {g["op"] for g in decode["gemms"]} == {"aten::_weight_int8pack_mm"}
    gemm_bytes = sum(g["bytes_per_call"] * g["calls"] for g in decode["gemms"]) / decode["steady_steps"]
    expected = INT8_WEIGHT_BYTES + 2 * ROWS + sum(2 * k + 2 * n for k, n in LINEARS)
    assert gemm_bytes == expected == 1_404_416
    assert gemm_bytes < 0.52 * 2 * INT8_WEIGHT_BYTES  # about half the 16-bit weights: int8 is read at 1 byte
    assert sum(g["flops_per_call"] * g["calls"] for g in decode["gemms"]) / decode["steady_steps"] == sum(2 * k * n for k, n in LINEARS)
    assert decode["mbu"] is None and "MBU unknown" in decode["bytes_source"]  # no CPU bandwidth: unknown, not guessed
    assert decode["achieved_bandwidth_wall_gbps"] == pytest.approx(decode["bytes_per_step"] / decode["wall_ms"] / 1e6)


def test_analyze_shows_the_eager_dequantize(run):
    _, by_mode, traces, _ = run
    t = traces[by_mode["eager"]["trace_file"]]
    assert t["metadata"]["trace_name"] == by_mode["eager"]["trace_file"]
    decode = t["phases"]["decode"]
    categories = {c["category"] for c in decode["kernel_categories"]}
    assert {"int8_quant", "gemm"} <= categories and "int8_gemm" not in categories
    # the GEMMs read the dequantized bf16 copies: 2 bytes per weight
    gemm_bytes = sum(g["bytes_per_call"] * g["calls"] for g in decode["gemms"]) / decode["steady_steps"]
    assert gemm_bytes == 2 * INT8_WEIGHT_BYTES + sum(2 * k + 2 * n for k, n in LINEARS)


def test_recommend_runs_on_the_run_folder(run):
    """A CPU run: recommend reads it (manifest, both traces) and, with no GPU measured, advises nothing."""
    *_, recommended = run
    assert recommended.returncode == 0 and "Traceback" not in recommended.stderr, recommended.stderr
    assert json.loads(recommended.stdout) == []


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["int4wo", "fp8"])
def test_gpu_only_precisions_are_refused_on_the_cpu_in_one_line(precision, tmp_path):
    cfg = RunConfig(model_config="tiny", precisions=("bf16", precision), batch_sizes=(1,), new_tokens=3, out_dir=str(tmp_path), run_id="x")
    with pytest.raises(ProfkitError, match=f"precisions {precision}: needs a CUDA GPU") as err:
        run_sweep(cfg)
    assert "this run is on the CPU" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    proc = profkit("run", "--model-config", "tiny", "--precisions", precision, "--out", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith(f"profkit: error: --precisions {precision}") and proc.stderr.count("\n") == 1


def test_precision_requirements_on_gpus():
    check_precisions_runnable(("fp8", "int4wo"), "cuda", (9, 0), "NVIDIA H100")
    check_precisions_runnable(("int4wo", "int8wo", "int8"), "cuda", (8, 0), "NVIDIA A100")
    with pytest.raises(ProfkitError, match=r"precisions fp8: .* 8\.9 .*NVIDIA A100 is compute capability 8\.0"):
        check_precisions_runnable(("int8wo", "fp8"), "cuda", (8, 0), "NVIDIA A100")
    with pytest.raises(ProfkitError, match="precisions int4wo"):
        check_precisions_runnable(("int4wo",), "cuda", (7, 5), "Tesla T4")


def test_missing_torchao_is_one_clear_error(monkeypatch):
    from profkit.capture.model import import_torchao

    monkeypatch.setitem(sys.modules, "torchao", None)  # import torchao -> ImportError
    with pytest.raises(ProfkitError, match=r"precisions int8wo runs torchao, which is not installed: pip install torchao=="):
        import_torchao("int8wo", "cpu")


# ---- examples/gpu_check.py: what a CPU can check ----------------------------------------------


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check_example", REPO / "examples" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_gpu_check_plan_fits_its_budget(gpu_check):
    args = gpu_check.parse_args(["--out", "x", "--run-id", "g"])
    planned = gpu_check.run_commands(args)
    assert [(s.precisions, s.modes, s.batch_sizes) for s, _, _ in planned] == [
        (("int8", "fp16", "bf16"), ("eager",), (1, 16)),
        (("bf16",), ("compiled",), (1, 16)),
        (("int8wo",), ("compiled",), (1, 16)),
        (("fp8",), ("compiled",), (1, 16)),
    ]
    assert sum(t for _, _, t in planned) <= args.budget_s == 600
    for i, (_, cmd, _) in enumerate(planned):
        assert cmd[cmd.index("--run-id") + 1] == "g" and ("--resume" in cmd) == (i > 0)
        assert cmd[cmd.index("--model-config") + 1] == "llama-3-8b" and cmd[cmd.index("--device") + 1] == "cuda"
    short = gpu_check.run_commands(gpu_check.parse_args(["--budget-s", "200"]))
    assert [t for _, _, t in short] == [180, 20, 0, 0]
    if not torch.cuda.is_available():
        assert gpu_check.main(["--out", "x"]) == 2  # says it needs a GPU, runs nothing


def test_gpu_check_steps_stop_at_their_timeout(gpu_check):
    assert gpu_check.run_step([sys.executable, "-c", "import time; time.sleep(60)"], 1) == "timed out"
    assert gpu_check.run_step([sys.executable, "-c", "raise SystemExit(3)"], 30) == "failed (exit 3)"
    assert gpu_check.run_step([sys.executable, "-c", "pass"], 0) == "skipped (no time left)"


def test_gpu_check_summary_on_a_cpu_run(gpu_check, run):
    run_dir, by_mode, _, _ = run
    rows = gpu_check.summary_rows(run_dir)
    assert [r["config"] for r in rows] == [by_mode["eager"]["name"], by_mode["compiled"]["name"]]
    for r in rows:
        c = by_mode["eager"] if r["config"] == by_mode["eager"]["name"] else by_mode["compiled"]
        assert r["decode_tokens_per_s"] == c["timing"]["decode_tokens_per_s"] and r["tpot_ms"] == c["timing"]["tpot_median_ms"]
        assert r["bytes_per_step"] > 0 and r["mbu_wall"] is None and r["mbu_note"].startswith("unknown: no GPU bandwidth")
    text = gpu_check.format_summary(rows)
    assert text.splitlines()[0].split()[:4] == ["config", "status", "decode", "tok/s"] and by_mode["compiled"]["name"] in text
