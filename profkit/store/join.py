"""The join: every run folder, loose trace and results file under a traces folder, with what is
known about each, read through the one walker (`walk`) and its path policy.

- A run folder (`manifest.json`) is described by its manifest: versions, model, and each
  configuration's status, un-profiled timings and trace. A manifest whose sweep has not finished
  (fewer configurations than its settings plan, or none yet) is a *partial* run, listed with its state;
  a trace on disk that the manifest does not list yet is listed as "unrecorded".
- A loose trace is described by its header (GPU, CUDA/HIP versions, rank) and the manifest it embeds;
  where that leaves gaps, by the results file beside it recorded on the same GPU (versions, and the
  timing of the same precision, batch and mode); the workload of a trace with no manifest is read
  from its events (`inspect_traces`).
- A results file is read for the joins and for `recommend` (its sweep, ceilings, NVML samples).

Nothing fails the listing: an unreadable file becomes a row with a warning, or a note.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from profkit.errors import ProfkitError, TraceError
from profkit.store.header import TraceHeader, header_from_metadata, trace_header
from profkit.store.layout import MANIFEST_FILE, is_json_name, is_kineto_name, trace_stem
from profkit.store.manifest import ConfigEntry, Manifest, embedded_manifest, read_manifest
from profkit.store.records import PARTIAL, RESULTS, RUN, TRACE, UNREADABLE, ConfigInfo, RunFilter, RunInfo, filter_runs
from profkit.store.results import is_results_document, load_json_object, read_results
from profkit.store.walk import Found, Skipped, display, regular_file, walk


@dataclass
class Listing:
    """What `list_runs` found under a traces folder."""

    root: Path
    runs: list[RunInfo]
    """Run folders and loose traces, newest first (the ranks of one job together, in rank order)."""
    results: list[RunInfo] = field(default_factory=list)
    """Results files (kind "results"): what loose traces were joined with, and recommend's sweeps."""
    skipped: list[Skipped] = field(default_factory=list)
    """What the walker did not read (symlinks out, loops, unreadable folders), each with its reason."""
    notes: list[str] = field(default_factory=list)
    """Files read but not usable (e.g. a results file that is not valid JSON), one line each."""
    criteria: RunFilter | None = None
    """The filter `runs` were narrowed by (`filtered`); None: every run."""
    total_runs: int | None = None
    """How many runs there were before the filter; None: not filtered."""

    def problems(self) -> list[str]:
        """Every skipped file, note and warning, one line each (what `--strict` refuses)."""
        return [str(s) for s in self.skipped] + self.notes + [w for r in self.runs + self.results for w in r.warnings]

    def filtered(self, criteria: RunFilter) -> Listing:
        """This listing with its runs narrowed by `criteria` (`total_runs` keeps the count before)."""
        return replace(self, runs=filter_runs(self.runs, criteria), criteria=criteria, total_runs=len(self.runs))

    def to_dict(self) -> dict:
        """Plain JSON-ready data: the `profkit runs --json` document (schema `profkit.runs/1`)."""
        return {
            "schema": RUNS_SCHEMA,
            "traces_dir": display(self.root),
            "filter": {k: v for k, v in (asdict(self.criteria) if self.criteria else {}).items() if v is not None},
            "total_runs": len(self.runs) if self.total_runs is None else self.total_runs,
            "runs": [_run_dict(r) for r in self.runs],
            "skipped": [{"path": display(s.path), "reason": s.reason} for s in self.skipped],
            "notes": list(self.notes),
        }

    def to_frame(self):
        """One row per configuration (a loose trace is one), with its run's set-up beside it: run id,
        GPU, driver, CUDA/HIP, torch, transformers, bitsandbytes; precision, batch, mode, status and
        un-profiled speeds."""
        from profkit.frames import records_frame

        run_keys = (
            "run_id",
            "kind",
            "state",
            "created",
            "model",
            "gpu_name",
            "rank",
            "driver_version",
            "cuda_runtime",
            "hip_runtime",
            "torch",
            "transformers",
            "bitsandbytes",
        )
        rows = []
        for run in self.runs:
            head = {k: getattr(run, k, None) for k in run_keys}
            configs: list[ConfigInfo | None] = list(run.configs) or [None]  # a run with none still gets its row
            for c in configs:
                rows.append({**head, **(asdict(c) if c is not None else {})})
        return records_frame(rows)

    def traces(self) -> dict[str, tuple[RunInfo, ConfigInfo]]:
        """Root-relative trace name -> (run, configuration), for every configuration with a trace."""
        out = {}
        for run in self.runs:
            for c in run.configs:
                if c.trace_path:
                    out[relative_name(self.root, c.trace_path)] = (run, c)
        return out


