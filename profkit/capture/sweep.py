"""The sweep: every configuration of a `RunConfig`, one model load per precision.

For each configuration: a warm-up generation, an un-profiled timed generation, then a profiled
generation written as a trace. The manifest is written when the sweep starts (every configuration
`pending`) and rewritten (atomically) when each one starts (`running`) and ends, with the NVML
samples taken so far appended to their file: Ctrl-C or a crash keeps every finished configuration,
and the folder is a valid run folder from the first second. Ctrl-C marks the running configuration
`interrupted` and raises `SweepInterrupted`, which says what was kept. A failure or out-of-memory
in one configuration is recorded in its manifest entry and the sweep goes on.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from profkit.capture.annotate import LayerRanges
from profkit.capture.config import (
    NVML_SAMPLES_FILE,
    RESUME_MUST_MATCH,
    ConfigSpec,
    RunConfig,
    check_precisions_runnable,
    expand_sweep,
    file_safe,
)
from profkit.capture.environment import collect_environment, host_name, resolve_device
from profkit.capture.generate import COMPILE_MODES, GenerationLoop
from profkit.capture.manifest import (
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_OK,
    STATUS_OOM,
    STATUS_PENDING,
    STATUS_RUNNING,
    check_resumable,
    completed,
    config_entry,
    merge_sweep_settings,
    new_manifest,
    now_iso,
    read_manifest,
    trace_metadata,
    upsert_config,
    write_manifest,
)
from profkit.capture.model import LoadedModel, inductor_settings, load_model, make_prompt, quantization_record
from profkit.capture.nvml import SAMPLE_COLUMNS, Sampler
from profkit.capture.profile import TRACE_METADATA_KEY, overhead, profile_generation
from profkit.capture.timing import peak_gpu_memory_bytes, reset_peak_gpu_memory, run_generation, summarize, warm_up
from profkit.errors import ProfkitError, option
from profkit.models import LlamaShape, model_shape

_OOM_ERRORS = tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError})


class SweepReporter:
    """What the sweep tells its front end; the default says nothing."""

    def note(self, text: str) -> None: ...

    def start(self, todo: list[ConfigSpec], skipped: list[ConfigSpec]) -> None: ...

    def config_started(self, spec: ConfigSpec, what: str) -> None: ...

    def config_done(self, spec: ConfigSpec, entry: dict) -> None: ...


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep, after the manifest recorded what was kept."""

    def __init__(self, run_dir: Path, kept: list[str]):
        super().__init__(f"interrupted; kept {len(kept)} finished configurations in {run_dir}")
        self.run_dir = run_dir
        self.kept = kept
        """Names of the configurations recorded as ok (this run's and, resumed, the earlier ones)."""


@dataclass
class SweepResult:
    run_dir: Path
    manifest: dict
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """Everything a configuration needs from its sweep."""

    cfg: RunConfig
    device: str
    run_dir: Path
    manifest: dict
    sampler: Sampler
    reporter: SweepReporter


def run_sweep(cfg: RunConfig, reporter: SweepReporter | None = None) -> SweepResult:
    """Run every configuration of `cfg` not already completed; return the run folder and manifest."""
    reporter = reporter or SweepReporter()
    device = resolve_device(cfg.device)
    check_precisions_runnable(cfg.precisions, device, *_gpu_capability(device))
    shape = model_shape(cfg.model_ref(device))
    _say_where(cfg, device, shape, reporter)
    run_dir = Path(cfg.out_dir) / (cfg.run_id or default_run_id(shape.name))
    settings = _settings(cfg, device)
    manifest = _open_manifest(cfg, run_dir, settings, device, shape)
    done = completed(manifest, run_dir) if cfg.resume else set()
    specs = expand_sweep(cfg, shape.name)
    todo = [s for s in specs if s.name not in done]
    for spec in todo:
        upsert_config(manifest, config_entry(spec, status=STATUS_PENDING))
    result = SweepResult(run_dir, manifest, skipped=[s.name for s in specs if s.name in done])
    reporter.start(todo, [s for s in specs if s.name in done])
    sampler = Sampler(cfg.nvml_interval_s, use_gpu=device == "cuda", device_uuid=_device_uuid(device))
    manifest["nvml"] = _nvml_block(sampler, cfg)
    run = _Run(cfg, device, run_dir, manifest, sampler, reporter)
    sampler.start()
    try:
        write_manifest(run_dir, manifest)
        for precision in cfg.precisions:
            batch = [s for s in todo if s.precision == precision]
            if batch:
                _run_precision(run, precision, batch)
                result.ran.extend(s.name for s in batch)
    except KeyboardInterrupt:
        _mark_interrupted(manifest)
        raise SweepInterrupted(run_dir, [c["name"] for c in manifest["configs"] if c["status"] == STATUS_OK]) from None
    finally:
        sampler.stop()
        sampler.append_csv(run_dir / NVML_SAMPLES_FILE)
        write_manifest(run_dir, manifest)
    return result


