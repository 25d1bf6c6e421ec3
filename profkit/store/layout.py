"""The run store's folder layout: what `profkit run` writes and what the readers look for.

    <traces>/<run-id>/manifest.json              the run manifest (MANIFEST_FILE)
    <traces>/<run-id>/nvml_samples.csv           NVML samples (NVML_SAMPLES_FILE)
    <traces>/<run-id>/<config>.pt.trace.json.gz  one Kineto trace per configuration (TRACE_SUFFIX)
    <traces>/<name>.pt.trace.json[.gz]           a loose trace (any Kineto trace, from anywhere)
    <traces>/<name>_results.json                 a run-results file beside loose traces (RESULTS_SUFFIX)

Each trace `profkit run` writes embeds the run manifest (the run-level part plus its own
configuration entry) under the top-level key TRACE_METADATA_KEY.

Which file is which is decided by these names only where the layout fixes the name (the manifest,
the NVML samples); whether a `.json` file is a trace or a results file is read from its content.
"""

from __future__ import annotations

MANIFEST_FILE = "manifest.json"
NVML_SAMPLES_FILE = "nvml_samples.csv"
TRACE_SUFFIX = ".pt.trace.json.gz"
TRACE_METADATA_KEY = "profkit_manifest"
RESULTS_SUFFIX = "_results.json"

#: Files that may hold a trace or a results document.
JSON_SUFFIXES = (".json", ".json.gz")
#: Kineto's own trace names end so: `<name>.pt.trace.json[.gz]`.
KINETO_SUFFIXES = ("trace.json", "trace.json.gz")
#: Suffixes stripped from a trace's file name to name it (longest first).
TRACE_NAME_SUFFIXES = (".pt.trace.json.gz", ".pt.trace.json", ".trace.json.gz", ".trace.json", ".json.gz", ".json")
#: Largest manifest or results file read, in bytes (the bundled results file is ~115 kB).
MAX_SIDE_FILE_BYTES = 64 * 1024**2


def is_json_name(name: str) -> bool:
    """A `.json` or `.json.gz` file: a trace, a results file or a manifest, told apart by content."""
    return name.endswith(JSON_SUFFIXES)


def is_kineto_name(name: str) -> bool:
    return name.endswith(KINETO_SUFFIXES)


def trace_stem(name: str) -> str:
    """`h200_llama3-8b_int8_b1.pt.trace.json.gz` -> `h200_llama3-8b_int8_b1`."""
    for suffix in TRACE_NAME_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