# ---- a traces folder -------------------------------------------------------------------------------
def list_runs(traces_dir, inspect_traces: bool = True) -> Listing:
    """The runs and traces under `traces_dir` (a folder), with what is known about each.

    `inspect_traces`: read the events of loose traces without an embedded manifest to tell their
    precision, batch size, prompt length and mode (parsed once, then cached); False lists them from
    their header only. Raises ProfkitError only when `traces_dir` is not a folder.
    """
    root = Path(traces_dir)
    found = walk(root)
    listing = Listing(root, [], skipped=list(found.skipped))
    by_folder: dict[Path, list[Found]] = {}
    for f in found.files:
        by_folder.setdefault(f.path.parent, []).append(f)
    run_dirs = {f.path.parent for f in found.files if f.name == MANIFEST_FILE}
    loose: list[RunInfo] = []
    for folder, files in by_folder.items():
        if folder in run_dirs:
            listing.runs.append(read_run_folder(folder, root, [f.path for f in files if f.name != MANIFEST_FILE and is_json_name(f.name)]))
            continue
        results: list[RunInfo] = []
        traces: list[RunInfo] = []
        for f in files:
            if not is_json_name(f.name):
                continue
            item = _read_loose(f.path, f.rel, inspect_traces)
            if isinstance(item, RunInfo) and item.kind == RESULTS:
                results.append(item)
            elif isinstance(item, RunInfo):
                traces.append(item)
            elif item:
                listing.notes.append(item)
        for run in traces:
            join_results(run, results)
        listing.results += results
        loose += traces
    listing.runs += loose
    _mark_jobs(loose, root)
    listing.runs = _newest_first(listing.runs)
    return listing


def _read_loose(path: Path, rel: str, inspect: bool) -> RunInfo | str | None:
    """A loose trace, a results file (RunInfo), a note on a file that cannot be used, or None (other JSON)."""
    run = read_trace_file(path, rel, inspect)
    if run is not None:
        return run
    try:
        document = load_json_object(path)
    except ProfkitError as exc:
        return f"{exc}; not used" if path.name.endswith("_results.json") else None
    if is_results_document(document):
        try:
            return read_results(path, document, rel)
        except ProfkitError as exc:
            return f"{exc}; not used"
    if path.name.endswith("_results.json"):
        return f"{display(rel)}: neither a trace nor a run-results file (no 'runs' or 'scenarios'); not used"
    return None


