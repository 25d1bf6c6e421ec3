"""`profkit run` end to end on the CPU: the tiny Llama, real bitsandbytes layers, real traces.

Every trace is read back with plain gzip + json (no profkit trace code), so these tests pin the
file format the analyses and the dashboard rely on.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from profkit.capture.config import MANIFEST_FILE, NVML_SAMPLES_FILE, RunConfig
from profkit.capture.files import atomic_gzip, atomic_write_json
from profkit.capture.nvml import SAMPLE_COLUMNS
from profkit.capture.profile import TRACE_METADATA_KEY
from profkit.capture.sweep import run_sweep
from profkit.errors import ProfkitError
from profkit.models import LLAMA_CONFIGS

TINY = LLAMA_CONFIGS["tiny"]
PROMPT_LEN, NEW_TOKENS, PROFILE_STEPS = 16, 6, 3
SMALL = dict(model_config="tiny", prompt_len=PROMPT_LEN, new_tokens=NEW_TOKENS, profile_steps=PROFILE_STEPS)
REPO = Path(__file__).resolve().parents[1]


def read_trace(path: Path) -> dict:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def annotation_events(trace: dict, name_prefix: str) -> list[dict]:
    return sorted(
        (e for e in trace["traceEvents"] if e.get("cat") == "user_annotation" and e["name"].startswith(name_prefix)),
        key=lambda e: e["ts"],
    )


def inside(event: dict, outer: dict) -> bool:
    return outer["ts"] <= event["ts"] and event["ts"] + event["dur"] <= outer["ts"] + outer["dur"] + 1e-3


def linear_out_rows(shape) -> int:
    """Output rows of one layer's seven projections (the int8 layers keep one fp32 scale per row)."""
    kv = shape.num_kv_heads * shape.head_dim
    return shape.hidden_size * 2 + kv * 2 + shape.intermediate_size * 2 + shape.hidden_size


# ---- one sweep, read back by many tests ------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("traces")
    cfg = RunConfig(precisions=("int8", "bf16"), batch_sizes=(1, 2), out_dir=str(out), run_id="ci", **SMALL)
    result = run_sweep(cfg)
    manifest = json.loads((result.run_dir / MANIFEST_FILE).read_text())
    return result, manifest


@pytest.mark.slow
def test_sweep_records_every_configuration(sweep):
    result, manifest = sweep
    names = [c["name"] for c in manifest["configs"]]
    assert names == [f"tiny_{p}_b{b}_p{PROMPT_LEN}_eager" for p in ("int8", "bf16") for b in (1, 2)]
    assert result.ran == names and result.skipped == []
    for c in manifest["configs"]:
        assert c["status"] == "ok" and c["error"] is None, c
        assert c["trace_file"] == c["name"] + ".pt.trace.json.gz"
        assert (result.run_dir / c["trace_file"]).is_file()
        assert (c["prompt_len"], c["new_tokens"], c["mode"]) == (PROMPT_LEN, NEW_TOKENS, "eager")
    assert not list(result.run_dir.glob(".*.tmp"))


@pytest.mark.slow
def test_manifest_run_level_fields(sweep):
    _, m = sweep
    assert m["run_id"] == "ci" and m["host"] and m["created"][:4].isdigit()
    env = m["environment"]
    for key in ("gpu_name", "gpu_count", "driver_version", "cuda_runtime", "cudnn", "torch", "transformers", "bitsandbytes", "python", "platform", "device"):
        assert key in env
    if not torch.cuda.is_available():
        assert env["device"] == "cpu" and env["gpu_name"] is None
    assert env["torch"] == torch.__version__ and env["bitsandbytes"]
    assert m["model"] == {"name": "tiny", "shape": TINY.as_dict(), "source": "random", "path": None}
    s = m["settings"]
    assert (s["precisions"], s["batch_sizes"], s["modes"]) == (["int8", "bf16"], [1, 2], ["eager"])
    measured = (s["prompt_len"], s["new_tokens"], s["profile_steps"], s["int8_threshold"])
    assert measured == (PROMPT_LEN, NEW_TOKENS, PROFILE_STEPS, 6.0)
    assert s["trace_metadata_key"] == TRACE_METADATA_KEY


