"""The run-level files that go with a trace, as tables for the pages: versions, un-profiled timings
(batch sweeps) and NVML samples.

Two layouts are understood, both found without leaving the traces directory:

- a `profkit run` directory: `<run>/manifest.json` (read by `profkit.analyses.runs.read_run`) and
  `<run>/nvml_samples.csv`;
- the bundled samples' results files, `*_results.json` beside loose traces (`env`, the sweep under
  `runs`, scenarios, `nvml_samples_cols` / `nvml_samples`); their timings are read by
  `profkit.analyses.evidence.load_inputs`, as `profkit recommend` reads them. A loose trace belongs
  to the results file in its folder recorded on the same GPU model (the trace's `deviceProperties`
  name), never to a file name.

Nothing is derived here: values are only reshaped (units converted to ms, GiB, W, seconds from start).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

MANIFEST_FILE = "manifest.json"
NVML_CSV = "nvml_samples.csv"
RESULTS_GLOB = "*_results.json"
#: Largest run-level JSON/CSV read, in bytes (the samples' results file is ~115 kB).
MAX_RUN_FILE_BYTES = 64 * 1024**2
#: Versions a results file's `env` holds, under the names `RunInfo` uses.
RESULTS_ENV = {"driver_version": "driver", "cuda_runtime": "cuda_runtime", "torch": "torch", "transformers": "transformers", "bitsandbytes": "bitsandbytes"}

SWEEP_COLUMNS = ["precision", "batch", "mode", "decode_tokens_per_s", "tpot_median_ms", "tpot_p90_ms", "ttft_ms", "peak_gpu_mem_gib"]


@dataclass
class RunExtras:
    """What the run a trace belongs to recorded besides the trace (None/empty where it has none)."""

    source: str = ""  # the file(s) these come from, root-relative
    versions: dict = field(default_factory=dict)  # RunInfo attribute name -> value
    sweep: pd.DataFrame | None = None  # SWEEP_COLUMNS, one row per measured configuration
    sweep_note: str = ""
    nvml: pd.DataFrame | None = None  # t_s, gpu_util_pct, mem_util_pct, mem_used_gib, sm_clock_mhz, power_w
    nvml_windows: list = field(default_factory=list)  # (label, t0_s, t1_s) of each configuration on the NVML clock
    nvml_note: str = ""

    def measured(self, precision, batch_size, mode) -> dict | None:
        """The sweep row of one configuration (as a dict), if the run timed it."""
        if self.sweep is None:
            return None
        rows = self.sweep[(self.sweep["precision"] == precision) & (self.sweep["batch"] == batch_size) & (self.sweep["mode"] == mode)]
        return rows.iloc[0].to_dict() if len(rows) == 1 else None


def run_dir_of(root: Path, trace_path: Path) -> Path | None:
    """The innermost directory between the trace and `root` (inclusive) that holds a manifest.json."""
    root = root.resolve()
    here = trace_path.resolve().parent
    while here.is_relative_to(root):
        if (here / MANIFEST_FILE).is_file():
            return here
        if here == root:
            break
        here = here.parent
    return None


def extras_for(root: Path, trace_path: Path, gpu_name: str | None) -> RunExtras:
    """The run files of the trace at `trace_path` (inside `root`)."""
    run_dir = run_dir_of(root, trace_path)
    if run_dir is not None:
        return _from_run_dir(root, run_dir)
    results = results_file_for(trace_path.parent, gpu_name)
    return _from_results(root, results) if results is not None else RunExtras()


def results_file_for(folder: Path, gpu_name: str | None) -> Path | None:
    """The one `*_results.json` in `folder` recorded on `gpu_name` (None if none, or several)."""
    if not gpu_name:
        return None
    matches = [p for p in sorted(folder.glob(RESULTS_GLOB)) if p.is_file() and _env(_read_json(p)).get("gpu") == gpu_name]
    return matches[0] if len(matches) == 1 else None


def _read_json(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_RUN_FILE_BYTES:
            return {}
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _env(doc: dict) -> dict:
    return doc.get("env") if isinstance(doc.get("env"), dict) else {}


def _sweep_frame(rows: list[dict]) -> pd.DataFrame | None:
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS) if rows else None


def _from_results(root: Path, path: Path) -> RunExtras:
    from profkit.analyses.evidence import load_inputs

    doc = _read_json(path)
    env = _env(doc)
    rel = path.relative_to(root.resolve()).as_posix() if path.resolve().is_relative_to(root.resolve()) else path.name
    out = RunExtras(source=rel, versions={k: str(env[v]) for k, v in RESULTS_ENV.items() if env.get(v) is not None})
    configs = [c for c in load_inputs([path]).configs if c.ok]
    out.sweep = _sweep_frame([
        {"precision": c.precision, "batch": c.batch_size, "mode": c.mode, "decode_tokens_per_s": c.decode_tokens_per_s,
         "tpot_median_ms": c.tpot_median_ms, "tpot_p90_ms": c.tpot_p90_ms, "ttft_ms": c.ttft_ms,
         "peak_gpu_mem_gib": c.peak_gpu_mem_bytes / 2**30 if c.peak_gpu_mem_bytes else None}
        for c in configs
    ])
    if out.sweep is not None:
        out.sweep_note = f"From {rel}: un-profiled timings" + (f"; {configs[0].note}" if configs[0].note else "") + "."
    cols, samples = doc.get("nvml_samples_cols"), doc.get("nvml_samples")
    if isinstance(cols, list) and isinstance(samples, list) and samples and "t" in cols:
        raw = pd.DataFrame(samples, columns=cols)
        t0 = float(raw["t"].iloc[0])
        out.nvml = pd.DataFrame({
            "t_s": raw["t"] - t0,
            "gpu_util_pct": raw.get("gpu_util"),
            "mem_util_pct": raw.get("mem_util"),
            "mem_used_gib": raw["mem_used"] / 2**30 if "mem_used" in raw else None,
            "sm_clock_mhz": raw.get("sm_clock_mhz"),
            "power_w": raw["power_mw"] / 1e3 if "power_mw" in raw else None,
        })
        out.nvml_windows = [
            (f"{r.get('precision')} b{r.get('batch')}", r["t_start"] - t0, r["t_end"] - t0)
            for r in doc.get("runs") or [] if isinstance(r, dict) and isinstance(r.get("t_start"), (int, float)) and isinstance(r.get("t_end"), (int, float))
        ]
        out.nvml_note = f"From {rel}: {len(raw)} NVML samples over the whole run ({out.nvml['t_s'].iloc[-1]:.0f} s); shaded: the un-profiled sweep's configurations."
    return out


def _from_run_dir(root: Path, run_dir: Path) -> RunExtras:
    from profkit.analyses.runs import read_run

    rel = run_dir.relative_to(root.resolve()).as_posix() or "."
    run = read_run(run_dir, root)
    out = RunExtras(source=f"{rel}/{MANIFEST_FILE}")
    ok = [c for c in run.configs if c.status == "ok" and c.decode_tokens_per_s is not None]
    if len({c.batch_size for c in ok}) > 1:
        out.sweep = _sweep_frame([
            {"precision": c.precision, "batch": c.batch_size, "mode": c.mode, "decode_tokens_per_s": c.decode_tokens_per_s,
             "tpot_median_ms": c.tpot_median_ms, "tpot_p90_ms": None, "ttft_ms": c.ttft_ms, "peak_gpu_mem_gib": None}
            for c in ok
        ])
        out.sweep_note = f"From {rel}/{MANIFEST_FILE}: un-profiled timings of each configuration."
    csv_path = run_dir / NVML_CSV
    raw = None
    if csv_path.is_file() and csv_path.stat().st_size <= MAX_RUN_FILE_BYTES:
        try:
            raw = pd.read_csv(csv_path)
        except (OSError, ValueError):
            raw = None
    if raw is not None and len(raw) and "t_unix_s" in raw and "gpu_util_pct" in raw and raw["gpu_util_pct"].notna().any():
        t0 = float(raw["t_unix_s"].iloc[0])
        out.nvml = pd.DataFrame({
            "t_s": raw["t_unix_s"] - t0,
            "gpu_util_pct": raw.get("gpu_util_pct"),
            "mem_util_pct": raw.get("mem_util_pct"),
            "mem_used_gib": raw["mem_used_bytes"] / 2**30 if "mem_used_bytes" in raw else None,
            "sm_clock_mhz": raw.get("sm_clock_mhz"),
            "power_w": raw.get("power_w"),
        })
        manifest = _read_json(run_dir / MANIFEST_FILE)
        out.nvml_windows = [
            (str(c.get("name")), c["t_start_unix_s"] - t0, c["t_end_unix_s"] - t0)
            for c in manifest.get("configs") or []
            if isinstance(c, dict) and isinstance(c.get("t_start_unix_s"), (int, float)) and isinstance(c.get("t_end_unix_s"), (int, float))
        ]
        out.nvml_note = f"From {rel}/{NVML_CSV}: {len(raw)} samples over the whole run; shaded: each configuration."
    return out