# ---- run folders -----------------------------------------------------------------------------------
def read_run_folder(run_dir, root=None, trace_files: list[Path] | None = None) -> RunInfo:
    """A run folder from its manifest.json; `trace_files`: the traces the walker found in it (else
    looked up beside the manifest). A manifest that cannot be read gives an "unreadable" RunInfo
    that still lists the traces on disk."""
    run_dir = Path(run_dir)
    rel = relative_name(root, run_dir) if root is not None else run_dir.name
    present = {p.name: p for p in (trace_files if trace_files is not None else _traces_beside(run_dir))}
    manifest_label = f"{rel}/{MANIFEST_FILE}" if rel not in ("", ".") else MANIFEST_FILE
    try:
        manifest = read_manifest(run_dir)
    except ProfkitError as exc:
        info = RunInfo(
            run_dir.name if rel in ("", ".") else rel,
            RUN,
            str(run_dir),
            MANIFEST_FILE,
            None,
            state=UNREADABLE,
            warnings=[f"{exc}; the run's set-up and timings are unknown"],
        )
        info.configs = [_unrecorded(p, "not described: the manifest cannot be read") for p in present.values()]
        return info
    info = _run_info(manifest, run_dir.name if rel in ("", ".") else rel, RUN, str(run_dir), MANIFEST_FILE)
    info.warnings += [f"{manifest_label}: {p}; ignored" for p in manifest.problems]
    listed = set()
    for entry in manifest.configs:
        trace = present.get(entry.trace_file) if entry.trace_file else None
        listed.add(entry.trace_file)
        config = config_from_entry(entry, str(trace) if trace else None, manifest_label)
        if entry.trace_file and trace is None and entry.status == "ok":
            config.error = f"trace {entry.trace_file} is missing"
            info.warnings.append(f"{display(rel)}/{entry.name}: {config.error}; only its timings are known")
        info.configs.append(config)
    for name, path in sorted(present.items()):
        if name not in listed:
            info.configs.append(_unrecorded(path, "the trace is on disk but manifest.json does not list it (the run is going on or was stopped)"))
    planned = manifest.planned()
    recorded = len(manifest.configs)
    if recorded == 0:
        info.state, info.state_note = PARTIAL, "no configuration finished yet (the run is going on, or was stopped before the first one)"
    elif planned is not None and recorded < planned:
        info.state = PARTIAL
        info.state_note = (
            f"{recorded} of {planned} configurations recorded (the run is going on, or was stopped: "
            f"`profkit run --resume --run-id {manifest.run_id or run_dir.name}` continues it)"
        )
    return info


def _traces_beside(run_dir: Path) -> list[Path]:
    try:
        found = walk(run_dir)
    except ProfkitError:
        return []
    return [f.path for f in found.files if f.path.parent == run_dir and f.name != MANIFEST_FILE and is_json_name(f.name)]


def _unrecorded(path: Path, why: str) -> ConfigInfo:
    """A trace in a run folder that its manifest does not list: described by the manifest it embeds, if any."""
    try:
        header = trace_header(path)
    except ProfkitError as exc:
        return ConfigInfo(trace_stem(path.name), None, None, None, None, UNREADABLE, str(exc), str(path))
    config = _embedded_config(header, str(path)) if header is not None else None
    if config is None:
        return ConfigInfo(trace_stem(path.name), None, None, None, None, "unrecorded", why, str(path))
    return replace(config, status="unrecorded", error=why)


def _run_info(m: Manifest, run_id: str, kind: str, path: str, source: str) -> RunInfo:
    env = m.environment
    device = {"cuda": "gpu", "cpu": "cpu"}.get(env.device or "", "gpu" if env.gpu_name else None)
    return RunInfo(
        run_id=m.run_id or run_id,
        kind=kind,
        path=path,
        source=source,
        created=m.created,
        host=m.host,
        model=m.model.name,
        device=device,
        gpu_name=env.gpu_name,
        gpu_count=env.gpu_count,
        gpu_memory_bytes=env.gpu_total_mem_bytes,
        driver_version=env.driver_version,
        cuda_runtime=env.cuda_runtime,
        torch=env.torch,
        transformers=env.transformers,
        bitsandbytes=env.bitsandbytes,
        torchao=env.torchao,
        model_shape=m.model.shape,
    )


