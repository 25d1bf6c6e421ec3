"""profkit's front door for notebooks and scripts: `import profkit`.

    import profkit

    trace = profkit.load_trace("traces/samples/h200_llama3-8b_int8_b1.pt.trace.json.gz")
    a = profkit.analyze(trace)                     # or a path
    a.phases["decode"].verdict.sentence            # 'decode is sync-bound: ...'
    a.to_frame()                                   # steps as a DataFrame; a.to_dict(): the JSON document
    profkit.compare(base_path, candidate_path).to_frame()
    profkit.recommend("traces/samples", tpot_slo_ms=60).to_frame()
    profkit.estimate(gpu="a100-40gb-sxm", precision="int8").to_dict()
    profkit.runs("traces/samples", driver="580").to_frame()
    profkit.GPU_CATALOG["a100-40gb-sxm"].bandwidth_gbps

The command line and the dashboard are thin users of these same functions, with the same defaults.
Times are in milliseconds (`_ms`), bandwidths in GB/s (1e9 bytes/s), bytes in bytes. Errors are
`profkit.ProfkitError` (`TraceError` for a file that cannot be read), with a message that says what
was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from profkit.trace.source import DEFAULT_MAX_TRACE_BYTES

if TYPE_CHECKING:
    from profkit.analyses.cache import AnalyzedFile
    from profkit.analyses.compare import CompareReport
    from profkit.analyses.estimate import Estimate
    from profkit.analyses.recommend import Recommendations
    from profkit.analyses.summary import TraceAnalysis
    from profkit.store import Listing
    from profkit.trace import Trace

PathLike = str | Path


def load_trace(path: PathLike, use_cache: bool = True, max_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> Trace:
    """A Kineto trace (.json or .json.gz) read into profkit's columnar model, from the on-disk cache
    when the file is unchanged. A file that unpacks to more than `max_bytes` is refused. What reading
    dropped or repaired (bad values, duplicates) is listed in `trace.warnings`."""
    from profkit.trace import load_trace as _load

    return _load(path, use_cache=use_cache, max_bytes=max_bytes)


def analyze(
    trace: Trace | PathLike,
    gpu: str | None = None,
    bandwidth_gbps: float | None = None,
    ceilings: PathLike | None = None,
    use_cache: bool = True,
    max_bytes: int = DEFAULT_MAX_TRACE_BYTES,
) -> TraceAnalysis:
    """Steps and phases, kernel categories, idle gaps and their causes, bandwidth/MBU/MFU and a
    verdict per phase, of one trace (a path, or a loaded `Trace`).

    The GPU is matched from the trace; `gpu` (a catalog key) replaces it, `bandwidth_gbps` (measured
    DRAM GB/s) or `ceilings` (a run-results JSON with measured ceilings of the same GPU) replace its
    datasheet numbers; `bandwidth_gbps` alone judges a GPU the catalog does not know. A path's
    analysis is cached on disk with its parse (`use_cache=False` reads and analyzes it again).
    """
    if isinstance(trace, (str, Path)):
        return analyzed_file(trace, gpu, bandwidth_gbps, ceilings, use_cache, max_bytes).analysis
    from profkit.analyses.summary import analyze_trace

    return analyze_trace(trace, _judge_against(trace, gpu, bandwidth_gbps, ceilings))


def analyzed_file(
    path: PathLike,
    gpu: str | None = None,
    bandwidth_gbps: float | None = None,
    ceilings: PathLike | None = None,
    use_cache: bool = True,
    max_bytes: int = DEFAULT_MAX_TRACE_BYTES,
) -> AnalyzedFile:
    """`analyze` of a trace file with its workload and reading warnings (`AnalyzedFile`), from the
    analysis cache when it holds this file judged against this GPU. With a GPU option the trace is
    loaded first: the GPU to judge against depends on what it recorded."""
    from profkit.analyses.cache import analyze_file

    if gpu is None and bandwidth_gbps is None and ceilings is None:
        return analyze_file(path, None, use_cache=use_cache, max_bytes=max_bytes)
    trace = load_trace(path, use_cache=use_cache, max_bytes=max_bytes)
    spec = _judge_against(trace, gpu, bandwidth_gbps, ceilings)
    return analyze_file(path, spec, use_cache=use_cache, max_bytes=max_bytes, trace=trace)


def _judge_against(trace: Trace, gpu: str | None, bandwidth_gbps: float | None, ceilings: PathLike | None):
    from profkit.hardware.resolve import gpu_for_trace

    device = trace.device_properties[0] if trace.device_properties else {}
    return gpu_for_trace(device, gpu, bandwidth_gbps, ceilings, where=trace.path)


def compare(
    baseline: PathLike,
    *candidates: PathLike,
    baseline_reps: Iterable[PathLike] = (),
    k_sigma: float | None = None,
    rel_floor: float | None = None,
    strict: bool = False,
) -> CompareReport:
    """Compare a baseline (trace file or run folder) with one or more candidates: set-up differences,
    step times with significance against noise, kernel categories and operations aligned by what they
    compute, and a verdict. `baseline_reps`: repeated runs of the baseline, for run-to-run noise.
    `k_sigma`/`rel_floor`: the significance test (defaults `profkit.analyses.compare.K_SIGMA`,
    `REL_FLOOR`). `strict`: a file in a folder that cannot be read is an error, not a note."""
    from profkit.analyses.compare import compare_paths
    from profkit.analyses.compare.inputs import expand_inputs

    if strict:  # refuse before comparing anything; the comparison itself skips bad files in folders
        expand_inputs([baseline, *candidates, *baseline_reps], strict=True)
    return compare_paths(baseline, candidates, baseline_reps, k_sigma=k_sigma, rel_floor=rel_floor)


def recommend(
    *paths: PathLike,
    target_gpu: str | None = None,
    context_len: int | None = None,
    tpot_slo_ms: float | None = None,
    ttft_slo_ms: float | None = None,
    model: str | None = None,
    strict: bool = False,
) -> Recommendations:
    """Ranked recommendations (precision, batch size, launch overhead) for serving on `target_gpu`
    (default `profkit.analyses.recommend.DEFAULT_TARGET_GPU`, an A100 40GB), from run folders,
    traces, folders of them and run-results JSON files: what to change, why (measured numbers), the
    expected gain (measured or modelled), confidence and how. Evidence of one model on a GPU is used;
    what was set aside (CPU runs, other models) is listed in `.set_aside`."""
    from profkit.analyses.evidence import load_inputs
    from profkit.analyses.recommend import DEFAULT_TARGET_GPU, RecommendConfig, recommendations
    from profkit.hardware.catalog import get_gpu

    target = get_gpu(target_gpu or DEFAULT_TARGET_GPU)
    config = RecommendConfig(**({"context_len": context_len} if context_len is not None else {}), tpot_slo_ms=tpot_slo_ms, ttft_slo_ms=ttft_slo_ms)
    return recommendations(load_inputs(list(paths), model=model, strict=strict), target, config)


def estimate(
    model: str | None = None,
    gpu: str | None = None,
    precision: str | None = None,
    context_len: int | None = None,
    batch_size: int | None = None,
    bandwidth_gbps: float | None = None,
    memory_gb: float | None = None,
    peak_tflops: float | None = None,
    measured: Iterable[PathLike] = (),
) -> Estimate:
    """Memory (weights, KV cache, headroom, max batch) and roofline decode/prefill speeds of a model
    (`llama-3-8b`, `tiny` or a Hugging Face config.json; default `DEFAULT_MODEL`) on a GPU (catalog key;
    default `DEFAULT_GPU`, an A100 40GB) at a precision, context length and batch size (defaults in
    `profkit.analyses.estimate`). `bandwidth_gbps`, `memory_gb`, `peak_tflops` replace the GPU's numbers.
    `measured`: run folders, results files or traces whose timed runs of this precision and batch are
    set beside the model, marked measured."""
    from profkit.analyses import estimate as est
    from profkit.hardware.resolve import gpu_with_numbers
    from profkit.models import model_shape

    shape = model_shape(model or est.DEFAULT_MODEL)
    spec = gpu_with_numbers(gpu or est.DEFAULT_GPU, bandwidth_gbps, memory_gb, peak_tflops)
    result = est.estimate(
        shape,
        spec,
        precision=precision or est.DEFAULT_PRECISION,
        context_len=est.DEFAULT_CONTEXT_LEN if context_len is None else context_len,
        batch_size=est.DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
    )
    measured = list(measured)
    if measured:
        from profkit.analyses.evidence import load_inputs

        inputs = load_inputs(measured)
        result = est.with_measured(result, shape, spec, inputs.configs, inputs.model)
    return result


def runs(traces_dir: PathLike = "traces", inspect_traces: bool = True, **criteria) -> Listing:
    """The runs and traces under a folder, with what they ran on (GPU, driver, CUDA/HIP, torch,
    transformers, bitsandbytes, rank) and their un-profiled speeds, newest first. `criteria` narrow
    them: run_id, date, gpu, driver, cuda, torch, transformers, bitsandbytes, model, host (text
    contained, any case), precision, batch_size, prompt_len, mode (exact); see `profkit.store.RunFilter`.
    `inspect_traces=False` lists loose traces from their header only (faster; workload unknown)."""
    from dataclasses import fields

    from profkit.errors import ProfkitError
    from profkit.store import RunFilter, list_runs

    known = {f.name for f in fields(RunFilter)}
    unknown = sorted(set(criteria) - known)
    if unknown:
        raise ProfkitError(f"runs(): unknown filter {', '.join(unknown)}; use any of {', '.join(sorted(known))}")
    listing = list_runs(traces_dir, inspect_traces=inspect_traces)
    return listing.filtered(RunFilter(**criteria)) if criteria else listing
