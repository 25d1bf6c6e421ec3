"""The run-level files that go with a trace, as tables: un-profiled timings (a batch sweep) and NVML
samples, from the run folder (`manifest.json`, `nvml_samples.csv`) or the results file the trace was
joined with (`*_results.json`: `runs`, `nvml_samples_cols` / `nvml_samples`).

Which run a trace belongs to is the join's answer (`RunInfo`), never recomputed here. Nothing is
derived: values are only reshaped (ms, GiB, W, seconds from the first sample).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from profkit.errors import ProfkitError
from profkit.store.layout import MAX_SIDE_FILE_BYTES, NVML_SAMPLES_FILE
from profkit.store.records import RESULTS, RUN, ConfigInfo, RunInfo
from profkit.store.results import results_nvml
from profkit.store.walk import display, sibling

SWEEP_COLUMNS = ["precision", "batch", "mode", "decode_tokens_per_s", "tpot_median_ms", "tpot_p90_ms", "ttft_ms", "peak_gpu_mem_gib"]
NVML_COLUMNS = ["t_s", "gpu_util_pct", "mem_util_pct", "mem_used_gib", "sm_clock_mhz", "power_w"]


@dataclass
class RunExtras:
    """What the run a trace belongs to recorded besides the trace (None/empty where it has none)."""

    source: str = ""  # the file(s) these come from
    sweep: pd.DataFrame | None = None  # SWEEP_COLUMNS, one row per timed configuration
    sweep_note: str = ""
    nvml: pd.DataFrame | None = None  # NVML_COLUMNS
    nvml_windows: list = field(default_factory=list)  # (label, t0_s, t1_s) of each configuration on the NVML clock
    nvml_note: str = ""


def run_extras(run: RunInfo, results: RunInfo | None = None) -> RunExtras:
    """The sweep and NVML samples of `run` (a run folder), or of the results file `results` that a
    loose trace was joined with. Never raises: an unreadable file leaves its part empty."""
    if run.kind == RUN:
        return _from_run_folder(run)
    if results is not None and results.kind == RESULTS:
        return _from_results(results)
    return RunExtras()


def _sweep(configs: list[ConfigInfo]) -> pd.DataFrame | None:
    rows = [
        {
            "precision": c.precision,
            "batch": c.batch_size,
            "mode": c.mode,
            "decode_tokens_per_s": c.decode_tokens_per_s,
            "tpot_median_ms": c.tpot_median_ms,
            "tpot_p90_ms": c.tpot_p90_ms,
            "ttft_ms": c.ttft_ms,
            "peak_gpu_mem_gib": c.peak_gpu_mem_bytes / 2**30 if c.peak_gpu_mem_bytes else None,
        }
        for c in configs
        if c.status == "ok" and c.tpot_median_ms is not None
    ]
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS) if rows else None


def _from_results(res: RunInfo) -> RunExtras:
    name = Path(res.path).name
    out = RunExtras(source=name, sweep=_sweep(res.configs))
    if out.sweep is not None:
        note = next((c.note for c in res.configs if c.note), "")
        out.sweep_note = f"From {display(name)}: un-profiled timings" + (f"; {note}" if note else "") + "."
    try:
        cols, samples, windows = results_nvml(res.path)
    except ProfkitError:
        return out
    if cols and samples and "t" in cols:
        try:
            raw = pd.DataFrame(samples, columns=cols)
        except (ValueError, TypeError):
            return out
        t0 = float(raw["t"].iloc[0])
        power_w = raw["power_mw"] / 1e3 if "power_mw" in raw else None
        out.nvml = _nvml_frame(raw["t"] - t0, raw.get("gpu_util"), raw.get("mem_util"), raw.get("mem_used"), raw.get("sm_clock_mhz"), power_w)
        out.nvml_windows = [(label, t_start - t0, t_end - t0) for label, t_start, t_end in windows]
        out.nvml_note = (
            f"From {display(name)}: {len(raw)} NVML samples over the whole run ({out.nvml['t_s'].iloc[-1]:.0f} s); "
            "shaded: the un-profiled sweep's configurations."
        )
    return out


def _nvml_frame(t_s, gpu_util_pct, mem_util_pct, mem_used_bytes, sm_clock_mhz, power_w) -> pd.DataFrame:
    """The NVML samples as the dashboard charts them, whichever file they came from (a results
    file's samples or a run folder's CSV); a column the file lacks is None."""
    return pd.DataFrame(
        {
            "t_s": t_s,
            "gpu_util_pct": gpu_util_pct,
            "mem_util_pct": mem_util_pct,
            "mem_used_gib": mem_used_bytes / 2**30 if mem_used_bytes is not None else None,
            "sm_clock_mhz": sm_clock_mhz,
            "power_w": power_w,
        }
    )


def _from_run_folder(run: RunInfo) -> RunExtras:
    run_dir = Path(run.path)
    out = RunExtras(source=f"{display(run.run_id)}/manifest.json")
    ok = [c for c in run.configs if c.status == "ok" and c.decode_tokens_per_s is not None]
    if len({c.batch_size for c in ok}) > 1:
        out.sweep = _sweep(ok)
        out.sweep_note = f"From {display(run.run_id)}/manifest.json: un-profiled timings of each configuration."
    csv_path = sibling(run_dir, NVML_SAMPLES_FILE)
    raw = None
    if csv_path is not None:
        try:
            if csv_path.stat().st_size <= MAX_SIDE_FILE_BYTES:
                raw = pd.read_csv(csv_path)
        except (OSError, ValueError, pd.errors.ParserError):
            raw = None
    if raw is not None and len(raw) and "t_unix_s" in raw and "gpu_util_pct" in raw and raw["gpu_util_pct"].notna().any():
        t0 = float(raw["t_unix_s"].iloc[0])
        out.nvml = _nvml_frame(
            raw["t_unix_s"] - t0, raw.get("gpu_util_pct"), raw.get("mem_util_pct"), raw.get("mem_used_bytes"), raw.get("sm_clock_mhz"), raw.get("power_w")
        )
        out.nvml_windows = [(c.name, c.window_unix_s[0] - t0, c.window_unix_s[1] - t0) for c in run.configs if c.window_unix_s]
        out.nvml_note = f"From {display(run.run_id)}/{NVML_SAMPLES_FILE}: {len(raw)} samples over the whole run; shaded: each configuration."
    return out