@pytest.mark.slow
def test_timing_block_is_consistent(sweep):
    _, m = sweep
    for c in m["configs"]:
        t, o = c["timing"], c["profiler_overhead"]
        assert t["ttft_ms"] > 0 and 0 < t["tpot_median_ms"] <= t["tpot_p90_ms"]
        steps = t["decode_step_ms"]
        assert len(steps) == NEW_TOKENS - 1
        assert t["tpot_median_ms"] == pytest.approx(sorted(steps)[len(steps) // 2])  # odd count: the middle one
        decode_s = sum(steps) / 1e3
        assert t["decode_tokens_per_s"] == pytest.approx(c["batch_size"] * len(steps) / decode_s)
        assert t["e2e_tokens_per_s"] == pytest.approx(c["batch_size"] * NEW_TOKENS / (t["ttft_ms"] / 1e3 + decode_s))
        assert t["peak_rss_bytes"] > 0
        if not torch.cuda.is_available():
            assert t["peak_gpu_mem_bytes"] is None
        assert o["unprofiled_step_ms"] == t["tpot_median_ms"]
        assert o["ratio"] == pytest.approx(o["profiled_step_ms"] / o["unprofiled_step_ms"])
        w0, w1 = t["window_unix_s"]
        assert c["t_start_unix_s"] <= w0 < w1 <= c["trace"]["window_unix_s"][0] <= c["t_end_unix_s"]


@pytest.mark.slow
def test_weights_bytes_match_the_architecture(sweep):
    """bf16: every parameter in 2 bytes. int8: the 7 projections of each layer in 1 byte + one fp32
    scale per output row; embeddings, norms and lm_head stay 16-bit (as load_in_8bit leaves them)."""
    _, m = sweep
    by_precision = {c["precision"]: c["weights_bytes"] for c in m["configs"]}
    linear = TINY.num_layers * TINY.linear_params_per_layer
    rest = TINY.total_params - linear
    assert by_precision["bf16"] == 2 * TINY.total_params == 3_279_360
    assert by_precision["int8"] == linear + 4 * TINY.num_layers * linear_out_rows(TINY) + 2 * rest


@pytest.mark.slow
def test_traces_have_one_step_per_phase(sweep):
    result, m = sweep
    for c in m["configs"]:
        trace = read_trace(result.run_dir / c["trace_file"])
        steps = annotation_events(trace, "ProfilerStep#")
        assert [s["name"] for s in steps] == [f"ProfilerStep#{i}" for i in range(1, PROFILE_STEPS + 2)]
        assert c["trace"]["profiler_steps"] == len(steps) == 1 + PROFILE_STEPS
        prefill, decode = annotation_events(trace, "prefill"), annotation_events(trace, "decode")
        assert len(prefill) == 1 and inside(prefill[0], steps[0])
        assert len(decode) == PROFILE_STEPS
        assert all(inside(d, s) for d, s in zip(decode, steps[1:], strict=True))
        ops = [e for e in trace["traceEvents"] if e.get("cat") == "cpu_op"]
        assert any("Input Dims" in e.get("args", {}) for e in ops)  # record_shapes


@pytest.mark.slow
def test_int8_traces_run_bitsandbytes_in_every_projection(sweep):
    result, m = sweep
    per_step = 7 * TINY.num_layers  # every projection, not lm_head
    for c in m["configs"]:
        names = [e["name"] for e in read_trace(result.run_dir / c["trace_file"])["traceEvents"]]
        count = names.count("bitsandbytes::int8_mixed_scaled_mm")
        assert count == (per_step * (1 + PROFILE_STEPS) if c["precision"] == "int8" else 0), c["name"]


@pytest.mark.slow
def test_trace_embeds_its_manifest_and_clock_anchor(sweep):
    result, m = sweep
    for c in m["configs"]:
        trace = read_trace(result.run_dir / c["trace_file"])
        embedded = trace[TRACE_METADATA_KEY]  # a top-level key, the value an object
        assert isinstance(embedded, dict)
        assert embedded["run_id"] == "ci" and embedded["environment"] == m["environment"]
        assert embedded["settings"] == m["settings"] and embedded["model"] == m["model"]
        assert embedded["config"]["name"] == c["name"] and embedded["config"]["timing"] == c["timing"]
        assert embedded["config"]["trace_file"] == c["trace_file"] and embedded["config"]["status"] == "ok"
        assert trace["traceName"] == c["trace_file"]  # its final name, not the scratch file it was exported to
        assert trace["baseTimeNanoseconds"] == c["trace"]["base_time_ns"]
        # ts (µs) * 1000 + baseTimeNanoseconds is Unix time: the prefill step lies in the recorded window
        step1 = annotation_events(trace, "ProfilerStep#1")[0]
        t_unix = (step1["ts"] * 1e3 + trace["baseTimeNanoseconds"]) / 1e9
        w0, w1 = c["trace"]["window_unix_s"]
        assert w0 - 0.05 <= t_unix <= w1 + 0.05


@pytest.mark.slow
def test_nvml_samples_file(sweep):
    result, m = sweep
    lines = (result.run_dir / NVML_SAMPLES_FILE).read_text().splitlines()
    assert tuple(lines[0].split(",")) == SAMPLE_COLUMNS
    rows = [dict(zip(SAMPLE_COLUMNS, line.split(","), strict=True)) for line in lines[1:]]
    assert len(rows) >= 2
    times = [float(r["t_unix_s"]) for r in rows]
    assert times == sorted(times)
    assert times[0] <= m["configs"][0]["t_start_unix_s"] and all(int(r["rss_bytes"]) > 0 for r in rows)
    assert m["nvml"]["file"] == NVML_SAMPLES_FILE and m["nvml"]["columns"] == list(SAMPLE_COLUMNS)
    if not torch.cuda.is_available():
        assert m["nvml"]["available"] is False and m["nvml"]["note"]
        assert all(r["gpu_util_pct"] == "" for r in rows)


# ---- models ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_int8_model_uses_real_linear8bitlt_layers():
    import bitsandbytes as bnb

    from profkit.capture.model import load_model

    loaded = load_model("tiny", False, "int8", "cpu", int8_threshold=4.5, seed=0)
    int8 = [m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    assert len(int8) == 7 * TINY.num_layers
    for layer in int8:
        assert layer.weight.dtype == torch.int8 and layer.weight.SCB is not None
        assert layer.state.threshold == 4.5 and layer.state.has_fp16_weights is False
    assert type(loaded.model.lm_head) is torch.nn.Linear and loaded.model.lm_head.weight.dtype == torch.float16


@pytest.mark.slow
def test_nf4_model_uses_real_linear4bit_layers():
    import bitsandbytes as bnb

    from profkit.capture.generate import GenerationLoop
    from profkit.capture.model import load_model, make_prompt

    loaded = load_model("tiny", False, "nf4", "cpu", 6.0, seed=0)
    nf4 = [m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(nf4) == 7 * TINY.num_layers
    assert all(m.weight.quant_type == "nf4" and m.weight.dtype == torch.uint8 for m in nf4)
    assert loaded.weights_bytes < 2 * TINY.total_params
    loop = GenerationLoop(loaded.model, "eager", "cpu", max_seq_len=16)
    with torch.no_grad():
        token = loop.decode(loop.prefill(make_prompt(loaded, 2, 8, 0, None)))
    assert token.shape == (2,) and int(token.max()) < TINY.vocab_size


@pytest.mark.slow
def test_checkpoint_folder_loads_like_users_do(tmp_path):
    """--model PATH: from_pretrained (int8 through BitsAndBytesConfig), tokenizer for --prompt-text,
    and per-layer ranges in the trace."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from profkit.capture.model import build_random, load_model, make_prompt

    ckpt = tmp_path / "tiny-ckpt"
    build_random(TINY, "bf16", "cpu", 6.0, seed=0).save_pretrained(ckpt)
    vocab = {f"w{i}": i for i in range(TINY.vocab_size - 1)} | {"[UNK]": TINY.vocab_size - 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(ckpt)

    bf16 = load_model(str(ckpt), True, "bf16", "cpu", 6.0, 0)
    ids = make_prompt(bf16, batch_size=2, prompt_len=5, seed=0, text="w7 w8")
    assert ids.tolist() == [[7, 8, 7, 8, 7]] * 2

    if importlib.util.find_spec("accelerate") is None:
        with pytest.raises(ProfkitError, match="pip install accelerate"):
            load_model(str(ckpt), True, "int8", "cpu", 6.0, 0)
        precisions = ("bf16",)
    else:
        int8 = load_model(str(ckpt), True, "int8", "cpu", 6.0, 0)
        assert int8.weights_bytes == load_model("tiny", False, "int8", "cpu", 6.0, 0).weights_bytes
        precisions = ("int8", "bf16")

    cfg = RunConfig(
        model_path=str(ckpt),
        precisions=precisions,
        batch_sizes=(1,),
        prompt_len=8,
        new_tokens=3,
        profile_steps=2,
        prompt_text="w1 w2 w3",
        layer_ranges=True,
        out_dir=str(tmp_path / "out"),
        run_id="ck",
    )
    result = run_sweep(cfg)
    assert result.manifest["model"]["source"] == "path" and result.manifest["model"]["path"] == str(ckpt)
    for c in result.manifest["configs"]:
        assert c["status"] == "ok", c["error"]
        trace = read_trace(result.run_dir / c["trace_file"])
        layer0 = annotation_events(trace, "decoder_layer.0")
        assert len(layer0) == 1 + 2  # one per traced step
        assert len(annotation_events(trace, f"decoder_layer.{TINY.num_layers - 1}")) == 3


@pytest.mark.slow
def test_compiled_mode_runs_on_cpu(tmp_path):
    """Static KV cache + torch.compile (no CUDA graphs on a CPU); same trace shape as eager."""
    cfg = RunConfig(precisions=("fp16",), batch_sizes=(1,), modes=("compiled",), out_dir=str(tmp_path), run_id="c", **SMALL)
    result = run_sweep(cfg)
    (c,) = result.manifest["configs"]
    assert c["status"] == "ok", c["error"]
    assert c["compile_mode"] == "default" and c["name"].endswith("_compiled")
    assert c["timing"]["warmup_s"] * 1e3 > c["timing"]["tpot_median_ms"]  # the compile stayed in the warm-up
    trace = read_trace(result.run_dir / c["trace_file"])
    assert len(annotation_events(trace, "ProfilerStep#")) == 1 + PROFILE_STEPS
    assert len(annotation_events(trace, "decode")) == PROFILE_STEPS


@pytest.mark.slow
def test_compiled_and_eager_generate_the_same_tokens():
    """Greedy tokens of both modes equal HF generate's (same shapes as the compiled sweep above, so
    inductor's cache makes the second compile cheap)."""
    from profkit.capture.generate import GenerationLoop
    from profkit.capture.model import load_model, make_prompt

    loaded = load_model("tiny", False, "fp16", "cpu", 6.0, 0)
    ids = make_prompt(loaded, 1, PROMPT_LEN, 0, None)
    max_seq_len = RunConfig(**SMALL).max_seq_len

    def tokens(mode: str) -> list:
        loop = GenerationLoop(loaded.model, mode, "cpu", max_seq_len=max_seq_len)
        with torch.no_grad():
            out = [loop.prefill(ids)]
            for _ in range(4):
                out.append(loop.decode(out[-1]))
        return torch.stack(out, dim=1).tolist()

    reference = loaded.model.generate(ids, max_new_tokens=5, do_sample=False)[:, ids.shape[1] :].tolist()
    assert tokens("eager") == reference
    assert tokens("compiled") == reference


# ---- failures, interrupts, resume ------------------------------------------------------------


def _fail_for(monkeypatch, failures: dict):
    """Make _measure raise failures[config name] for the named configurations."""
    from profkit.capture import sweep as sweep_module

    real = sweep_module._measure

    def measure(run, spec, loaded, entry):
        if spec.name in failures:
            raise failures[spec.name]
        return real(run, spec, loaded, entry)

    monkeypatch.setattr(sweep_module, "_measure", measure)


@pytest.mark.slow
def test_failed_and_oom_configs_are_recorded_and_resume_reruns_only_them(tmp_path, monkeypatch):
    cfg = RunConfig(precisions=("bf16",), batch_sizes=(1, 2, 3), out_dir=str(tmp_path), run_id="r", **SMALL)
    b1, b2, b3 = (f"tiny_bf16_b{b}_p{PROMPT_LEN}_eager" for b in (1, 2, 3))
    _fail_for(monkeypatch, {b2: RuntimeError("boom"), b3: torch.OutOfMemoryError("CUDA out of memory (simulated)")})
    first = run_sweep(cfg)
    status = {c["name"]: c for c in first.manifest["configs"]}
    assert [status[n]["status"] for n in (b1, b2, b3)] == ["ok", "failed", "oom"]
    assert "RuntimeError: boom" in status[b2]["error"] and status[b2]["trace_file"] is None
    assert not (first.run_dir / f"{b2}.pt.trace.json.gz").exists()
    on_disk = json.loads((first.run_dir / MANIFEST_FILE).read_text())
    assert [c["status"] for c in on_disk["configs"]] == ["ok", "failed", "oom"]
    kept = (first.run_dir / status[b1]["trace_file"]).stat()

    monkeypatch.undo()
    with pytest.raises(ProfkitError, match="pass resume to continue it"):
        run_sweep(cfg)  # the folder exists: resuming must be asked for
    second = run_sweep(RunConfig(**{**_kwargs(cfg), "resume": True}))
    assert second.skipped == [b1] and second.ran == [b2, b3]
    assert [c["status"] for c in second.manifest["configs"]] == ["ok", "ok", "ok"]
    assert len(second.manifest["resumed"]) == 1
    again = (second.run_dir / status[b1]["trace_file"]).stat()
    assert (again.st_ino, again.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)  # untouched


def _kwargs(cfg: RunConfig) -> dict:
    from dataclasses import fields

    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


@pytest.mark.slow
def test_resume_refuses_different_measuring_settings_and_extends_the_sweep(tmp_path):
    cfg = RunConfig(precisions=("bf16",), batch_sizes=(1,), out_dir=str(tmp_path), run_id="r", **SMALL)
    run_sweep(cfg)
    with pytest.raises(ProfkitError, match="made with new_tokens 6, not 7"):
        run_sweep(RunConfig(**{**_kwargs(cfg), "resume": True, "new_tokens": NEW_TOKENS + 1}))
    # a resumed run may add configurations; settings then list the whole sweep
    more = run_sweep(RunConfig(**{**_kwargs(cfg), "resume": True, "precisions": ("fp16",), "batch_sizes": (2,)}))
    assert more.ran == [f"tiny_fp16_b2_p{PROMPT_LEN}_eager"]
    assert (more.manifest["settings"]["precisions"], more.manifest["settings"]["batch_sizes"]) == (["bf16", "fp16"], [1, 2])
    assert [c["status"] for c in more.manifest["configs"]] == ["ok", "ok"]


@pytest.mark.slow
def test_interrupt_keeps_completed_configs_intact(tmp_path, monkeypatch):
    from profkit.capture.sweep import SweepInterrupted

    cfg = RunConfig(precisions=("bf16",), batch_sizes=(1, 2, 3), out_dir=str(tmp_path), run_id="i", **SMALL)
    b1, b2, b3 = (f"tiny_bf16_b{b}_p{PROMPT_LEN}_eager" for b in (1, 2, 3))
    _fail_for(monkeypatch, {b2: KeyboardInterrupt()})
    with pytest.raises(SweepInterrupted) as stop:
        run_sweep(cfg)
    run_dir = tmp_path / "i"
    assert stop.value.kept == [b1] and stop.value.run_dir == run_dir
    manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
    status = {c["name"]: c for c in manifest["configs"]}
    assert [status[n]["status"] for n in (b1, b2, b3)] == ["ok", "interrupted", "pending"]
    assert status[b2]["trace_file"] is None and "interrupted" in status[b2]["error"]
    assert read_trace(run_dir / status[b1]["trace_file"])[TRACE_METADATA_KEY]
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([MANIFEST_FILE, NVML_SAMPLES_FILE, status[b1]["trace_file"]])


def test_atomic_writes_leave_old_content_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    atomic_write_json(target, {"v": 1})
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(target, {"v": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}

    src = tmp_path / "raw.json"
    src.write_text("{}")
    import shutil

    monkeypatch.setattr(shutil, "copyfileobj", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        atomic_gzip(src, tmp_path / "t.pt.trace.json.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "raw.json"]


# ---- options and the command line ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name, flag",
    [
        (dict(precisions=("int4",)), "precisions", "--precisions"),
        (dict(precisions=()), "precisions", "--precisions"),
        (dict(batch_sizes=(0,)), "batch_sizes", "--batch-sizes"),
        (dict(modes=("jit",)), "modes", "--mode"),
        (dict(new_tokens=1), "new_tokens", "--new-tokens"),
        (dict(prompt_len=0), "prompt_len", "--prompt-len"),
        (dict(profile_steps=0), "profile_steps", "--profile-steps"),
        (dict(int8_threshold=-1.0), "int8_threshold", "--int8-threshold"),
        (dict(device="tpu"), "device", "--device"),
        (dict(run_id="../x"), "run_id", "--run-id"),
        (dict(resume=True), "resume", "--resume"),
        (dict(model_path="/nonexistent", model_config="tiny"), "model_path", "--model"),
        (dict(model_path="/nonexistent"), "model_path", "--model"),
        (dict(prompt_text="hi"), "prompt_text", "--prompt-text"),
        (dict(layer_ranges=True, modes=("compiled",)), "layer_ranges", "--layer-ranges"),
    ],
)
def test_run_config_errors_name_the_option(kwargs, name, flag):
    """The library names the RunConfig field; the command line names its flag for the same error."""
    from profkit.cli.output import error_text

    with pytest.raises(ProfkitError) as err:
        RunConfig(**kwargs)
    assert name in str(err.value) and "--" not in str(err.value)
    assert flag in error_text(err.value)


def test_random_weights_default_to_the_full_model_on_gpu_only():
    assert RunConfig().model_ref("cuda") == "llama-3-8b" and RunConfig().model_ref("cpu") == "tiny"
    assert RunConfig(model_config="llama-3-8b").model_ref("cpu") == "llama-3-8b"


def _cli(monkeypatch, capsys, *args) -> tuple[int | str | None, str, str]:
    from profkit.cli import main

    monkeypatch.setattr(sys, "argv", ["profkit", "run", *args])
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error a machine without a GPU gives")
def test_cli_gpu_only_option_on_cpu_is_a_clear_error(tmp_path, monkeypatch, capsys):
    code, _, err = _cli(monkeypatch, capsys, "--model-config", "tiny", "--device", "cuda", "--out", str(tmp_path))
    assert code == 2
    assert err.startswith("profkit: error: --device cuda: no CUDA GPU") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_option_exits_2(tmp_path, monkeypatch, capsys):
    code, _, err = _cli(monkeypatch, capsys, "--model-config", "tiny", "--batch-sizes", "1,x", "--out", str(tmp_path))
    assert code == 2 and "--batch-sizes" in err


@pytest.mark.slow
def test_cli_run_prints_summary(tmp_path, monkeypatch, capsys):
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "--model-config",
        "tiny",
        "--precisions",
        "fp16",
        "--batch-sizes",
        "1",
        "--prompt-len",
        "8",
        "--new-tokens",
        "3",
        "--out",
        str(tmp_path),
        "--run-id",
        "cli",
    )
    assert code == 0, err
    assert "tiny_fp16_b1_p8_eager" in out and "TPOT" in out
    if not torch.cuda.is_available():
        assert "running on the CPU" in err
    assert (tmp_path / "cli" / MANIFEST_FILE).is_file()


# ---- the capture's traces through profkit analyze (the CLI a user runs next) ------------------


@pytest.mark.slow
def test_profkit_analyze_reads_the_run_directory(sweep):
    import subprocess

    result, manifest = sweep
    r = subprocess.run(
        [sys.executable, "-m", "profkit", "analyze", str(result.run_dir), "--json", "-"], capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by_name = {Path(t["path"]).name: t for t in doc["traces"]}
    assert sorted(by_name) == sorted(c["trace_file"] for c in manifest["configs"])
    for c in manifest["configs"]:
        t = by_name[c["trace_file"]]
        # one ProfilerStep per prefill and per traced decode token, phases from the annotations
        assert [s["name"] for s in t["steps"]] == [f"ProfilerStep#{i}" for i in range(1, 2 + PROFILE_STEPS)]
        assert [s["phase"] for s in t["steps"]] == ["prefill"] + ["decode"] * PROFILE_STEPS
        assert t["step_source"] == {"steps": "ProfilerStep", "phases": "annotation"}
        # a CPU run: honest degraded report, with the embedded manifest of this configuration
        assert t["has_gpu_activity"] is False and t["phases"]["decode"]["bound"] is None
        embedded = t["metadata"]["manifest"]
        assert embedded["run_id"] == manifest["run_id"] and embedded["config"]["name"] == c["name"]
        assert embedded["config"]["precision"] == c["precision"] and embedded["config"]["batch_size"] == c["batch_size"]
        assert all(s["wall_ms"] > 0 for s in t["steps"]) and t["cpu_ops"]
    int8 = by_name[next(c["trace_file"] for c in manifest["configs"] if c["precision"] == "int8")]
    # the real bitsandbytes layers show up on the host side
    assert any(op["name"] == "MatMul8bitLt" or "bitsandbytes" in op["name"] for op in int8["cpu_ops"]), [op["name"] for op in int8["cpu_ops"]]
