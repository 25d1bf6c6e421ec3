"""What the front ends are given: trace files, run folders (their manifest's configurations) and
folders of traces, expanded to trace entries, and the candidates and repeats paired with the
baseline configuration they go with."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from profkit.analyses.runs import read_run
from profkit.errors import ProfkitError


@dataclass
class _Entry:
    path: Path
    key: tuple | None  # (precision, batch_size, prompt_len, mode) when a manifest says so
    origin: str  # the input it came from
    manifest: dict | None = None  # the run's manifest.json entry for this trace (run-level part + "config")


@dataclass
class Pairing:
    """Which baseline configuration (index into the baseline entries) each repeat and candidate goes with."""

    reps: dict[int, list[_Entry]]
    candidates: dict[int, list[_Entry]]
    unpaired: list[str]  # configurations with no partner
    notes: list[str]  # repeats with no partner, ignored


def expand_input(path) -> tuple[list[_Entry], list[str]]:
    """Trace files an input stands for: a trace file, a run folder (its manifest's ok configurations)
    or a folder of traces. Returns (entries, notes about configurations that cannot be compared)."""
    from profkit.layout import MANIFEST_FILE
    from profkit.trace import find_traces

    p = Path(path)
    if not p.exists():
        raise ProfkitError(f"{p}: no such file or folder; give a trace file (.json/.json.gz) or a run folder with {MANIFEST_FILE}")
    if p.is_dir() and (p / MANIFEST_FILE).is_file():
        return _expand_run(p, MANIFEST_FILE)
    return [_Entry(f, None, str(p)) for f in find_traces([p])], []


def _expand_run(p: Path, manifest_file: str) -> tuple[list[_Entry], list[str]]:
    """The ok configurations of a run folder, each with the manifest entry that describes it."""
    run = read_run(p)
    entries, notes = [], list(run.warnings)
    manifest = _read_json(p / manifest_file)
    raw_configs = {c.get("name"): c for c in manifest.get("configs") or [] if isinstance(c, dict)}
    run_level = {k: v for k, v in manifest.items() if k != "configs"}
    for cfg in run.configs:
        trace = Path(cfg.trace_path) if cfg.trace_path else None
        if cfg.status != "ok" or trace is None or not trace.is_file():
            why = cfg.error or (f"status {cfg.status}" if cfg.status != "ok" else "trace file missing")
            notes.append(f"{run.run_id}/{cfg.name}: not compared ({why})")
            continue
        embedded = {**run_level, "config": raw_configs.get(cfg.name, {})}
        entries.append(_Entry(trace, (cfg.precision, cfg.batch_size, cfg.prompt_len, cfg.mode), str(p), embedded))
    if not entries:
        raise ProfkitError(f"{p}: the run has no configuration with a trace to compare ({'; '.join(notes) or 'no configs'})")
    return entries, notes


def expand_inputs(paths: Iterable) -> tuple[list[_Entry], list[str]]:
    """`expand_input` of each path, concatenated."""
    entries: list[_Entry] = []
    notes: list[str] = []
    for path in paths:
        e, n = expand_input(path)
        entries += e
        notes += n
    return entries, notes


def _read_json(path: Path) -> dict:
    import json

    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def pair_entries(base_entries: list[_Entry], rep_entries: list[_Entry], cand_entries: list[_Entry], key_of: Callable[[_Entry], tuple]) -> Pairing:
    """Pair repeats and candidates with baseline configurations: all with the one baseline when there is
    a single one, else by workload key (`key_of`: (precision, batch, prompt length, mode))."""
    single = len(base_entries) == 1
    base_keys = [None if single else key_of(e) for e in base_entries]

    def partner(entry: _Entry) -> int | None:
        if single:
            return 0
        k = key_of(entry)
        return base_keys.index(k) if k in base_keys else None

    reps, lone_reps = _group_by_partner(rep_entries, partner)
    candidates, lone_candidates = _group_by_partner(cand_entries, partner)
    notes = [f"--baseline-rep {e.path}: no baseline configuration with the same workload; ignored" for e in lone_reps]
    unpaired = [f"{e.path} ({_key_text(key_of(e))}): no baseline configuration with the same precision, batch, prompt length and mode" for e in lone_candidates]
    for i, e in enumerate(base_entries):
        if i not in candidates and not single:
            unpaired.append(f"{e.path} ({_key_text(base_keys[i])}): no candidate configuration to compare with")
    return Pairing(reps, candidates, unpaired, notes)


def _group_by_partner(entries: list[_Entry], partner: Callable[[_Entry], int | None]) -> tuple[dict[int, list[_Entry]], list[_Entry]]:
    """Entries by the index of their baseline partner, and those with none."""
    paired: dict[int, list[_Entry]] = defaultdict(list)
    lone = []
    for e in entries:
        i = partner(e)
        if i is None:
            lone.append(e)
        else:
            paired[i].append(e)
    return paired, lone


def _key_text(key: tuple) -> str:
    precision, batch, prompt, mode = key
    return f"{precision or '?'} batch {batch if batch is not None else '?'} prompt {prompt if prompt is not None else '?'} {mode or '?'}"