def config_from_entry(entry: ConfigEntry, trace_path: str | None, timings_from: str) -> ConfigInfo:
    """A manifest's configuration entry as the store's record (its timing is the un-profiled one)."""
    t = entry.timing
    window = (entry.t_start_unix_s, entry.t_end_unix_s) if entry.t_start_unix_s is not None and entry.t_end_unix_s is not None else None
    return ConfigInfo(
        name=entry.name,
        precision=entry.precision,
        batch_size=entry.batch_size,
        prompt_len=entry.prompt_len,
        mode=entry.mode,
        status=entry.status,
        error=entry.error,
        trace_path=trace_path,
        tpot_median_ms=t.tpot_median_ms if t else None,
        ttft_ms=t.ttft_ms if t else None,
        decode_tokens_per_s=t.decode_tokens_per_s if t else None,
        tpot_p90_ms=t.tpot_p90_ms if t else None,
        new_tokens=entry.new_tokens,
        peak_gpu_mem_bytes=t.peak_gpu_mem_bytes if t else None,
        weights_bytes=entry.weights_bytes,
        timings_from=timings_from if t and t.tpot_median_ms is not None else None,
        window_unix_s=window,
    )


# ---- loose traces ----------------------------------------------------------------------------------
def read_trace_file(path, rel: str | None = None, inspect: bool = True) -> RunInfo | None:
    """A loose trace (RunInfo of kind "trace" with one configuration); None when the file is JSON but
    not a trace. A trace that cannot be read gives an "unreadable" RunInfo with a warning."""
    path = Path(path)
    rel = rel or path.name
    run_id = trace_stem(rel)
    try:
        header = trace_header(path)
    except ProfkitError as exc:
        return _unreadable(path, run_id, str(exc))
    if header is None:
        return None
    info = _trace_info(header, run_id, path)
    config = _embedded_config(header, str(path))
    if config is None and inspect:
        config = _inspect(info, path, run_id)
    info.configs.append(config or ConfigInfo(run_id, None, None, None, None, "ok", None, str(path)))
    return info


def _unreadable(path: Path, run_id: str, problem: str) -> RunInfo:
    info = RunInfo(run_id, TRACE, str(path), "trace metadata", None, state=UNREADABLE, warnings=[problem])
    info.configs.append(ConfigInfo(run_id, None, None, None, None, UNREADABLE, problem, str(path)))
    return info


#: RunInfo fields a trace's own metadata (its header) can fill where the manifest left them unknown.
HEADER_FIELDS = ("gpu_name", "gpu_count", "gpu_memory_bytes", "cuda_runtime", "cuda_driver", "hip_runtime", "hip_driver", "roctracer", "rank", "world_size")


def _header_fields(h: TraceHeader) -> dict:
    return {name: getattr(h, name) for name in HEADER_FIELDS}


def _trace_info(h: TraceHeader, run_id: str, path: Path) -> RunInfo:
    m = embedded_manifest(h.manifest)
    if m is not None:
        info = _run_info(m, run_id, TRACE, str(path), "embedded manifest")
        info.warnings += [f"{display(path.name)}: embedded manifest: {p}; ignored" for p in m.problems]
    else:
        info = RunInfo(run_id, TRACE, str(path), "trace metadata", None, device="gpu" if h.gpu_name else None)
    _fill(info, dict(_header_fields(h), created=h.created))
    if info.device is None and h.gpu_name:
        info.device = "gpu"
    return info


def _embedded_config(h: TraceHeader, trace_path: str) -> ConfigInfo | None:
    m = embedded_manifest(h.manifest)
    if m is None or m.config is None:
        return None
    return config_from_entry(m.config, trace_path, f"{display(Path(trace_path).name)} (embedded manifest)")


def _inspect(info: RunInfo, path: Path, name: str) -> ConfigInfo:
    """The workload a trace without a manifest ran, from its events (parsed once, then cached)."""
    from profkit.analyses.workload import describe_workload  # the one analysis the store needs: what ran
    from profkit.trace import load_trace

    try:
        trace = load_trace(path)
    except Exception as exc:  # noqa: BLE001 -- in a folder, one bad file degrades its own row, never the listing
        problem = unreadable_reason(path, exc)
        info.warnings.append(problem)
        info.state = UNREADABLE
        return ConfigInfo(name, None, None, None, None, UNREADABLE, problem, str(path))
    w = describe_workload(trace)
    info.source = "trace metadata + events"
    h = header_from_metadata(trace.metadata)  # Kineto may write metadata after the events
    _fill(info, dict(_header_fields(h), model=w.model_hint))
    if info.device is None:
        info.device = "gpu" if info.gpu_name or trace.has_gpu_activity else "cpu"
    return ConfigInfo(name, w.precision, w.batch_size, w.prompt_len, w.mode, "ok", None, str(path))


