"""The run manifest (`<run>/manifest.json`, embedded in each trace under `profkit_manifest`): its
typed schema, its one reader and its one writer.

`profkit run` (`profkit.capture`) builds the manifest as a dict and writes it with `write_manifest`,
which checks it against this schema first; every reader goes through `read_manifest` (a run folder)
or `embedded_manifest` (a trace's header). Keys the schema does not name are kept (`extra`), so a
newer writer's additions survive an older reader.

    run_id, created (ISO 8601), host, profkit_version
    environment  Environment: device, GPU, driver, CUDA, library versions
    model        ModelInfo: name, shape (profkit.models.LlamaShape fields), source, path
    settings     every RunConfig field, plus the resolved device and compile mode (a dict)
    nvml         NvmlInfo: the samples file and how it was sampled
    clock        how trace timestamps, NVML samples and configuration windows line up
    configs      ConfigEntry per configuration, status ok / failed / oom
    resumed      one {at, host, torch} per `--resume`

A trace embeds the run-level part plus its own entry under `config` (and no `configs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from profkit.errors import ProfkitError
from profkit.store import schema
from profkit.store.layout import MANIFEST_FILE, MAX_SIDE_FILE_BYTES
from profkit.store.walk import display, regular_file

STATUS_OK, STATUS_FAILED, STATUS_OOM = "ok", "failed", "oom"
STATUS_PENDING, STATUS_RUNNING, STATUS_INTERRUPTED = "pending", "running", "interrupted"
"""Not finished: planned, in progress (or the process died there), stopped by Ctrl-C. --resume reruns them."""


@dataclass
class Environment:
    """Where the run happened."""

    device: str | None = None
    """"cuda" or "cpu": what the run used."""
    gpu_name: str | None = None
    """torch's device name, e.g. "NVIDIA H100 80GB HBM3"; None on the CPU."""
    gpu_count: int | None = None
    driver_version: str | None = None
    """NVIDIA driver from NVML, e.g. "580.159.04"."""
    cuda_runtime: str | None = None
    """torch.version.cuda, e.g. "13.0"."""
    cudnn: int | str | None = None
    torch: str | None = None
    transformers: str | None = None
    bitsandbytes: str | None = None
    torchao: str | None = None
    python: str | None = None
    platform: str | None = None
    cpu_count: int | None = None
    torch_threads: int | None = None
    gpu_total_mem_bytes: int | None = None
    gpu_sm_count: int | None = None
    gpu_compute_capability: str | None = None
    """"9.0"."""
    extra: dict = field(default_factory=dict)


@dataclass
class ModelInfo:
    """The model measured."""

    name: str | None = None
    """A `profkit.models.LLAMA_CONFIGS` name, or the checkpoint's."""
    shape: dict | None = None
    """`LlamaShape` fields."""
    source: str | None = None
    """"random" (random weights of `shape`) or "path" (a checkpoint folder)."""
    path: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class NvmlInfo:
    """How GPU samples were taken during the run."""

    file: str | None = None
    available: bool | None = None
    interval_s: float | None = None
    columns: list[str] = field(default_factory=list)
    note: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Timing:
    """Un-profiled timing of one configuration (the speeds every front end shows)."""

    ttft_ms: float | None = None
    tpot_median_ms: float | None = None
    """Median time per output token over the decode steps, ms."""
    tpot_p90_ms: float | None = None
    decode_tokens_per_s: float | None = None
    """Decode tokens per second over the whole batch."""
    e2e_tokens_per_s: float | None = None
    peak_gpu_mem_bytes: int | None = None
    peak_rss_bytes: int | None = None
    warmup_s: float | None = None
    decode_step_ms: list[float] = field(default_factory=list)
    window_unix_s: list[float] | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ProfilerOverhead:
    profiled_step_ms: float | None = None
    unprofiled_step_ms: float | None = None
    ratio: float | None = None
    profiled_prefill_ms: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class TraceRecord:
    """How a configuration's trace was recorded."""

    base_time_ns: int | None = None
    """Kineto's baseTimeNanoseconds: a trace event's Unix time in ns is ts_us * 1000 + this."""
    profiler_steps: int | None = None
    decode_steps_traced: int | None = None
    window_unix_s: list[float] | None = None
    bytes: int | None = None
    export_s: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ConfigEntry:
    """One configuration of a sweep."""

    name: str = ""
    precision: str | None = None
    """int8, fp16, bf16, nf4, int8wo, int4wo, fp8 (`profkit.capture.config.PRECISIONS`)."""
    batch_size: int | None = None
    prompt_len: int | None = None
    new_tokens: int | None = None
    mode: str | None = None
    """"eager" or "compiled"."""
    status: str = STATUS_OK
    """pending, running, interrupted, ok, failed or oom."""
    error: str | None = None
    trace_file: str | None = None
    """The trace's file name inside the run folder (None until the configuration finished)."""
    timing: Timing | None = None
    profiler_overhead: ProfilerOverhead | None = None
    weights_bytes: int | None = None
    decode_weight_bytes: int | None = None
    """Bytes of weights one decode step reads, as stored (weights_bytes less the embedding table)."""
    load_s: float | None = None
    compile_mode: str | None = None
    trace: TraceRecord | None = None
    t_start_unix_s: float | None = None
    t_end_unix_s: float | None = None
    quantization: dict | None = None
    """How the weights were quantized (scheme, library, settings), when they were."""
    extra: dict = field(default_factory=dict)


