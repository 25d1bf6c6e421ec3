"""Cached access to what the CLI computes, keyed so that moving between pages is instant.

Every run, trace and run file comes from the run store (`profkit.store.list_runs`: one walker, one
path policy, the join of loose traces with their results files), so the pages show exactly what
`profkit runs`, `compare` and `recommend` show. A *trace ref* is a trace's root-relative name as the
listing gives it; only refs the listing holds are opened (anything else is refused, and a ref that
points outside the traces directory says so).

Parsed traces and their analyses are held with `st.cache_resource` (shared, never copied: pages
only read them), keyed by the file's path, size and modification time, so a rewritten file is
analyzed again. Below that, both are kept on disk across restarts: analyses (with the workload) by
`profkit.analyses.cache.analyze_file`, exactly as `profkit analyze` stores them, so a page that
shows an analysis after a restart reads it back without loading or analyzing the trace; parsed
traces by `load_trace`. Uploaded traces live in the session (`state.uploads`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from profkit.dashboard import state
from profkit.errors import ProfkitError

#: Seconds the runs listing is reused before the traces directory is scanned again.
RUNS_TTL_S = 30


# ---- the listing ---------------------------------------------------------------------------------
@st.cache_resource(ttl=RUNS_TTL_S, show_spinner="Listing runs…", max_entries=4)
def listing(root: Path):
    """`profkit.store.list_runs(root)`: runs, traces, results files and what was skipped (shared, read only)."""
    from profkit.store import list_runs

    return list_runs(root)


def _index(root: Path) -> dict:
    """Trace ref -> (RunInfo, ConfigInfo) for every trace the listing holds."""
    from profkit.store import display

    return {display(ref): pair for ref, pair in listing(root).traces().items()}


def resolve(root: Path, ref: str) -> Path:
    """The file of a trace ref the listing holds (ProfkitError otherwise, saying why)."""
    from profkit.store.paths import inside

    found = _index(root).get(ref)
    if found is not None:
        return Path(found[1].trace_path)
    inside(root, ref)  # a ref that leads out of the traces directory is refused as such
    raise ProfkitError(f"{ref}: no such trace in the traces directory {root} (a new file? rescan the folder on the Runs page)")


def run_of(root: Path, ref: str):
    """(RunInfo, ConfigInfo) the store knows for a trace ref; None for an upload."""
    if state.is_upload(ref):
        return None
    resolve(root, ref)
    return _index(root)[ref]


# ---- traces and analyses ----------------------------------------------------------------------
@st.cache_resource(show_spinner="Reading trace…", max_entries=32)
def _trace(path: str, size: int, mtime_ns: int):
    from profkit.trace import load_trace

    return load_trace(path)


@st.cache_resource(show_spinner="Analyzing trace…", max_entries=32)
def _analyzed(path: str, size: int, mtime_ns: int, told: str):
    """`analyze_file`: the analysis and workload of the file, from the on-disk cache when it holds them.
    `told`: the manifest the store knows for the trace as JSON (applied only to a trace that embeds none)."""
    import orjson

    from profkit.analyses.cache import analyze_file

    return analyze_file(path, known_manifest=orjson.loads(told))


def _file_key(root: Path, ref: str) -> tuple[str, int, int]:
    path = resolve(root, ref)
    try:
        st_ = path.stat()
    except OSError as exc:
        raise ProfkitError(f"{ref}: cannot read ({exc.strerror or exc})") from None
    return str(path), st_.st_size, st_.st_mtime_ns


def _analysis_key(root: Path, ref: str) -> tuple[str, int, int, str]:
    """The file's key plus what the store knows about it (`known_manifest`, as JSON): the analysis of
    a trace without a manifest shows the store's versions and workload, as `profkit compare` does."""
    import orjson

    from profkit.store import known_manifest

    key = _file_key(root, ref)  # refuses a ref the listing does not hold, saying why
    run, config = _index(root)[ref]
    return (*key, orjson.dumps(known_manifest(run, config), option=orjson.OPT_SORT_KEYS).decode())


def _told(root: Path, ref: str, key: tuple):
    """The cached trace of `key`, told what the store knows about it when it embeds no manifest
    (versions joined from a results file, the run's workload), as `profkit compare` tells it."""
    from profkit.store import known_manifest

    t = _trace(*key)
    if t.manifest is None:
        run, config = _index(root)[ref]
        t.metadata["profkit_manifest"] = known_manifest(run, config)  # in memory only
    return t


def trace(root: Path, ref: str):
    """The parsed `Trace` for a trace ref (file inside `root`, or this session's upload)."""
    if state.is_upload(ref):
        return _upload(ref)[1]
    return _told(root, ref, _file_key(root, ref))


