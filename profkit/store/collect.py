"""What the commands are given on their command line -- run folders, folders of runs and traces,
trace files, results files -- turned into what the run store knows about each.

- `collect(paths)`: everything `recommend` reasons from (runs, loose traces, results files).
- `trace_entries(path)`: the traces `compare` compares (with what is known about each).
- `find_traces(paths)`: the trace files `analyze` reads.

A path the user names is read wherever it is (links followed: the user chose it) and a bad one is an
error; inside a folder, the walker's path policy applies and a bad file is skipped with a note, or
is an error with `strict=True`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from profkit.errors import ProfkitError, TraceError, option
from profkit.store.header import trace_header
from profkit.store.join import describe_trace, list_runs, read_run_folder
from profkit.store.layout import MANIFEST_FILE, is_json_name, is_kineto_name
from profkit.store.records import RUN, UNREADABLE, ConfigInfo, RunInfo
from profkit.store.results import is_results_document, load_json_object, read_results
from profkit.store.walk import display, regular_file, walk
from profkit.trace.source import describe_os_error

_GIVE = "give a run folder, a folder of runs and traces, a trace or a run-results JSON"


@dataclass
class Collection:
    """Runs, loose traces and results files read from the paths given, in that order."""

    runs: list[RunInfo] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """What was read, one entry per run folder, trace or results file."""
    notes: list[str] = field(default_factory=list)
    """What was skipped and why, one line each."""
    found_in_folders: set[str] = field(default_factory=set)
    """Paths of the runs found by walking a folder (not named by the user): a bad one is skipped, not fatal."""


def collect(paths, strict: bool = False) -> Collection:
    """Read run folders, folders, traces and results files (their events are not parsed here).

    Raises ProfkitError naming the path when a path given cannot be used, and, with `strict`, when
    anything inside a folder is skipped.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ProfkitError("give at least one run folder, folder of runs and traces, trace or run-results JSON")
    out = Collection()
    seen: set[str] = set()
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise ProfkitError(f"{display(path)}: no such file or directory; {_GIVE}")
        if path.is_dir() and (path / MANIFEST_FILE).is_file():
            run = read_run_folder(path, path.parent)
            if run.state == UNREADABLE:
                raise ProfkitError(run.warnings[0])
            out.found_in_folders.add(run.path)  # its traces are files in a folder: a bad one is skipped
            _add(out, run, seen)
        elif path.is_dir():
            _add_folder(out, path, seen, strict)
        else:
            _add(out, _read_file(path), seen)
    return out


def _add(out: Collection, run: RunInfo, seen: set[str]) -> None:
    key = str(Path(run.path).resolve())
    if key in seen:
        return
    seen.add(key)
    out.runs.append(run)
    out.sources.append(display(run.path))


def _add_folder(out: Collection, folder: Path, seen: set[str], strict: bool) -> None:
    listing = list_runs(folder, inspect_traces=False)
    problems = listing.problems()
    if strict and problems:
        raise ProfkitError(f"{problems[0]} ({option('strict')}: fix or remove it, or drop {option('strict')} to skip it)")
    out.notes += [f"skipped {p}" for p in (str(s) for s in listing.skipped)] + listing.notes
    before = len(out.runs)
    for run in listing.runs + listing.results:
        if run.state == UNREADABLE and not any(c.trace_path and c.status != UNREADABLE for c in run.configs):
            out.notes += [f"skipped {w}" for w in run.warnings]
            continue
        out.notes += run.warnings
        out.found_in_folders.add(run.path)
        _add(out, run, seen)
    if len(out.runs) == before and not any(Path(r.path).resolve().is_relative_to(folder.resolve()) for r in out.runs):
        raise ProfkitError(f"{display(folder)}: no run folder ({MANIFEST_FILE}), trace or run-results JSON inside; {_GIVE}")