def _fill(info: RunInfo, values: dict) -> None:
    """Set the fields of `info` that are still None."""
    for key, value in values.items():
        if getattr(info, key) is None and value is not None:
            setattr(info, key, value)


def unreadable_reason(path, exc: BaseException) -> str:
    """One line for a file that could not be read: the ProfkitError's own message, else the error named."""
    if isinstance(exc, ProfkitError):
        return str(exc)
    return f"{display(path)}: cannot be read ({type(exc).__name__}: {display(exc)})"


# ---- joining a loose trace with the results file beside it -------------------------------------------
_JOINED_VERSIONS = ("driver_version", "cuda_runtime", "cuda_driver", "torch", "transformers", "bitsandbytes", "torchao")


def join_results(run: RunInfo, results: list[RunInfo]) -> None:
    """Fill what `run` (a loose trace) does not know from the one results file recorded on its GPU:
    versions, and each configuration's un-profiled timing of the same precision, batch and mode."""
    if not run.gpu_name or run.state == UNREADABLE:
        return
    same_gpu = [r for r in results if r.gpu_name == run.gpu_name]
    if len(same_gpu) > 1:
        run.warnings.append(
            f"several results files were recorded on {run.gpu_name} ({', '.join(display(r.run_id) for r in same_gpu)}): "
            "not joined with any; keep one results file per GPU beside its traces"
        )
        return
    if not same_gpu:
        return
    res = same_gpu[0]
    _fill(run, {k: getattr(res, k) for k in _JOINED_VERSIONS})
    run.timings_from = Path(res.path).name
    run.source += f" + {Path(res.path).name}"
    for i, c in enumerate(run.configs):
        if c.tpot_median_ms is not None:
            continue
        match = [
            m
            for m in res.configs
            if (m.precision, m.batch_size, m.mode) == (c.precision, c.batch_size, c.mode)
            and c.precision
            and (m.prompt_len is None or c.prompt_len is None or m.prompt_len == c.prompt_len)
        ]
        if len(match) == 1:
            m = match[0]
            run.configs[i] = replace(
                c,
                tpot_median_ms=m.tpot_median_ms,
                ttft_ms=m.ttft_ms,
                decode_tokens_per_s=m.decode_tokens_per_s,
                tpot_p90_ms=m.tpot_p90_ms,
                new_tokens=c.new_tokens or m.new_tokens,
                peak_gpu_mem_bytes=m.peak_gpu_mem_bytes,
                weights_bytes=c.weights_bytes or m.weights_bytes,
                timings_from=m.timings_from,
                note=m.note,
                window_unix_s=m.window_unix_s,
            )


def results_beside(trace_path) -> list[RunInfo]:
    """The results files in the trace's own folder (uncompressed `.json` files that are one)."""
    folder = Path(trace_path).parent
    out = []
    try:
        found = walk(folder)
    except ProfkitError:
        return []
    for f in found.files:
        if f.path.parent != folder or not f.name.endswith(".json") or is_kineto_name(f.name) or f.name == MANIFEST_FILE:
            continue
        try:
            document = load_json_object(f.path)
            if is_results_document(document):
                out.append(read_results(f.path, document))
        except ProfkitError:
            continue
    return out


