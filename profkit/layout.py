"""Names of the files a run leaves on disk, shared by capture (writes) and analyses (reads).

    <out>/<run-id>/manifest.json              the run manifest (MANIFEST_FILE)
    <out>/<run-id>/nvml_samples.csv           NVML samples (NVML_SAMPLES_FILE)
    <out>/<run-id>/<config>.pt.trace.json.gz  one Kineto trace per configuration (TRACE_SUFFIX)

Each trace embeds the run manifest under the top-level key TRACE_METADATA_KEY.
"""

MANIFEST_FILE = "manifest.json"
NVML_SAMPLES_FILE = "nvml_samples.csv"
TRACE_SUFFIX = ".pt.trace.json.gz"
TRACE_METADATA_KEY = "profkit_manifest"
