"""The run store: where runs live on disk and everything known about them, beside the trace model.

Every front end reads runs through it, so a run shows the same versions and speeds everywhere.

- `layout`: the folder layout and file names (`MANIFEST_FILE`, `TRACE_SUFFIX`, ...).
- `walk`: the one directory walker and its path policy (nothing outside the traces folder is read;
  links out, loops and unreadable entries are skipped and reported).
- `manifest`: the typed run-manifest schema, its reader (`read_manifest`) and writer (`write_manifest`).
- `results`: run-results files (`read_results`).
- `header`: a trace's header without its events (`trace_header`: GPU, CUDA/HIP versions, rank).
- `join`: run folders, loose traces and results files joined (`list_runs`, `describe_trace`).
- `collect`: command-line inputs expanded (`collect` for recommend, `trace_entries` for compare,
  `find_traces` for analyze).

Main entry points:

    list_runs(traces_dir) -> Listing         runs and traces under a folder, with versions and speeds
    filter_runs(runs, RunFilter(...))        narrowed by GPU, driver, versions, workload
    describe_trace(path) -> (RunInfo, ConfigInfo)
    read_manifest(run_dir) / write_manifest(run_dir, manifest)
"""

from profkit.store.collect import Collection, TraceEntry, collect, find_traces, trace_entries
from profkit.store.header import TraceHeader, cuda_version_text, hip_version_text, read_trace_header, trace_header
from profkit.store.join import Listing, describe_trace, known_manifest, list_runs, read_run_folder, relative_name
from profkit.store.layout import MANIFEST_FILE, NVML_SAMPLES_FILE, RESULTS_SUFFIX, TRACE_METADATA_KEY, TRACE_SUFFIX
from profkit.store.manifest import ConfigEntry, Environment, Manifest, embedded_manifest, manifest_from_dict, read_manifest, write_manifest
from profkit.store.records import VERSION_LABELS, ConfigInfo, RunFilter, RunInfo, filter_runs
from profkit.store.results import read_results
from profkit.store.walk import Found, Skipped, Walk, display, walk

__all__ = [
    "MANIFEST_FILE",
    "NVML_SAMPLES_FILE",
    "RESULTS_SUFFIX",
    "TRACE_METADATA_KEY",
    "TRACE_SUFFIX",
    "VERSION_LABELS",
    "Collection",
    "ConfigEntry",
    "ConfigInfo",
    "Environment",
    "Found",
    "Listing",
    "Manifest",
    "RunFilter",
    "RunInfo",
    "Skipped",
    "TraceEntry",
    "TraceHeader",
    "Walk",
    "collect",
    "cuda_version_text",
    "describe_trace",
    "display",
    "embedded_manifest",
    "filter_runs",
    "find_traces",
    "hip_version_text",
    "known_manifest",
    "list_runs",
    "manifest_from_dict",
    "read_manifest",
    "read_results",
    "read_run_folder",
    "read_trace_header",
    "relative_name",
    "trace_entries",
    "trace_header",
    "walk",
    "write_manifest",
]
