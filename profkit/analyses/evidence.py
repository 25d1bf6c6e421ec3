"""What `profkit recommend` reasons from: measured configurations and analysed traces
(`RecommendInputs`), built from what the run store read (`profkit.store.collect`).

The run store reads the files -- run folders (manifest.json + traces), run-results JSON files
(`traces/samples/h200_run_results.json`), traces and folders of them -- and says what each holds;
here that becomes `MeasuredConfig` (un-profiled timings) and `TraceEvidence` (an analysed trace),
each knowing its model and whether it ran on a GPU or the CPU, so that `recommend` never mixes them
(`profkit.analyses.recommend.grouping`). What a file is, is read from its content, never its name.
Nothing here recommends anything, and nothing here walks a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from profkit.analyses.summary import TraceAnalysis
from profkit.errors import ProfkitError, option
from profkit.hardware.catalog import GpuSpec, match_gpu
from profkit.models import LLAMA_CONFIGS, LlamaShape

#: Model assumed when neither the user nor the evidence names one.
DEFAULT_MODEL = "llama-3-8b"
#: bitsandbytes' `int8_vectorwise_quant` finds outlier columns (|x| >= threshold) with these ops, each of
#: `.any()` / `argwhere` ending in a device-to-host copy and a sync; with threshold 0 they do not run.
INT8_OUTLIER_CHECK_OPS = frozenset({"aten::abs", "aten::ge", "aten::any", "aten::is_nonzero", "aten::argwhere", "aten::nonzero"})
INT8_QUANT_OP = "bitsandbytes::int8_vectorwise_quant"
#: Where a piece of evidence ran.
GPU, CPU = "gpu", "cpu"


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
    model: str | None = None  # the model measured, where the run says (a results file may not)
    device: str = GPU  # GPU or CPU

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
    model: str | None = None  # the model the trace ran (its manifest's name, or recognised from its shapes)
    device: str = GPU  # GPU, or CPU when the trace has no GPU activity

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
    set_aside: list[str] = field(default_factory=list)  # evidence left out (another model, the CPU) and why
    shapes: dict[str, LlamaShape] = field(default_factory=dict)  # model name -> shape its run manifest records
    model_given: bool = False  # the user named the model (--model)


# ---- from the run store ---------------------------------------------------------------------------
def load_inputs(paths, model: str | None = None, use_cache: bool = True, strict: bool = False) -> RecommendInputs:
    """Everything `recommend` reasons from in `paths` (run folders, folders, traces, results files),
    read through the run store, analysed, and narrowed to one model on the GPU
    (`profkit.analyses.recommend.grouping.select_evidence`).

    ``model``: a `profkit.models.model_shape` name or config.json; None = the evidence's own.
    ``strict``: a file inside a folder that cannot be read is an error instead of a note.
    Raises ProfkitError naming the path when one cannot be used.
    """
    from profkit.analyses.recommend.grouping import select_evidence
    from profkit.store import collect

    return select_evidence(inputs_from(collect(paths, strict=strict), use_cache, strict), model)


def inputs_from(collection, use_cache: bool = True, strict: bool = False) -> RecommendInputs:
    """`RecommendInputs` of everything in a `profkit.store.Collection` (all models and devices: see
    `select_evidence`). Each trace is analysed (`analyze_file`: from the analysis cache when it holds
    the file; the trace itself is loaded only for bitsandbytes' outlier-check cost); a trace found in a
    folder that cannot be parsed is skipped with a note (an error if `strict` or if it was named)."""
    from profkit.analyses.cache import analyze_file
    from profkit.store import known_manifest
    from profkit.store.join import unreadable_reason
    from profkit.trace import load_trace

    inputs = RecommendInputs(model=LLAMA_CONFIGS[DEFAULT_MODEL], sources=list(collection.sources), notes=list(collection.notes))
    for run in collection.runs:
        gpu = match_gpu(run.gpu_name, run.gpu_memory_bytes) if run.gpu_name else None
        if run.gpu_name and gpu is None:
            inputs.notes.append(f"{run.path}: GPU {run.gpu_name!r} is not in the catalog; its measurements cannot be scaled to another GPU")
        if run.ceilings and run.gpu_name:
            inputs.ceilings[run.gpu_name] = dict(run.ceilings)
        if run.model and run.model_shape and run.model not in inputs.shapes:
            inputs.shapes[run.model] = _shape(run.model_shape, run.path)
        device = CPU if run.device == CPU or (run.kind == "run" and not run.gpu_name) else GPU
        if run.kind in ("run", "results"):
            for c in run.configs:
                measured = _measured(run, c, gpu, device)
                if measured is not None:
                    inputs.configs.append(measured)
                elif c.status != "unrecorded":
                    inputs.notes.append(f"{run.path}: configuration {c.name!r} lacks precision or batch size; not used")
        seen: set[str] = set()
        for c in run.configs:
            if c.status != "ok" or not c.trace_path or c.trace_path in seen:
                continue
            seen.add(c.trace_path)
            known = known_manifest(run, c)  # told to a trace that embeds no manifest (in memory only)
            try:
                done = analyze_file(c.trace_path, use_cache=use_cache, known_manifest=known)
            except Exception as exc:  # a bad file in a folder is skipped with a note (re-raised when strict)
                if strict or run.path not in collection.found_in_folders:
                    raise
                inputs.notes.append(f"skipped {unreadable_reason(c.trace_path, exc)}")
                continue

            def loaded(path=c.trace_path, known=known):
                trace = load_trace(path, use_cache=use_cache)
                if trace.manifest is None:
                    trace.metadata["profkit_manifest"] = known
                return trace

            inputs.traces.append(trace_evidence(loaded, done.analysis, c if run.kind == "run" else None, workload=done.workload))
    if not inputs.configs and not inputs.traces:
        raise ProfkitError(f"nothing to recommend from in {', '.join(collection.sources) or 'the paths given'}: no measured configuration and no trace")
    return inputs


def _measured(run, c, gpu: GpuSpec | None, device: str) -> MeasuredConfig | None:
    if not c.precision or not c.batch_size:
        return None
    return MeasuredConfig(
        precision=c.precision,
        batch_size=c.batch_size,
        mode=c.mode or "eager",
        prompt_len=c.prompt_len,
        new_tokens=c.new_tokens,
        status=c.status,
        ttft_ms=c.ttft_ms,
        tpot_median_ms=c.tpot_median_ms,
        tpot_p90_ms=c.tpot_p90_ms,
        decode_tokens_per_s=c.decode_tokens_per_s,
        peak_gpu_mem_bytes=c.peak_gpu_mem_bytes,
        weights_bytes=c.weights_bytes,
        gpu_name=run.gpu_name,
        gpu=gpu,
        source=str(Path(run.path) / "manifest.json") if run.kind == "run" else run.path,
        error=c.error,
        note=c.note,
        model=run.model,
        device=device,
    )


def _shape(shape: dict, source: str) -> LlamaShape:
    try:
        return LlamaShape(**shape)
    except TypeError as exc:
        raise ProfkitError(f"{source}: model.shape is not a Llama shape ({exc}); give {option('model')}") from None


def trace_evidence(trace, analysis: TraceAnalysis, config=None, workload=None) -> TraceEvidence:
    """A `TraceEvidence` for one analysed trace: its workload, model, device, GPU and the bitsandbytes
    outlier-check cost. `trace`: the Trace, or a function returning it (called only when the int8
    outlier-check cost is needed). `config`: the run manifest's `profkit.store.ConfigInfo` when the
    trace came with one. `workload`: `describe_workload(trace, analysis)` when the caller has it."""
    from profkit.analyses.workload import describe_workload

    if workload is None and callable(trace):
        trace = trace()
    w = workload or describe_workload(trace, analysis)
    if config is not None and config.precision and config.batch_size:
        precision, batch, prompt, mode, source = config.precision, config.batch_size, config.prompt_len, config.mode or "eager", "run manifest"
    else:
        precision, batch, prompt, mode, source = w.precision, w.batch_size, w.prompt_len, w.mode or "eager", f"trace ({w.source})"
    decode = [s for s in analysis.steps if s.phase == "decode" and not s.outlier]
    check_ms = int8_outlier_check_ms(trace() if callable(trace) else trace, decode) if precision == "int8" else None
    md = analysis.metadata
    on_gpu = analysis.has_gpu_activity  # a GPU that records no name (vLLM on ROCm) is still a GPU
    gpu = match_gpu(md.gpu_name or "", md.memory_bytes, md.sm_count) if on_gpu and (md.gpu_name or md.sm_count) else None
    return TraceEvidence(
        path=analysis.metadata.path,
        analysis=analysis,
        precision=precision,
        batch_size=batch,
        prompt_len=prompt,
        mode=mode,
        gpu=gpu,
        workload_source=source,
        int8_outlier_check_ms=check_ms,
        model=w.model_hint,
        device=GPU if on_gpu else CPU,
    )


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
