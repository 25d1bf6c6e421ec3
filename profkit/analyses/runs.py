"""The runs under a traces folder: run folders written by `profkit run` (with manifest.json) and loose
trace files, with what they were run on and what they measured, so a user can pick comparable runs.

Listing is cheap: run folders are described by their manifest.json alone; a loose trace by the
metadata at the head of the file (GPU, CUDA versions, an embedded profkit manifest), read without
parsing its events. Only a loose trace without an embedded manifest needs its events to tell its
precision and batch size (`profkit.analyses.workload`); that uses the parsed-trace cache and can be
turned off (`inspect_traces=False`).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from profkit.layout import MANIFEST_FILE
from profkit.errors import ProfkitError

HEADER_READ_LIMIT_BYTES = 8 << 20
"""How far into a (decompressed) trace the metadata header is looked for."""
_CHUNK = 64 << 10
_TRACE_SUFFIXES = (".json", ".json.gz")


@dataclass
class ConfigInfo:
    """One configuration of a run (or the single configuration a loose trace measured)."""

    name: str
    precision: str | None
    batch_size: int | None
    prompt_len: int | None
    mode: str | None
    status: str  # ok / failed / oom (manifest); "ok" for a loose trace
    error: str | None
    trace_path: str | None
    tpot_median_ms: float | None = None
    ttft_ms: float | None = None
    decode_tokens_per_s: float | None = None


@dataclass
class RunInfo:
    """A run folder or a loose trace. Fields are None where the source does not say."""

    run_id: str
    kind: str  # "run" (folder with manifest.json) or "trace" (a loose trace file)
    path: str
    source: str  # "manifest.json", "embedded manifest", "trace metadata" or "trace metadata + events"
    created: str | None  # ISO 8601
    host: str | None
    model: str | None
    gpu_name: str | None
    gpu_count: int | None
    driver_version: str | None
    cuda_runtime: str | None
    torch: str | None
    transformers: str | None
    bitsandbytes: str | None
    configs: list[ConfigInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def precisions(self) -> list[str]:
        return _distinct(c.precision for c in self.configs)

    @property
    def batch_sizes(self) -> list[int]:
        return sorted(set(c.batch_size for c in self.configs if c.batch_size is not None))

    @property
    def prompt_lens(self) -> list[int]:
        return sorted(set(c.prompt_len for c in self.configs if c.prompt_len is not None))

    @property
    def modes(self) -> list[str]:
        return _distinct(c.mode for c in self.configs)


@dataclass
class RunFilter:
    """Criteria for `filter_runs`. Text fields match case-insensitively as substrings ("h100" matches
    "NVIDIA H100 80GB HBM3", "580" matches driver "580.159.04"); numbers and precision/mode exactly.
    Config-level criteria (precision, batch_size, prompt_len, mode) keep only matching configurations."""

    run_id: str | None = None
    date: str | None = None  # matches the ISO 8601 `created`, e.g. "2026-11" or "2026-11-26"
    gpu: str | None = None
    driver: str | None = None
    cuda: str | None = None
    torch: str | None = None
    transformers: str | None = None
    bitsandbytes: str | None = None
    model: str | None = None
    host: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    prompt_len: int | None = None
    mode: str | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.__dict__.items() if v is not None)


# ---- discovery -----------------------------------------------------------------------------------
def discover_runs(traces_dir, inspect_traces: bool = True) -> list[RunInfo]:
    """Run folders (with manifest.json) and loose trace files under `traces_dir`, newest first.

    `inspect_traces`: derive precision/batch/prompt/mode of loose traces without an embedded manifest
    from their events (parsed once, then cached); False lists them from their header only.
    """
    root = Path(traces_dir)
    if not root.is_dir():
        raise ProfkitError(f"{root}: no such folder; give the folder `profkit run --out` writes to (default: traces)")
    runs: list[RunInfo] = []
    real_root = root.resolve()
    run_dirs = sorted({m.parent for m in root.rglob(MANIFEST_FILE) if ".profkit-cache" not in m.parts and _inside(m, real_root)})
    for d in run_dirs:
        runs.append(read_run(d, root))
    for f in sorted(root.rglob("*")):
        if not f.is_file() or not f.name.endswith(_TRACE_SUFFIXES) or f.name == MANIFEST_FILE or ".profkit-cache" in f.parts:
            continue
        if not _inside(f, real_root):  # a symlink pointing out of the traces folder is never read
            continue
        if any(d in f.parents for d in run_dirs):
            continue
        info = read_loose_trace(f, root, inspect_traces)
        if info is not None:
            runs.append(info)
    runs.sort(key=lambda r: (r.created or "", r.run_id), reverse=True)
    return runs


def links_leaving(traces_dir) -> list[Path]:
    """Trace files and manifests under `traces_dir` that resolve outside it (symlinks): never read."""
    root = Path(traces_dir)
    real_root = root.resolve()
    return sorted(
        f for f in root.rglob("*")
        if (f.name == MANIFEST_FILE or f.name.endswith(_TRACE_SUFFIXES)) and not _inside(f, real_root)
    )


def _inside(path: Path, real_root: Path) -> bool:
    return path.resolve().is_relative_to(real_root)


def read_run(run_dir, traces_dir=None) -> RunInfo:
    """A run folder from its manifest.json (a broken manifest gives a RunInfo with a warning)."""
    run_dir = Path(run_dir)
    rel = _relative(run_dir, traces_dir)
    try:
        manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
        if not isinstance(manifest, dict):
            raise ValueError("top level is not an object")
    except (OSError, ValueError) as exc:
        return RunInfo(rel, "run", str(run_dir), MANIFEST_FILE, None, None, None, None, None, None, None, None, None, None,
                       warnings=[f"{run_dir / MANIFEST_FILE}: unreadable ({exc}); the run cannot be listed or compared"])
    env = manifest.get("environment") if isinstance(manifest.get("environment"), dict) else {}
    configs = []
    for c in manifest.get("configs") or []:
        if not isinstance(c, dict):
            continue
        timing = c.get("timing") if isinstance(c.get("timing"), dict) else {}
        trace_file = c.get("trace_file")
        configs.append(
            ConfigInfo(
                name=str(c.get("name") or ""),
                precision=c.get("precision"),
                batch_size=c.get("batch_size"),
                prompt_len=c.get("prompt_len"),
                mode=c.get("mode"),
                status=str(c.get("status") or "unknown"),
                error=c.get("error"),
                trace_path=str(run_dir / trace_file) if trace_file else None,
                tpot_median_ms=timing.get("tpot_median_ms"),
                ttft_ms=timing.get("ttft_ms"),
                decode_tokens_per_s=timing.get("decode_tokens_per_s"),
            )
        )
    return RunInfo(
        run_id=str(manifest.get("run_id") or rel),
        kind="run",
        path=str(run_dir),
        source=MANIFEST_FILE,
        created=manifest.get("created"),
        host=manifest.get("host"),
        model=_model_name(manifest),
        gpu_name=env.get("gpu_name"),
        gpu_count=env.get("gpu_count"),
        driver_version=_text(env.get("driver_version")),
        cuda_runtime=_text(env.get("cuda_runtime")),
        torch=_text(env.get("torch")),
        transformers=_text(env.get("transformers")),
        bitsandbytes=_text(env.get("bitsandbytes")),
        configs=configs,
    )


def read_loose_trace(path, traces_dir=None, inspect_traces: bool = True) -> RunInfo | None:
    """A trace file outside run folders; None when the file is JSON but not a trace."""
    path = Path(path)
    rel = _relative(path, traces_dir)
    run_id = rel
    for suffix in (".pt.trace.json.gz", ".pt.trace.json", ".json.gz", ".json"):
        if run_id.endswith(suffix):
            run_id = run_id[: -len(suffix)]
            break
    try:
        header = read_trace_header(path)
    except ProfkitError as exc:
        return RunInfo(run_id, "trace", str(path), "trace metadata", None, None, None, None, None, None, None, None, None, None, warnings=[str(exc)])
    if header is None:
        return None
    manifest = header.get("profkit_manifest") if isinstance(header.get("profkit_manifest"), dict) else None
    props = header.get("deviceProperties") or [{}]
    props = props[0] if isinstance(props, list) and props and isinstance(props[0], dict) else {}
    env = (manifest or {}).get("environment") if isinstance((manifest or {}).get("environment"), dict) else {}
    info = RunInfo(
        run_id=(manifest or {}).get("run_id", run_id) if manifest else run_id,
        kind="trace",
        path=str(path),
        source="embedded manifest" if manifest else "trace metadata",
        created=(manifest or {}).get("created") or _trace_time(header, path),
        host=(manifest or {}).get("host"),
        model=_model_name(manifest or {}),
        gpu_name=env.get("gpu_name") or props.get("name"),
        gpu_count=env.get("gpu_count") if env else (len(header.get("deviceProperties") or []) or None),
        driver_version=_text(env.get("driver_version")),
        cuda_runtime=_text(env.get("cuda_runtime")) or cuda_version_text(header.get("cuda_runtime_version")),
        torch=_text(env.get("torch")),
        transformers=_text(env.get("transformers")),
        bitsandbytes=_text(env.get("bitsandbytes")),
    )
    config = (manifest or {}).get("config") if isinstance((manifest or {}).get("config"), dict) else None
    if config:
        info.configs.append(ConfigInfo(str(config.get("name") or run_id), config.get("precision"), config.get("batch_size"), config.get("prompt_len"),
                                       config.get("mode"), str(config.get("status") or "ok"), config.get("error"), str(path)))
    elif inspect_traces:
        _add_derived_config(info, path, run_id)
    else:
        info.configs.append(ConfigInfo(run_id, None, None, None, None, "ok", None, str(path)))
    return info


def _add_derived_config(info: RunInfo, path: Path, name: str) -> None:
    from profkit.analyses.workload import describe_workload
    from profkit.trace import load_trace

    try:
        trace = load_trace(path)
    except ProfkitError as exc:
        info.warnings.append(str(exc))
        info.configs.append(ConfigInfo(name, None, None, None, None, "unreadable", str(exc), str(path)))
        return
    w = describe_workload(trace)
    info.source = "trace metadata + events"
    props = trace.device_properties[0] if trace.device_properties else {}
    info.gpu_name = info.gpu_name or props.get("name")  # metadata written after the events
    info.cuda_runtime = info.cuda_runtime or cuda_version_text(trace.metadata.get("cuda_runtime_version"))
    info.model = info.model or w.model_hint
    info.configs.append(ConfigInfo(name, w.precision, w.batch_size, w.prompt_len, w.mode, "ok", None, str(path)))


def read_trace_header(path) -> dict | None:
    """The top-level keys written before "traceEvents" (Kineto puts deviceProperties, CUDA versions,
    baseTimeNanoseconds and `add_metadata_json` entries there), plus the first event's "ts".
    None when the file is JSON without "traceEvents" (not a trace)."""
    path = Path(path)
    try:
        raw = _read_prefix(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise ProfkitError(f"{path}: cannot read ({exc}); re-copy the file") from None
    pos = raw.find(b'"traceEvents"')
    if pos < 0:
        return None
    head = raw[:pos].rstrip()
    text = head[:-1] if head.endswith(b",") else head
    try:
        header = orjson.loads(text + b"}") if text.strip() != b"{" else {}
    except orjson.JSONDecodeError:
        header = {}
    for key, value in list(header.items()):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                header[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
    first_ts = _first_event_ts(raw[pos:])
    if first_ts is not None:
        header["_first_ts_us"] = first_ts
    return header


def _read_prefix(path: Path) -> bytes:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    out = bytearray()
    with opener(path, "rb") as fh:
        while len(out) < HEADER_READ_LIMIT_BYTES:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            if b'"traceEvents"' in out[-len(chunk) - 16:]:
                out += fh.read(_CHUNK)  # room for the first event
                break
    return bytes(out)


def _first_event_ts(tail: bytes) -> float | None:
    import re

    m = re.search(rb'"ts"\s*:\s*([0-9.]+)', tail[:_CHUNK])
    return float(m.group(1)) if m else None


def _trace_time(header: dict, path: Path) -> str | None:
    """When the trace was taken: Kineto's base time + the first event's timestamp, else the file's mtime."""
    base = header.get("baseTimeNanoseconds")
    first = header.get("_first_ts_us")
    if isinstance(base, int) and isinstance(first, float):
        seconds = base / 1e9 + first / 1e6
    else:
        try:
            seconds = path.stat().st_mtime
        except OSError:
            return None
    try:
        return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


