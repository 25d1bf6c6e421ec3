"""What the front ends are given -- trace files, run folders (their manifest's configurations) and
folders of runs and traces -- expanded to trace entries through the run store, and the candidates
and repeats paired with the baseline configuration they go with."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from profkit.errors import ProfkitError, option


@dataclass
class _Entry:
    path: Path
    key: tuple | None  # (precision, batch_size, prompt_len, mode) when a manifest says so
    origin: str  # the input it came from
    manifest: dict | None = None  # what the run store knows about the trace, shaped as an embedded manifest


@dataclass
class Pairing:
    """Which baseline configuration (index into the baseline entries) each repeat and candidate goes with."""

    reps: dict[int, list[_Entry]]
    candidates: dict[int, list[_Entry]]
    unpaired: list[str]  # configurations with no partner
    notes: list[str]  # repeats with no partner, ignored


def expand_input(path, strict: bool = False) -> tuple[list[_Entry], list[str]]:
    """Trace files an input stands for, read through the run store (`profkit.store.trace_entries`): a
    trace file, a run folder (its manifest's ok configurations) or a folder of runs and traces (a bad
    file in it is skipped with a note; `strict` makes that an error). Each entry carries what the store
    knows about its trace (versions joined from a results file, the run manifest's workload), which a
    trace without an embedded manifest is given in memory. Returns (entries, notes)."""
    from profkit.store import known_manifest, trace_entries

    found, notes = trace_entries(path, strict=strict)
    entries = []
    for e in found:
        if Path(path).is_dir() and not _readable(e.path, notes, strict):
            continue
        key = e.config.key if e.run.kind == "run" else None
        entries.append(_Entry(e.path, key, str(path), known_manifest(e.run, e.config)))
    if not entries:
        raise ProfkitError(f"{path}: no trace that can be compared ({'; '.join(notes)})")
    return entries, notes


def _readable(trace_path: Path, notes: list[str], strict: bool) -> bool:
    """Whether a trace found in a folder parses (the parse is cached for the comparison); a bad one is
    noted and skipped, or with `strict` an error."""
    from profkit.store.join import unreadable_reason
    from profkit.trace import load_trace

    try:
        load_trace(trace_path)
    except Exception as exc:  # noqa: BLE001 -- in a folder, one bad file is skipped, never the command
        problem = unreadable_reason(trace_path, exc)
        if strict:
            raise ProfkitError(f"{problem} ({option('strict')}: fix or remove it, or drop {option('strict')} to skip it)") from None
        notes.append(f"skipped {problem}")
        return False
    return True


def expand_inputs(paths: Iterable, strict: bool = False) -> tuple[list[_Entry], list[str]]:
    """`expand_input` of each path, concatenated."""
    entries: list[_Entry] = []
    notes: list[str] = []
    for path in paths:
        e, n = expand_input(path, strict)
        entries += e
        notes += n
    return entries, notes


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
    for i, (e, key) in enumerate(zip(base_entries, base_keys)):
        if i not in candidates and key is not None:  # keys are None when there is a single baseline
            unpaired.append(f"{e.path} ({_key_text(key)}): no candidate configuration to compare with")
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