# ---- one trace, named by the user ----------------------------------------------------------------------
def describe_trace(path, inspect: bool = True) -> tuple[RunInfo, ConfigInfo]:
    """What is known about one trace file: its run folder's manifest entry when it sits in one, else
    its header, embedded manifest and the results file beside it. Raises ProfkitError (TraceError)
    when it is not a trace or cannot be read."""
    path = regular_file(path)
    run_dir = path.parent
    if (run_dir / MANIFEST_FILE).is_file():
        run = read_run_folder(run_dir, run_dir.parent, [path])
        for c in run.configs:
            if c.trace_path and Path(c.trace_path).name == path.name and c.status != "unrecorded":
                return replace(run, configs=[c]), c
    header = trace_header(path)
    if header is None:
        raise TraceError(display(path), "JSON has no 'traceEvents' list; is this a torch.profiler (Kineto) trace?")
    loose = read_trace_file(path, path.name, inspect)
    if loose is None:  # the header said it is a trace: only a file rewritten meanwhile gets here
        raise TraceError(display(path), "JSON has no 'traceEvents' list; is this a torch.profiler (Kineto) trace?")
    join_results(loose, results_beside(path))
    return loose, loose.configs[0]


# ---- what a trace without its own manifest gets told ------------------------------------------------
def known_manifest(run: RunInfo, config: ConfigInfo) -> dict:
    """What the store knows about a trace, shaped as the manifest a trace embeds (`profkit_manifest`),
    for a trace that embeds none: readers of the trace (compare's set-up, the workload) then see the
    same versions and workload as `profkit runs`. Only known values are included; a loose trace
    keeps its file name as its label (no run id or configuration name)."""
    env = {k: getattr(run, k) for k in ("gpu_name", "gpu_count", "driver_version", "cuda_runtime", "torch", "transformers", "bitsandbytes", "torchao")}
    env["device"] = {"gpu": None, "cpu": "cpu"}.get(run.device or "gpu")
    workload = {"precision": config.precision, "batch_size": config.batch_size, "prompt_len": config.prompt_len, "mode": config.mode}
    out: dict = {"environment": {k: v for k, v in env.items() if v is not None}}
    if run.model or run.model_shape:
        out["model"] = {k: v for k, v in (("name", run.model), ("shape", run.model_shape)) if v is not None}
    out["config"] = {k: v for k, v in workload.items() if v is not None}
    if run.kind == RUN:
        out["run_id"] = run.run_id
        out["config"]["name"] = config.name
    return out


# ---- multi-rank jobs, order ------------------------------------------------------------------------
def _mark_jobs(loose: list[RunInfo], root: Path) -> None:
    """Traces of one distributed job side by side: same folder, world size and GPU, distinct ranks."""
    groups: dict[tuple, list[RunInfo]] = {}
    for run in loose:
        if run.rank is not None and run.world_size and run.world_size > 1:
            groups.setdefault((str(Path(run.path).parent), run.world_size, run.gpu_name), []).append(run)
    for (folder, _, _), members in groups.items():
        if len(members) > 1 and len({m.rank for m in members}) == len(members):
            job = relative_name(root, folder) or "."
            for m in members:
                m.job = job


def _newest_first(runs: list[RunInfo]) -> list[RunInfo]:
    units: dict[str, list[RunInfo]] = {}
    for run in runs:
        units.setdefault(f"job:{run.job}" if run.job else f"run:{run.path}", []).append(run)
    ordered = sorted(units.values(), key=lambda rs: (max(r.created or "" for r in rs), rs[0].job or rs[0].run_id), reverse=True)
    return [r for unit in ordered for r in sorted(unit, key=lambda r: r.rank if r.rank is not None else -1)]


def relative_name(root, path) -> str:
    """`path` relative to `root` with POSIX separators (links not resolved); its name when outside."""
    if root is None:
        return Path(path).name
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return Path(path).name
    return Path(path).name if rel.startswith("..") else Path(rel).as_posix()


RUNS_SCHEMA = "profkit.runs/1"


def _run_dict(r: RunInfo) -> dict:
    d = asdict(r)
    for key in ("run_id", "path"):
        d[key] = display(d[key])
    for c in d["configs"]:
        c["name"] = display(c["name"])
        c["trace_path"] = display(c["trace_path"]) if c["trace_path"] else None
    d.update(precisions=r.precisions, batch_sizes=r.batch_sizes, prompt_lens=r.prompt_lens, modes=r.modes)
    return d