# ---- filtering -----------------------------------------------------------------------------------
def filter_runs(runs: list[RunInfo], criteria: RunFilter) -> list[RunInfo]:
    """Runs matching every criterion; config-level criteria narrow each run's configs."""
    out = []
    for run in runs:
        if not all(_contains(getattr(run, attr), value) for attr, value in (
            ("run_id", criteria.run_id), ("created", criteria.date), ("gpu_name", criteria.gpu), ("driver_version", criteria.driver), ("cuda_runtime", criteria.cuda),
            ("torch", criteria.torch), ("transformers", criteria.transformers), ("bitsandbytes", criteria.bitsandbytes),
            ("model", criteria.model), ("host", criteria.host),
        )):
            continue
        configs = [c for c in run.configs if _config_matches(c, criteria)]
        if not configs:
            continue
        if len(configs) != len(run.configs):
            run = RunInfo(**{**run.__dict__, "configs": configs})
        out.append(run)
    return out


def _config_matches(c: ConfigInfo, f: RunFilter) -> bool:
    return (
        (f.precision is None or (c.precision or "").lower() == f.precision.lower())
        and (f.batch_size is None or c.batch_size == f.batch_size)
        and (f.prompt_len is None or c.prompt_len == f.prompt_len)
        and (f.mode is None or (c.mode or "").lower() == f.mode.lower())
    )


def _contains(value, wanted: str | None) -> bool:
    if wanted is None:
        return True
    return value is not None and wanted.lower() in str(value).lower()


# ---- helpers --------------------------------------------------------------------------------------
def _relative(path: Path, base) -> str:
    if base is not None:
        try:
            return str(Path(path).relative_to(base))
        except ValueError:
            pass
    return Path(path).name


def _model_name(manifest: dict) -> str | None:
    model = manifest.get("model")
    if isinstance(model, dict):
        return model.get("name")
    return model if isinstance(model, str) else None


def _text(value) -> str | None:
    return None if value is None else str(value)


def cuda_version_text(value) -> str | None:
    """Kineto records CUDA versions as 1000 * major + 10 * minor: 13000 -> '13.0'."""
    if not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _distinct(values) -> list:
    seen = []
    for v in values:
        if v is not None and v not in seen:
            seen.append(v)
    return seen
