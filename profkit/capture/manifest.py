"""The run manifest: `<out>/<run-id>/manifest.json`, rewritten atomically after every configuration.

Schema (typed in `profkit.store.manifest`, whose reader `profkit runs`, `compare`, `recommend` and
the dashboard use, and whose writer `write_manifest` calls):

  run_id, created (ISO 8601), host, profkit_version
  environment  {gpu_name, gpu_count, driver_version, cuda_runtime, cudnn, torch, transformers,
                bitsandbytes, python, platform, device ("cuda"/"cpu"), ...}
  model        {name, shape (LlamaShape fields), source ("random"/"path"), path}
  settings     every RunConfig field, plus resolved device and compile mode
  nvml         {file, available, interval_s, columns, note}
  clock        how trace timestamps, NVML samples and config windows line up
  configs      one entry per configuration (see `config_entry`), written when the sweep starts:
               status pending -> running -> ok / failed / oom (interrupted when Ctrl-C stopped it)

Each trace embeds the run-level part plus its own config entry under `profkit_manifest`.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from profkit.capture.config import MANIFEST_FILE, ConfigSpec
from profkit.errors import ProfkitError, option
from profkit.store.manifest import (  # noqa: F401  (re-exported for the sweep)
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_OK,
    STATUS_OOM,
    STATUS_PENDING,
    STATUS_RUNNING,
)

CLOCK_NOTE = (
    "All *_unix_s fields and nvml t_unix_s are time.time() seconds. A trace event's Unix time in ns is "
    "ts_us * 1000 + configs[i].trace.base_time_ns (Kineto's baseTimeNanoseconds, also at the trace's top level)."
)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def new_manifest(run_id: str, host: str, environment: dict, model: dict, settings: dict, nvml: dict) -> dict:
    from profkit import __version__

    return {
        "run_id": run_id,
        "created": now_iso(),
        "host": host,
        "profkit_version": __version__,
        "environment": environment,
        "model": model,
        "settings": settings,
        "nvml": nvml,
        "clock": CLOCK_NOTE,
        "configs": [],
    }


def config_entry(spec: ConfigSpec, status: str = STATUS_OK, error: str | None = None) -> dict:
    """A `configs` entry; the sweep fills in timing, profiler_overhead, trace and window as it goes."""
    return {
        "name": spec.name,
        "precision": spec.precision,
        "batch_size": spec.batch_size,
        "prompt_len": spec.prompt_len,
        "new_tokens": spec.new_tokens,
        "mode": spec.mode,
        "status": status,
        "error": error,
        "trace_file": None,
        "timing": None,
        "profiler_overhead": None,
        "weights_bytes": None,
        "decode_weight_bytes": None,
        "load_s": None,
        "compile_mode": None,
        "quantization": None,
        "trace": None,
        "t_start_unix_s": None,
        "t_end_unix_s": None,
    }


def trace_metadata(manifest: dict, entry: dict) -> dict:
    """What a trace embeds: the run-level manifest without the other configs, plus its own entry.
    `profiler_overhead` is measured while the trace is recorded, so it is only in manifest.json."""
    run_level = {k: v for k, v in manifest.items() if k != "configs"}
    return {**run_level, "config": entry}


def upsert_config(manifest: dict, entry: dict) -> None:
    """Replace the entry of the same name, or append."""
    configs = manifest["configs"]
    for i, existing in enumerate(configs):
        if existing["name"] == entry["name"]:
            configs[i] = entry
            return
    configs.append(entry)


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Through the run store's one writer: checked against its schema, written atomically."""
    from profkit.store.manifest import write_manifest as write_checked

    write_checked(run_dir, manifest)


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / MANIFEST_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfkitError(f"{option('resume')}: {path} does not exist; check {option('out_dir')} and {option('run_id')}, or drop {option('resume')}") from None
    except json.JSONDecodeError as exc:
        raise ProfkitError(f"{option('resume')}: {path} is not valid JSON ({exc}); start a new {option('run_id')}") from None


def completed(manifest: dict, run_dir: Path) -> set[str]:
    """Names of configurations recorded as ok whose trace file is on disk."""
    return {
        c["name"] for c in manifest.get("configs", []) if c.get("status") == STATUS_OK and c.get("trace_file") and (Path(run_dir) / c["trace_file"]).is_file()
    }


_OPTION_NAMES = {"resolved_device": "device"}  # settings recorded under another name than their option
_SWEEP_LISTS = ("precisions", "batch_sizes", "modes")


def check_resumable(manifest: dict, settings: dict, keys: tuple[str, ...]) -> None:
    """A resumed run must measure the same thing: the settings in `keys` must match."""
    old = manifest.get("settings", {})
    for key in keys:
        if old.get(key) != settings.get(key):
            named = option(_OPTION_NAMES.get(key, key))
            raise ProfkitError(
                f"{option('resume')}: run {manifest.get('run_id')} was made with {named} {old.get(key)!r}, not {settings.get(key)!r}; "
                f"use the same value or a new {option('run_id')}"
            )


def merge_sweep_settings(old: dict, new: dict) -> dict:
    """Settings of a resumed run: the new ones, with the sweep lists (precisions, batch sizes, modes)
    covering both runs, so `settings` still describes every entry in `configs`."""
    merged = dict(new)
    for key in _SWEEP_LISTS:
        merged[key] = list(dict.fromkeys([*old.get(key, []), *new.get(key, [])]))
    return merged


def summary_rows(manifest: dict) -> list[dict]:
    """One display row per configuration (formatted strings): what the end-of-sweep table shows."""
    rows = []
    for c in manifest.get("configs", []):
        t = c.get("timing") or {}
        o = c.get("profiler_overhead") or {}
        mem = t.get("peak_gpu_mem_bytes") or t.get("peak_rss_bytes")
        rows.append(
            {
                "config": c["name"],
                "status": c["status"],
                "TTFT ms": _fmt(t.get("ttft_ms"), ".1f"),
                "TPOT p50 ms": _fmt(t.get("tpot_median_ms"), ".2f"),
                "TPOT p90 ms": _fmt(t.get("tpot_p90_ms"), ".2f"),
                "decode tok/s": _fmt(t.get("decode_tokens_per_s"), ".1f"),
                "e2e tok/s": _fmt(t.get("e2e_tokens_per_s"), ".1f"),
                "peak mem GB": _fmt(mem / 1e9 if mem else None, ".2f"),
                "profiled/unprofiled": _fmt(o.get("ratio"), ".2f"),
            }
        )
    return rows


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)
