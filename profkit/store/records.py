"""What the run store knows about a run or a trace, once every file about it has been joined:
`RunInfo` (set-up and versions) with one `ConfigInfo` per configuration (workload and speeds).

These are the records every front end shows, so the same run shows the same versions and speeds in
`profkit runs`, `compare`, `recommend` and the dashboard. Fields are None where no file says.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: Kinds of RunInfo.
RUN, TRACE, RESULTS = "run", "trace", "results"
#: RunInfo.state values.
COMPLETE, PARTIAL, UNREADABLE = "complete", "partial", "unreadable"


@dataclass
class ConfigInfo:
    """One configuration of a run (or the single configuration a loose trace measured)."""

    name: str
    precision: str | None
    batch_size: int | None
    prompt_len: int | None
    mode: str | None
    status: str
    """ok / failed / oom (as the manifest records it); "ok" for a loose trace; "unreadable" for a
    trace that cannot be read; "unrecorded" for a trace on disk that the manifest does not list yet."""
    error: str | None
    trace_path: str | None
    """The configuration's trace file, None when it has none (failed, or only timed)."""
    tpot_median_ms: float | None = None
    """Un-profiled time per output token, median, ms."""
    ttft_ms: float | None = None
    decode_tokens_per_s: float | None = None
    """Un-profiled decode tokens per second over the whole batch."""
    tpot_p90_ms: float | None = None
    new_tokens: int | None = None
    peak_gpu_mem_bytes: int | None = None
    weights_bytes: int | None = None
    timings_from: str | None = None
    """The file the timings come from (a manifest or a results file), None without timings."""
    note: str = ""
    """How an approximate figure was derived."""
    window_unix_s: tuple[float, float] | None = None
    """When the configuration ran (Unix seconds), for lining NVML samples up."""

    @property
    def key(self) -> tuple:
        """What pairs configurations across runs: (precision, batch_size, prompt_len, mode)."""
        return (self.precision, self.batch_size, self.prompt_len, self.mode)


@dataclass
class RunInfo:
    """A run folder, a loose trace or a results file, with everything known about it."""

    run_id: str
    kind: str
    """"run" (folder with manifest.json), "trace" (a loose trace file) or "results" (a run-results file)."""
    path: str
    source: str
    """Where the facts come from: "manifest.json", "embedded manifest", "trace metadata", "trace
    metadata + events", "results file", with " + <results file>" when a results file filled gaps."""
    created: str | None  # ISO 8601
    host: str | None = None
    model: str | None = None
    """Model name (a profkit.models name where known)."""
    device: str | None = None
    """"gpu" or "cpu": where it ran (None when nothing says)."""
    gpu_name: str | None = None
    gpu_count: int | None = None
    gpu_memory_bytes: int | None = None
    driver_version: str | None = None
    cuda_runtime: str | None = None
    cuda_driver: str | None = None
    hip_runtime: str | None = None
    hip_driver: str | None = None
    roctracer: str | None = None
    torch: str | None = None
    transformers: str | None = None
    bitsandbytes: str | None = None
    torchao: str | None = None
    rank: int | None = None
    """This trace's rank in a distributed job (the header's distributedInfo)."""
    world_size: int | None = None
    job: str | None = None
    """The folder of a multi-rank job whose per-rank traces sit side by side."""
    state: str = COMPLETE
    """"complete", "partial" (a sweep not finished: configurations or traces missing) or "unreadable"."""
    state_note: str = ""
    timings_from: str | None = None
    """The results file a loose trace was joined with (its versions and timings)."""
    model_shape: dict | None = None
    """`profkit.models.LlamaShape` fields, when a manifest records them."""
    ceilings: dict = field(default_factory=dict)
    """Measured ceilings (copy GB/s, matmul TFLOP/s) a results file records."""
    configs: list[ConfigInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def precisions(self) -> list[str]:
        return _distinct(c.precision for c in self.configs)

    @property
    def batch_sizes(self) -> list[int]:
        return sorted({c.batch_size for c in self.configs if c.batch_size is not None})

    @property
    def prompt_lens(self) -> list[int]:
        return sorted({c.prompt_len for c in self.configs if c.prompt_len is not None})

    @property
    def modes(self) -> list[str]:
        return _distinct(c.mode for c in self.configs)

    @property
    def versions(self) -> dict[str, str]:
        """The software and driver versions known, by RunInfo attribute name."""
        return {k: getattr(self, k) for k in VERSION_FIELDS if getattr(self, k) is not None}


#: RunInfo attributes that are versions, with the label front ends show.
VERSION_LABELS = {
    "driver_version": "NVIDIA driver",
    "cuda_runtime": "CUDA runtime",
    "cuda_driver": "CUDA driver API",
    "hip_runtime": "HIP runtime",
    "hip_driver": "HIP driver",
    "roctracer": "roctracer",
    "torch": "torch",
    "transformers": "transformers",
    "bitsandbytes": "bitsandbytes",
    "torchao": "torchao",
}
VERSION_FIELDS = tuple(VERSION_LABELS)


@dataclass
class RunFilter:
    """Criteria for `filter_runs`. Text fields match case-insensitively as substrings ("h100" matches
    "NVIDIA H100 80GB HBM3", "580" matches driver "580.159.04"); numbers and precision/mode exactly.
    Config-level criteria (precision, batch_size, prompt_len, mode) keep only matching configurations."""

    run_id: str | None = None
    date: str | None = None  # matches the ISO 8601 `created`, e.g. "2026-11" or "2026-11-26"
    gpu: str | None = None
    driver: str | None = None
    cuda: str | None = None
    torch: str | None = None
    transformers: str | None = None
    bitsandbytes: str | None = None
    model: str | None = None
    host: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    prompt_len: int | None = None
    mode: str | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.__dict__.items() if v is not None)


_RUN_CRITERIA = (
    ("run_id", "run_id"),
    ("created", "date"),
    ("gpu_name", "gpu"),
    ("driver_version", "driver"),
    ("cuda_runtime", "cuda"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("bitsandbytes", "bitsandbytes"),
    ("model", "model"),
    ("host", "host"),
)


def filter_runs(runs: list[RunInfo], criteria: RunFilter) -> list[RunInfo]:
    """Runs matching every criterion; config-level criteria narrow each run's configs."""
    out = []
    for run in runs:
        if not all(_contains(getattr(run, attr), getattr(criteria, name)) for attr, name in _RUN_CRITERIA):
            continue
        configs = [c for c in run.configs if _config_matches(c, criteria)]
        if not configs and (run.configs or _config_criteria(criteria)):
            continue
        out.append(run if len(configs) == len(run.configs) else replace(run, configs=configs))
    return out


def _config_criteria(f: RunFilter) -> bool:
    return any(v is not None for v in (f.precision, f.batch_size, f.prompt_len, f.mode))


def _config_matches(c: ConfigInfo, f: RunFilter) -> bool:
    return (
        (f.precision is None or (c.precision or "").lower() == f.precision.lower())
        and (f.batch_size is None or c.batch_size == f.batch_size)
        and (f.prompt_len is None or c.prompt_len == f.prompt_len)
        and (f.mode is None or (c.mode or "").lower() == f.mode.lower())
    )


def _contains(value, wanted: str | None) -> bool:
    if wanted is None:
        return True
    return value is not None and wanted.lower() in str(value).lower()


def _distinct(values) -> list:
    seen = []
    for v in values:
        if v is not None and v not in seen:
            seen.append(v)
    return seen
