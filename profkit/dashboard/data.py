"""Cached access to the library calls the CLI makes, keyed so that moving between pages is instant.

Parsed traces and their analyses are held with `st.cache_resource` (shared, never copied: pages
only read them), keyed by the file's resolved path, size and modification time, so a rewritten
file is analyzed again. Below that, `load_trace` keeps its own on-disk cache across restarts.
Uploaded traces live in the session (`state.uploads`). Every path goes through `paths.inside`.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from profkit.dashboard import paths, state
from profkit.errors import ProfkitError

#: Seconds the runs listing is reused before the traces directory is scanned again.
RUNS_TTL_S = 30


# ---- traces and analyses ----------------------------------------------------------------------
@st.cache_resource(show_spinner="Reading trace…", max_entries=32)
def _trace(path: str, size: int, mtime_ns: int):
    from profkit.trace import load_trace

    return load_trace(path)


@st.cache_resource(show_spinner="Analyzing trace…", max_entries=32)
def _analysis(path: str, size: int, mtime_ns: int):
    from profkit.analyses.summary import analyze_trace

    return analyze_trace(_trace(path, size, mtime_ns))


def _file_key(root: Path, ref: str) -> tuple[str, int, int]:
    path = paths.inside(root, ref)
    if not path.is_file():
        raise ProfkitError(f"{ref}: no such trace in the traces directory {root}")
    st_ = path.stat()
    return str(path), st_.st_size, st_.st_mtime_ns


def trace(root: Path, ref: str):
    """The parsed `Trace` for a trace ref (file inside `root`, or this session's upload)."""
    if state.is_upload(ref):
        return _upload(ref)[1]
    return _trace(*_file_key(root, ref))


def analysis(root: Path, ref: str):
    """The `TraceAnalysis` for a trace ref, exactly as `profkit analyze` computes it."""
    if state.is_upload(ref):
        return _upload(ref)[2]
    return _analysis(*_file_key(root, ref))


def _upload(ref: str):
    held = state.uploads().get(ref)
    if held is None:
        raise ProfkitError("that uploaded trace is no longer held in this session; upload it again on the Runs page")
    return held


def analysis_markdown(a) -> str:
    """The `profkit analyze --markdown` report of one analysis."""
    from profkit.report.analyze_render import markdown

    return markdown([a])


def analysis_json(a) -> bytes:
    """The `profkit analyze --json` document of one analysis."""
    import orjson

    from profkit.report.analysis_json import document

    return orjson.dumps(document([a]), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


def ref_label(ref: str) -> str:
    """A short name for a trace ref in selectors and headings."""
    if state.is_upload(ref):
        held = state.uploads().get(ref)
        return f"uploaded: {held[0]}" if held else ref
    return ref.removesuffix(".gz").removesuffix(".json").removesuffix(".pt.trace")


def upload(name: str, data: bytes) -> str:
    """Validate and analyze an uploaded trace once per content; returns its ref (raises ProfkitError)."""
    from profkit.dashboard import uploads

    ref = state.UPLOAD_PREFIX + uploads.digest(data)
    if ref not in state.uploads():
        trace_, analysis_ = uploads.analyze_upload(name, data)
        state.add_upload(ref, name, trace_, analysis_)
    return ref


# ---- listing -------------------------------------------------------------------------------
def trace_refs(root: Path) -> list[str]:
    """Every trace of every run under `root`, as root-relative refs, in the runs table's order (newest first)."""
    refs = []
    for ref in runs_table(root)["trace"]:
        if ref and ref not in refs:
            refs.append(ref)
    return refs


# ---- what a trace ran, and its run's files ------------------------------------------------------
def workload(root: Path, ref: str):
    """`describe_workload(trace, analysis)`: the precision, batch, prompt length and mode the trace ran."""
    from profkit.analyses.workload import describe_workload

    if state.is_upload(ref):
        return describe_workload(trace(root, ref), analysis(root, ref))
    return _workload(*_file_key(root, ref))


@st.cache_resource(show_spinner=False, max_entries=64)
def _workload(path: str, size: int, mtime_ns: int):
    from profkit.analyses.workload import describe_workload

    return describe_workload(_trace(path, size, mtime_ns), _analysis(path, size, mtime_ns))


def run_extras(root: Path, ref: str, gpu_name: str | None):
    """Versions, un-profiled timings and NVML samples of the run `ref` belongs to (`runfiles.RunExtras`; empty for uploads)."""
    from profkit.dashboard import runfiles

    if state.is_upload(ref):
        return runfiles.RunExtras()
    path, _, _ = _file_key(root, ref)
    return _run_extras(str(root), path, gpu_name)


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False)
def _run_extras(root: str, path: str, gpu_name: str | None):
    from profkit.dashboard import runfiles

    return runfiles.extras_for(Path(root), Path(path), gpu_name)


# ---- the runs listing -------------------------------------------------------------------------
#: Columns of the runs table, in order (the trace ref last; the page hides it).
RUN_COLUMNS = ("run", "GPU", "precision", "batch", "mode", "decode tok/s", "TPOT ms", "TTFT ms", "driver", "CUDA runtime", "torch",
               "transformers", "bitsandbytes", "prompt", "model", "status", "kind", "created", "timings from", "trace")


@st.cache_data(ttl=RUNS_TTL_S, show_spinner="Listing runs…")
def runs_table(root: Path):
    """One row per configuration of every run and loose trace (`discover_runs`), as a DataFrame.

    Loose traces beside a results file of the same GPU (the bundled samples) take its versions and
    the un-profiled timing of the same precision, batch and mode from it. Traces that resolve outside
    `root` (symlinks) are left out; `table.attrs["outside"]` counts them, `table.attrs["warnings"]`
    holds what `discover_runs` could not read.
    """
    import pandas as pd

    from profkit.analyses.runs import discover_runs, links_leaving

    rows, outside, warnings = [], len(links_leaving(root)), []
    for run in discover_runs(root):
        warnings += run.warnings
        for c in run.configs:
            ref = _ref_inside(root, c.trace_path)
            if c.trace_path and ref is None:
                outside += 1  # e.g. a symlink to a file elsewhere: never opened
                continue
            versions, timing, timing_source = {}, {}, "manifest" if run.kind == "run" else ""
            if run.kind == "trace" and ref is not None:
                extras = _run_extras(str(root), str(paths.inside(root, ref)), run.gpu_name)
                versions = extras.versions
                timing = extras.measured(c.precision, c.batch_size, c.mode) or {}
                timing_source = extras.source if timing else ""
            version = lambda name: getattr(run, name) or versions.get(name)  # noqa: E731
            rows.append({
                "run": run.run_id, "kind": run.kind, "created": run.created, "GPU": run.gpu_name,
                "driver": version("driver_version"), "CUDA runtime": version("cuda_runtime"), "torch": version("torch"),
                "transformers": version("transformers"), "bitsandbytes": version("bitsandbytes"), "model": run.model,
                "precision": c.precision, "batch": c.batch_size, "prompt": c.prompt_len, "mode": c.mode, "status": c.status,
                "decode tok/s": c.decode_tokens_per_s if c.decode_tokens_per_s is not None else timing.get("decode_tokens_per_s"),
                "TPOT ms": c.tpot_median_ms if c.tpot_median_ms is not None else timing.get("tpot_median_ms"),
                "TTFT ms": c.ttft_ms if c.ttft_ms is not None else timing.get("ttft_ms"),
                "timings from": timing_source, "trace": ref,
            })
    table = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    table.attrs["outside"] = outside
    table.attrs["warnings"] = warnings
    return table


def _ref_inside(root: Path, trace_path: str | None) -> str | None:
    if not trace_path:
        return None
    try:
        ref = paths.relative(root, Path(trace_path))
        paths.inside(root, ref)
    except (ProfkitError, ValueError):
        return None
    return ref


# ---- comparisons ------------------------------------------------------------------------------
def comparison(root: Path, baseline: str, candidate: str, baseline_repeats: tuple[str, ...] = ()):
    """`compare_traces` (as `profkit compare` runs it) on two trace refs; repeats of the baseline pool into its noise."""
    from profkit.analyses.compare import compare_traces

    refs = (baseline, *baseline_repeats, candidate)
    if any(state.is_upload(r) for r in refs):
        side = lambda rs: [(trace(root, r), analysis(root, r)) for r in rs]  # noqa: E731
        return compare_traces(side((baseline, *baseline_repeats)), side((candidate,)))
    keys = tuple(_file_key(root, r) for r in refs)
    return _comparison(keys[:-1], keys[-1])


@st.cache_resource(show_spinner="Comparing…", max_entries=16)
def _comparison(baseline_keys: tuple, candidate_key: tuple):
    from profkit.analyses.compare import compare_traces

    side = lambda keys: [(_trace(*k), _analysis(*k)) for k in keys]  # noqa: E731
    return compare_traces(side(baseline_keys), side((candidate_key,)))


# ---- recommendations and what-if ----------------------------------------------------------------
def recommend_inputs(root: Path, upload_refs: tuple[str, ...] = ()):
    """`load_inputs([root])` as `profkit recommend TRACES_DIR` reads it, plus this session's chosen uploads."""
    from dataclasses import replace

    from profkit.analyses.evidence import trace_evidence

    inputs = _recommend_inputs(str(root), _dir_signature(root))
    if upload_refs:
        extra = [trace_evidence(trace(root, r), analysis(root, r)) for r in upload_refs]
        inputs = replace(inputs, traces=[*inputs.traces, *extra], sources=[*inputs.sources, *(ref_label(r) for r in upload_refs)])
    return inputs


def _dir_signature(root: Path) -> tuple:
    """What changes when a run is added or rewritten: the top-level entries' names and mtimes."""
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in Path(root).iterdir()))
    except OSError:
        return ()