def analysis(root: Path, ref: str):
    """The `TraceAnalysis` for a trace ref, exactly as `profkit analyze` computes it."""
    if state.is_upload(ref):
        return _upload(ref)[2]
    return _analyzed(*_analysis_key(root, ref)).analysis


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
    """Every trace of every run under `root`, as refs, in the runs table's order (newest first)."""
    refs = []
    for ref in runs_table(root)["trace"]:
        if is_ref(ref) and ref not in refs:
            refs.append(ref)
    return refs


def is_ref(value) -> bool:
    """A trace ref in the runs table's "trace" column (rows without a trace hold a missing value there)."""
    return isinstance(value, str) and bool(value)


# ---- what a trace ran, and its run's files ------------------------------------------------------
def workload(root: Path, ref: str):
    """`describe_workload(trace, analysis)`: the precision, batch, prompt length and mode the trace ran."""
    from profkit.analyses.workload import describe_workload

    if state.is_upload(ref):
        return describe_workload(trace(root, ref), analysis(root, ref))
    return _analyzed(*_analysis_key(root, ref)).workload


def run_extras(root: Path, ref: str):
    """Un-profiled timings and NVML samples of the run `ref` belongs to (`profkit.store.extras.RunExtras`; empty for uploads)."""
    from profkit.store.extras import RunExtras

    if state.is_upload(ref):
        return RunExtras()
    resolve(root, ref)
    return _run_extras(root, ref)


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False)
def _run_extras(root: Path, ref: str):
    from profkit.store.extras import run_extras as extras_of

    run, _ = _index(root)[ref]
    results = next(
        (r for r in listing(root).results if run.timings_from and Path(r.path).name == run.timings_from and Path(r.path).parent == Path(run.path).parent), None
    )
    return extras_of(run, results)


# ---- the runs listing -------------------------------------------------------------------------
#: Columns of the runs table, in order (the trace ref last; the page hides it).
RUN_COLUMNS = (
    "run",
    "GPU",
    "precision",
    "batch",
    "mode",
    "decode tok/s",
    "TPOT ms",
    "TTFT ms",
    "driver",
    "CUDA runtime",
    "HIP runtime",
    "torch",
    "transformers",
    "bitsandbytes",
    "prompt",
    "model",
    "rank",
    "status",
    "kind",
    "created",
    "timings from",
    "trace",
)


@st.cache_data(ttl=RUNS_TTL_S, show_spinner="Listing runs…")
def runs_table(root: Path):
    """One row per configuration of every run and loose trace (`profkit.store.list_runs`), as a DataFrame.

    The versions and timings are the store's: a loose trace beside a results file of the same GPU
    (the bundled samples) carries its versions and the un-profiled timing of the same precision,
    batch and mode. `table.attrs["skipped"]` lists what the walker did not read (links out of `root`,
    loops), `table.attrs["warnings"]` what could not be used (one line each).
    """
    import pandas as pd

    from profkit.report.runs_render import problem_lines
    from profkit.store import display

    found = listing(root)
    rows = []
    for run in found.runs:
        configs = run.configs or [None]
        for c in configs:
            rows.append(
                {
                    "run": display(run.run_id),
                    "kind": run.kind,
                    "created": run.created,
                    "GPU": run.gpu_name or ("CPU" if run.device == "cpu" else None),
                    "driver": run.driver_version,
                    "CUDA runtime": run.cuda_runtime,
                    "HIP runtime": run.hip_runtime,
                    "torch": run.torch,
                    "transformers": run.transformers,
                    "bitsandbytes": run.bitsandbytes,
                    "model": run.model,
                    "rank": f"{run.rank} of {run.world_size}" if run.rank is not None and run.world_size and run.world_size > 1 else None,
                    "precision": c.precision if c else None,
                    "batch": c.batch_size if c else None,
                    "prompt": c.prompt_len if c else None,
                    "mode": c.mode if c else None,
                    "status": c.status if c else run.state,
                    "decode tok/s": c.decode_tokens_per_s if c else None,
                    "TPOT ms": c.tpot_median_ms if c else None,
                    "TTFT ms": c.ttft_ms if c else None,
                    "timings from": display(c.timings_from) if c and c.timings_from else "",
                    "trace": display(_rel(found.root, c.trace_path)) if c and c.trace_path else None,
                }
            )
    table = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    table.attrs["skipped"] = [str(s) for s in found.skipped]
    table.attrs["warnings"] = [w for w in problem_lines(found, found.runs) if w not in table.attrs["skipped"]]
    return table