def _mark_interrupted(manifest: dict) -> None:
    """The configuration that was running when Ctrl-C came is `interrupted`; pending ones stay pending."""
    for c in manifest["configs"]:
        if c["status"] == STATUS_RUNNING:
            c.update(status=STATUS_INTERRUPTED, error="interrupted (Ctrl-C) before it finished", trace_file=None, trace=None)


def _gpu_capability(device: str) -> tuple[tuple[int, int] | None, str | None]:
    """(compute capability, name) of the GPU torch uses; (None, None) on the CPU."""
    if device != "cuda":
        return None, None
    index = torch.cuda.current_device()
    return torch.cuda.get_device_capability(index), torch.cuda.get_device_name(index)


def default_run_id(model_name: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{file_safe(model_name)}"


def _say_where(cfg: RunConfig, device: str, shape: LlamaShape, reporter: SweepReporter) -> None:
    if device != "cpu":
        return
    reporter.note("No CUDA GPU in use: running on the CPU (NVML off; memory = process RSS; compiled mode without CUDA graphs).")
    if cfg.random_weights and cfg.model_config is None:
        reporter.note(f"random weights of the {shape.name} model (the CPU default); {option('model_config')} llama-3-8b forces the full size.")
    if shape.total_params > 1e9:
        reporter.note(
            f"{shape.name} has {shape.total_params / 1e9:.1f}B parameters: on a CPU this is very slow; {option('model_config')} tiny runs in seconds."
        )


def _settings(cfg: RunConfig, device: str) -> dict:
    return {
        **cfg.as_dict(),
        "resolved_device": device,
        "compile_mode": COMPILE_MODES[device],
        "traced_decode_tokens": cfg.traced_decode_tokens,
        "trace_metadata_key": TRACE_METADATA_KEY,
    }


def _open_manifest(cfg: RunConfig, run_dir: Path, settings: dict, device: str, shape: LlamaShape) -> dict:
    """A new manifest, or with --resume the run's existing one (same measuring settings required)."""
    if cfg.resume:
        manifest = read_manifest(run_dir)
        check_resumable(manifest, settings, (*RESUME_MUST_MATCH, "resolved_device"))
        manifest["settings"] = merge_sweep_settings(manifest["settings"], settings)
        manifest.setdefault("resumed", []).append({"at": now_iso(), "host": host_name(), "torch": torch.__version__})
        _remove_scratch_files(run_dir)
        return manifest
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ProfkitError(f"{run_dir} already exists; pass {option('resume')} to continue it, or a new {option('run_id')}")
    model = {
        "name": shape.name,
        "shape": shape.as_dict(),
        "source": "random" if cfg.random_weights else "path",
        "path": cfg.model_path,
    }
    return new_manifest(run_dir.name, host_name(), collect_environment(device), model, settings, nvml={})


def _remove_scratch_files(run_dir: Path) -> None:
    """Temporary files an interrupted run (killed mid-write) left behind."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _device_uuid(device: str) -> str | None:
    if device != "cuda":
        return None
    uuid = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
    return f"GPU-{uuid}" if uuid is not None else None


def _nvml_block(sampler: Sampler, cfg: RunConfig) -> dict:
    return {
        "file": NVML_SAMPLES_FILE,
        "available": sampler.gpu_available,
        "interval_s": cfg.nvml_interval_s,
        "columns": list(SAMPLE_COLUMNS),
        "note": sampler.note,
    }


def _run_precision(run: _Run, precision: str, specs: list[ConfigSpec]) -> None:
    """Load the model once in `precision`, then run each of its configurations."""
    _set_status(run, specs[0], STATUS_RUNNING)
    run.reporter.config_started(specs[0], f"loading {precision} model")
    try:
        loaded = load_model(run.cfg.model_ref(run.device), not run.cfg.random_weights, precision, run.device, run.cfg.int8_threshold, run.cfg.seed)
    except ProfkitError:
        raise  # a setup error (missing package, bad checkpoint) applies to the whole sweep
    except Exception as exc:  # noqa: BLE001 -- recorded per configuration, the sweep goes on
        for spec in specs:
            _finish(run, spec, _failed_entry(spec, exc, "loading the model"))
        _free_memory(run.device)
        return
    try:
        for spec in specs:
            _set_status(run, spec, STATUS_RUNNING)
            _finish(run, spec, run_config(run, spec, loaded))
    finally:
        del loaded
        _free_memory(run.device)


def _set_status(run: _Run, spec: ConfigSpec, status: str) -> None:
    """Record a configuration's new state in the manifest on disk (e.g. running: a crash shows where)."""
    for c in run.manifest["configs"]:
        if c["name"] == spec.name:
            c["status"] = status
    write_manifest(run.run_dir, run.manifest)


def _finish(run: _Run, spec: ConfigSpec, entry: dict) -> None:
    upsert_config(run.manifest, entry)
    write_manifest(run.run_dir, run.manifest)
    run.sampler.append_csv(run.run_dir / NVML_SAMPLES_FILE)
    run.reporter.config_done(spec, entry)


def _failed_entry(spec: ConfigSpec, exc: BaseException, doing: str) -> dict:
    status = STATUS_OOM if is_oom(exc) else STATUS_FAILED
    return config_entry(spec, status=status, error=f"{doing}: {type(exc).__name__}: {exc}")


def is_oom(exc: BaseException) -> bool:
    """Out of device memory, from torch's allocator or a library that reports it as a RuntimeError."""
    return isinstance(exc, _OOM_ERRORS) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def run_config(run: _Run, spec: ConfigSpec, loaded: LoadedModel) -> dict:
    """Measure one configuration; failures become the entry's status instead of propagating."""
    entry = config_entry(spec, status=STATUS_RUNNING)
    entry.update(
        weights_bytes=loaded.weights_bytes,
        decode_weight_bytes=loaded.decode_weight_bytes,
        load_s=loaded.load_s,
        quantization=quantization_record(spec.precision, run.cfg.int8_threshold, spec.mode),
        t_start_unix_s=time.time(),
    )
    try:
        with inductor_settings(spec.precision, spec.mode):
            _measure(run, spec, loaded, entry)
        entry["status"] = STATUS_OK
    except ProfkitError:
        raise  # a usage error, the same for every configuration
    except Exception as exc:  # noqa: BLE001 -- recorded, the sweep goes on
        failed = _failed_entry(spec, exc, "measuring")
        entry.update(status=failed["status"], error=failed["error"], trace_file=None, trace=None)
    entry["t_end_unix_s"] = time.time()
    _free_memory(run.device)
    return entry


def _measure(run: _Run, spec: ConfigSpec, loaded: LoadedModel, entry: dict) -> None:
    """Warm-up, timed run, profiled run; fills `entry` as results come in."""
    input_ids = make_prompt(loaded, spec.batch_size, run.cfg.prompt_len, run.cfg.seed, run.cfg.prompt_text)
    loop = GenerationLoop(loaded.model, spec.mode, run.device, run.cfg.max_seq_len)
    entry["compile_mode"] = loop.compile_mode
    with torch.no_grad():
        summary = _timed(run, spec, loop, input_ids, entry)
        profiled = _profiled(run, spec, loop, input_ids, entry)
    entry["profiler_overhead"] = overhead(profiled.timing, summary.tpot_median_ms)
    entry["trace"] = {
        "base_time_ns": profiled.base_time_ns,
        "profiler_steps": 1 + run.cfg.traced_decode_tokens,
        "decode_steps_traced": run.cfg.traced_decode_tokens,
        "window_unix_s": [profiled.timing.t_start_unix_s, profiled.timing.t_end_unix_s],
        "bytes": profiled.trace_bytes,
        "export_s": profiled.export_s,
    }


def _timed(run: _Run, spec: ConfigSpec, loop: GenerationLoop, input_ids: torch.Tensor, entry: dict):
    """Un-timed warm-up, then the timed generation without the profiler; fills entry["timing"]."""
    device = run.device
    with _layer_ranges(loop.model, run.cfg.layer_ranges, kineto=False):
        run.reporter.config_started(spec, "compiling + warm-up" if spec.mode == "compiled" else "warm-up")
        warmup_s = warm_up(loop, input_ids, run.cfg.warmup_decode_tokens, device)
        run.reporter.config_started(spec, "timing")
        reset_peak_gpu_memory(device)
        timed = run_generation(loop, input_ids, run.cfg.new_tokens - 1, device)
    peak_rss = run.sampler.peak_rss_bytes(timed.t_start_unix_s, timed.t_end_unix_s)
    summary = summarize(timed, peak_gpu_memory_bytes(device), peak_rss, warmup_s)
    entry["timing"] = {**summary.as_dict(), "window_unix_s": [timed.t_start_unix_s, timed.t_end_unix_s]}
    return summary


def _profiled(run: _Run, spec: ConfigSpec, loop: GenerationLoop, input_ids: torch.Tensor, entry: dict):
    """The traced generation, written to the configuration's trace file with the manifest embedded."""
    run.reporter.config_started(spec, "profiling")
    entry["trace_file"] = spec.trace_file
    with _layer_ranges(loop.model, run.cfg.layer_ranges, kineto=True):
        return profile_generation(
            loop,
            input_ids,
            run.cfg.traced_decode_tokens,
            run.cfg.warmup_decode_tokens,
            run.device,
            run.run_dir / spec.trace_file,
            trace_metadata(run.manifest, {**entry, "status": STATUS_OK}),
        )  # it is ok if the trace exists


@contextmanager
def _layer_ranges(model, enabled: bool, kineto: bool):
    if not enabled:
        yield
        return
    ranges = LayerRanges(model, kineto=kineto)
    try:
        yield
    finally:
        ranges.remove()


def _free_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