@dataclass
class Manifest:
    """A run manifest, or (with `config` set and no `configs`) the part a trace embeds."""

    run_id: str | None = None
    created: str | None = None
    host: str | None = None
    profkit_version: str | None = None
    environment: Environment = field(default_factory=Environment)
    model: ModelInfo = field(default_factory=ModelInfo)
    settings: dict = field(default_factory=dict)
    nvml: NvmlInfo | None = None
    clock: str | None = None
    configs: list[ConfigEntry] = field(default_factory=list)
    resumed: list[dict] = field(default_factory=list)
    config: ConfigEntry | None = None
    """Only in a trace's embedded copy: that trace's own configuration."""
    extra: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list, init=False, compare=False, repr=False)
    """Values of the wrong type found while reading (the field took its default)."""

    def planned(self) -> int | None:
        """How many configurations the sweep's settings ask for (precisions x batch sizes x modes)."""
        sizes = [self.settings.get(k) for k in ("precisions", "batch_sizes", "modes")]
        counts = [len(s) for s in sizes if isinstance(s, list) and s]
        return counts[0] * counts[1] * counts[2] if len(counts) == 3 else None

    def to_dict(self) -> dict:
        out = schema.dump(self)
        for key in ("nvml", "config"):
            if out.get(key) is None:
                out.pop(key)
        if not out.get("resumed"):
            out.pop("resumed", None)
        if self.config is not None and not self.configs:
            out.pop("configs", None)
        return out


def manifest_from_dict(data, where: str = MANIFEST_FILE) -> Manifest:
    """A `Manifest` from its JSON object; values of the wrong type are dropped into `.problems`."""
    problems: list[str] = []
    manifest = schema.load(Manifest, data, where, problems)
    manifest.problems = problems
    return manifest


def read_manifest(path) -> Manifest:
    """The manifest of a run folder (or a manifest.json path). Raises ProfkitError (one line, naming
    the file) when it is missing, too large, not JSON or not an object."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    regular_file(path)
    try:
        size = path.stat().st_size
        if size > MAX_SIDE_FILE_BYTES:
            raise ProfkitError(f"{display(path)}: {size / 2**20:.0f} MiB is too large for a run manifest; is this a `profkit run` folder?")
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise ProfkitError(f"{display(path)}: cannot read the run manifest ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ProfkitError(f"{display(path)}: the run manifest is not valid JSON ({exc}); re-run or restore it") from None
    if not isinstance(document, dict):
        raise ProfkitError(f"{display(path)}: the run manifest is not a JSON object; is this a `profkit run` folder?")
    return manifest_from_dict(document, display(path))


def embedded_manifest(value) -> Manifest | None:
    """The manifest a trace embeds (its header's `profkit_manifest`), or None when it has none."""
    if not isinstance(value, dict):
        return None
    return manifest_from_dict(value, "profkit_manifest")


def write_manifest(run_dir, manifest: Manifest | dict) -> Path:
    """Write `<run_dir>/manifest.json` atomically (complete or absent, whatever interrupts the run).

    A dict is checked against the schema first and written as given (so the copy each trace embeds
    stays identical); a value of the wrong type is a bug in the writer and raises ValueError.
    """
    from profkit.capture.files import atomic_write_json

    if isinstance(manifest, Manifest):
        data = manifest.to_dict()
    else:
        data = manifest
        problems = manifest_from_dict(data).problems
        if problems:
            raise ValueError(f"manifest does not match profkit.store.manifest's schema: {'; '.join(problems)}")
    path = Path(run_dir) / MANIFEST_FILE
    atomic_write_json(path, data)
    return path
