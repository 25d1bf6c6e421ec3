"""Run-results files: the format of profkit's reference runs (`traces/samples/h200_run_results.json`).

    env        {gpu, driver, cuda_runtime, cuda_driver, torch, transformers, bitsandbytes, total_mem, sm_count, cc, ...}
    ceilings   measured copy bandwidth and matmul throughput of that GPU
    runs       the un-profiled sweep: precision, batch, prompt, new_tokens, ttft_s, tpot_median_s,
               tpot_p90_s, decode_tok_per_s, peak_mem, t_start, t_end (mode: eager unless given)
    scenarios  other timed set-ups (e.g. static cache + torch.compile) with decode_tok_per_s[_approx]
    loads      weights_bytes per precision
    nvml_samples_cols, nvml_samples   20 Hz NVML samples over the whole run
    started, finished                 Unix seconds

What a file is, is read from its content (an object with `runs` or `scenarios`), never its name.
`read_results` gives a `RunInfo` of kind "results" (versions, ceilings, one ConfigInfo per timed
configuration) and `results_nvml` the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from profkit.errors import ProfkitError
from profkit.store import schema
from profkit.store.header import iso_time
from profkit.store.layout import MAX_SIDE_FILE_BYTES
from profkit.store.records import RESULTS, ConfigInfo, RunInfo
from profkit.store.walk import display, regular_file
from profkit.trace.metadata import cuda_version_text

#: Mode of a `runs` entry that does not say: the reference runs are eager HF generate.
RESULTS_DEFAULT_MODE = "eager"


@dataclass
class ResultsEnv:
    gpu: str | None = None
    driver: str | None = None
    cuda_runtime: str | None = None
    cuda_driver: int | str | None = None
    torch: str | None = None
    transformers: str | None = None
    bitsandbytes: str | None = None
    torchao: str | None = None
    total_mem: int | None = None
    sm_count: int | None = None
    cc: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ResultsRun:
    """A `runs` or `scenarios` entry (times in seconds)."""

    precision: str | None = None
    batch: int | None = None
    prompt: int | None = None
    new_tokens: int | None = None
    mode: str | None = None
    status: str | None = None
    scenario: str | None = None
    ttft_s: float | None = None
    tpot_median_s: float | None = None
    tpot_p90_s: float | None = None
    decode_tok_per_s: float | None = None
    decode_tok_per_s_approx: float | None = None
    peak_mem: int | None = None
    t_start: float | None = None
    t_end: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ResultsLoad:
    precision: str | None = None
    weights_bytes: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ResultsDocument:
    env: ResultsEnv = field(default_factory=ResultsEnv)
    ceilings: dict = field(default_factory=dict)
    runs: list[ResultsRun] = field(default_factory=list)
    scenarios: list[ResultsRun] = field(default_factory=list)
    loads: list[ResultsLoad] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    nvml_samples_cols: list[str] = field(default_factory=list)
    nvml_samples: list[list] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def is_results_document(document) -> bool:
    """An object with a `runs` or `scenarios` list (and no `traceEvents`)."""
    return (
        isinstance(document, dict) and "traceEvents" not in document and (isinstance(document.get("runs"), list) or isinstance(document.get("scenarios"), list))
    )


def load_json_object(path) -> dict:
    """The JSON object in a (small, uncompressed) side file; ProfkitError naming the file otherwise."""
    path = regular_file(path)
    try:
        size = path.stat().st_size
        if size > MAX_SIDE_FILE_BYTES:
            raise ProfkitError(f"{display(path)}: {size / 2**20:.0f} MiB is too large for a results file")
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfkitError(f"{display(path)}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        raise ProfkitError(f"{display(path)}: gzip-compressed, not a results file")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProfkitError(f"{display(path)}: invalid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ProfkitError(f"{display(path)}: top-level JSON is not an object")
    return document


def read_results(path, document: dict | None = None, name: str | None = None) -> RunInfo:
    """A run-results file as a RunInfo of kind "results" (ProfkitError when it is not one).

    `document`: its content when already read; `name`: how to call it (default: its file name).
    """
    path = Path(path)
    if document is None:
        document = load_json_object(path)
    if not is_results_document(document):
        raise ProfkitError(f"{display(path)}: not a run-results file (no 'runs' or 'scenarios' list)")
    problems: list[str] = []
    doc = schema.load(ResultsDocument, document, display(path.name), problems)
    env = doc.env
    label = name or path.name
    weights = {ld.precision: ld.weights_bytes for ld in doc.loads if ld.precision}
    info = RunInfo(
        run_id=label.removesuffix(".json"),
        kind=RESULTS,
        path=str(path),
        source="results file",
        created=iso_time(doc.started) if doc.started else None,
        device="gpu" if env.gpu else None,
        gpu_name=env.gpu,
        gpu_count=1 if env.gpu else None,
        gpu_memory_bytes=env.total_mem,
        driver_version=env.driver,
        cuda_runtime=env.cuda_runtime,
        cuda_driver=cuda_version_text(env.cuda_driver) if not isinstance(env.cuda_driver, str) else env.cuda_driver,
        torch=env.torch,
        transformers=env.transformers,
        bitsandbytes=env.bitsandbytes,
        torchao=env.torchao,
        ceilings=dict(doc.ceilings),
        warnings=[f"{p}; ignored" for p in problems],
    )
    for i, run in enumerate(doc.runs):
        config = _from_run(run, weights, label)
        if config is None:
            info.warnings.append(f"{display(path.name)}: runs[{i}] lacks precision, batch or timings; ignored")
        else:
            info.configs.append(config)
    for i, sc in enumerate(doc.scenarios):
        config = _from_scenario(sc, i, weights, label)
        if config is not None:
            info.configs.append(config)
    return info


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _from_run(run: ResultsRun, weights: dict, label: str) -> ConfigInfo | None:
    if run.precision is None or run.batch is None or run.tpot_median_s is None:
        return None
    mode = run.mode or RESULTS_DEFAULT_MODE
    window = (run.t_start, run.t_end) if run.t_start is not None and run.t_end is not None else None
    return ConfigInfo(
        name=f"{run.precision}_b{run.batch}_{mode}",
        precision=run.precision,
        batch_size=run.batch,
        prompt_len=run.prompt,
        mode=mode,
        status=run.status or "ok",
        error=None,
        trace_path=None,
        tpot_median_ms=_ms(run.tpot_median_s),
        ttft_ms=_ms(run.ttft_s),
        decode_tokens_per_s=run.decode_tok_per_s,
        tpot_p90_ms=_ms(run.tpot_p90_s),
        new_tokens=run.new_tokens,
        peak_gpu_mem_bytes=run.peak_mem,
        weights_bytes=weights.get(run.precision),
        timings_from=label,
        window_unix_s=window,
    )


def _from_scenario(sc: ResultsRun, i: int, weights: dict, label: str) -> ConfigInfo | None:
    """A `scenarios` entry (e.g. static cache + torch.compile) with an (approximate) decode rate."""
    rate = sc.decode_tok_per_s or sc.decode_tok_per_s_approx
    if not rate or sc.precision is None or sc.batch is None:
        return None
    name = sc.scenario or f"scenarios[{i}]"
    # The scenario's own label says how it ran ("static_cache_compiled"): a field of the record.
    mode = sc.mode or ("compiled" if "compiled" in name else RESULTS_DEFAULT_MODE)
    approx = sc.decode_tok_per_s is None
    return ConfigInfo(
        name=name,
        precision=sc.precision,
        batch_size=sc.batch,
        prompt_len=sc.prompt,
        mode=mode,
        status="ok",
        error=None,
        trace_path=None,
        tpot_median_ms=1e3 * sc.batch / rate,
        decode_tokens_per_s=rate * sc.batch if approx else rate,
        new_tokens=sc.new_tokens,
        weights_bytes=weights.get(sc.precision),
        timings_from=label,
        note=f"{name}: time per token approximated as generate time / tokens (prefill included)" if approx else name,
    )


def results_nvml(path) -> tuple[list[str], list[list], list[tuple[str, float, float]]]:
    """(columns, samples, windows) of a results file's NVML samples: the configurations' (label,
    t_start, t_end) in Unix seconds. Empty when it has none; ProfkitError when unreadable."""
    document = load_json_object(path)
    problems: list[str] = []
    doc = schema.load(ResultsDocument, document, "results", problems)
    windows = [(f"{r.precision} b{r.batch}", r.t_start, r.t_end) for r in doc.runs if r.t_start is not None and r.t_end is not None]
    return doc.nvml_samples_cols, doc.nvml_samples, windows