def _read_file(path: Path) -> RunInfo:
    """A trace or a results file named by the user, told apart by content."""
    regular_file(path)
    header = trace_header(path)  # ProfkitError when unreadable
    if header is not None:
        return describe_trace(path, inspect=False)[0]
    document = load_json_object(path)
    if is_results_document(document):
        return read_results(path, document)
    raise ProfkitError(f"{display(path)}: neither a trace (no 'traceEvents') nor a run-results file (no 'runs' or 'scenarios'); {_GIVE}")


# ---- compare ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceEntry:
    """One trace to compare, with what the run store knows about it."""

    path: Path
    run: RunInfo
    config: ConfigInfo


def trace_entries(path, strict: bool = False) -> tuple[list[TraceEntry], list[str]]:
    """The traces an input stands for -- a trace file, a run folder (its ok configurations with a trace)
    or a folder of runs and traces -- and notes on what cannot be compared (or, inside a folder,
    was skipped). Raises ProfkitError when nothing is left, or (`strict`) when something was skipped."""
    p = Path(path)
    if not p.exists():
        raise ProfkitError(f"{display(p)}: no such file or folder; give a trace file (.json/.json.gz) or a run folder with {MANIFEST_FILE}")
    if not p.is_dir():
        run, config = describe_trace(p, inspect=False)
        return [TraceEntry(p, run, config)], []
    if (p / MANIFEST_FILE).is_file():
        runs, notes = [read_run_folder(p, p.parent)], []
        if runs[0].state == UNREADABLE:
            raise ProfkitError(runs[0].warnings[0])
    else:
        listing = list_runs(p, inspect_traces=False)
        problems = listing.problems()
        if strict and problems:
            raise ProfkitError(f"{problems[0]} ({option('strict')}: fix or remove it, or drop {option('strict')} to skip it)")
        runs = listing.runs
        notes = [f"skipped {s}" for s in listing.skipped] + listing.notes
    entries = []
    for run in runs:
        for c in run.configs:
            trace = Path(c.trace_path) if c.trace_path else None
            if c.status != "ok" or trace is None:
                why = c.error or (f"status {c.status}" if c.status != "ok" else "no trace file")
                notes.append(
                    f"{display(run.run_id)}/{display(c.name)}: not compared ({why})"
                    if run.kind == RUN
                    else f"skipped {display(c.trace_path or run.path)}: {why}"
                )
                continue
            entries.append(TraceEntry(trace, run, c))
    if not entries:
        raise ProfkitError(f"{display(p)}: no configuration with a trace to compare ({'; '.join(notes) or 'no traces'})")
    return entries, notes


# ---- analyze -----------------------------------------------------------------------------------------
def find_traces(paths) -> tuple[list[Path], list[str]]:
    """The trace files to analyze: files as given; in a folder, every `.json`/`.json.gz` file the
    walker lists except run manifests and results files (told apart by content). Returns (files,
    skipped: one line each for what the walker did not read). Raises TraceError for a path that
    does not exist or a folder with no trace."""
    found: list[Path] = []
    skipped: list[str] = []
    for raw in paths:
        p = Path(raw)
        try:
            p.stat()
        except OSError as exc:  # missing, a broken link (says where it points), a loop, no permission
            raise TraceError(display(p), describe_os_error(exc, p)) from None
        if p.is_dir():
            w = walk(p)
            inside = [f.path for f in w.files if is_json_name(f.name) and f.name != MANIFEST_FILE and not _side_file(f.path)]
            skipped += [str(s) for s in w.skipped]
            if not inside:
                raise TraceError(display(p), "directory holds no .json or .json.gz trace files")
            found.extend(inside)
        else:
            found.append(p)
    return found, skipped


def _side_file(path: Path) -> bool:
    """A plain `.json` that is not a trace by its content: a results file (or other JSON without traceEvents)."""
    if is_kineto_name(path.name) or not path.name.endswith(".json"):
        return False
    try:
        if trace_header(path) is not None:
            return False
        return is_results_document(load_json_object(path))
    except ProfkitError:
        return False