@st.cache_resource(show_spinner="Reading the runs' evidence…", max_entries=4)
def _recommend_inputs(root: str, signature: tuple):
    from profkit.analyses.evidence import load_inputs

    return load_inputs([root])


def recommendations(inputs, gpu_key: str, config):
    """`recommend(inputs, get_gpu(gpu_key), config)` as `profkit recommend` runs it, ranked best first."""
    from profkit.analyses.recommend import recommend
    from profkit.hardware.catalog import get_gpu

    return recommend(inputs, get_gpu(gpu_key), config)


def recommendations_markdown(recs, inputs, gpu_key: str, config) -> str:
    """The `profkit recommend --markdown` report of these recommendations."""
    from profkit.hardware.catalog import get_gpu
    from profkit.report.recommend_render import render_markdown, report_header

    return render_markdown(recs, report_header(inputs, get_gpu(gpu_key), config, context_given=True))


def measured_configs(inputs, precision: str, batch_size: int) -> list:
    """The evidence's timed configurations (`MeasuredConfig`) of one precision and batch size, any GPU or mode."""
    return [c for c in inputs.configs if c.ok and c.precision == precision and c.batch_size == batch_size and c.decode_tokens_per_s]


@st.cache_data(show_spinner=False, max_entries=256)
def what_if(model: str, gpu_key: str, precision: str, context_len: int, batch_size: int):
    """`profkit estimate --model M --gpu G --precision P --context-len C --batch-size B`, as data."""
    from profkit.analyses.estimate import estimate
    from profkit.hardware.catalog import get_gpu
    from profkit.models import LLAMA_CONFIGS

    if model not in LLAMA_CONFIGS:  # names only: the CLI also takes a config.json path, the UI never does
        raise ProfkitError(f"unknown model {model!r}; pick one of {', '.join(LLAMA_CONFIGS)}")
    return estimate(LLAMA_CONFIGS[model], get_gpu(gpu_key), precision=precision, context_len=context_len, batch_size=batch_size)