def _rel(root: Path, path: str) -> str:
    from profkit.store import relative_name

    return relative_name(root, path)


def default_pair(root: Path) -> tuple[str, str] | None:
    """A pair worth comparing first: two traces of the same set-up (a repeat: the noise floor), else
    the same workload on different set-ups (a driver, GPU or library change), else the first two."""
    table = runs_table(root)
    table = table[table["trace"].notna() & (table["status"] == "ok")]
    if len(table) < 2:
        return None
    workload = ["model", "precision", "batch", "prompt", "mode"]
    setup = [*workload, "GPU", "driver", "CUDA runtime", "HIP runtime", "torch", "transformers", "bitsandbytes"]
    # only traces whose workload is known pair up: two traces that say nothing of what ran (a training
    # job and a CUPTI counter capture) are not "the same workload"
    known = table[table["precision"].notna() & table["batch"].notna()]
    for keys in (setup, workload):
        for _, group in known.groupby(keys, sort=False, dropna=False):
            if len(group) >= 2 and (keys is setup or group[setup].drop_duplicates().shape[0] > 1):
                refs = list(group["trace"])
                return refs[-1], refs[-2]  # oldest first: the baseline
    refs = list(known["trace"]) if len(known) >= 2 else list(table["trace"])
    return refs[0], refs[1]


# ---- comparisons ------------------------------------------------------------------------------
def comparison(root: Path, baseline: str, candidate: str, baseline_repeats: tuple[str, ...] = ()):
    """`compare_traces` (as `profkit compare` runs it) on two trace refs; repeats of the baseline pool into its noise."""
    from profkit.analyses.compare import compare_traces

    refs = (baseline, *baseline_repeats, candidate)
    if any(state.is_upload(r) for r in refs):
        side = lambda rs: [(trace(root, r), analysis(root, r)) for r in rs]  # noqa: E731
        return compare_traces(side((baseline, *baseline_repeats)), side((candidate,)))
    keys = tuple(_analysis_key(root, r) for r in refs)
    for ref, key in zip(refs, keys):
        _told(root, ref, key[:3])
    return _comparison(keys[:-1], keys[-1])


@st.cache_resource(show_spinner="Comparing…", max_entries=16)
def _comparison(baseline_keys: tuple, candidate_key: tuple):
    from profkit.analyses.compare import compare_traces

    side = lambda keys: [(_trace(*k[:3]), _analyzed(*k).analysis) for k in keys]  # noqa: E731
    return compare_traces(side(baseline_keys), side((candidate_key,)))


# ---- recommendations and what-if ----------------------------------------------------------------
def recommend_inputs(root: Path, upload_refs: tuple[str, ...] = ()):
    """The evidence `profkit recommend TRACES_DIR` reasons from, plus this session's chosen uploads,
    narrowed to one model on the GPU (`select_evidence`: what was set aside says why)."""
    from dataclasses import replace

    from profkit.analyses.evidence import trace_evidence
    from profkit.analyses.recommend.grouping import select_evidence

    inputs = _recommend_inputs(str(root), _dir_signature(root))
    if upload_refs:
        extra = [trace_evidence(trace(root, r), analysis(root, r)) for r in upload_refs]
        inputs = replace(inputs, traces=[*inputs.traces, *extra], sources=[*inputs.sources, *(ref_label(r) for r in upload_refs)])
    return select_evidence(inputs)


def _dir_signature(root: Path) -> tuple:
    """What changes when a run is added or rewritten: every listed file's name, size and mtime."""
    from profkit.store import walk

    out = []
    for f in walk(root).files:
        try:
            st_ = f.path.stat()
        except OSError:
            continue
        out.append((f.rel, st_.st_size, st_.st_mtime_ns))
    return tuple(out)


@st.cache_resource(show_spinner="Reading the runs' evidence…", max_entries=4)
def _recommend_inputs(root: str, signature: tuple):
    from profkit.analyses.evidence import inputs_from
    from profkit.store import collect

    return inputs_from(collect([root]))


def recommendations(inputs, gpu_key: str, config):
    """`Recommendations` for `inputs` on the catalog GPU `gpu_key`, as `profkit recommend` makes them."""
    from profkit.analyses.recommend import recommendations as ranked
    from profkit.hardware.catalog import get_gpu

    return ranked(inputs, get_gpu(gpu_key), config)


def recommendations_markdown(recs) -> str:
    """The `profkit recommend --markdown` report of these `Recommendations`."""
    from profkit.report.recommend_render import render_markdown, report_header

    return render_markdown(recs, report_header(recs, context_given=True))


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
