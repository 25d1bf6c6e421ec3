"""What `profkit recommend` reasons from, loaded from paths: measured configurations and analysed traces.

A path may be
  - a run directory made by `profkit run` (``manifest.json`` + traces): every configuration's
    un-profiled timing, and the analysis of every trace it recorded;
  - a run-results JSON in the format of profkit's reference runs (``traces/samples/h200_run_results.json``:
    ``env``, ``ceilings``, ``runs`` with precision/batch/ttft_s/tpot_median_s/tpot_p90_s/decode_tok_per_s/peak_mem,
    ``loads`` with weights_bytes, and optionally ``scenarios`` such as the static-cache compiled run);
  - a trace file (``.json`` / ``.json.gz``), or a folder of traces.

What a file is, is read from its content, never from its name. Nothing here recommends anything:
`profkit.analyses.recommend` does, from the `RecommendInputs` built here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from profkit.analyses.summary import TraceAnalysis, analyze_trace
from profkit.errors import ProfkitError
from profkit.hardware.catalog import GpuSpec, match_gpu
from profkit.models import LLAMA_CONFIGS, LlamaShape

#: Files a folder is searched for (then told apart by content).
JSON_SUFFIXES = (".json", ".json.gz")
from profkit.layout import MANIFEST_FILE
#: Mode of a run-results file's ``runs`` entries when they do not say: the reference runs are eager HF generate.
RESULTS_DEFAULT_MODE = "eager"
#: Model assumed when neither the user nor a manifest names one.
DEFAULT_MODEL = "llama-3-8b"
#: bitsandbytes' `int8_vectorwise_quant` finds outlier columns (|x| >= threshold) with these ops, each of
#: `.any()` / `argwhere` ending in a device-to-host copy and a sync; with threshold 0 they do not run.
INT8_OUTLIER_CHECK_OPS = frozenset({"aten::abs", "aten::ge", "aten::any", "aten::is_nonzero", "aten::argwhere", "aten::nonzero"})
INT8_QUANT_OP = "bitsandbytes::int8_vectorwise_quant"


@dataclass(frozen=True)
class MeasuredConfig:
    """Un-profiled timing of one configuration of a sweep (times in ms, memory in bytes)."""

    precision: str
    batch_size: int
    mode: str  # "eager" or "compiled"
    prompt_len: int | None
    new_tokens: int | None
    status: str  # "ok", "failed" or "oom"
    ttft_ms: float | None = None
    tpot_median_ms: float | None = None
    tpot_p90_ms: float | None = None
    decode_tokens_per_s: float | None = None  # aggregate over the batch
    peak_gpu_mem_bytes: int | None = None
    weights_bytes: int | None = None
    gpu_name: str | None = None
    gpu: GpuSpec | None = None  # catalog entry of gpu_name (datasheet numbers)
    source: str = ""  # the file the numbers come from
    error: str | None = None
    note: str = ""  # e.g. how an approximate figure was derived

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.tpot_median_ms is not None and self.tpot_median_ms > 0

    @property
    def context_len(self) -> int | None:
        """Tokens in the KV cache at the last decode step (prompt + generated)."""
        return self.prompt_len + self.new_tokens if self.prompt_len and self.new_tokens else None

    @property
    def label(self) -> str:
        return f"{self.precision} b{self.batch_size} {self.mode}"


@dataclass
class TraceEvidence:
    """One analysed trace and the workload it records (derived from its content)."""

    path: str
    analysis: TraceAnalysis
    precision: str | None  # "bf16", "fp16", "int8" (bitsandbytes), "nf4"; None when the trace does not tell
    batch_size: int | None
    prompt_len: int | None
    mode: str  # "eager" or "compiled"
    gpu: GpuSpec | None
    workload_source: str  # "run manifest" or "trace (manifest|trace|manifest+trace)" as describe_workload found it
    int8_outlier_check_ms: float | None = None  # host ms per decode step in bitsandbytes' outlier checks

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def gpu_name(self) -> str | None:
        return self.analysis.metadata.gpu_name


@dataclass
class RecommendInputs:
    """Everything `recommend` reasons from. Build with `load_inputs`, or by hand in tests."""

    model: LlamaShape
    configs: list[MeasuredConfig] = field(default_factory=list)
    traces: list[TraceEvidence] = field(default_factory=list)
    ceilings: dict[str, dict] = field(default_factory=dict)  # gpu name -> measured ceilings (GB/s, TFLOP/s)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---- entry point ------------------------------------------------------------------------------
def load_inputs(paths, model: str | None = None, use_cache: bool = True) -> RecommendInputs:
    """Read run directories, run-results JSON files and traces into `RecommendInputs`.

    ``model``: a `profkit.models.model_shape` name or config.json; None = the run manifest's shape,
    else `DEFAULT_MODEL`. Raises ProfkitError naming the path when one cannot be used.
    """
    from profkit.models import model_shape

    paths = [Path(p) for p in paths]
    if not paths:
        raise ProfkitError("give at least one run directory, trace file or run-results JSON to recommend from")
    inputs = RecommendInputs(model=model_shape(model) if model else LLAMA_CONFIGS[DEFAULT_MODEL])
    manifest_shape: LlamaShape | None = None
    seen: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise ProfkitError(f"{path}: no such file or directory; give a run directory, a trace or a run-results JSON")
        if path.is_dir() and (path / MANIFEST_FILE).is_file():
            manifest_shape = _load_run_dir(path, inputs, seen, use_cache) or manifest_shape
        elif path.is_dir():
            manifest_shape = _load_folder(path, inputs, seen, use_cache) or manifest_shape
        else:
            _load_file(path, inputs, seen, use_cache)
    if model is None and manifest_shape is not None:
        inputs.model = manifest_shape
    if not inputs.configs and not inputs.traces:
        raise ProfkitError(f"nothing to recommend from in {', '.join(map(str, paths))}: no measured configuration and no trace")
    return inputs


# ---- run directories --------------------------------------------------------------------------
def _load_run_dir(run_dir: Path, inputs: RecommendInputs, seen: set, use_cache: bool) -> LlamaShape | None:
    manifest_path = run_dir / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfkitError(f"{manifest_path}: cannot read the run manifest ({exc}); is this a `profkit run` folder?") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("configs"), list):
        raise ProfkitError(f"{manifest_path}: no 'configs' list; is this a `profkit run` manifest?")
    env = manifest.get("environment") or {}
    gpu_name = env.get("gpu_name")
    gpu = match_gpu(gpu_name, env.get("gpu_total_mem_bytes")) if gpu_name else None
    inputs.sources.append(str(run_dir))
    if gpu_name and gpu is None:
        inputs.notes.append(f"{run_dir}: GPU {gpu_name!r} is not in the catalog; its measurements cannot be scaled to another GPU")
    if env.get("device") == "cpu" or not gpu_name:
        inputs.notes.append(f"{run_dir}: measured on the CPU (no GPU): its timings say nothing about a GPU deployment")
    for entry in manifest["configs"]:
        inputs.configs.append(_config_from_manifest(entry, gpu_name, gpu, str(manifest_path)))
        trace_file = entry.get("trace_file")
        if entry.get("status") == "ok" and trace_file:
            path = run_dir / trace_file
            if path.is_file():
                _add_trace(path, inputs, seen, use_cache, manifest_entry=entry)
            else:
                inputs.notes.append(f"{run_dir}: trace {trace_file} of {entry.get('name')} is missing; using its timing only")
    return _shape_from_manifest(manifest, manifest_path)


def _config_from_manifest(entry: dict, gpu_name, gpu, source: str) -> MeasuredConfig:
    timing = entry.get("timing") or {}
    try:
        return MeasuredConfig(
            precision=str(entry["precision"]),
            batch_size=int(entry["batch_size"]),
            mode=str(entry.get("mode") or "eager"),
            prompt_len=_int_or_none(entry.get("prompt_len")),
            new_tokens=_int_or_none(entry.get("new_tokens")),
            status=str(entry.get("status") or "ok"),
            ttft_ms=_float_or_none(timing.get("ttft_ms")),
            tpot_median_ms=_float_or_none(timing.get("tpot_median_ms")),
            tpot_p90_ms=_float_or_none(timing.get("tpot_p90_ms")),
            decode_tokens_per_s=_float_or_none(timing.get("decode_tokens_per_s")),
            peak_gpu_mem_bytes=_int_or_none(timing.get("peak_gpu_mem_bytes")),
            weights_bytes=_int_or_none(entry.get("weights_bytes")),
            gpu_name=gpu_name,
            gpu=gpu,
            source=source,
            error=entry.get("error"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfkitError(f"{source}: configuration {entry.get('name', '?')!r} lacks {exc}; is the manifest complete?") from None


def _shape_from_manifest(manifest: dict, source: Path) -> LlamaShape | None:
    shape = (manifest.get("model") or {}).get("shape")
    if not isinstance(shape, dict):
        return None
    try:
        return LlamaShape(**shape)
    except TypeError as exc:
        raise ProfkitError(f"{source}: model.shape is not a Llama shape ({exc}); give --model") from None


def _is_run_manifest(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "run_id" in doc and isinstance(doc.get("configs"), list)


# ---- run-results JSON ---------------------------------------------------------------------------
def _load_file(path: Path, inputs: RecommendInputs, seen: set, use_cache: bool, strict: bool = True) -> None:
    """A trace or a run-results file, told apart by content. `strict=False` (inside a folder): other
    JSON is skipped with a note instead of an error."""
    if path.resolve() in seen:
        return
    try:
        document = _read_small_json(path)
    except ProfkitError:
        if strict:
            raise
        inputs.notes.append(f"{path}: skipped (not a JSON object)")
        return
    if document is None or "traceEvents" in document:
        _add_trace(path, inputs, seen, use_cache)
    elif isinstance(document.get("runs"), list) or isinstance(document.get("scenarios"), list):
        seen.add(path.resolve())
        _load_results(path, document, inputs)
    elif not strict:
        inputs.notes.append(f"{path}: skipped (neither a trace nor a run-results file)")
    else:
        raise ProfkitError(
            f"{path}: neither a trace (no 'traceEvents') nor a run-results file (no 'runs' or 'scenarios'); "
            "give a run directory, a trace or a run-results JSON"
        )


def _read_small_json(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is a gzipped file (traces are; load_trace reads those)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProfkitError(f"{path}: invalid JSON ({exc}); give a run directory, a trace or a run-results JSON") from None
    if not isinstance(document, dict):
        raise ProfkitError(f"{path}: top-level JSON is not an object; give a run directory, a trace or a run-results JSON")
    return document


def _load_results(path: Path, doc: dict, inputs: RecommendInputs) -> None:
    env = doc.get("env") or {}
    gpu_name = env.get("gpu")
    gpu = match_gpu(gpu_name, env.get("total_mem")) if gpu_name else None
    if gpu_name and gpu is None:
        inputs.notes.append(f"{path}: GPU {gpu_name!r} is not in the catalog; its measurements cannot be scaled to another GPU")
    weights = {ld.get("precision"): ld.get("weights_bytes") for ld in doc.get("loads") or [] if isinstance(ld, dict)}
    inputs.sources.append(str(path))
    if gpu_name and isinstance(doc.get("ceilings"), dict):
        inputs.ceilings[gpu_name] = dict(doc["ceilings"])
    for i, run in enumerate(doc.get("runs") or []):
        inputs.configs.append(_config_from_run(run, i, weights, gpu_name, gpu, str(path)))
    for i, scenario in enumerate(doc.get("scenarios") or []):
        config = _config_from_scenario(scenario, i, weights, gpu_name, gpu, str(path))
        if config is not None:
            inputs.configs.append(config)


def _config_from_run(run: dict, i: int, weights: dict, gpu_name, gpu, source: str) -> MeasuredConfig:
    try:
        precision = str(run["precision"])
        return MeasuredConfig(
            precision=precision,
            batch_size=int(run["batch"]),
            mode=str(run.get("mode") or RESULTS_DEFAULT_MODE),
            prompt_len=_int_or_none(run.get("prompt")),
            new_tokens=_int_or_none(run.get("new_tokens")),
            status=str(run.get("status") or "ok"),
            ttft_ms=_ms(run.get("ttft_s")),
            tpot_median_ms=_ms(run.get("tpot_median_s")),
            tpot_p90_ms=_ms(run.get("tpot_p90_s")),
            decode_tokens_per_s=_float_or_none(run.get("decode_tok_per_s")),
            peak_gpu_mem_bytes=_int_or_none(run.get("peak_mem")),
            weights_bytes=_int_or_none(weights.get(precision)),
            gpu_name=gpu_name,
            gpu=gpu,
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfkitError(f"{source}: runs[{i}] lacks {exc} (needs precision, batch and timings)") from None


def _config_from_scenario(sc: dict, i: int, weights: dict, gpu_name, gpu, source: str) -> MeasuredConfig | None:
    """A `scenarios` entry (e.g. static cache + torch.compile) with an approximate decode rate."""
    rate = _float_or_none(sc.get("decode_tok_per_s") or sc.get("decode_tok_per_s_approx"))
    if not rate or "precision" not in sc or "batch" not in sc:
        return None
    batch = int(sc["batch"])
    label = str(sc.get("scenario") or f"scenarios[{i}]")
    # The scenario's own label says how it ran ("static_cache_compiled"); it is a field of the record.
    mode = str(sc.get("mode") or ("compiled" if "compiled" in label else RESULTS_DEFAULT_MODE))
    approx = "decode_tok_per_s" not in sc
    return MeasuredConfig(
        precision=str(sc["precision"]),
        batch_size=batch,
        mode=mode,
        prompt_len=_int_or_none(sc.get("prompt")),
        new_tokens=_int_or_none(sc.get("new_tokens")),
        status="ok",
        tpot_median_ms=1e3 * batch / rate,
        decode_tokens_per_s=rate * batch if approx else rate,
        weights_bytes=_int_or_none(weights.get(sc["precision"])),
        gpu_name=gpu_name,
        gpu=gpu,
        source=source,
        note=f"{label}: time per token approximated as generate time / tokens (prefill included)" if approx else label,
    )


# ---- traces -------------------------------------------------------------------------------------
def _load_folder(folder: Path, inputs: RecommendInputs, seen: set, use_cache: bool) -> LlamaShape | None:
    """A folder of run directories, traces and run-results files (recursively); other JSON is skipped with a note."""
    run_dirs = sorted(m.parent for m in folder.rglob(MANIFEST_FILE) if ".profkit-cache" not in m.parts and _is_run_manifest(m))
    before = len(inputs.sources)
    shape = None
    for run_dir in run_dirs:
        shape = _load_run_dir(run_dir, inputs, seen, use_cache) or shape
    files = sorted(q for q in folder.rglob("*") if q.is_file() and q.name.endswith(JSON_SUFFIXES)
                   and ".profkit-cache" not in q.parts and not any(d in q.parents for d in run_dirs))
    for f in files:
        _load_file(f, inputs, seen, use_cache, strict=False)
    if len(inputs.sources) == before:
        raise ProfkitError(f"{folder}: no run directory ({MANIFEST_FILE}), trace or run-results JSON inside; give one of those")
    return shape


def _add_trace(path: Path, inputs: RecommendInputs, seen: set, use_cache: bool, manifest_entry: dict | None = None) -> None:
    from profkit.trace import load_trace

    key = path.resolve()
    if key in seen:
        return
    seen.add(key)
    trace = load_trace(path, use_cache=use_cache)
    analysis = analyze_trace(trace)
    inputs.traces.append(trace_evidence(trace, analysis, manifest_entry))
    inputs.sources.append(str(path))


def trace_evidence(trace, analysis: TraceAnalysis, manifest_entry: dict | None = None) -> TraceEvidence:
    """A `TraceEvidence` for one analysed trace: its workload, GPU and the bitsandbytes outlier-check cost."""
    precision, batch, prompt, mode, source = _workload(trace, analysis, manifest_entry)
    decode = [s for s in analysis.steps if s.phase == "decode" and not s.outlier]
    check_ms = int8_outlier_check_ms(trace, decode) if precision == "int8" else None
    gpu = match_gpu(analysis.metadata.gpu_name or "", analysis.metadata.memory_bytes) if analysis.metadata.gpu_name else None
    return TraceEvidence(
        path=str(trace.path),
        analysis=analysis,
        precision=precision,
        batch_size=batch,
        prompt_len=prompt,
        mode=mode,
        gpu=gpu,
        workload_source=source,
        int8_outlier_check_ms=check_ms,
    )


def _workload(trace, analysis: TraceAnalysis, entry: dict | None):
    """(precision, batch, prompt_len, mode, source): the run manifest's entry when the trace came with
    one, else `describe_workload` (the trace's embedded manifest, then its content; never its name)."""
    from profkit.analyses.workload import describe_workload

    if isinstance(entry, dict) and entry.get("precision") and entry.get("batch_size"):
        return (str(entry["precision"]), int(entry["batch_size"]), _int_or_none(entry.get("prompt_len")),
                str(entry.get("mode") or "eager"), "run manifest")
    w = describe_workload(trace, analysis)
    return w.precision, w.batch_size, w.prompt_len, w.mode or "eager", f"trace ({w.source})"


def int8_outlier_check_ms(trace, steps) -> float | None:
    """Host ms per step spent in bitsandbytes' outlier checks: the `INT8_OUTLIER_CHECK_OPS` called
    directly by `int8_vectorwise_quant`. None when the trace has no such op."""
    quant = trace.string_id(INT8_QUANT_OP)
    if quant < 0 or not steps:
        return None
    ops = trace.ops
    check_ids = [i for i in (trace.string_id(n) for n in INT8_OUTLIER_CHECK_OPS) if i >= 0]
    parent = trace.op_parent_row
    is_check = np.isin(ops.name_id, check_ids) & (parent >= 0)
    is_check[is_check] = ops.name_id[parent[is_check]] == quant
    total = 0.0
    for s in steps:
        inside = is_check & (ops.ts_ns >= s.lo_ns) & (ops.ts_ns < s.hi_ns)
        total += float(ops.dur_ns[inside].sum()) / 1e6
    return total / len(steps)


# ---- small helpers ------------------------------------------------------------------------------
def _ms(seconds) -> float | None:
    return None if seconds is None else float(seconds) * 1e3


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)
